"""Run every benchmark in turn and print its figures (``make bench``).

Each benchmark is its own script (see its docstring for options); this runner only calls
them with their default or a shorter setting, one after the other, so their figures do not
disturb each other. Scripts that read the labelled data need ``../shared/data`` beside the
repository; they are skipped with a note when it is absent.

Usage (from the repository root)::

    .venv/bin/python benchmarks/run_all.py [--quick] [--only NAME ...]

``--quick`` shortens the long ones (the 200-account poll runs 2 minutes instead of 10; the
report store holds 200,000 comments instead of 1,000,000).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DEMO = ["monitor/demo_data/comments.jsonl", "monitor/demo_data/school.toml"]

#: (name, arguments, needs ../shared/data, quick arguments or None)
BENCHMARKS: list[tuple[str, list[str], bool, list[str] | None]] = [
    ("scorer_speed.py", [], True, None),
    ("scorer_quality.py", [], True, None),
    ("identity_bias.py", [], False, None),
    ("scorer_language.py", [], False, None),
    ("scorer_detoxify.py", [], False, None),
    ("policy_eval.py", DEMO, False, None),
    ("policy_speed.py", [], False, None),
    ("policy_false_positives.py", [], True, None),
    ("escalation_learned.py", [], False, None),
    ("facebook_poll.py", [], False, None),
    ("twitter_poll.py", [], False, None),
    ("instagram_poll.py", [], False, None),
    ("bench_weekly_report.py", [], False, ["--comments", "200000"]),
    ("evidence_store.py", [], False, None),
    ("replay_memory.py", [], False, ["--sizes", "2000", "20000"]),
    ("scale_report.py", [], False, ["--comments", "200000"]),
    ("scale_poll.py", [], False, ["--minutes", "2"]),
]


def main() -> int:
    """Run the benchmarks; returns 1 if any failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs of the long benchmarks")
    ap.add_argument("--only", nargs="*", help="benchmark script names to run")
    args = ap.parse_args()
    failed = []
    for name, argv, needs_data, quick in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        if needs_data and not DATA.is_dir():
            print(f"== {name}: skipped (needs ../shared/data)")
            continue
        cmd = [sys.executable, str(ROOT / "benchmarks" / name), *(quick if args.quick and quick else argv)]
        print(f"== {name} {' '.join(cmd[2:])}", flush=True)
        start = time.perf_counter()
        rc = subprocess.call(cmd, cwd=ROOT)
        print(f"== {name}: exit {rc}, {time.perf_counter() - start:.1f} s\n", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

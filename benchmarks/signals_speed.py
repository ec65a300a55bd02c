"""Speed and memory of the default scoring path (the signals model), issue 13's goals.

Usage (from the repository root)::

    .venv/bin/python benchmarks/signals_speed.py [--data ../shared/data] [--n 20000]

Prints:

* model load: a fresh interpreter builds :class:`classifiers.signals.SignalsScorer`
  (SHA-256 checks included), median of 3 runs (goal at most 2 s);
* ``school-monitor score`` end to end (language detection, the model, the categoriser,
  JSON out) on ``n`` distinct tweets, comments per second (goal at least 200/s), and the
  peak RSS of that process;
* one comment at a time through the engine and the categoriser: p50 and p95 (goal p50 at
  most 30 ms).

Texts: the OLID and Davidson tweets when ``../shared/data`` is there, else the demo
comments with a counter appended. Run it on an otherwise idle machine: the figures are
wall-clock.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from scorer_speed import texts_for_benchmark  # noqa: E402

LOAD = """
import time
t0 = time.perf_counter()
from classifiers.signals import SignalsScorer
SignalsScorer()
print(time.perf_counter() - t0)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--n", type=int, default=20_000)
    args = ap.parse_args(argv)

    loads = [float(subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, check=True,
                                  cwd=REPO).stdout) for _ in range(3)]
    print(f"model load (fresh process, imports and SHA-256 included): median {statistics.median(loads):.2f} s "
          f"(goal <= 2 s)")

    texts = texts_for_benchmark(args.data, args.n)
    conf = REPO / "monitor" / "demo_data" / "school.toml"
    exe = Path(sys.executable).with_name("school-monitor")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)),
                       encoding="utf-8")
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", str(exe), "score", str(src), "--config", str(conf),
                               "-o", str(Path(tmp) / "out.jsonl")], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if proc.returncode:
            print(proc.stderr[-2000:], file=sys.stderr)
            return 1
        rss = int(proc.stderr.strip().splitlines()[-1]) / 1024
    print(f"school-monitor score, {len(texts):,} tweets end to end: {len(texts) / dt:.0f} comments/s "
          f"({dt:.0f} s; goal >= 200/s), peak RSS {rss:.0f} MB")

    from classifiers import build_engine
    from classifiers.policy import Categoriser
    from monitor.config import load_config
    from monitor.domain import Comment
    from datetime import datetime, timezone

    cfg = load_config(conf)
    engine = build_engine(cfg.classifier, base_dir=cfg.base_dir)
    cat = Categoriser(cfg)
    at = datetime(2026, 10, 1, tzinfo=timezone.utc)
    lat = []
    for i, t in enumerate(texts[:500]):
        c = Comment("facebook", "page", "p", str(i), None, "fb:1", "A", t, at)
        t0 = time.perf_counter()
        cat.assess(c, engine.score_one(t))
        lat.append(1000 * (time.perf_counter() - t0))
    lat.sort()
    print(f"one comment (engine + categoriser): p50 {lat[len(lat) // 2]:.1f} ms, p95 {lat[int(len(lat) * 0.95)]:.1f} ms "
          f"(goal p50 <= 30 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

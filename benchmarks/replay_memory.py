"""Peak memory (RSS) and time of ``school-monitor replay`` against the number of comments.

Writes a JSONL of N comments (the 260 demo comments repeated, each copy with new ids,
authors and times, one comment a minute), runs the real ``school-monitor replay`` on it in
a child process with the demo roster as config, and prints the child's peak RSS
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``, one child per run) and its wall time.
Replay streams its input and scores in the engine's batches (issue 14, item 20), so the
peak should stay nearly flat as N grows; before, it grew by about 2.2 KB per comment.

Usage (from the repository root)::

    .venv/bin/python benchmarks/replay_memory.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.demo_data import path as demo_path  # noqa: E402


def write_input(path: Path, n: int) -> None:
    """``n`` comments built from the demo set: ids, authors and times made unique."""
    demo = [json.loads(line) for line in demo_path("comments.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    start = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            row = dict(demo[i % len(demo)])
            copy = i // len(demo)
            row["id"] = f"{row['id']}-{copy}"
            prefix, native = str(row.get("author_id") or "fb:0").split(":", 1)
            row["author_id"] = f"{prefix}:{native}{copy:04d}"
            row["created_at"] = (start + timedelta(minutes=i)).isoformat()
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def run(n: int, tmp: Path) -> tuple[float, float, dict]:
    """Replay ``n`` comments in a child; returns (peak RSS MB, seconds, summary)."""
    src = tmp / f"comments-{n}.jsonl"
    write_input(src, n)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--log-level", "ERROR", "replay", str(src),
         "--config", str(demo_path("school.toml")), "--db", str(tmp / f"replay-{n}.db")],
        cwd=ROOT, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        print(f"  (note: a previous child had a higher peak; {n} comments peaked at most {before / 1024:.0f} MB)")
    return peak / 1024, seconds, json.loads(proc.stdout)


def main() -> int:
    """Run the sizes in increasing order, one child each, and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="comments per run")
    args = ap.parse_args()
    print(f"{'comments':>10}  {'peak RSS':>9}  {'time':>8}  {'ms/comment':>10}  alerts")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.sizes):
            mb, seconds, summary = run(n, Path(tmp))
            alerts = sum(summary["alerts"].values())
            print(f"{n:>10,}  {mb:>6.0f} MB  {seconds:>6.1f} s  {seconds * 1000 / n:>10.2f}  {alerts:,}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

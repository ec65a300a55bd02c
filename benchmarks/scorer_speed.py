"""Speed and memory of the embedded scorer and of the whole scoring engine.

Usage (from the repository root)::

    .venv/bin/python benchmarks/scorer_speed.py [--data ../shared/data] [--n 20000]

Prints (goals from issue 3):

* model load time: fresh interpreter, ``import classifiers.embedded`` excluded, then
  ``EmbeddedScorer()`` including the SHA-256 checks (goal <= 1 s), median of 5 runs;
* throughput scoring distinct comments in batches of 256 (goal >= 5,000 comments/s);
* one comment at a time, p50 and p95 latency (goal p50 <= 2 ms);
* the engine (scorer + language detection + routing) throughput and p50;
* RSS of a fresh process that loaded the embedded scorer and the language detector and
  scored comments (goal <= 250 MB; ``VmHWM`` is the peak).

Texts: the held-out OLID and Davidson tweets when ``../shared/data`` is there, else the
bundled demo comments with a counter appended (so no two texts are the same).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def texts_for_benchmark(data: Path, n: int) -> list[str]:
    """``n`` distinct comment texts (tweets from the held-out splits, or demo comments)."""
    try:
        from training.data import load_davidson, load_olid

        pool = [e.text for e in load_olid(data) + load_davidson(data)]
    except FileNotFoundError:
        demo = REPO / "monitor" / "demo_data" / "comments.jsonl"
        pool = [json.loads(line)["text"] for line in demo.open(encoding="utf-8")]
    out = []
    i = 0
    while len(out) < n:
        t = pool[i % len(pool)]
        out.append(t if i < len(pool) else f"{t} {i}")
        i += 1
    return out


_CHILD = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
t0 = time.perf_counter()
from classifiers.embedded import EmbeddedScorer
t1 = time.perf_counter()
s = EmbeddedScorer()
t2 = time.perf_counter()
mode = {mode!r}
if mode == "rss":
    from classifiers.engine import ScoringEngine
    e = ScoringEngine(s)
    texts = json.loads(sys.stdin.read())
    for i in range(0, len(texts), 256):
        e.score(texts[i:i + 256])
    status = open("/proc/self/status").read()
    rss = int(status.split("VmRSS:")[1].split()[0]) / 1024
    hwm = int(status.split("VmHWM:")[1].split()[0]) / 1024
    print(json.dumps({{"rss": rss, "hwm": hwm}}))
else:
    print(json.dumps({{"import": t1 - t0, "load": t2 - t1}}))
"""


def child(mode: str, stdin: str = "") -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD.format(repo=str(REPO), mode=mode)],
                         input=stdin, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def one_at_a_time(score, texts: list[str]) -> list[float]:
    """Seconds for ``score([text])`` of each text, one at a time, sorted."""
    lat = []
    for x in texts:
        t = time.perf_counter()
        score([x])
        lat.append(time.perf_counter() - t)
    return sorted(lat)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--n", type=int, default=20000, help="comments for the throughput runs")
    args = ap.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs "
          "(other work on the machine slows the wall-clock figures; CPU-second figures are steadier)")

    loads = [child("load") for _ in range(5)]
    print(f"model load (fresh process, SHA-256 checks included): median "
          f"{statistics.median(x['load'] for x in loads) * 1000:.0f} ms (goal <= 1000 ms); "
          f"import {statistics.median(x['import'] for x in loads) * 1000:.0f} ms")

    from classifiers.embedded import EmbeddedScorer
    from classifiers.engine import ScoringEngine

    scorer = EmbeddedScorer()
    texts = texts_for_benchmark(args.data, args.n)
    for label, note in (("first pass", "cold word cache"), ("second pass", "warm word cache, as in a running daemon")):
        t, c = time.perf_counter(), time.process_time()
        for i in range(0, len(texts), 256):
            scorer.score(texts[i : i + 256])
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        print(f"embedded scorer, batches of 256, {label} ({note}): {len(texts) / wall:,.0f} comments/s wall, "
              f"{len(texts) / cpu:,.0f} per CPU-second, over {len(texts):,} distinct comments (goal >= 5,000/s)")

    singles = texts[-2000:]
    lat = one_at_a_time(scorer.score, singles)
    print(f"embedded scorer, one comment: p50 {lat[len(lat) // 2] * 1000:.3f} ms, "
          f"p95 {lat[int(len(lat) * 0.95)] * 1000:.3f} ms (goal p50 <= 2 ms)")

    engine = ScoringEngine(scorer)
    engine.score(texts[:10])
    t = time.perf_counter()
    for i in range(0, len(texts), 256):
        engine.score(texts[i : i + 256])
    erate = len(texts) / (time.perf_counter() - t)
    lat = one_at_a_time(engine.score, singles[:1000])
    print(f"engine (scorer + language detection), batches of 256: {erate:,.0f} comments/s; "
          f"one comment p50 {lat[len(lat) // 2] * 1000:.3f} ms")

    mem = child("rss", json.dumps(texts[:5000]))
    print(f"RSS of a process with the embedded scorer + language detector after scoring 5,000 comments: "
          f"{mem['rss']:.0f} MB (peak {mem['hwm']:.0f} MB) (goal <= 250 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput of the Detoxify path, measured with the tiny test checkpoint.

Usage (from the repository root; needs the ``detoxify`` extra)::

    .venv/bin/python benchmarks/scorer_detoxify.py [--threads 1] [--batch 32]

Builds the tiny BERT checkpoint of ``tests/classifiers/tiny_detoxify.py`` (2 layers,
hidden size 32), prepares it for offline use with :func:`classifiers.fetch.prepare_checkpoint`
and loads it through :class:`classifiers.detoxify_scorer.DetoxifyScorer` (SHA-256 check,
Detoxify's own loader). Prints load time, batched throughput, one-comment latency and RSS.
This measures the path's overhead (tokenisation, batching, torch dispatch), not a real
model: for those, ``../shared/notes/dependencies.md`` measured on this machine type
``original`` (BERT-base) at 3.5 s load, 820 MB RSS, 166 ms for one comment and 2 s for a
batch of 32, and ``original-small`` (ALBERT) at 440 MB RSS and 118 ms for one comment.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--n", type=int, default=2048)
    args = ap.parse_args(argv)
    try:
        import torch  # noqa: F401
        import detoxify  # noqa: F401
    except ImportError as exc:
        print(f"skipped: the detoxify extra is not installed ({exc.name})")
        return 0
    from classifiers.detoxify_scorer import DetoxifyScorer
    from classifiers.fetch import prepare_checkpoint, record_manifest
    from scorer_speed import one_at_a_time

    spec = importlib.util.spec_from_file_location("tiny_detoxify", REPO / "tests" / "classifiers" / "tiny_detoxify.py")
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    demo = [json.loads(line)["text"] for line in (REPO / "monitor" / "demo_data" / "comments.jsonl").open(encoding="utf-8")]
    texts = [demo[i % len(demo)] for i in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        raw, base = tiny.build_tiny_checkpoint(Path(tmp))
        dest = Path(tmp) / "out" / "original.ckpt"
        sha = prepare_checkpoint(raw, base, dest)
        record_manifest(dest.parent, dest, sha, "original", base)
        t = time.perf_counter()
        scorer = DetoxifyScorer(dest, huggingface_config_path=base, torch_threads=args.threads)
        load = time.perf_counter() - t
        scorer.score(texts[:8])
        t = time.perf_counter()
        for i in range(0, len(texts), args.batch):
            scorer.score(texts[i : i + args.batch])
        rate = len(texts) / (time.perf_counter() - t)
        lat = one_at_a_time(scorer.score, texts[:200])
        rss = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
    print(f"Detoxify path, tiny BERT checkpoint ({args.threads} torch thread(s)): load {load * 1000:.0f} ms "
          f"(SHA-256 check + Detoxify loader); batches of {args.batch}: {rate:,.0f} comments/s; "
          f"one comment p50 {statistics.median(lat) * 1000:.1f} ms; RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

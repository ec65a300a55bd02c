"""Benchmark: the weekly report over a store of N comments (default 1,000,000).

Goal (issue 9): a weekly report over 1,000,000 stored comments in at most 2 s.

The store is made with the real schema (``Store.open``), then filled in bulk with SQL
(``comments`` and ``comment_keys`` rows shaped as the pipeline writes them; going through
``Store.ingest`` would take far longer and measure ingestion, not the report). Two
layouts are measured:

* ``year``: N comments spread evenly over 52 weeks (a busy trust's year), 8 % with a key;
* ``month``: all N comments in the 4 weeks of the report's trend (the worst case for the
  tallies, which scan the trend weeks), 8 % with a key.

Prints the time of :func:`monitor.delivery.reports.build_report` (the SQL tallies) and of each
renderer, best of ``--repeat`` runs (after one warm-up, so the OS page cache is warm as
in a running daemon).

Usage::

    .venv/bin/python benchmarks/bench_weekly_report.py [--comments 1000000] [--layout year|month|both]
        [--proposed-indexes]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from monitor.config import default_config
from monitor.domain import POLICY_KEYS, iso
from monitor.delivery.reports import build_report, render_chart_png, render_csv, render_html, render_text, report_message
from monitor.store import Store

NOW = datetime(2026, 10, 26, 7, 0, tzinfo=timezone.utc)   # reports week 2026-W43
KEYS = list(POLICY_KEYS)


def fill(store: Store, n: int, span_days: float, keyed_share: float = 0.08, seed: int = 7) -> None:
    """Insert ``n`` comments ending at NOW over ``span_days``, ``keyed_share`` with 1-2 keys."""
    rng = random.Random(seed)
    start = NOW - timedelta(days=span_days)
    step = span_days * 86400 / n
    seen = iso(NOW)
    batch_c, batch_k = [], []
    db = store.db
    db.execute("PRAGMA synchronous=OFF")

    def flush():
        # comments is a view over comment_state and the latest comment_versions row
        db.conn.executemany(
            "INSERT INTO comment_state(platform, comment_id, account, post_id, author_id, created_at, first_seen, "
            "last_seen, status, flagged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'assessed', ?)",
            [(c[0], c[1], c[2], c[3], c[4], c[7], c[9], c[10], c[11]) for c in batch_c])
        db.conn.executemany(
            "INSERT INTO comment_versions(platform, comment_id, version, account, author_name, text, created_at, "
            "sha256, raw_sha256, seen_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?, '', ?)",
            [(c[0], c[1], c[2], c[5], c[6], c[7], c[8], c[9]) for c in batch_c])
        db.conn.executemany(
            "INSERT INTO comment_keys(platform, comment_id, key, account, created_at, first_version) "
            "VALUES (?, ?, ?, ?, ?, 1)", batch_k)
        batch_c.clear()
        batch_k.clear()

    with store.transaction():
        for i in range(n):
            platform = "facebook" if i % 3 else "twitter"
            account = "fb" if platform == "facebook" else "x"
            created = iso((start + timedelta(seconds=i * step)).replace(microsecond=0))
            cid = f"c{i}"
            keys = rng.sample(KEYS, rng.choice((1, 1, 2))) if rng.random() < keyed_share else []
            batch_c.append((platform, cid, account, f"p{i // 200}", f"{account}:{rng.randrange(20000)}",
                            "Some Parent", "text of the comment", created, "0" * 64, seen, seen, int(bool(keys))))
            for k in keys:
                batch_k.append((platform, cid, k, account, created))
            if len(batch_c) >= 20000:
                flush()
        flush()
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("ANALYZE")


def timed(fn, repeat: int):
    """(best seconds, last result) of ``repeat`` runs after one warm-up."""
    result = fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def time_report(store: Store, config, now: datetime, repeat: int):
    """The weekly report built and rendered as the job does: ``(report, {stage: best
    seconds})`` for build_report (the SQL tallies), render_text, render_csv,
    render_chart_png, render_html and report_message, in that order."""
    secs = {}
    secs["build_report"], report = timed(lambda: build_report(store, config, None, now), repeat)
    secs["render_text"], _ = timed(lambda: render_text(report), repeat)
    secs["render_csv"], _ = timed(lambda: render_csv(report), repeat)
    secs["render_chart_png"], png = timed(lambda: render_chart_png(report), repeat)
    secs["render_html"], _ = timed(lambda: render_html(report, chart_png=png), repeat)
    secs["report_message"], _ = timed(lambda: report_message(report, config, chart_png=png), repeat)
    return report, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--comments", type=int, default=1_000_000)
    ap.add_argument("--layout", choices=("year", "month", "both"), default="both")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--proposed-indexes", action="store_true",
                    help="add comment_keys(key, platform, created_at) and comments(platform, created_at) first")
    args = ap.parse_args()
    config = default_config()
    layouts = ("year", "month") if args.layout == "both" else (args.layout,)
    for layout in layouts:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(Path(tmp) / "bench.db")
            t = time.perf_counter()
            fill(store, args.comments, 364 if layout == "year" else 28)
            fill_s = time.perf_counter() - t
            if args.proposed_indexes:
                store.db.execute("CREATE INDEX IF NOT EXISTS comment_keys_key_platform_created "
                                 "ON comment_keys(key, platform, created_at)")
                store.db.execute("CREATE INDEX IF NOT EXISTS comments_platform_created ON comments(platform, created_at)")
                store.db.execute("ANALYZE")
            keyed = store.scalar("SELECT COUNT(*) FROM comment_keys")
            report, secs = time_report(store, config, NOW, args.repeat)
            total = sum(secs.values())
            week_comments = sum(report.comments.values())
            print(f"layout={layout} indexes={'proposed' if args.proposed_indexes else 'schema'} comments={args.comments:,} comment_keys={keyed:,} "
                  f"in_week={week_comments:,} (fill {fill_s:.1f} s)")
            for stage, sec in secs.items():
                label = stage + (" (SQL tallies)" if stage == "build_report" else "")
                print(f"  {label:<26} {sec * 1000:8.1f} ms")
            print(f"  total                      {total * 1000:8.1f} ms  (goal: 2000 ms)")
            store.close()


if __name__ == "__main__":
    main()

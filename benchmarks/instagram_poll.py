"""Benchmark: Instagram connector polls against the loopback fake Instagram API.

A school's Instagram professional account: ``--media`` posts over the last 30 days, each
with ``--comments`` comments of which about a third are replies (two levels, as on
Instagram), served by :class:`monitor.fakes.instagram.FakeInstagramServer` on 127.0.0.1.
Prints the HTTP calls and seconds of:

* the first poll (empty cursor: every comment and reply in the look-back is read once);
* a poll after ``--new`` new comments, half of them replies to random older comments;
* a quiet poll (nothing new).

Seconds include the fake server's own work (same process); against Meta a poll costs
roughly calls x round-trip time.

Run: ``.venv/bin/python benchmarks/instagram_poll.py [--media N] [--comments N] [--new N]``
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.base import FetchContext  # noqa: E402
from connectors.instagram import InstagramConnector  # noqa: E402
from monitor.config import AccountConfig, SecretRef  # noqa: E402
from monitor.fakes.instagram import FakeInstagramServer  # noqa: E402

TOKEN = "bench-ig-token"
NOW = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=int, default=60)
    ap.add_argument("--comments", type=int, default=40, help="comments per media (a third are replies)")
    ap.add_argument("--new", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(7)
    os.environ["SSM_BENCH_IG_TOKEN"] = TOKEN
    with FakeInstagramServer(token=TOKEN) as srv:
        all_tops: list[tuple[str, str]] = []
        for i in range(args.media):
            posted = NOW - timedelta(days=30) + timedelta(hours=12 * i)
            mid = srv.add_media(f"Post {i}", created_at=posted)
            tops: list[str] = []
            for j in range(args.comments):
                at = posted + timedelta(minutes=5 * (j + 1))
                if tops and rng.random() < 1 / 3:
                    srv.add_comment(mid, f"reply {j}", parent_id=rng.choice(tops), created_at=at)
                else:
                    tops.append(srv.add_comment(mid, f"comment {j}", created_at=at))
            all_tops += [(mid, t) for t in tops]
        cfg = AccountConfig(name="bench-ig", platform="instagram", ig_user_id=srv.ig_user_id, base_url=srv.base_url,
                            secrets={"token": SecretRef(key="token", env="SSM_BENCH_IG_TOKEN")})
        conn = InstagramConnector(cfg, sleep=lambda s: None, max_calls_per_poll=None)
        total = sum(len(m.comments) for m in srv.media)
        print(f"account: {args.media} media, {total} comments and replies")

        def poll(label: str, cursor: dict, now: datetime) -> dict:
            t0 = time.perf_counter()
            r = conn.fetch(FetchContext(cursor=cursor, now=now))
            print(f"{label:<34} {r.calls:>5} calls  {time.perf_counter() - t0:6.2f} s  {len(r.comments):>5} comments read")
            return dict(r.cursor)

        cursor = poll("first poll", {}, NOW)
        for k in range(args.new):
            mid, top = rng.choice(all_tops[-len(all_tops) // 3:])  # recent posts are likelier
            at = NOW + timedelta(minutes=k + 1)
            if k % 2:
                srv.add_comment(mid, f"new reply {k}", parent_id=top, created_at=at)
            else:
                srv.add_comment(mid, f"new comment {k}", created_at=at)
        cursor = poll(f"after {args.new} new (half replies)", cursor, NOW + timedelta(minutes=30))
        poll("quiet poll", cursor, NOW + timedelta(minutes=45))
        conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: X connector polls against the loopback fake X API v2 server.

Prints, for the bundled demo data and for a synthetic busy account, the time of a first
poll and of a quiet follow-up poll, HTTP calls, posts read (what X bills) and the posts
read per comment stored, user reads and the pay-per-use cost estimate (which equals the
fake's bill at X's prices); the demo poll again with the school's user-context tokens
(owned reads); then the same first poll under a read budget, to show the budget stop. Run: ``.venv/bin/python benchmarks/twitter_poll.py [--posts N --replies M]``.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from datetime import datetime, timedelta, timezone

from connectors.base import FetchContext
from connectors.twitter import TwitterConnector
from monitor.config import AccountConfig, SecretRef
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.x import FakeXServer

TOKEN = "bench-token"


USER = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
ENV = {"B": TOKEN, "consumer_key": "fake-x-consumer-key", "consumer_secret": "cs",
       "access_token": "2000-fake-x-access-token", "access_token_secret": "ats"}


def connector(url: str, lookback: int, owned: bool = False) -> TwitterConnector:
    secrets = {"bearer_token": SecretRef(key="b", env="B")}
    if owned:
        secrets.update({k: SecretRef(key=k, env=k) for k in USER})
    cfg = AccountConfig(name="x", platform="twitter", user_id="2000", handle="BrookfieldPS", base_url=url,
                        lookback_days=lookback, secrets=secrets)
    return TwitterConnector(cfg, environ=ENV, sleep=lambda s: None)


def run(label: str, srv: FakeXServer, now: datetime, lookback: int, budget: int | None = None,
        owned: bool = False) -> None:
    conn = connector(srv.base_url, lookback, owned)
    t = time.perf_counter()
    first = conn.fetch(FetchContext(cursor={}, now=now, read_budget_remaining=budget))
    t_first = time.perf_counter() - t
    bill = srv.billed_micro_usd / 1e6
    tracemalloc.start()  # memory on a second, identical first poll (tracing slows it down)
    connector(srv.base_url, lookback, owned).fetch(FetchContext(cursor={}, now=now, read_budget_remaining=budget))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    t = time.perf_counter()
    again = conn.fetch(FetchContext(cursor=first.cursor, now=now))
    t_again = time.perf_counter() - t
    conn.close()
    per = first.reads / max(1, len(first.comments))
    print(f"{label:<36} first poll {t_first * 1000:7.1f} ms  calls {first.calls:3d}  reads {first.reads:5d}  "
          f"comments {len(first.comments):5d}  reads/comment {per:4.2f}  peak {peak / 1e6:5.1f} MB | "
          f"quiet poll {t_again * 1000:6.1f} ms, calls {again.calls}, reads {again.reads}\n"
          f"{'':<36} user reads {first.user_reads}, estimated cost ${first.cost_usd:.3f} "
          f"(fake X billed ${bill:.3f} for this first poll)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--posts", type=int, default=30, help="school posts in the last 7 days (synthetic)")
    ap.add_argument("--replies", type=int, default=60, help="replies per post (synthetic)")
    args = ap.parse_args()

    demo_now = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)
    with FakeXServer(load_demo_posts(), bearer_token=TOKEN) as srv:
        run("demo data (14 posts, 79 replies)", srv, demo_now, 45)
    with FakeXServer(load_demo_posts(), bearer_token=TOKEN) as srv:
        run("demo data, owned reads", srv, demo_now, 45, owned=True)
    with FakeXServer(load_demo_posts(), bearer_token=TOKEN) as srv:
        run("demo data, budget 40", srv, demo_now, 45, budget=40)

    now = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
    with FakeXServer([], bearer_token=TOKEN, mention_rule="text") as srv:
        for p in range(args.posts):
            post = srv.add_post(f"Notice {p}", created_at=now - timedelta(days=6, hours=-p * 4))
            for r in range(args.replies):
                text = f"@BrookfieldPS question {r}" if r % 3 == 0 else f"reply {r} to the thread"
                srv.add_reply(post, text, author_id=str(5000 + r),
                              created_at=now - timedelta(days=6, hours=-p * 4, minutes=-(r + 1)))
        run(f"synthetic ({args.posts} posts x {args.replies} replies)", srv, now, 7)


if __name__ == "__main__":
    main()

"""Benchmark: Facebook connector polls against the loopback fake Graph API.

A Page with 2,000 posts and 50,000 comments (a fifth of them replies, more on recent
posts, some posts past 100 comments), served by :class:`monitor.fakes.graph.FakeGraphServer`
on 127.0.0.1. Prints, per scenario, the HTTP calls and seconds of:

* the first poll (empty cursor: everything inside the 30-day look-back is read once);
* an incremental poll after 100 new comments (spread over posts, recent ones likelier);
* a quiet poll (nothing new).

Scenarios: ``worst``: all 2,000 posts inside the look-back window (67 posts a day);
``school``: the same posts spread over 400 days (5 a day, so 150 in the window).

Seconds include the fake server's own work (same process, same GIL); against the real
Graph API a poll costs roughly calls x round-trip time. ``max_calls_per_poll`` is lifted
so the first poll is one backfill (with the default of 1000 it spreads over several polls).

The fake serves comments in the order the Graph API documents (``filter=stream`` is
chronological whatever ``order`` says); ``--comment-order as_requested`` honours ``order``
(how the fake behaved before), ``ranked`` serves every listing ranked.

Run: ``.venv/bin/python benchmarks/facebook_poll.py [--posts N] [--comments N] [--new N]
[--comment-order documented|as_requested|ranked]``
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.base import FetchContext  # noqa: E402
from connectors.facebook import FacebookConnector  # noqa: E402
from monitor.config import AccountConfig, SecretRef  # noqa: E402
from monitor.fakes.dataset import FakeComment, FakePost  # noqa: E402
from monitor.fakes.graph import COMMENT_ORDERS, FakeGraphServer  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
TOKEN = "bench-page-token"
WORDS = ("great", "thanks", "when", "is", "the", "trip", "parking", "again", "lovely", "photos", "teacher",
         "homework", "uniform", "why", "not", "fair", "brilliant", "concert", "dinner", "menu")


def build_page(n_posts: int, n_comments: int, span_days: float, seed: int = 5) -> list[FakePost]:
    """``n_posts`` posts evenly over ``span_days`` before NOW, with ``n_comments`` comments
    (weight 1/(age rank + 10) per post; 20% replies), each after its post."""
    rng = random.Random(seed)
    posts = []
    step = span_days / n_posts
    for i in range(n_posts):
        created = NOW - timedelta(days=step * (i + 0.5))
        posts.append(FakePost("facebook", f"1000_{100000000 + i}", f"Post {i}: {rng.choice(WORDS)} news", created))
    weights = [1.0 / (i + 10) for i in range(n_posts)]
    counts = [0] * n_posts
    for i in rng.choices(range(n_posts), weights=weights, k=n_comments):
        counts[i] += 1
    n = 0
    for post, k in zip(posts, counts, strict=True):
        age = (NOW - post.created_at).total_seconds()
        times = sorted(post.created_at + timedelta(seconds=rng.uniform(60, max(120, age - 600))) for _ in range(k))
        for t in times:
            n += 1
            parent = None
            if post.comments and rng.random() < 0.2:
                parent = rng.choice(post.comments[-20:]).native_id
            post.comments.append(FakeComment(
                platform="facebook", native_id=f"{post.native_id.split('_')[1]}_{5000000000 + n}",
                post_id=post.native_id, source_id=f"b{n}", author_id=str(1001 + rng.randrange(3000)),
                author_name="Parent", created_at=t, text=" ".join(rng.choices(WORDS, k=12)),
                parent_id=parent))
    return posts


def known_from(comments, known=None) -> dict[str, frozenset[str]]:
    out = {k: set(v) for k, v in (known or {}).items()}
    for c in comments:
        out.setdefault(c.post_id, set()).add(c.comment_id)
    return {k: frozenset(v) for k, v in out.items()}


def timed_poll(conn: FacebookConnector, ctx: FetchContext):
    t0 = time.perf_counter()
    res = conn.fetch(ctx)
    return res, time.perf_counter() - t0


def run(name: str, n_posts: int, n_comments: int, n_new: int, span_days: float,
        comment_order: str = "documented") -> None:
    t0 = time.perf_counter()
    posts = build_page(n_posts, n_comments, span_days)
    build_s = time.perf_counter() - t0
    in_window = [p for p in posts if p.created_at >= NOW - timedelta(days=30)]
    big = sum(1 for p in in_window if len(p.comments) > 100)
    print(f"\n== {name}: {n_posts} posts ({len(in_window)} in the 30-day window, {big} with >100 comments), "
          f"{n_comments} comments (built in {build_s:.1f} s); fake comment order: {comment_order}")
    os.environ["SSM_BENCH_FB_TOKEN"] = TOKEN
    with FakeGraphServer(posts, token=TOKEN, comment_order=comment_order) as srv:
        cfg = AccountConfig(name="bench", platform="facebook", page_id="1000", base_url=srv.base_url,
                            secrets={"token": SecretRef(key="accounts[0].token", env="SSM_BENCH_FB_TOKEN")})
        with FacebookConnector(cfg, max_calls_per_poll=None) as conn:
            r1, s1 = timed_poll(conn, FetchContext(cursor={}, now=NOW))
            known = known_from(r1.comments)
            print(f"first poll:        {r1.calls:5d} calls  {s1:6.2f} s  {len(r1.comments):6d} comments read")

            rng = random.Random(11)
            weights = [1.0 / (i + 10) for i in range(len(in_window))]
            active = set()
            t = NOW + timedelta(minutes=1)
            for i in rng.choices(range(len(in_window)), weights=weights, k=n_new):
                active.add(in_window[i].native_id)
                srv.add_comment(in_window[i].native_id, "a new comment", created_at=t)
            later = NOW + timedelta(minutes=15)
            r2, s2 = timed_poll(conn, FetchContext(cursor=r1.cursor, now=later, known_comments=known))
            new_ids = {c.comment_id for c in r2.comments} - {c.comment_id for c in r1.comments}
            print(f"incremental poll:  {r2.calls:5d} calls  {s2:6.2f} s  {len(new_ids):6d} new of {n_new} "
                  f"(on {len(active)} posts; {len(r2.comments)} comments returned: "
                  "posts of up to 100 comments are re-read whole, plus 2 audited posts)")
            assert len(new_ids) == n_new, "incremental poll missed comments"
            known = known_from(r2.comments, known)
            r3, s3 = timed_poll(conn, FetchContext(cursor=r2.cursor, now=later + timedelta(minutes=15),
                                                   known_comments=known))
            pages = -(-len(in_window) // 100)
            print(f"quiet poll:        {r3.calls:5d} calls  {s3:6.2f} s  "
                  f"({pages} listing pages + {r3.calls - pages} pages auditing 2 posts)")
            print(f"cursor size:       {len(str(r3.cursor)) / 1024:.0f} KiB for {len(r3.cursor['posts'])} posts")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=2000)
    ap.add_argument("--comments", type=int, default=50000)
    ap.add_argument("--new", type=int, default=100)
    ap.add_argument("--comment-order", choices=COMMENT_ORDERS, default="documented",
                    help="how the fake Graph API orders comment listings (default: as Graph documents)")
    args = ap.parse_args()
    print(f"Facebook connector poll benchmark (loopback fake Graph API, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs)")
    run("worst case", args.posts, args.comments, args.new, span_days=29.5, comment_order=args.comment_order)
    run("school", args.posts, args.comments, args.new, span_days=400, comment_order=args.comment_order)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS (benchmark, fake server and data together): {rss:.0f} MiB")


if __name__ == "__main__":
    main()

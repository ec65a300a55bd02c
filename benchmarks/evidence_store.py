"""Benchmark: the coordinator's commands on a large store.

Builds a store through :meth:`monitor.store.Store.ingest` / ``save_assessment`` with N
comments (default 50,000, a year of a busy Page) of which 10% carry a policy key, 5% were
edited once, half are older than the 90-day retention, and one prolific author has 200
comments. Then prints seconds (and peak RSS) for:

* ``verify_chain``: recompute the whole hash chain (``evidence check``);
* ``export_bundle`` of the prolific author (200 comments) and ``verify_bundle`` of it;
* ``export_sar`` of the same author;
* ``list_open`` of the review queue;
* ``purge`` (dry run, then real) at the end of the year;
* bytes per comment: the store file after a WAL checkpoint divided by the comments, and
  the share of each table and its indexes (SQLite's ``dbstat``).

Run: ``.venv/bin/python benchmarks/evidence_store.py [--comments N] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.casework import evidence, retention, review, sar  # noqa: E402
from monitor.config import default_config  # noqa: E402
from monitor.domain import Account, Alert, Assessment, Comment, Evidence, Post, Scores  # noqa: E402
from monitor.store import Store  # noqa: E402

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
KEYS = ("offensive_staff", "complaint_school", "allegation_staff", "threat_violence", "defamatory_staff")


def build(path: Path, n: int, seed: int = 7) -> Store:
    rnd = random.Random(seed)
    store = Store.open(path)
    acc = Account("page", "facebook", "1000")
    store.ensure_account(acc, START)
    per_day = max(1, n // 365)
    posts = [Post("facebook", "page", f"1000_{d}", f"School news {d}", START + timedelta(days=d)) for d in range(365)]
    batch: list[Comment] = []
    for i in range(n):
        day = min(364, i // per_day)
        at = START + timedelta(days=day, minutes=rnd.randrange(600))
        author = "fb:9999" if i % (n // 200 or 1) == 0 else f"fb:{rnd.randrange(10_000, 30_000)}"
        text = f"comment {i} " + " ".join(rnd.choice(["great", "day", "school", "teacher", "trip", "lunch"])
                                         for _ in range(12))
        batch.append(Comment("facebook", "page", f"1000_{day}", f"1000_{day}_{i}", None, author, f"Parent {author}",
                             text, at, permalink=f"https://www.facebook.com/1000_{day}?comment_id={i}",
                             raw={"id": f"1000_{day}_{i}", "message": text, "from": {"id": author[3:]}}))
        if len(batch) == 1000 or i == n - 1:
            now = batch[-1].created_at + timedelta(minutes=5)
            store.ingest("page", [posts[min(364, (i - len(batch) + 1) // per_day)]], batch, [], {}, now)
            with store.transaction():
                for c in batch:
                    flagged = rnd.random() < 0.10 or c.author_id == "fb:9999"
                    keys = (rnd.choice(KEYS),) if flagged else ()
                    a = Assessment(categories=keys, evidence={k: (Evidence(k, "pattern", "bench"),) for k in keys},
                                   escalate="threat_violence" in keys or "allegation_staff" in keys,
                                   strikes=tuple(k for k in keys if k in ("offensive_staff", "threat_violence")))
                    store.save_assessment(c, 1, Scores({"toxicity": rnd.random()}, "bench", "1"), a, now)
                    if a.escalate:
                        store.enqueue_alert(Alert("escalation", f"escalation:facebook:{c.comment_id}", now,
                                                  comment_refs=(c.ref,), categories=keys, author_id=c.author_id))
            edited = [c for c in batch if rnd.random() < 0.05]
            if edited:
                later = now + timedelta(hours=1)
                new_versions = [Comment(**{**c.__dict__, "text": c.text + " (edited)"}) for c in edited]
                store.ingest("page", [], new_versions, [], None, later)
                with store.transaction():
                    for c in new_versions:
                        store.save_assessment(c, 2, Scores({"toxicity": rnd.random()}, "bench", "1"),
                                              Assessment(), later)
            batch = []
    return store


def bytes_per_comment(store: Store, n: int) -> None:
    """Print the store's bytes per comment and the share of its largest tables (dbstat)."""
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    total = store.scalar("SELECT SUM(pgsize) FROM dbstat")
    print(f"{'bytes per comment':<38} {total / n:8.0f} B  ({total / 1e6:.1f} MB in use, "
          f"file {store.path.stat().st_size / 1e6:.1f} MB)")
    owners = {r["name"]: (r["tbl_name"] if r["type"] == "index" else r["name"])
              for r in store.db.query("SELECT name, type, tbl_name FROM sqlite_master")}
    per: dict[str, int] = {}
    for r in store.db.query("SELECT name, SUM(pgsize) AS b FROM dbstat GROUP BY name"):
        owner = owners.get(r["name"], r["name"])
        per[owner] = per.get(owner, 0) + r["b"]
    for name, b in sorted(per.items(), key=lambda kv: -kv[1])[:6]:
        print(f"  {name + ' (with indexes)':<36} {b / n:8.0f} B  {100 * b / total:5.1f} %")


def timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{label:<38} {time.perf_counter() - t:8.2f} s")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--comments", type=int, default=50_000)
    ap.add_argument("--keep", metavar="DIR", help="build the store in DIR and keep it")
    args = ap.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench-evidence-"))
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = default_config()
    store = timed(f"build store ({args.comments} comments)", lambda: build(tmp / "bench.db", args.comments))
    versions = store.scalar("SELECT COUNT(*) FROM comment_versions")
    print(f"{'':<38} {versions} versions, {(tmp / 'bench.db').stat().st_size / 1e6:.1f} MB")
    bytes_per_comment(store, args.comments)
    rep = timed("verify_chain (evidence check)", lambda: evidence.verify_chain(store))
    assert rep.ok, rep.problems[:3]
    now = START + timedelta(days=366)
    bundle = timed("export_bundle (author, 200 comments)", lambda: evidence.export_bundle(
        store, cfg, author_id="fb:9999", out_path=tmp / "bundle.zip", now=now, actor="bench"))
    problems = timed("verify_bundle", lambda: evidence.verify_bundle(bundle))
    assert not problems, problems[:3]
    timed("export_sar (author, 200 comments)", lambda: sar.export_sar(store, "fb:9999", tmp / "sar.json", now=now,
                                                                      actor="bench", config=cfg))
    items = timed("review list_open", lambda: review.list_open(store))
    print(f"{'':<38} {len(items)} open items")
    dry = timed("purge --dry-run", lambda: retention.purge(store, cfg, now, dry_run=True))
    real = timed("purge", lambda: retention.purge(store, cfg, now))
    print(f"{'':<38} {real.summary()}")
    assert dry.unflagged_comments == real.unflagged_comments
    timed("verify_chain after purge", lambda: evidence.verify_chain(store))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

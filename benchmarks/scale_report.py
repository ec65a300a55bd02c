"""Benchmark: the weekly report job and ``school-monitor status`` on a full year's store.

Goal (issue 9): a weekly report over 1,000,000 stored comments in at most 2 s.

Unlike ``bench_weekly_report.py`` (comments and their keys only), the store here holds
everything a year of a large trust leaves behind, inserted in bulk with ``executemany``
(the pipeline would take hours to write it):

* ``--comments`` comments (default 1,000,000) over 52 weeks on ``--accounts`` accounts
  (default 200: 100 Pages, 100 X accounts), ~120 characters of text and a raw payload each;
* 8 % with one or two policy keys (``comment_keys``), an assessment row for every comment;
* strikes for the strike keys, 50,000 authors, block recommendations;
* alerts: an escalation for every comment with an escalation key (about 3 %) and
  needs_review for 1 %, each with the contract's ``details`` JSON (comment, assessment,
  scores), and their sent messages (6 KB each);
* coordinator verdicts on a fifth of the flagged comments;
* ``poll_log``: ``--poll-days`` days (default 7) of one poll a minute per account (2
  million rows for 200 accounts), one in 500 failed.

Timed (best of ``--repeat`` after a warm-up, page cache warm as in a running daemon):
:func:`monitor.delivery.reports.build_report` (the SQL tallies), each renderer and the email, the
whole :meth:`monitor.delivery.reports.ReportJob.run_if_due` (tallies, chart, files written, message
stored in the outbox), and :func:`monitor.health.status_report`. Prints the file size.

Usage::

    .venv/bin/python benchmarks/scale_report.py [--comments 1000000] [--accounts 200]
        [--poll-days 7] [--repeat 3] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import parse_config  # noqa: E402
from monitor.domain import POLICY_KEYS, iso  # noqa: E402
from monitor.store import Store, dumps  # noqa: E402

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=timezone.utc)  # Monday 07:00: the report for 2026-W47 is due
KEYS = list(POLICY_KEYS)
STRIKE_KEYS = ("racist_homophobic", "offensive_pupil", "threat_violence", "offensive_staff", "defamatory_staff",
               "defamatory_school")
ESCALATE = ("threat_violence", "allegation_staff", "allegation_pupil", "image_of_staff")
TEXTS = ("Thanks to all the staff for a lovely harvest festival, the children loved it",
         "Why is the car park still closed? Nobody told the parents anything about it",
         "Mrs Ashworth is a disgrace and should be sacked, she shouts at the little ones",
         "Great concert tonight, well done everyone, proud of our class",
         "That teacher is useless, my son has learned nothing all year, shocking school")


def config(accounts: int):
    """A config naming the accounts (the store's rows match them)."""
    from monitor.demo_data import path as demo_path
    from monitor.config import tomllib  # tomli on Python 3.10

    data = tomllib.loads(demo_path("school.toml").read_text(encoding="utf-8"))
    data["accounts"] = [
        {"name": f"fb-{i}", "platform": "facebook", "page_id": str(100000 + i), "token_env": "T"}
        if i % 2 == 0 else
        {"name": f"x-{i}", "platform": "twitter", "user_id": str(200000 + i), "bearer_token_env": "T"}
        for i in range(accounts)]
    data["alerts"] = {"recipients": {"coordinator": ["esafety@trust.example"], "headteacher": ["head@trust.example"],
                                     "senior_team": ["slt@trust.example"]}}
    return parse_config(data, source="scale_report")


def fill(store: Store, cfg, n: int, poll_days: float, seed: int = 11) -> dict:
    """Insert a year of evidence in bulk; returns row counts."""
    rng = random.Random(seed)
    db = store.db
    db.execute("PRAGMA synchronous=OFF")
    accounts = [(a.name, a.platform) for a in cfg.accounts]
    start = NOW - timedelta(days=364)
    step = 364 * 86400 / n
    counts = dict(comments=0, keys=0, strikes=0, alerts=0, messages=0, verdicts=0, poll_log=0)
    created_s = iso(start)
    with store.transaction():
        db.conn.executemany(
            "INSERT INTO accounts(key, platform, external_id, created_at, last_success_at, last_poll_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(a, p, a, created_s, iso(NOW - timedelta(seconds=30)), iso(NOW - timedelta(seconds=30)))
             for a, p in accounts])
        db.conn.executemany(
            "INSERT INTO authors(author_id, platform, name, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)",
            [(f"{'fb' if i % 2 == 0 else 'tw'}:{i}", "facebook" if i % 2 == 0 else "twitter", f"Parent {i}",
              created_s, iso(NOW)) for i in range(50_000)])
        batches: dict[str, list] = {k: [] for k in ("c", "a", "k", "s", "al", "m", "v")}

        def flush() -> None:
            # comments is a view over comment_state and the latest comment_versions row (rows
            # written directly for speed: this benchmark times reports, not the evidence chain)
            db.conn.executemany(
                "INSERT INTO comment_state(platform, comment_id, account, post_id, author_id, created_at, "
                "first_seen, last_seen, status, flagged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'assessed', ?)",
                [(c[0], c[1], c[2], c[3], c[4], c[7], c[11], c[12], c[13]) for c in batches["c"]])
            db.conn.executemany(
                "INSERT INTO comment_versions(platform, comment_id, version, account, author_name, text, created_at, "
                "permalink, raw, sha256, raw_sha256, seen_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, '', ?)",
                [(c[0], c[1], c[2], c[5], c[6], c[7], c[8], c[9], c[10], c[11]) for c in batches["c"]])
            db.conn.executemany(
                "INSERT INTO assessments(platform, comment_id, version, categories, evidence, escalate, strikes, "
                "needs_review, assessed_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?)", batches["a"])
            db.conn.executemany(
                "INSERT INTO comment_keys(platform, comment_id, key, account, created_at, first_version) "
                "VALUES (?, ?, ?, ?, ?, 1)", batches["k"])
            db.conn.executemany(
                "INSERT INTO strikes(platform, comment_id, key, author_id, at, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                batches["s"])
            db.conn.executemany(
                "INSERT INTO alerts(dedupe_key, kind, urgent, status, platform, account, post_id, author_id, "
                "comment_refs, categories, summary, details, created_at, message_id, sent_at, review_status) "
                "VALUES (?, ?, ?, 'sent', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batches["al"])
            db.conn.executemany(
                "INSERT INTO messages(message_id, kind, alert_ids, recipients, subject, body, status, attempts, "
                "next_attempt_at, created_at, sent_at) VALUES (?, 'urgent', '[]', '[]', ?, ?, 'sent', 1, ?, ?, ?)",
                batches["m"])
            db.conn.executemany(
                "INSERT INTO verdicts(platform, comment_id, verdict, keys, by, at) VALUES (?, ?, ?, ?, 'coordinator', ?)",
                batches["v"])
            for b in batches.values():
                b.clear()

        for i in range(n):
            account, platform = accounts[i % len(accounts)]
            when = start + timedelta(seconds=i * step)
            ts = iso(when.replace(microsecond=0))
            cid = f"{i:09d}"
            author = f"{'fb' if platform == 'facebook' else 'tw'}:{rng.randrange(50_000)}"
            text = TEXTS[i % len(TEXTS)] + f" ({i})"
            keys = sorted(rng.sample(KEYS, rng.choice((1, 1, 2)))) if rng.random() < 0.08 else []
            post = f"{account}-p{i // 400}"
            permalink = f"https://www.facebook.com/{post}?comment_id={cid}"
            raw = dumps({"id": cid, "message": text, "from": {"id": author[3:], "name": "Parent"},
                         "created_time": ts})
            batches["c"].append((platform, cid, account, post, author, "Parent", text, ts, permalink, raw,
                                 "0" * 64, ts, ts, int(bool(keys))))
            esc = [k for k in keys if k in ESCALATE]
            strikes = [k for k in keys if k in STRIKE_KEYS]
            evidence = [{"key": k, "kind": "pattern", "detail": "matched a phrase"} for k in keys]
            review = rng.random() < 0.01
            batches["a"].append((platform, cid, dumps(keys), dumps(evidence), int(bool(esc)), dumps(strikes),
                                 int(review), ts))
            for k in keys:
                batches["k"].append((platform, cid, k, account, ts))
            for k in strikes:
                batches["s"].append((platform, cid, k, author, ts, ts))
            if esc or review:
                kind = "escalation" if esc else "needs_review"
                details = {"comment": {"platform": platform, "account": account, "post_id": post, "comment_id": cid,
                                       "author_id": author, "author_name": "Parent", "text": text,
                                       "created_at": ts, "permalink": permalink, "attachments": []},
                           "assessment": {"categories": keys, "evidence": evidence, "escalate": bool(esc),
                                          "strikes": strikes, "needs_review": review, "review_reasons": [],
                                          "counted": True},
                           "scores": {"toxicity": 0.8, "threat": 0.6, "insult": 0.7}, "language": "en"}
                mid = f"<alert-{i}@trust.example>"
                batches["al"].append((f"{kind}:{platform}:{cid}", kind, int(bool(esc)), platform, account, post,
                                      author, dumps([[platform, cid]]), dumps(esc or keys), f"{kind} {cid}",
                                      dumps(details), ts, mid, ts,
                                      rng.choice(("open", "acknowledged", "resolved", "resolved"))))
                batches["m"].append((mid, f"[School] {kind}", b"x" * 6000, ts, ts, ts))
                counts["alerts"] += 1
                counts["messages"] += 1
            if keys and rng.random() < 0.2:
                batches["v"].append((platform, cid, rng.choice(("confirmed", "confirmed", "rejected")), dumps(keys), ts))
                counts["verdicts"] += 1
            counts["comments"] += 1
            counts["keys"] += len(keys)
            counts["strikes"] += len(strikes)
            if len(batches["c"]) >= 20_000:
                flush()
        flush()
        # poll_log: one poll a minute per account for poll_days days.
        rows = []
        t = NOW - timedelta(days=poll_days)
        while t < NOW:
            s = iso(t)
            for a, _ in accounts:
                ok = 0 if rng.random() < 0.002 else 1
                rows.append((a, s, s, ok, 3, 0, 3, None if ok else "facebook HTTP 500 (Graph error code 2)"))
            if len(rows) >= 50_000:
                db.conn.executemany("INSERT INTO poll_log(account, started_at, finished_at, ok, fetched, new, calls, "
                                    "error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                counts["poll_log"] += len(rows)
                rows.clear()
            t += timedelta(minutes=1)
        db.conn.executemany("INSERT INTO poll_log(account, started_at, finished_at, ok, fetched, new, calls, error) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        counts["poll_log"] += len(rows)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts


class NoSend:
    """A mail sender that accepts everything (the benchmark measures building, not SMTP)."""

    def send(self, msg, recipients):  # pragma: no cover - not reached: the outbox is not delivered
        return None


def main() -> int:
    from monitor.health import status_report
    from monitor.delivery.outbox import Outbox
    from monitor.delivery.reports import ReportJob

    from bench_weekly_report import time_report, timed

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comments", type=int, default=1_000_000)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--poll-days", type=float, default=7.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", help="also write the figures to this JSON file")
    args = ap.parse_args()

    cfg = config(args.accounts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "year.db"
        store = Store.open(path)
        t = time.perf_counter()
        counts = fill(store, cfg, args.comments, args.poll_days)
        fill_s = time.perf_counter() - t
        size = path.stat().st_size
        report, secs = time_report(store, cfg, NOW, args.repeat)
        cfg_out = parse_config({"school": {"name": cfg.school.name, "timezone": cfg.school.timezone},
                                "reports": {"out_dir": str(Path(tmp) / "reports")},
                                "alerts": {"recipients": {"headteacher": ["head@trust.example"]}}},
                               source="scale_report")
        job = ReportJob(cfg_out, store, Outbox(cfg_out, store, NoSend(), lambda: NOW), lambda: NOW)
        t = time.perf_counter()
        written = job.run_if_due()
        job_s = time.perf_counter() - t
        status_s, status = timed(lambda: status_report(cfg, store, NOW), args.repeat)
        store.close()
    figures = {
        "comments": counts["comments"], "comment_keys": counts["keys"], "strikes": counts["strikes"],
        "alerts": counts["alerts"], "verdicts": counts["verdicts"], "poll_log_rows": counts["poll_log"],
        "db_mb": round(size / 2**20), "fill_seconds": round(fill_s, 1),
        "report_week": report.week, "comments_in_week": sum(report.comments.values()),
        **{f"{stage}_ms": round(sec * 1000, 1) for stage, sec in secs.items()},
        "report_total_ms": round(sum(secs.values()) * 1000, 1),
        "report_job_run_if_due_ms": round(job_s * 1000, 1), "report_job_wrote": bool(written),
        "status_report_ms": round(status_s * 1000, 1), "status_healthy": status["healthy"],
    }
    width = max(map(len, figures))
    for k, v in figures.items():
        print(f"{k:<{width}}  {v}")
    print(f"goal: weekly report over {counts['comments']:,} comments in at most 2000 ms: "
          f"{'met' if figures['report_total_ms'] <= 2000 and job_s <= 2 else 'NOT met'}")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

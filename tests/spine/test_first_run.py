"""The first run on an empty store (issue 14, item 18): the backfill of the last
``lookback_days`` is assessed and counted without emailing each old comment (one summary
email lists what it found; escalations of the last 48 hours still go at once), and no
weekly report goes out for a week the store never watched."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from monitor.casework import review
from monitor.app import build_app
from monitor.domain import parse_time
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.graph import FakeGraphServer
from monitor.pipeline import SettableClock
from monitor.delivery.smtp_sink import SmtpSink

from .helpers import load

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=timezone.utc)  # Saturday; the demo's last comment is on Friday
TOKEN = "EAAB-first-run-token-0123456789"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_FB_TOKEN", TOKEN)
    posts = [p for p in load_demo_posts() if p.platform == "facebook"]
    with FakeGraphServer(posts, token=TOKEN) as graph, SmtpSink() as smtp:
        clock = SettableClock(NOW)
        config = load(tmp_path, graph_url=graph.base_url, smtp_port=smtp.port, lookback=45,
                      backfill_alert_hours=48)
        app = build_app(config, tmp_path / "store.db", clock=clock,
                        connector_kwargs=lambda acc: {"clock": clock, "sleep": lambda s: None})
        yield app, graph, smtp, clock
        app.close()


def _comment_time(alert_row) -> datetime:
    return parse_time(json.loads(alert_row["details"])["comment"]["created_at"])


def test_first_run_backfill_is_counted_and_summarised_not_emailed_one_by_one(env):
    app, graph, smtp, clock = env
    cfg = app.config.account("fb")
    out = app.pipeline.poll(cfg, app.connector("fb"))
    assert out.status == "ok"
    q = app.store
    served = q.scalar("SELECT COUNT(*) FROM comments")
    assert served > 100 and q.scalar("SELECT COUNT(*) FROM comments WHERE status = 'assessed'") == served
    cutoff = NOW - timedelta(hours=48)
    alerts = list(q.db.query("SELECT * FROM alerts WHERE kind IN ('escalation', 'needs_review', "
                             "'block_recommendation')"))
    old = [a for a in alerts if _comment_time(a) < cutoff]
    recent_escalations = [a for a in alerts if a["kind"] == "escalation" and _comment_time(a) >= cutoff]
    assert len(old) > 30 and recent_escalations, "the demo data has both"
    assert {a["status"] for a in old} == {"summarised"}
    assert {a["status"] for a in recent_escalations} == {"pending"}
    # every old item is still in the review queue, and counted (keys, strikes)
    queue = {i.id for i in review.list_open(q, limit=None)}
    assert {a["id"] for a in old if a["review_status"] == "open"} <= queue
    assert q.scalar("SELECT COUNT(*) FROM comment_keys") > len(old)

    [summary] = list(q.db.query("SELECT * FROM alerts WHERE kind = 'backfill'"))
    details = json.loads(summary["details"])
    assert sorted(it["id"] for it in details["items"]) == sorted(a["id"] for a in old)
    assert details["comments"] == q.scalar("SELECT COUNT(*) FROM comments WHERE created_at < ?",
                                           [cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")])

    clock.now = NOW + timedelta(minutes=10)  # after the group wait
    app.outbox.deliver()
    subjects = [str(m["Subject"]) for m in smtp.messages]
    assert sum(1 for s in subjects if "ESCALATION:" in s) == len(recent_escalations)
    backfill_mails = [m for m in smtp.messages if "first run" in str(m["Subject"]).lower()
                      or "First run" in m.get_body(("plain",)).get_content()]
    assert len(backfill_mails) == 1
    body = backfill_mails[0].get_body(("plain",)).get_content()
    assert f"#{old[0]['id']} " in body and "school-monitor review list" in body
    sent_before = len(smtp.messages)

    # the next poll brings nothing new: no second summary, nothing else sent for the old comments
    clock.now += timedelta(minutes=15)
    app.pipeline.poll(cfg, app.connector("fb"))
    clock.now += timedelta(minutes=10)
    app.outbox.deliver()
    assert q.scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'backfill'") == 1
    assert len(smtp.messages) == sent_before


def test_a_new_comment_after_the_first_run_alerts_as_usual(env):
    app, graph, smtp, clock = env
    cfg = app.config.account("fb")
    app.pipeline.poll(cfg, app.connector("fb"))
    post = graph.posts[-1]
    clock.now = NOW + timedelta(hours=3)
    graph.add_comment(post.native_id, "I will be waiting at the school gates for Mr Pryce with a knife",
                      author_id="7777", author_name="New Person", created_at=clock.now)
    clock.now += timedelta(minutes=15)
    app.pipeline.poll(cfg, app.connector("fb"))
    row = app.store.one("SELECT status FROM alerts WHERE kind = 'escalation' AND author_id = 'fb:7777'")
    assert row and row["status"] == "pending"


def test_no_weekly_report_for_a_week_the_store_never_watched(env):
    app, graph, smtp, clock = env
    clock.now = datetime(2026, 10, 12, 6, 5, tzinfo=timezone.utc)  # Monday 07:05 BST: W41 is due
    assert app.report_job.run_if_due() is None           # empty store: nothing watched, nothing sent
    assert app.store.scalar("SELECT COUNT(*) FROM reports") == 0
    app.outbox.deliver()
    assert smtp.messages == []
    app.pipeline.poll(app.config.account("fb"), app.connector("fb"))  # first run: 45 days backfilled
    assert app.report_job.run_if_due().endswith("report-2026-W41.html")


def test_the_daemon_sends_last_weeks_report_once_the_first_poll_covers_it(env):
    """The daemon's catch-up at start runs before any poll: it skips the week; the first
    poll's backfill then covers it, and the report goes out after that poll."""
    from monitor.daemon import Daemon

    app, graph, smtp, clock = env
    clock.now = datetime(2026, 10, 12, 6, 5, tzinfo=timezone.utc)  # Monday 07:05 BST: W41 is due
    daemon = Daemon(app)
    daemon.report_job()                                   # the catch-up at start, empty store
    assert app.store.scalar("SELECT COUNT(*) FROM reports") == 0
    daemon.poll_job("fb")                                 # first run: 45 days backfilled
    assert app.store.scalar("SELECT status FROM reports WHERE week = '2026-W41'") in ("queued", "sent")
    daemon.poll_job("fb")                                 # not again
    assert app.store.scalar("SELECT COUNT(*) FROM reports") == 1

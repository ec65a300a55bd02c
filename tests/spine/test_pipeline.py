"""The pipeline end to end on a real store, a loopback fake Graph API and the real
scorer and categoriser: idempotence, crash resume, pauses and deferrals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from monitor.app import build_app
from monitor.pipeline import SettableClock
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.graph import FakeGraphServer
from monitor.delivery.smtp_sink import SmtpSink

from .helpers import load

NOW = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)
TOKEN = "EAAB-test-page-token-0123456789"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_FB_TOKEN", TOKEN)
    posts = [p for p in load_demo_posts() if p.platform == "facebook"]
    with FakeGraphServer(posts, token=TOKEN) as graph, SmtpSink() as smtp:
        clock = SettableClock(NOW)
        config = load(tmp_path, graph_url=graph.base_url, smtp_port=smtp.port, lookback=45)
        app = build_app(config, tmp_path / "store.db", clock=clock,
                        connector_kwargs=lambda acc: {"clock": clock, "sleep": lambda s: None})
        yield app, graph, smtp, clock
        app.close()


def counts(app):
    q = app.store.scalar
    return {t: q(f"SELECT COUNT(*) FROM {t}") for t in
            ("comments", "comment_versions", "assessments", "alerts", "strikes", "block_recommendations")}


def test_poll_stores_assesses_and_alerts_then_second_poll_adds_nothing(env):
    app, graph, smtp, clock = env
    acc = app.config.account("fb")
    out = app.pipeline.poll(acc, app.connector("fb"))
    assert out.status == "ok"
    served = sum(1 for p in graph.posts for c in p.comments)
    assert out.stats.new == served == app.store.scalar("SELECT COUNT(*) FROM comments")
    assert app.store.scalar("SELECT COUNT(*) FROM comments WHERE status = 'new'") == 0
    first = counts(app)
    assert first["alerts"] > 0 and first["assessments"] == served
    escalations = app.store.scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'escalation'")
    assert escalations > 0
    clock.now += timedelta(minutes=15)
    again = app.pipeline.poll(acc, app.connector("fb"), force=True)
    assert again.stats.new == 0 and again.stats.changed == 0
    assert counts(app) == first
    # delivery: each escalation is its own message, sent once
    app.outbox.deliver()
    app.outbox.deliver()
    subjects = [m["Subject"] for m in smtp.messages]
    assert sum(1 for s in subjects if "escalation" in s.lower()) >= escalations


def test_own_account_comments_are_stored_never_counted(env):
    app, graph, _, _ = env
    app.pipeline.poll(app.config.account("fb"), app.connector("fb"))
    own = list(app.store.db.query(
        "SELECT a.categories, a.counted FROM comments c JOIN assessments a USING (platform, comment_id) "
        "WHERE c.author_id = 'fb:1000'"))
    assert own, "the demo data has comments by the school's own Page"
    assert all(r["categories"] == "[]" and r["counted"] == 0 for r in own)


def test_crash_during_processing_loses_nothing_and_alerts_once(env, monkeypatch):
    app, graph, _, _ = env
    real_score = app.pipeline.engine.score
    calls = {"n": 0}

    def flaky(texts):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed while scoring")
        return real_score(texts)

    monkeypatch.setattr(app.pipeline.engine, "score", flaky)
    with pytest.raises(RuntimeError):
        app.pipeline.poll(app.config.account("fb"), app.connector("fb"))
    stored = app.store.scalar("SELECT COUNT(*) FROM comments")
    assert stored == sum(1 for p in graph.posts for c in p.comments)  # stored before scoring
    assert app.store.scalar("SELECT COUNT(*) FROM comments WHERE status = 'new'") > 0
    monkeypatch.setattr(app.pipeline.engine, "score", real_score)
    app.pipeline.process_pending()
    app.pipeline.process_pending()
    assert app.store.scalar("SELECT COUNT(*) FROM comments WHERE status = 'new'") == 0
    dupes = app.store.scalar("SELECT COUNT(*) - COUNT(DISTINCT dedupe_key) FROM alerts")
    assert dupes == 0


def test_expired_token_pauses_account_with_one_reconnect_alert(env):
    app, graph, _, clock = env
    acc = app.config.account("fb")
    graph.token = "a-different-token"  # the Page token was revoked
    out = app.pipeline.poll(acc, app.connector("fb"))
    assert out.status == "paused"
    assert TOKEN not in (out.error or "")
    row = app.store.account_row("fb")
    assert row["paused"] == 1
    before = graph.request_count
    clock.now += timedelta(minutes=15)
    again = app.pipeline.poll(acc, app.connector("fb"))
    assert again.status == "paused" and graph.request_count == before  # no calls while paused
    alerts = list(app.store.db.query("SELECT * FROM alerts WHERE kind = 'reconnect'"))
    assert len(alerts) == 1 and alerts[0]["urgent"] == 1
    assert TOKEN not in alerts[0]["details"]


def test_rate_limit_defers_next_poll(env):
    app, graph, _, clock = env
    acc = app.config.account("fb")
    graph.fail_next(1, status=400, graph_code=4)
    out = app.pipeline.poll(acc, app.connector("fb"))
    assert out.status == "failed"
    assert app.store.account_row("fb")["next_poll_after"] > "2026-10-12T06:00:00Z"
    assert app.pipeline.poll(acc, app.connector("fb")).status == "deferred"
    clock.now += timedelta(hours=2)
    assert app.pipeline.poll(acc, app.connector("fb")).status == "ok"


def test_block_recommendations_are_audited_without_quoting_comments(env):
    app, _, _, _ = env
    app.pipeline.poll(app.config.account("fb"), app.connector("fb"))
    audits = list(app.store.db.query("SELECT * FROM audit_log WHERE action = 'block_recommended'"))
    assert audits, "the demo data has authors whose strikes recommend a block"
    texts = [r["text"] for r in app.store.db.query(
        "SELECT c.text FROM strikes s JOIN comments c USING (platform, comment_id) WHERE length(c.text) > 20")]
    for a in audits:
        assert not any(t in a["details"] for t in texts)
        assert '"comment_id"' in a["details"]

"""Nothing lost, nothing silent (issue 14, items 6, 7, 8, 9 and 13), end to end against the
loopback fake Graph API and fake X API v2 servers, a real SQLite file and a real SMTP
server on 127.0.0.1:

* 6: a malformed Graph comment or X post is kept in the ``quarantine`` table (raw JSON,
  reason, platform, post), in the poll's transaction, a person is emailed through the
  outbox, and ``status`` counts it;
* 7: comments whose author Graph withholds (``fb:unknown``) are assessed and escalated
  but never strike nor lead to a block recommendation; ``check`` fails on them;
* 8: an X ``next_token`` that repeats stops the read with an error and ``last_error``;
  a read cap bounds every poll;
* 9: every ``requests`` failure (here ``ContentDecodingError``) becomes a connector error:
  ``last_error``, backoff, one line from ``poll --once``, the outbox still runs.

(Item 9's JSON tracebacks: ``test_json_log_traceback.py``; item 13:
``test_unstarted_accounts.py``.)
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from connectors.base import ConnectorError, FetchContext
from connectors.twitter import TwitterConnector
from monitor.cli import main
from monitor.config import AccountConfig, SecretRef
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.graph import FakeGraphServer
from monitor.fakes.x import FakeXServer
from monitor.delivery.smtp_sink import SmtpSink
from monitor.store import Store

from ..spine.helpers import write_config

FB_TOKEN = "EAAB-silent-test-page-token-98765"
X_TOKEN = "AAAA-silent-test-bearer-token-98765"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("TEST_FB_TOKEN", FB_TOKEN)
    monkeypatch.setenv("TEST_X_TOKEN", X_TOKEN)
    return monkeypatch


def fb_posts(n: int | None = 6):
    posts = [p for p in load_demo_posts() if p.platform == "facebook"]
    return posts[:n] if n else posts


def x_posts(n: int = 4):
    return [p for p in load_demo_posts() if p.platform == "twitter"][:n]


def db(tmp_path) -> Store:
    return Store.open(tmp_path / "store.db")


def subjects(smtp: SmtpSink) -> list[str]:
    return [str(m["Subject"]) for m in smtp.messages]


# ---------------------------------------------------------------------- 6: quarantine

MALFORMED = {  # what Graph sent instead of a comment object -> words the reason must hold
    "no_created_time": ({"drop": ["created_time"]}, "no created_time"),
    "message_not_string": ({"replace": {"message": 42}}, "'message' is not a string"),
    "from_is_string": ({"replace": {"from": "Jo Bloggs"}}, "'from' is not an object"),
    "id_null": ({"replace": {"id": None}}, "not a Graph id"),
}


def test_malformed_graph_comments_are_quarantined_alerted_and_counted(env, tmp_path, capsys):
    now = datetime.now(timezone.utc)
    with FakeGraphServer(fb_posts(), token=FB_TOKEN, rebase_to=now) as graph, SmtpSink() as smtp:
        comments = [c for p in graph.posts for c in p.comments]
        bad = dict(zip(MALFORMED, comments[:len(MALFORMED)]))
        for name, c in bad.items():
            graph.malform_comment(c.native_id, **MALFORMED[name][0])
        cfg = write_config(tmp_path, graph_url=graph.base_url, smtp_port=smtp.port, lookback=45)

        assert main(["poll", "--once", "--config", str(cfg)]) == 0
        out = capsys.readouterr().out
        assert f"quarantined {len(MALFORMED)}" in out
        store = db(tmp_path)
        rows = {r["item_id"] or "null": r for r in store.db.query("SELECT * FROM quarantine")}
        assert len(rows) == len(MALFORMED)
        served = sum(len(p.comments) for p in graph.posts)
        assert store.scalar("SELECT COUNT(*) FROM comments") == served - len(MALFORMED)
        for name, c in bad.items():
            row = rows["null" if name == "id_null" else c.native_id]
            raw = json.loads(row["raw"])
            assert row["platform"] == "facebook" and row["account"] == "fb" and row["kind"] == "comment"
            assert row["post_id"] == c.post_id and MALFORMED[name][1] in row["reason"]
            assert raw.get("message", "") in (c.text, 42) and FB_TOKEN not in row["raw"]
            if name == "from_is_string":
                assert raw["from"] == "Jo Bloggs"
            alert = store.one("SELECT * FROM alerts WHERE id = ?", [row["alert_id"]])
            assert alert["kind"] == "quarantine" and alert["status"] == "sent"
        # the coordinator got the payloads by email, through the outbox
        mails = [m for m in smtp.messages if "Unreadable" in str(m["Subject"]) or "alerts on a Facebook post"
                 in str(m["Subject"])]
        assert mails and all("esafety@school.example" in m["To"] for m in mails)
        body = "".join(m.get_body(("plain",)).get_content() for m in mails)
        assert "Jo Bloggs" in body and "no created_time" in body
        store.close()

        # polled again (the audit re-lists quiet posts in turn): the same payloads add no
        # row and no alert, only last_seen and times_seen move
        sent = len(smtp.messages)
        for _ in range(3):
            assert main(["poll", "--once", "--config", str(cfg)]) == 0
        store = db(tmp_path)
        assert store.scalar("SELECT COUNT(*) FROM quarantine") == len(MALFORMED)
        assert store.scalar("SELECT MAX(times_seen) FROM quarantine") >= 2
        assert store.scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'quarantine'") == len(MALFORMED)
        assert len(smtp.messages) == sent
        store.close()

        capsys.readouterr()
        main(["status", "--config", str(cfg)])
        status = capsys.readouterr().out
        assert f"{len(MALFORMED)} kept (facebook {len(MALFORMED)})" in status
        main(["status", "--config", str(cfg), "--json"])
        assert json.loads(capsys.readouterr().out)["quarantine"]["total"] == len(MALFORMED)


def test_quarantine_is_written_in_the_same_transaction_as_the_comments(env, tmp_path, monkeypatch):
    now = datetime.now(timezone.utc)
    with FakeGraphServer(fb_posts(2), token=FB_TOKEN, rebase_to=now) as graph:
        graph.malform_comment(graph.posts[0].comments[0].native_id, drop=["created_time"])
        cfg = write_config(tmp_path, graph_url=graph.base_url, lookback=45)

        def disk_full(self, q, now_s):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(Store, "_quarantine", disk_full)
        assert main(["poll", "--once", "--config", str(cfg)]) == 1  # a store error, reported
        store = db(tmp_path)
        assert store.scalar("SELECT COUNT(*) FROM comments") == 0  # all or nothing
        assert store.cursor("fb") == {}
        store.close()


def test_x_posts_that_cannot_be_parsed_are_quarantined(env, tmp_path, capsys):
    now = datetime.now(timezone.utc)
    with busy_x(now, replies=5) as x, SmtpSink() as smtp:
        replies = x.reply_ids
        x.malform_tweet(replies[0], drop=["created_at"])
        x.malform_tweet(replies[1], replace={"text": {"html": "<b>hi</b>"}})
        cfg = write_config(tmp_path, x_url=x.base_url, smtp_port=smtp.port, lookback=45, read_cap=10000)
        assert main(["poll", "--once", "--config", str(cfg)]) == 0
        assert "quarantined 2" in capsys.readouterr().out
        store = db(tmp_path)
        rows = {r["item_id"]: r for r in store.db.query("SELECT * FROM quarantine")}
        assert set(rows) == set(replies[:2])
        assert "created_at" in rows[replies[0]]["reason"] and "text" in rows[replies[1]]["reason"]
        assert json.loads(rows[replies[1]]["raw"])["data"]["text"] == {"html": "<b>hi</b>"}
        assert all(r["platform"] == "twitter" and r["post_id"] for r in rows.values())
        assert not store.scalar("SELECT COUNT(*) FROM comments WHERE comment_id IN (?, ?)", replies[:2])
        assert store.scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'quarantine' AND status = 'sent'") == 2
        store.close()


# ---------------------------------------------------------------------- 7: fb:unknown


def test_unknown_authors_are_escalated_but_never_strike_or_get_a_block(env, tmp_path, capsys):
    now = datetime.now(timezone.utc)
    with FakeGraphServer(fb_posts(None), token=FB_TOKEN, rebase_to=now) as graph, SmtpSink() as smtp:
        graph.withhold_from = True  # a token without what Meta needs to name the commenters
        cfg = write_config(tmp_path, graph_url=graph.base_url, smtp_port=smtp.port, lookback=45)
        assert main(["poll", "--once", "--config", str(cfg)]) == 0
        store = db(tmp_path)
        page = graph.page_id
        unknown = store.scalar("SELECT COUNT(*) FROM comments WHERE author_id = 'fb:unknown'")
        assert unknown == sum(1 for p in graph.posts for c in p.comments if c.author_id != page) > 20
        assert store.scalar("SELECT COUNT(*) FROM comments WHERE status != 'assessed'") == 0
        assert store.scalar("SELECT COUNT(*) FROM strikes") == 0
        assert store.scalar("SELECT COUNT(*) FROM block_recommendations") == 0
        assert store.scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'block_recommendation'") == 0
        assert store.scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'escalation'") > 5
        # what would have struck goes to a person, saying why
        reasons = [r["review_reasons"] for r in store.db.query(
            "SELECT review_reasons FROM assessments WHERE review_reasons LIKE '%no author id%'")]
        assert reasons
        # review shows no pooled "history" for the unknown id
        from monitor.casework.review import show

        escalation = store.scalar("SELECT id FROM alerts WHERE kind = 'escalation' AND author_id = 'fb:unknown'")
        assert show(store, escalation).author is None
        store.close()

        capsys.readouterr()
        assert main(["check", "--config", str(cfg)]) == 1
        out = capsys.readouterr().out
        line = next(ln for ln in out.splitlines() if "comments read" in ln)
        assert line.startswith("[FAIL]") and "without from.id" in line and "Advanced Access" in line
        graph.withhold_from = False
        assert main(["check", "--config", str(cfg)]) == 0


def test_strike_policy_never_recommends_blocking_an_unknown_author(school_config):
    from classifiers.policy import decide, strike_records
    from monitor.domain import Assessment, Comment, StrikeRecord

    at = datetime(2026, 10, 1, 12, tzinfo=timezone.utc)
    strikes = [StrikeRecord("facebook", f"1_{i}", "racist_homophobic", at - timedelta(hours=i)) for i in range(3)]
    for who in ("fb:unknown", "", "fb:"):
        assert decide(who, strikes, at, school_config.policy).recommend_block is False
    assert decide("fb:1004", strikes, at, school_config.policy).recommend_block is True
    c = Comment("facebook", "fb", "1_0", "1_9", None, "fb:unknown", "", "x", at)
    assert strike_records(c, Assessment(categories=("racist_homophobic",), strikes=("racist_homophobic",))) == []


# ---------------------------------------------------------------------- 8: X paging


def busy_x(now: datetime, replies: int = 250) -> FakeXServer:
    x = FakeXServer([], bearer_token=X_TOKEN)
    post = x.add_post("Sports day is on Friday", created_at=now - timedelta(hours=6))
    for i in range(replies):
        x.add_reply(post, f"reply {i} about sports day", author_id=str(5000 + i),
                    created_at=now - timedelta(hours=5, minutes=-i))
    return x


def test_repeated_next_token_stops_the_read_with_an_error_and_last_error(env, tmp_path, capsys):
    now = datetime.now(timezone.utc)
    with busy_x(now) as x:
        x.repeat_next_token = True
        cfg = write_config(tmp_path, x_url=x.base_url, lookback=3, read_cap=10000)
        assert main(["poll", "--once", "--config", str(cfg)]) == 1
        out = capsys.readouterr().out
        line = next(ln for ln in out.splitlines() if ln.startswith("x:"))
        assert "repeated next_token" in line
        mentions = [r for r in x.requests if r.path.endswith("/mentions")]
        assert len(mentions) <= 3, len(mentions)
        store = db(tmp_path)
        assert "repeated next_token" in store.account_row("x")["last_error"]
        assert store.scalar("SELECT COUNT(*) FROM comments") == 200  # the two pages read are kept
        assert store.reads_this_month("x", now) <= 300
        store.close()
        capsys.readouterr()
        main(["status", "--config", str(cfg)])
        assert "x last error at" in capsys.readouterr().out
        # X's paging fixed: the next poll reads the rest, nothing lost, the error clears
        x.repeat_next_token = False
        assert main(["poll", "--once", "--config", str(cfg)]) == 0
        store = db(tmp_path)
        assert store.scalar("SELECT COUNT(*) FROM comments") == 250
        assert store.account_row("x")["last_error"] is None
        store.close()


def x_connector(url: str, **kw) -> TwitterConnector:
    cfg = AccountConfig(name="x", platform="twitter", user_id="2000", handle="BrookfieldPS", base_url=url,
                        lookback_days=3, secrets={"bearer_token": SecretRef(key="b", env="B")})
    return TwitterConnector(cfg, environ={"B": X_TOKEN}, sleep=lambda s: None, **kw)


def test_one_poll_reads_at_most_its_read_cap_and_the_next_poll_goes_on():
    now = datetime.now(timezone.utc)
    with busy_x(now) as x:
        conn = x_connector(x.base_url, max_reads_per_poll=120)
        first = conn.fetch(FetchContext(cursor={}, now=now))
        assert first.reads <= 120 and any("read cap of 120" in w for w in first.warnings)
        seen = {c.comment_id for c in first.comments}
        more = conn.fetch(FetchContext(cursor=first.cursor, now=now))
        last = conn.fetch(FetchContext(cursor=more.cursor, now=now))
        seen |= {c.comment_id for c in more.comments} | {c.comment_id for c in last.comments}
        assert len(seen) == 250 and more.reads <= 120
        conn.close()


# ---------------------------------------------------------------------- 9: unmapped errors

NOT_GZIP = {"status": 200, "body": b'{"data": [], "meta": {"result_count": 0}}',
            "headers": {"Content-Encoding": "gzip"}, "content_type": "application/json"}


def test_a_body_that_is_not_the_gzip_it_claims_is_a_transient_connector_error():
    with FakeXServer(x_posts(), bearer_token=X_TOKEN) as x:
        x.fail_next(3, **NOT_GZIP)
        conn = x_connector(x.base_url, max_attempts=2)
        with pytest.raises(ConnectorError) as ei:
            conn.fetch(FetchContext(cursor={}, now=datetime.now(timezone.utc)))
        conn.close()
    assert ei.value.kind == "transient" and not ei.value.permanent
    assert "ContentDecodingError" in str(ei.value) and X_TOKEN not in str(ei.value)


def test_poll_once_reports_an_unreadable_x_answer_in_one_line_and_still_delivers(env, tmp_path, capsys):
    now = datetime.now(timezone.utc)
    with FakeGraphServer(fb_posts(), token=FB_TOKEN, rebase_to=now) as graph, \
            FakeXServer(x_posts(), bearer_token=X_TOKEN, rebase_to=now) as x, SmtpSink() as smtp:
        x.fail_next(10, **NOT_GZIP)
        cfg = write_config(tmp_path, graph_url=graph.base_url, x_url=x.base_url, smtp_port=smtp.port,
                           lookback=45, read_cap=10000)
        assert main(["poll", "--once", "--config", str(cfg)]) == 1
        captured = capsys.readouterr()
        lines = [ln for ln in captured.out.splitlines() if ln.startswith("x:")]
        assert len(lines) == 1 and "failed" in lines[0] and "ContentDecodingError" in lines[0]
        assert "Traceback" not in captured.out + captured.err
        assert any(ln.startswith("outbox:") for ln in captured.out.splitlines())
        assert smtp.messages  # the Facebook escalations went out
        store = db(tmp_path)
        row = store.account_row("x")
        assert "ContentDecodingError" in row["last_error"] and row["next_poll_after"] > row["last_error_at"]
        assert row["consecutive_failures"] == 1 and not row["paused"]
        store.close()


def test_daemon_delivers_the_outbox_even_when_a_poll_fails(env, tmp_path, monkeypatch):
    from monitor.app import build_app
    from monitor.config import load_config
    from monitor.daemon import Daemon
    from monitor.domain import Alert

    now = datetime.now(timezone.utc)
    with FakeGraphServer(fb_posts(2), token=FB_TOKEN, rebase_to=now) as graph, SmtpSink() as smtp:
        config = load_config(write_config(tmp_path, graph_url=graph.base_url, smtp_port=smtp.port, lookback=45))
        app = build_app(config, tmp_path / "store.db")
        try:
            app.store.enqueue_alert(Alert(kind="reconnect", dedupe_key="reconnect:other:1", created_at=now,
                                          platform="twitter", account="other", summary="queued before the poll",
                                          details={"account": "other", "platform": "twitter", "error": "401"}))

            def broken_poll(*a, **k):
                raise RuntimeError("scorer crashed")  # any failure inside the poll job

            monkeypatch.setattr(app.pipeline, "poll", broken_poll)
            Daemon(app).poll_job("fb")
            assert len(smtp.messages) == 1 and "reconnect" in str(smtp.messages[0]["Subject"])
        finally:
            app.close()

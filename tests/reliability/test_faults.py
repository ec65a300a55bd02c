"""Platform and SMTP faults, end to end, with the fakes on loopback (issue 9, part 3).

The daemon's own jobs (:class:`monitor.daemon.Daemon` ``poll_job`` and ``outbox_job``)
run in this process against the fake Graph API, the fake X API and an SMTP server on
127.0.0.1, with a settable clock. Each platform fault (rate limit, 5xx, an HTML error
page, a timeout, a slow answer, malformed JSON, a refused credential) is injected before
the first poll. Then:

* the failed poll stores nothing and does not move the cursor; the error is recorded
  with the HTTP status / platform code, and the account is paused only for a refused
  credential (with one ``reconnect`` alert);
* once the fault is gone (and the clock is past ``retry_after``) the next scheduled poll
  stores every served comment exactly once; polling again adds nothing;
* every alert is delivered exactly once (distinct Message-IDs at the SMTP server equal the
  messages sent);
* SMTP down for hours, then back: the next outbox run delivers everything, escalations
  first; nothing lost, nothing sent twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest

from monitor.pipeline import SettableClock


ACCOUNT = {"facebook": "brookfield-facebook", "twitter": "brookfield-x"}


def Clock() -> SettableClock:  # noqa: N802 - reads as the class it returns
    """A settable aware-UTC clock shared by the app's parts, starting now."""
    return SettableClock(datetime.now(timezone.utc))


def make_app(platforms, clock: Clock, only: str | None, *, timeout: float = 1.0, smtp_port: int | None = None):
    """Build the app (store, scorer, pipeline, connectors, outbox) and a Daemon around it.
    Connectors get no retries of their own and no real sleeping, so each fault costs one
    request and no waiting."""
    from monitor.app import build_app
    from monitor.config import load_config
    from monitor.daemon import Daemon

    config = load_config(platforms.reconfigure(only=only, timeout=timeout, smtp_port=smtp_port))
    app = build_app(config, platforms.db_path, clock=clock,
                    connector_kwargs=lambda acc: {"sleep": lambda _s: None, "max_attempts": 1, "clock": clock})
    return app, Daemon(app)


def stored_ids(store, platform: str) -> set[str]:
    return {r["comment_id"] for r in store.db.query("SELECT comment_id FROM comments WHERE platform = ?", [platform])}


def assert_each_message_once(platforms, store) -> int:
    """Every message the store marks sent reached the SMTP server, each exactly once.
    Returns the number of messages."""
    sent = [r["message_id"] for r in store.db.query("SELECT message_id FROM messages WHERE status = 'sent'")]
    received = Counter(platforms.received_message_ids())
    assert set(received) == set(sent), "a message was lost or sent without being recorded"
    assert all(n == 1 for n in received.values()), received.most_common(3)
    assert store.scalar("SELECT COUNT(*) FROM messages WHERE status != 'sent'") == 0
    assert store.scalar("SELECT COUNT(*) FROM alerts WHERE status != 'sent'") == 0
    return len(sent)


# fault name -> (platform, how to inject it, words the recorded error must contain, permanent)
FAULTS = {
    "fb-rate-limit-4": ("facebook", lambda g, x: g.fail_next(1, status=403, graph_code=4), ["4"], False),
    "fb-page-limit-32": ("facebook", lambda g, x: g.fail_next(1, status=403, graph_code=32), ["32"], False),
    "fb-buc-80001": ("facebook", lambda g, x: g.fail_next(
        1, status=400, graph_code=80001,
        headers={"x-business-use-case-usage": '{"1000": [{"type": "pages", "call_count": 100, "total_cputime": 40, '
                                              '"total_time": 40, "estimated_time_to_regain_access": 12}]}'}),
        ["80001"], False),
    "fb-500": ("facebook", lambda g, x: g.fail_next(1, status=500, graph_code=2), ["500"], False),
    "fb-html-502": ("facebook", lambda g, x: g.fail_next(1, status=502, html=True), ["502"], False),
    "fb-malformed-json": ("facebook", lambda g, x: g.fail_next(1, status=200, body='{"data": [ {"id": '),
                          ["malformed"], False),
    "fb-timeout": ("facebook", lambda g, x: g.delay(2.0, n=1), ["time"], False),
    "fb-token-expired-190": ("facebook", lambda g, x: g.fail_next(1, status=400, graph_code=190), ["190"], True),
    "fb-permission-10": ("facebook", lambda g, x: g.fail_next(1, status=403, graph_code=10), ["10"], True),
    "x-429-reset": ("twitter", lambda g, x: x.fail_next(1, status=429, reset_after=60), ["429"], False),
    "x-429-no-reset": ("twitter", lambda g, x: x.fail_next(1, status=429, reset_after=None), ["429"], False),
    "x-500": ("twitter", lambda g, x: x.fail_next(1, status=500), ["500"], False),
    "x-503": ("twitter", lambda g, x: x.fail_next(1, status=503), ["503"], False),
    "x-html-502": ("twitter", lambda g, x: x.fail_next(1, status=502, body="<html><h1>502 Bad Gateway</h1></html>"),
                   ["502"], False),
    "x-malformed-json": ("twitter", lambda g, x: x.fail_next(1, status=200, body="{\"data\": [ {\"id\": ",
                                                             content_type="application/json"), [], False),
    "x-timeout": ("twitter", lambda g, x: x.set_delay(2.0, n=1), ["time"], False),
    "x-401": ("twitter", lambda g, x: x.fail_next(1, status=401), ["401"], True),
    "x-403": ("twitter", lambda g, x: x.fail_next(1, status=403), ["403"], True),
}


def _clear(platforms) -> None:
    platforms.graph.delay(0)
    platforms.x.clear_faults()


@pytest.mark.parametrize("fault", list(FAULTS))
def test_platform_fault_then_recovery_loses_nothing(platforms, fault):
    platform, inject, words, permanent = FAULTS[fault]
    name = ACCOUNT[platform]
    clock = Clock()
    app, daemon = make_app(platforms, clock, only=platform)
    store = app.store
    try:
        inject(platforms.graph, platforms.x)
        daemon.poll_job(name)
        row = store.account_row(name)
        assert stored_ids(store, platform) == set(), "a failed poll stored comments"
        assert store.cursor(name) == {}, "a failed poll moved the cursor"
        error = row["last_error"] or row["paused_reason"] or ""
        assert error, "the failure was not recorded"
        for w in words:
            assert w in error.lower() or w in error, (w, error)
        assert store.scalar("SELECT COUNT(*) FROM poll_log WHERE ok = 0") == 1
        if permanent:
            assert row["paused"] == 1
            kinds = [r["kind"] for r in store.db.query("SELECT kind FROM alerts")]
            assert kinds in (["reconnect"], ["permission"]), kinds
            # Paused: the next scheduled polls make no request and send no second alert.
            before = (platforms.graph.request_count, platforms.x.request_count)
            clock.advance(minutes=30)
            daemon.poll_job(name)
            assert (platforms.graph.request_count, platforms.x.request_count) == before
            assert store.scalar("SELECT COUNT(*) FROM alerts") == 1
            store.unpause_account(name)  # what `school-monitor check` does once it passes
        else:
            assert row["paused"] == 0
        _clear(platforms)
        clock.advance(hours=1)  # past any retry_after
        daemon.poll_job(name)
        served = platforms.served_comment_ids()[platform]
        got = stored_ids(store, platform)
        assert served <= got, f"lost after recovery: {sorted(served - got)[:5]}"
        n = len(got)
        clock.advance(hours=1)
        daemon.poll_job(name)
        assert len(stored_ids(store, platform)) == n
        assert store.scalar("SELECT COUNT(*) FROM comment_versions") == n, "a comment stored twice"
        clock.advance(minutes=10)
        daemon.outbox_job()
        assert assert_each_message_once(platforms, store) > 0
    finally:
        app.close()


@pytest.mark.parametrize("platform", ["facebook", "twitter"])
def test_slow_answers_within_the_timeout_succeed(platforms, platform):
    clock = Clock()
    app, daemon = make_app(platforms, clock, only=platform, timeout=2.0)
    try:
        if platform == "facebook":
            platforms.graph.delay(0.05)
        else:
            platforms.x.set_delay(0.05)
        daemon.poll_job(ACCOUNT[platform])
        assert platforms.served_comment_ids()[platform] <= stored_ids(app.store, platform)
        assert app.store.account_row(ACCOUNT[platform])["last_error"] is None
    finally:
        _clear(platforms)
        app.close()


def test_smtp_down_for_hours_then_back_delivers_each_alert_once(platforms):
    from monitor.delivery.smtp_sink import SmtpSink, free_port

    port = free_port()
    clock = Clock()
    app, daemon = make_app(platforms, clock, only=None, smtp_port=port)
    store = app.store
    try:
        for name in ACCOUNT.values():
            daemon.poll_job(name)  # polls, assesses, tries to deliver: SMTP is down
        alerts = store.scalar("SELECT COUNT(*) FROM alerts")
        assert alerts > 0
        assert store.scalar("SELECT COUNT(*) FROM messages WHERE status = 'sent'") == 0
        first_errors = store.scalar("SELECT COUNT(*) FROM messages WHERE last_error IS NOT NULL")
        assert first_errors > 0
        for _ in range(8):  # hours of outage: retries with backoff, nothing dropped
            clock.advance(minutes=37)
            daemon.outbox_job()
        assert store.scalar("SELECT COUNT(*) FROM messages WHERE status = 'sent'") == 0
        assert store.scalar("SELECT MAX(attempts) FROM messages") >= 3
        with SmtpSink(None, port=port) as smtp:
            # The very next outbox run after the server is back delivers everything, escalations
            # first (it used to take up to an hour: each message had its own backoff).
            clock.advance(minutes=1)
            daemon.outbox_job()
            assert store.scalar("SELECT COUNT(*) FROM messages WHERE status != 'sent'") == 0
            urgent = [str(m["Message-ID"]).startswith("<sm.urgent.") for m in smtp.messages]
            assert urgent == sorted(urgent, reverse=True), "an escalation was sent after other mail"
            clock.advance(hours=2)
            daemon.outbox_job()  # nothing left: nothing sent again
            received = Counter(str(m["Message-ID"]) for m in smtp.messages)
        sent = {r["message_id"] for r in store.db.query("SELECT message_id FROM messages WHERE status = 'sent'")}
        assert set(received) == sent and all(n == 1 for n in received.values())
        assert store.scalar("SELECT COUNT(*) FROM alerts WHERE status != 'sent'") == 0
        escalations = store.scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'escalation'")
        assert escalations and len(sent) >= escalations  # one email per escalation at least
    finally:
        app.close()

"""The outbox against a real SMTP server: urgency, grouping, retries, exactly once, repeats."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from alerts_support import SmtpServer, authenticator, free_port, make_config
from structlog.testing import capture_logs

from monitor.mailer import MailDirSender, SmtpSender
from monitor.outbox import Outbox, backoff_minutes


def outbox_for(tmp_path, store, clock, port, **kw) -> Outbox:
    cfg = make_config(tmp_path, port=port, **kw)
    return Outbox(cfg, store, SmtpSender(cfg.alerts.smtp), clock)


def subjects(server) -> list[str]:
    return [str(m["msg"]["Subject"]).strip() for m in server.messages]


def alert_status(store, aid) -> str:
    return store.scalar("SELECT status FROM alerts WHERE id = ?", [aid])


def test_escalations_go_at_once_one_email_each_and_grouped_alerts_wait(tmp_path, store, builder, clock, smtp_server):
    outbox = outbox_for(tmp_path, store, clock, smtp_server.port)
    nr = builder.needs_review()
    blk = builder.block()
    e1 = builder.escalation(keys=("threat_violence",))
    e2 = builder.escalation("Mr Pryce hit a child", keys=("allegation_staff",))
    stats = outbox.deliver()

    assert (stats.built, stats.sent, stats.waiting_alerts) == (2, 2, 2)
    assert [m["msg"]["X-School-Monitor-Alerts"] for m in smtp_server.messages] == [str(e1), str(e2)]
    by_alert = {m["msg"]["X-School-Monitor-Alerts"]: m for m in smtp_server.messages}
    assert by_alert[str(e1)]["to"] == ["dsl@school.test", "coord@school.test"]
    assert by_alert[str(e2)]["to"] == ["head@school.test", "coord@school.test"]
    assert alert_status(store, nr) == alert_status(store, blk) == "pending"

    clock.advance(minutes=4, seconds=59)
    assert outbox.deliver().sent == 0                       # the group wait (5 min) is not over
    clock.advance(seconds=1)
    stats = outbox.deliver()
    assert (stats.built, stats.sent, stats.waiting_alerts) == (1, 1, 0)
    grouped = smtp_server.messages[-1]
    assert grouped["msg"]["X-School-Monitor-Alerts"] == f"{nr},{blk}"  # one email for the post
    assert grouped["to"] == ["coord@school.test"]
    assert subjects(smtp_server)[-1] == "[Brookfield Primary School] 2 alerts on a Facebook post"
    assert {alert_status(store, a) for a in (nr, blk, e1, e2)} == {"sent"}
    assert outbox.deliver().sent == 0                       # nothing twice


def test_alerts_on_different_posts_are_separate_groups(tmp_path, store, builder, clock, smtp_server):
    outbox = outbox_for(tmp_path, store, clock, smtp_server.port)
    builder.needs_review(post_id="1000_501")
    builder.needs_review(post_id="1000_502")
    builder.needs_review(post_id="1000_502")
    assert outbox.flush_all().sent == 2                     # flush ignores the group wait
    assert sorted(len(m["msg"]["X-School-Monitor-Alerts"].split(",")) for m in smtp_server.messages) == [1, 2]


def test_urgent_mail_is_sent_before_grouped_mail(tmp_path, store, builder, clock, smtp_server):
    outbox = outbox_for(tmp_path, store, clock, smtp_server.port)
    nr = builder.needs_review()
    clock.advance(minutes=10)
    esc = builder.escalation(at=clock.now)
    outbox.deliver()
    assert [m["msg"]["X-School-Monitor-Alerts"] for m in smtp_server.messages] == [str(esc), str(nr)]


def test_smtp_down_for_hours_then_up_delivers_every_alert_exactly_once(tmp_path, store, builder, clock):
    port = free_port()
    outbox = outbox_for(tmp_path, store, clock, port)
    ids = [builder.escalation(f"threat number {i}") for i in range(3)] + [builder.needs_review()]
    with capture_logs() as logs:
        stats = outbox.deliver()
    assert stats.sent == 0 and stats.failed == 1            # one connection attempt, then the run stops
    assert any(e["event"] == "message_delivery_failed" and e["reason"] == "connect" for e in logs)
    assert store.scalar("SELECT COUNT(*) FROM messages WHERE status = 'pending'") == 3
    first = store.one("SELECT attempts, next_attempt_at, last_error FROM messages ORDER BY id LIMIT 1")
    assert first["attempts"] == 1 and first["next_attempt_at"] == "2026-10-20T09:01:00Z"
    assert "cannot connect" in first["last_error"]

    for _ in range(6 * 60):                                 # six hours of one-minute outbox runs
        clock.advance(minutes=1)
        outbox.deliver()
    attempts = [r["attempts"] for r in store.db.query("SELECT attempts FROM messages")]
    assert max(attempts) <= 17                              # backoff: 1, 2, 4, 8, 16, then every 30 min (not 360)
    assert store.scalar("SELECT MAX(next_attempt_at) FROM messages") <= "2026-10-20T15:31:00Z"  # cap 30 min

    server = SmtpServer(port=port).start()
    try:
        clock.advance(minutes=31)
        stats = outbox.deliver()
        assert stats.sent == 4 and stats.unsent == 0 and stats.waiting_alerts == 0
        clock.advance(minutes=60)
        outbox.deliver()
        received = Counter(m["msg"]["Message-ID"] for m in server.messages)
        assert len(received) == 4 and set(received.values()) == {1}
        delivered = [a for m in server.messages for a in m["msg"]["X-School-Monitor-Alerts"].split(",")]
        assert sorted(map(int, delivered)) == sorted(ids)
    finally:
        server.stop()


def test_backoff_is_exponential_and_capped():
    assert [backoff_minutes(n, 30) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff_minutes(1, 30, permanent=True) == 30


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_failure_is_logged_clearly_and_the_alert_stays_in_the_outbox(tmp_path, store, builder, clock,
                                                                          monkeypatch):
    server = SmtpServer(authenticator=authenticator("alerts", "right-password-123"), auth_required=True,
                        auth_require_tls=False).start()
    try:
        monkeypatch.setenv("SM_TEST_SMTP_PASSWORD", "wrong-password-456")
        outbox = outbox_for(tmp_path, store, clock, server.port, username="alerts",
                            password_env="SM_TEST_SMTP_PASSWORD")
        aid = builder.escalation()
        with capture_logs() as logs:
            stats = outbox.deliver()
        assert stats.sent == 0 and stats.failed == 1 and stats.unsent == 1
        [event] = [e for e in logs if e["event"] == "smtp_auth_failed"]
        assert event["log_level"] == "error" and event["permanent"] is True
        assert "authentication failed for user 'alerts'" in event["error"]
        assert "nothing is lost" in event["detail"]
        assert "wrong-password-456" not in json.dumps(logs, default=str)
        assert alert_status(store, aid) == "queued"
        row = store.one("SELECT status, attempts, next_attempt_at FROM messages")
        assert row["status"] == "pending" and row["next_attempt_at"] == "2026-10-20T09:30:00Z"  # the cap
        assert server.messages == []

        monkeypatch.setenv("SM_TEST_SMTP_PASSWORD", "right-password-123")   # the school fixes the secret
        clock.advance(minutes=30)
        assert outbox.deliver().sent == 1
        assert alert_status(store, aid) == "sent" and len(server.messages) == 1
    finally:
        server.stop()


class CrashAfterSend:
    """A sender that delivers, then the process dies before the outbox records it."""

    def __init__(self, inner):
        self.inner = inner

    def send(self, msg, recipients):
        self.inner.send(msg, recipients)
        raise SystemExit("killed between send and mark")


def test_crash_between_send_and_mark_resends_the_same_message_id(tmp_path, store, builder, clock):
    cfg = make_config(tmp_path)
    builder.escalation()
    with pytest.raises(SystemExit):
        Outbox(cfg, store, CrashAfterSend(MailDirSender(tmp_path / "mail")), clock).deliver()
    first = {p.name: p.read_bytes() for p in (tmp_path / "mail").iterdir()}
    assert len(first) == 1
    # restart: the message is still pending and goes again with the same id and bytes
    stats = Outbox(cfg, store, MailDirSender(tmp_path / "mail"), clock).deliver()
    assert stats.sent == 1 and stats.built == 0
    second = {p.name: p.read_bytes() for p in (tmp_path / "mail").iterdir()}
    assert second == first                                     # same file name (Message-ID) and content


def test_unacknowledged_escalation_repeats_until_acknowledged(tmp_path, store, builder, clock, smtp_server):
    outbox = outbox_for(tmp_path, store, clock, smtp_server.port)
    aid = builder.escalation()
    outbox.deliver()
    assert store.scalar("SELECT next_repeat_at FROM alerts WHERE id = ?", [aid]) == "2026-10-20T13:00:00Z"
    clock.advance(minutes=239)
    assert outbox.deliver().repeats == 0
    clock.advance(minutes=1)
    stats = outbox.deliver()
    assert stats.repeats == 1 and stats.sent == 1
    reminder = smtp_server.messages[-1]["msg"]
    assert str(reminder["Subject"]).strip().startswith("[Brookfield Primary School] Reminder 1: ESCALATION")
    assert reminder["Message-ID"].endswith(".r1@brookfield.test>")
    assert reminder["Message-ID"] != smtp_server.messages[0]["msg"]["Message-ID"]
    row = store.one("SELECT repeats, next_repeat_at FROM alerts WHERE id = ?", [aid])
    assert row == {"repeats": 1, "next_repeat_at": "2026-10-20T17:00:00Z"}

    clock.advance(minutes=240)
    assert outbox.deliver().repeats == 1 and len(smtp_server.messages) == 3
    # `school-monitor review ack` sets review_status; no more reminders
    store.db.execute("UPDATE alerts SET review_status = 'acknowledged' WHERE id = ?", [aid])
    clock.advance(minutes=240 * 3)
    stats = outbox.deliver()
    assert stats.repeats == 0 and len(smtp_server.messages) == 3


def test_reminder_built_while_smtp_is_down_is_cancelled_by_an_ack(tmp_path, store, builder, clock):
    port = free_port()
    cfg = make_config(tmp_path, port=port)
    store.db.execute("SELECT 1")
    builder.escalation()
    Outbox(cfg, store, MailDirSender(tmp_path / "mail"), clock).deliver()
    outbox = Outbox(cfg, store, SmtpSender(cfg.alerts.smtp), clock)   # SMTP now down
    clock.advance(minutes=240)
    assert outbox.deliver().repeats == 1
    store.db.execute("UPDATE alerts SET review_status = 'acknowledged'")
    clock.advance(minutes=60)
    assert outbox.deliver().cancelled == 1
    assert store.scalar("SELECT status FROM messages WHERE kind = 'repeat'") == "cancelled"


def test_account_alerts_are_urgent_and_read_budget_is_grouped(tmp_path, store, builder, clock, smtp_server):
    outbox = outbox_for(tmp_path, store, clock, smtp_server.port)
    builder.account_alert("reconnect")
    builder.account_alert("read_budget")
    assert outbox.deliver().sent == 1
    assert "reconnect" in subjects(smtp_server)[0]
    clock.advance(minutes=5)
    assert outbox.deliver().sent == 1


def test_no_recipient_configured_keeps_the_alert_pending_and_says_so(tmp_path, store, builder, clock, smtp_server):
    outbox = outbox_for(tmp_path, store, clock, smtp_server.port, recipients={})
    aid = builder.escalation()
    with capture_logs() as logs:
        stats = outbox.deliver()
    assert stats.sent == 0 and stats.waiting_alerts == 1
    [event] = [e for e in logs if e["event"] == "alert_no_recipients"]
    assert event["alert_ids"] == [aid] and "coordinator" in event["detail"]
    assert alert_status(store, aid) == "pending"


def test_disabled_alerts_send_nothing(tmp_path, store, builder, clock, smtp_server):
    outbox = outbox_for(tmp_path, store, clock, smtp_server.port, enabled=False)
    builder.escalation()
    assert outbox.flush_all().sent == 0 and smtp_server.messages == []


def test_an_alert_the_renderer_fails_on_still_goes_out(tmp_path, store, builder, clock, smtp_server):
    outbox = outbox_for(tmp_path, store, clock, smtp_server.port)
    aid = builder.escalation(keys=("threat_violence",))
    # details that break the renderer (a list where a mapping is expected)
    store.db.execute("UPDATE alerts SET details = ? WHERE id = ?", [json.dumps({"comment": ["not", "a", "dict"]}),
                                                                     aid])
    with capture_logs() as logs:
        assert outbox.deliver().sent == 1
    assert any(e["event"] == "alert_render_failed" for e in logs)
    msg = smtp_server.messages[0]["msg"]
    assert str(msg["Subject"]).strip().startswith("[Brookfield Primary School] ESCALATION: 1 alert(s)")
    body = msg.get_content()
    assert f"school-monitor review show {aid}" in body and "comments which threaten violence" in body

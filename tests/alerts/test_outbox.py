"""The outbox against a real SMTP server: urgency, grouping, retries, exactly once, repeats."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from alerts_support import SmtpServer, authenticator, free_port, make_config
from structlog.testing import capture_logs

from monitor.delivery.mailer import MailDirSender, SmtpSender
from monitor.delivery.outbox import Outbox, backoff_minutes


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
        stats = outbox.deliver()
        assert stats.failed == 1                            # one connection attempt a minute, no more
    # The server is what is down, not a message: no message backs off, the most urgent one
    # (the first escalation) is the one tried each minute.
    attempts = [r["attempts"] for r in store.db.query("SELECT attempts FROM messages ORDER BY id")]
    assert attempts[0] == 361 and sum(attempts) == 361
    assert store.scalar("SELECT MAX(next_attempt_at) FROM messages") == "2026-10-20T15:01:00Z"

    server = SmtpServer(port=port).start()
    try:
        clock.advance(minutes=1)                             # the very next run after recovery
        stats = outbox.deliver()
        assert stats.sent == 4 and stats.unsent == 0 and stats.waiting_alerts == 0
        kinds = [m["msg"]["X-School-Monitor-Alerts"] for m in server.messages]
        assert kinds[:3] == [str(i) for i in ids[:3]]       # escalations first
        clock.advance(minutes=60)
        outbox.deliver()
        received = Counter(m["msg"]["Message-ID"] for m in server.messages)
        assert len(received) == 4 and set(received.values()) == {1}
        delivered = [a for m in server.messages for a in m["msg"]["X-School-Monitor-Alerts"].split(",")]
        assert sorted(map(int, delivered)) == sorted(ids)
    finally:
        server.stop()


def test_after_an_outage_one_delivery_lets_everything_due_go_at_once(tmp_path, store, builder, clock):
    """Issue 14 item 10: 88 messages queued in a 10-hour outage used to trickle out over
    up to 59 minutes after recovery (each had its own backoff)."""
    port = free_port()
    outbox = outbox_for(tmp_path, store, clock, port, group_wait=0)
    escalations = []
    for hour in range(10):                                  # comments keep arriving during the outage
        escalations.append(builder.escalation(f"threat in hour {hour}", at=clock.now))
        for _ in range(3):
            builder.needs_review(f"review me {hour} {_}", at=clock.now, post_id=f"1000_{600 + hour * 3 + _}")
        for _ in range(60):
            clock.advance(minutes=1)
            outbox.deliver()
    unsent = store.scalar("SELECT COUNT(*) FROM messages WHERE status = 'pending'")
    assert unsent == 40
    server = SmtpServer(port=port).start()
    try:
        clock.advance(minutes=1)
        stats = outbox.deliver()
        assert stats.sent == 40 and stats.unsent == 0
        order = [m["msg"]["X-School-Monitor-Alerts"] for m in server.messages]
        assert order[:10] == [str(e) for e in escalations]  # escalations first
    finally:
        server.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_refusal_holds_the_server_not_one_login_attempt_per_message(tmp_path, store, builder, clock,
                                                                          monkeypatch):
    server = SmtpServer(authenticator=authenticator("alerts", "right-password-123"), auth_required=True,
                        auth_require_tls=False).start()
    try:
        monkeypatch.setenv("SM_TEST_SMTP_PASSWORD", "wrong-password-456")
        outbox = outbox_for(tmp_path, store, clock, server.port, username="alerts",
                            password_env="SM_TEST_SMTP_PASSWORD")
        for i in range(5):
            builder.escalation(f"threat {i}")
        assert outbox.deliver().failed == 1
        failed = 0
        for _ in range(29):                                  # within the 30-minute cap: no new login attempt
            clock.advance(minutes=1)
            failed += outbox.deliver().failed
        assert failed == 0
        monkeypatch.setenv("SM_TEST_SMTP_PASSWORD", "right-password-123")
        # a restart (e.g. after the secret was fixed) tries at once
        restarted = outbox_for(tmp_path, store, clock, server.port, username="alerts",
                               password_env="SM_TEST_SMTP_PASSWORD")
        assert restarted.deliver().sent == 4                 # the refused one waits its own backoff
        clock.advance(minutes=1)
        assert restarted.deliver().sent == 1
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


def test_crash_between_send_and_mark_waits_then_resends_the_same_message_id(tmp_path, store, builder, clock):
    cfg = make_config(tmp_path)
    builder.escalation()
    with pytest.raises(SystemExit):
        Outbox(cfg, store, CrashAfterSend(MailDirSender(tmp_path / "mail")), clock).deliver()
    first = {p.name: p.read_bytes() for p in (tmp_path / "mail").iterdir()}
    assert len(first) == 1
    # The attempt was recorded (committed) before the message left.
    row = store.one("SELECT status, attempts, attempt_started_at FROM messages")
    assert row == {"status": "pending", "attempts": 1, "attempt_started_at": "2026-10-20T09:00:00Z"}
    # Restart: the last attempt was cut off, so the message waits (the server may have it).
    restarted = Outbox(cfg, store, MailDirSender(tmp_path / "mail"), clock)
    stats = restarted.deliver()
    assert stats.sent == 0 and stats.held == 1 and stats.built == 0
    clock.advance(minutes=1)
    with capture_logs() as logs:
        stats = restarted.deliver()
    assert stats.sent == 1
    assert any(e["event"] == "message_attempt_cut_off" for e in logs)
    second = {p.name: p.read_bytes() for p in (tmp_path / "mail").iterdir()}
    assert second == first                                     # same file name (Message-ID) and content
    assert store.one("SELECT attempts, cutoffs, attempt_started_at FROM messages") == {
        "attempts": 2, "cutoffs": 1, "attempt_started_at": None}


def test_a_crash_loop_never_sends_one_message_more_than_twice(tmp_path, store, builder, clock):
    cfg = make_config(tmp_path)                                # retry_max_minutes = 30
    builder.escalation()
    sent = []

    class Recording:
        def send(self, msg, recipients):
            sent.append(str(msg["Message-ID"]))

    # A crash loop: each new process is killed while it sends; systemd restarts it 30 s later.
    for _ in range(40):
        outbox = Outbox(cfg, store, CrashAfterSend(Recording()), clock)
        try:
            outbox.deliver()
        except SystemExit:
            pass
        clock.advance(seconds=30)
    assert len(sent) == 2 and len(set(sent)) == 1              # twice at most, same Message-ID
    # The loop is over: a process that has been up for the wait sends it (a third time).
    calm = Outbox(cfg, store, Recording(), clock)
    assert calm.deliver().sent == 0
    clock.advance(minutes=2)
    assert calm.deliver().sent == 1 and len(sent) == 3


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


def test_an_undelivered_escalation_raises_the_alarm_once(tmp_path, store, builder, clock, monkeypatch):
    """Issue 14 item 10: an escalation that cannot be emailed goes to the journal at
    priority crit and to undelivered-escalations.log next to the store, once."""
    import socket

    from monitor import health

    journal = tmp_path / "journal.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(journal))
    sock.settimeout(5)
    monkeypatch.setattr(health, "JOURNAL_SOCKET", str(journal))
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")              # what systemd sets for a journal-connected unit
    port = free_port()
    outbox = outbox_for(tmp_path, store, clock, port)            # escalation_max_wait_minutes: 15 by default
    aid = builder.escalation()
    alarm = store.path.parent / "undelivered-escalations.log"
    try:
        for _ in range(14):
            clock.advance(minutes=1)
            assert outbox.deliver().alarms == 0
        assert not alarm.exists()
        clock.advance(minutes=1)
        with capture_logs() as logs:
            assert outbox.deliver().alarms == 1
        [event] = [e for e in logs if e["event"] == "escalation_undelivered"]
        assert event["log_level"] == "critical" and event["alert_id"] == aid and event["waited_minutes"] == 15
        text = alarm.read_text()
        assert f"ESCALATION NOT DELIVERED: alert {aid} (threat_violence" in text
        assert "cannot connect" in text and f"school-monitor review show {aid}" in text
        assert oct(alarm.stat().st_mode & 0o777) == "0o600"
        datagram = sock.recv(65536).decode()
        fields = dict(line.split("=", 1) for line in datagram.splitlines() if "=" in line)
        assert fields["PRIORITY"] == "2" and fields["ALERT_ID"] == str(aid)
        assert fields["MESSAGE"].startswith("2026-10-20T09:15:00Z ESCALATION NOT DELIVERED")
        for _ in range(30):                                      # once per escalation, not every minute
            clock.advance(minutes=1)
            assert outbox.deliver().alarms == 0
        assert alarm.read_text().count("NOT DELIVERED") == 1
        server = SmtpServer(port=port).start()
        try:
            clock.advance(minutes=1)
            assert outbox.deliver().sent == 1
        finally:
            server.stop()
        assert f"DELIVERED LATE: alert {aid}" in alarm.read_text()
    finally:
        sock.close()


def test_escalation_max_wait_is_a_validated_config_key(tmp_path):
    from monitor.config import ConfigError, parse_config

    cfg = parse_config({"school": {"name": "S"}, "alerts": {"escalation_max_wait_minutes": 30}})
    assert cfg.alerts.escalation_max_wait_minutes == 30
    assert parse_config({"school": {"name": "S"}}).alerts.escalation_max_wait_minutes == 15
    with pytest.raises(ConfigError) as info:
        parse_config({"school": {"name": "S"}, "alerts": {"escalation_max_wait_minutes": 0}}, source="c.toml")
    assert "alerts.escalation_max_wait_minutes" in str(info.value)


class QuitWatcher:
    """aiosmtpd handler: accepts every message; at QUIT it reads the outbox's record of the
    message from the store file (another connection) and answers ``quit_reply``."""

    def __init__(self, db_path, quit_reply="221 Bye"):
        self.db_path = db_path
        self.quit_reply = quit_reply
        self.received = []
        self.status_at_quit = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.content)
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server, session, envelope):
        import sqlite3

        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            self.status_at_quit.append(conn.execute("SELECT status FROM messages ORDER BY id DESC").fetchone()[0])
        finally:
            conn.close()
        return self.quit_reply


def _watch(handler):
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


def test_sent_is_recorded_when_the_server_accepts_before_quit(tmp_path, store, builder, clock):
    """Issue 14 item 11: the duplicate window no longer includes the QUIT round trip."""
    handler = QuitWatcher(store.path)
    controller, port = _watch(handler)
    try:
        outbox = outbox_for(tmp_path, store, clock, port)
        builder.escalation()
        assert outbox.deliver().sent == 1
    finally:
        controller.stop()
    assert handler.status_at_quit == ["sent"]                   # committed before the server saw QUIT


def test_a_refused_quit_after_acceptance_is_a_delivery_not_a_resend(tmp_path, store, builder, clock):
    handler = QuitWatcher(store.path, quit_reply="421 closing for maintenance")
    controller, port = _watch(handler)
    try:
        outbox = outbox_for(tmp_path, store, clock, port)
        aid = builder.escalation()
        assert outbox.deliver().sent == 1
        clock.advance(minutes=30)
        assert outbox.deliver().sent == 0
    finally:
        controller.stop()
    assert len(handler.received) == 1 and alert_status(store, aid) == "sent"

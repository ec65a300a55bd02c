"""The weekly report job: once per week across restarts, catch-up on start, sent by SMTP;
and the ``school-monitor report`` command."""

from __future__ import annotations

import csv
import io
import textwrap
from datetime import datetime, timezone

import pytest
from alerts_support import Clock, make_config

from monitor.delivery.mailer import MailDirSender, SmtpSender
from monitor.delivery.outbox import Outbox
from monitor.delivery.reports import ReportJob


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def monitored(store, since: str = "2026-10-01T00:00:00Z") -> None:
    """Mark the store as watched since ``since`` (its first poll): an empty store that was
    never polled sends no report (issue 14, item 18)."""
    store.set_state("first_poll_at:brookfield-fb", since)


def job_with_outbox(tmp_path, store, clock, port, **kw):
    monitored(store)
    cfg = make_config(tmp_path, port=port, **kw)
    outbox = Outbox(cfg, store, SmtpSender(cfg.alerts.smtp), clock)
    return ReportJob(cfg, store, outbox, clock), outbox


def test_sent_once_per_week_even_across_restarts(tmp_path, store, builder, smtp_server):
    c = builder.comment("Mr Pryce grabbed my son", at=utc(2026, 10, 21, 12))
    builder.assess(c, ("allegation_staff",))
    clock = Clock(utc(2026, 10, 26, 7, 0))                  # Monday 07:00 GMT: W43 is due
    job, outbox = job_with_outbox(tmp_path, store, clock, smtp_server.port)
    path = job.run_if_due()
    assert path == str(tmp_path / "reports" / "report-2026-W43.html")
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        f"report-2026-W43.{ext}" for ext in ("csv", "html", "png", "txt")]
    assert store.one("SELECT status, message_id FROM reports WHERE week = '2026-W43'") == {
        "status": "queued", "message_id": "<sm.report.2026-W43@brookfield.test>"}
    assert outbox.deliver().sent == 1
    assert store.scalar("SELECT status FROM reports WHERE week = '2026-W43'") == "sent"

    [got] = smtp_server.messages
    assert got["to"] == ["head@school.test", "slt1@school.test", "slt2@school.test"]
    msg = got["msg"]
    png = next(p for p in msg.walk() if p.get_content_type() == "image/png")
    assert png.get_content()[:4] == b"\x89PNG"
    att = next(msg.iter_attachments())
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(att.get_content()))}
    assert int(rows["allegation_staff"]["facebook"]) == store.scalar(
        "SELECT COUNT(*) FROM comment_keys WHERE key = 'allegation_staff'") == 1

    clock.advance(hours=1)
    assert job.run_if_due() is None                          # same week: nothing
    restarted, outbox2 = job_with_outbox(tmp_path, store, clock, smtp_server.port)
    assert restarted.run_if_due() is None                    # after a restart: still nothing
    outbox2.flush_all()
    assert len(smtp_server.messages) == 1


def test_down_at_the_hour_sends_on_start_and_next_week_at_the_hour(tmp_path, store, smtp_server):
    clock = Clock(utc(2026, 10, 27, 15, 0))                  # Tuesday: the daemon was down on Monday
    job, outbox = job_with_outbox(tmp_path, store, clock, smtp_server.port)
    assert job.run_if_due().endswith("report-2026-W43.html")
    outbox.deliver()
    assert len(smtp_server.messages) == 1
    clock.now = utc(2026, 11, 2, 6, 59)                      # next Monday 06:59 GMT: not yet
    assert job.run_if_due() is None
    clock.now = utc(2026, 11, 2, 7, 0)
    assert job.run_if_due().endswith("report-2026-W44.html")
    outbox.deliver()
    assert [m["msg"]["X-School-Monitor-Report"] for m in smtp_server.messages] == ["2026-W43", "2026-W44"]


def test_smtp_down_keeps_the_report_in_the_outbox(tmp_path, store):
    from alerts_support import SmtpServer, free_port

    port = free_port()
    clock = Clock(utc(2026, 10, 26, 8, 0))
    job, outbox = job_with_outbox(tmp_path, store, clock, port)
    job.run_if_due()
    assert outbox.deliver().sent == 0
    assert job.run_if_due() is None                          # queued: not generated twice
    server = SmtpServer(port=port).start()
    try:
        clock.advance(minutes=5)
        assert outbox.deliver().sent == 1
        assert store.scalar("SELECT status FROM reports") == "sent"
    finally:
        server.stop()


def test_with_a_plain_sender_and_without_recipients(tmp_path, store):
    clock = Clock(utc(2026, 10, 26, 8, 0))
    cfg = make_config(tmp_path)
    monitored(store)
    job = ReportJob(cfg, store, MailDirSender(tmp_path / "mail"), clock)
    job.run_if_due()
    assert store.scalar("SELECT status FROM reports") == "sent"
    [eml] = (tmp_path / "mail").iterdir()
    assert eml.name == "sm.report.2026-W43_brookfield.test.eml"

    nobody = make_config(tmp_path / "other", recipients={})
    clock.now = utc(2026, 11, 2, 8, 0)
    path = ReportJob(nobody, store, MailDirSender(tmp_path / "mail"), clock).run_if_due()
    assert path.endswith("report-2026-W44.html")
    assert store.scalar("SELECT status FROM reports WHERE week = '2026-W44'") == "written"


# ---------------------------------------------------------------------- CLI


@pytest.fixture
def restore_logging():
    """``main()`` configures structlog and the root logger on the (captured) stderr; put
    the previous configuration back so later tests do not log to a closed stream."""
    import logging

    import structlog

    saved, handlers = structlog.get_config(), logging.getLogger().handlers[:]
    yield
    structlog.configure(**saved)
    logging.getLogger().handlers[:] = handlers


def write_config(tmp_path, port: int) -> str:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(f"""
        [school]
        name = "Brookfield Primary School"
        timezone = "Europe/London"

        [alerts]
        sender = "monitor@brookfield.test"
        [alerts.recipients]
        coordinator = ["coord@school.test"]
        headteacher = ["head@school.test"]
        [alerts.smtp]
        host = "127.0.0.1"
        port = {port}
        security = "none"

        [storage]
        path = "monitor.db"
    """))
    return str(path)


def test_cli_report_formats_and_send(tmp_path, store, builder, smtp_server, capsys, restore_logging):
    from monitor.cli import main

    c = builder.comment("you useless cow", at=utc(2026, 10, 21, 12))
    builder.assess(c, ("offensive_staff",))
    conf = write_config(tmp_path, smtp_server.port)
    db = str(tmp_path / "monitor.db")
    assert main(["report", "--config", conf, "--db", db, "--week", "2026-W43"]) == 0
    out = capsys.readouterr().out
    assert "negative or offensive comments made about school staff: 1" in out

    assert main(["report", "--config", conf, "--db", db, "--week", "2026-W43", "--format", "csv",
                 "--out", str(tmp_path / "r.csv")]) == 0
    rows = {r["key"]: r for r in csv.DictReader(open(tmp_path / "r.csv", newline=""))}
    assert rows["offensive_staff"]["total"] == "1"
    assert main(["report", "--config", conf, "--db", db, "--week", "2026-W43", "--format", "png",
                 "--out", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"

    assert main(["report", "--config", conf, "--db", db, "--week", "2026-W43", "--format", "html",
                 "--send"]) == 0
    assert "<img src=\"data:image/png;base64," in capsys.readouterr().out
    [got] = smtp_server.messages
    assert got["to"] == ["head@school.test", "coord@school.test"]    # senior_team has no address
    assert got["msg"]["X-School-Monitor-Report"] == "2026-W43"


@pytest.mark.parametrize("argv, message", [
    (["--week", "2026-W60"], "--week: ISO week '2026-W60' does not exist"),
    (["--week", "last"], "--week: not an ISO week like 2026-W42"),
    (["--format", "png"], "--format png needs --out FILE"),
])
def test_cli_report_bad_arguments_exit_2_with_a_clear_message(tmp_path, capsys, argv, message, restore_logging):
    from monitor.cli import main

    conf = write_config(tmp_path, 25)
    assert main(["report", "--config", conf, "--db", str(tmp_path / "m.db"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_unwritable_out_dir_still_emails_the_report(tmp_path, store, smtp_server):
    (tmp_path / "reports").write_text("a file where the folder should be")
    clock = Clock(utc(2026, 10, 26, 8, 0))
    job, outbox = job_with_outbox(tmp_path, store, clock, smtp_server.port)
    assert job.run_if_due() == ""
    assert outbox.deliver().sent == 1
    assert store.one("SELECT status, path FROM reports") == {"status": "sent", "path": None}

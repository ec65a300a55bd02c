"""monitor.health: systemd notification, stale-account alerts, the status report and
the `status` command's output and exit status."""

from __future__ import annotations

import argparse
import json
import os
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor import health
from monitor.config import Config, parse_config
from monitor.domain import Account, iso
from monitor.store import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def make_config(**alerts) -> Config:
    data = {
        "school": {"name": "Test School"},
        "accounts": [
            {"name": "fb", "platform": "facebook", "page_id": "1000", "token_env": "FB_TOKEN"},
            {"name": "x", "platform": "twitter", "user_id": "2000", "bearer_token_env": "X_TOKEN",
             "monthly_read_cap": 1000},
            {"name": "off", "platform": "facebook", "page_id": "3000", "token_env": "FB_TOKEN",
             "enabled": False},
        ],
        "alerts": alerts,
    }
    return parse_config(data, source="test.toml")


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "m.db")
    for key, platform, ext in (("fb", "facebook", "1000"), ("x", "twitter", "2000"), ("off", "facebook", "3000")):
        s.ensure_account(Account(key, platform, ext), T0)
    yield s
    s.close()


def succeed(store, account, at, reads=0):
    store.ingest(account, [], [], [], {"since": iso(at)}, at, reads=reads)


# ------------------------------------------------------------------ sd_notify / watchdog


def test_sd_notify_sends_one_datagram_to_the_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        assert health.sd_notify("READY=1\nSTATUS=polling", {"NOTIFY_SOCKET": path}) is True
        assert server.recv(4096) == b"READY=1\nSTATUS=polling"


def test_sd_notify_abstract_socket():
    name = f"school-monitor-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        assert health.sd_notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name}) is True
        assert server.recv(64) == b"WATCHDOG=1"


@pytest.mark.parametrize("env", [{}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "/nonexistent/sock"},
                                 {"NOTIFY_SOCKET": "vsock:2:1"}])
def test_sd_notify_without_systemd_returns_false_and_never_raises(env):
    assert health.sd_notify("READY=1", env) is False


def test_watchdog_interval_is_half_the_timeout_for_this_process():
    assert health.watchdog_interval({"WATCHDOG_USEC": "180000000"}, pid=42) == 90.0
    assert health.watchdog_interval({"WATCHDOG_USEC": "180000000", "WATCHDOG_PID": "42"}, pid=42) == 90.0


@pytest.mark.parametrize("env", [{}, {"WATCHDOG_USEC": "0"}, {"WATCHDOG_USEC": "abc"},
                                 {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "7"},
                                 {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "x"}])
def test_watchdog_interval_none_when_not_for_us(env):
    assert health.watchdog_interval(env, pid=42) is None


# ------------------------------------------------------------------ stale accounts


def test_fresh_accounts_are_not_stale(store):
    cfg = make_config()
    assert health.stale_accounts(cfg, store, T0 + timedelta(hours=5, minutes=59)) == []


def test_never_polled_account_goes_stale_after_the_limit_since_created(store):
    cfg = make_config()
    succeed(store, "x", T0 + timedelta(hours=5))
    alerts = health.stale_accounts(cfg, store, T0 + timedelta(hours=6))
    assert [a.account for a in alerts] == ["fb"]  # "off" is disabled, "x" polled an hour ago
    a = alerts[0]
    assert a.kind == "account_stale" and a.urgent
    assert a.dedupe_key == "account_stale:fb:never"
    assert a.details == {"account": "fb", "platform": "facebook", "last_success_at": None,
                         "hours": 6.0, "last_error": None}
    assert "\n" not in a.summary and "never polled" in a.summary


def test_stale_after_last_success_with_configured_limit_and_last_error(store):
    cfg = make_config(stale_after_hours=2)
    succeed(store, "fb", T0)
    succeed(store, "x", T0)
    store.record_poll_failure("fb", T0 + timedelta(hours=1), T0 + timedelta(hours=1),
                              "facebook HTTP 500 (Graph error code 1)")
    alerts = health.stale_accounts(cfg, store, T0 + timedelta(hours=2, minutes=30))
    assert sorted(a.account for a in alerts) == ["fb", "x"]
    fb = next(a for a in alerts if a.account == "fb")
    assert fb.dedupe_key == f"account_stale:fb:{iso(T0)}"
    assert fb.details["hours"] == 2.5
    assert fb.details["last_error"] == "facebook HTTP 500 (Graph error code 1)"


def test_paused_account_goes_stale_and_names_the_pause(store):
    cfg = make_config()
    succeed(store, "fb", T0)
    succeed(store, "x", T0 + timedelta(hours=7))
    store.pause_account("fb", "Graph error 190: token expired", T0 + timedelta(minutes=5))
    (alert,) = health.stale_accounts(cfg, store, T0 + timedelta(hours=7))
    assert alert.account == "fb" and "paused" in alert.summary
    assert alert.details["last_error"] == "Graph error 190: token expired"


def test_enqueue_stale_alerts_once_per_outage(store):
    cfg = make_config()
    succeed(store, "x", T0 + timedelta(hours=10))
    first = health.enqueue_stale_alerts(cfg, store, T0 + timedelta(hours=7))
    again = health.enqueue_stale_alerts(cfg, store, T0 + timedelta(hours=8))
    assert [a.account for a in first] == ["fb"] and again == []
    rows = list(store.db.query("SELECT kind, dedupe_key, urgent, status, details FROM alerts"))
    assert len(rows) == 1 and rows[0]["urgent"] == 1 and rows[0]["status"] == "pending"
    assert json.loads(rows[0]["details"])["account"] == "fb"
    # The account recovers, then fails again: a new outage alerts again.
    succeed(store, "fb", T0 + timedelta(hours=9))
    succeed(store, "x", T0 + timedelta(hours=15))
    assert [a.account for a in health.enqueue_stale_alerts(cfg, store, T0 + timedelta(hours=16))] == ["fb"]
    assert store.scalar("SELECT COUNT(*) FROM alerts") == 2


def test_enqueue_does_nothing_when_alerts_disabled(store):
    assert health.enqueue_stale_alerts(make_config(enabled=False), store, T0 + timedelta(days=2)) == []


# ------------------------------------------------------------------ status report


def _fill(store):
    now = T0 + timedelta(hours=3)
    succeed(store, "fb", T0 + timedelta(hours=2, minutes=30))
    succeed(store, "x", T0 + timedelta(hours=2), reads=850)
    store.record_poll_failure("x", now, now, "X HTTP 503 Service Unavailable")
    store.db.execute("INSERT INTO alerts(dedupe_key, kind, created_at, status) VALUES "
                     "('a1', 'needs_review', ?, 'pending'), ('a2', 'escalation', ?, 'sent')",
                     [iso(T0 + timedelta(hours=1)), iso(T0)])
    store.db.execute("INSERT INTO messages(message_id, kind, next_attempt_at, created_at, status, attempts, "
                     "last_error) VALUES ('<m1@x>', 'alert', ?, ?, 'pending', 3, "
                     "'SMTP 421 try later'), ('<m2@x>', 'alert', ?, ?, 'sent', 1, NULL)",
                     [iso(now), iso(T0 + timedelta(minutes=10)), iso(now), iso(T0)])
    store.db.execute("INSERT INTO reports(week, status, generated_at, sent_at, path) VALUES "
                     "('2026-W44', 'sent', ?, ?, 'reports/2026-W44.html')", [iso(T0), iso(T0)])
    return now


def test_status_report_gathers_every_part(store):
    now = _fill(store)
    rep = health.status_report(make_config(), store, now)
    assert rep["healthy"] is True and rep["problems"] == []
    by = {a["account"]: a for a in rep["accounts"]}
    assert list(by) == ["fb", "x", "off"]
    assert by["fb"]["last_success_at"] == iso(T0 + timedelta(hours=2, minutes=30))
    assert by["fb"]["hours_since_success"] == 0.5
    assert by["x"]["reads_this_month"] == 850 and by["x"]["monthly_read_cap"] == 1000
    assert by["x"]["read_budget_pct"] == 85.0
    assert by["x"]["consecutive_failures"] == 1 and "503" in by["x"]["last_error"]
    assert by["off"]["enabled"] is False
    ob = rep["outbox"]
    assert ob["alerts_pending"] == 1 and ob["oldest_pending_alert"] == iso(T0 + timedelta(hours=1))
    assert ob["messages_unsent"] == 1 and ob["most_attempts"] == 3
    assert ob["last_delivery_error"] == "SMTP 421 try later"
    assert rep["last_report"]["week"] == "2026-W44"
    assert rep["recent_errors"] == [{"account": "x", "at": iso(now), "error": "X HTTP 503 Service Unavailable"}]
    json.dumps(rep)  # JSON-able


def test_status_report_unhealthy_when_paused_or_stale(store):
    now = _fill(store)
    store.pause_account("x", "X 401 Unauthorized", now)
    rep = health.status_report(make_config(), store, now + timedelta(hours=7))
    assert rep["healthy"] is False
    assert any("x is paused: X 401" in p for p in rep["problems"])
    assert any("fb has not polled successfully" in p for p in rep["problems"])
    assert all("off" not in p.split()[1] for p in rep["problems"])  # disabled: never a problem


def test_status_unhealthy_when_an_escalation_waits_longer_than_the_limit(store, tmp_path):
    """Issue 14 item 10: 88 emails unsent after 10 hours and `status` said OK."""
    from monitor.cli.status import format_status

    now = _fill(store)
    store.db.execute("INSERT INTO alerts(dedupe_key, kind, urgent, created_at, status, message_id) VALUES "
                     "('e1', 'escalation', 1, ?, 'queued', '<m1@x>')", [iso(now - timedelta(minutes=14))])
    cfg = make_config(escalation_max_wait_minutes=15)
    assert health.status_report(cfg, store, now)["healthy"] is True
    rep = health.status_report(cfg, store, now + timedelta(minutes=2))
    assert rep["healthy"] is False
    [overdue] = rep["outbox"]["escalations_overdue"]
    assert overdue["waited_minutes"] == 16 and overdue["last_error"] == "SMTP 421 try later"
    assert any("1 escalation(s) not delivered after more than 15 min" in p for p in rep["problems"])
    text = format_status(rep)
    assert "ESCALATION NOT DELIVERED: alert" in text and "Health: ATTENTION" in text
    # alerts switched off on purpose (a trial store): not a problem of delivery
    assert health.status_report(make_config(enabled=False), store, now + timedelta(minutes=2))["healthy"] is True


def test_format_status_is_readable_and_one_line_per_error(store):
    from monitor.cli.status import format_status

    now = _fill(store)
    store.record_poll_failure("fb", now, now, "line one\nline two")
    text = format_status(health.status_report(make_config(), store, now))
    assert "Accounts" in text and "fb" in text and "850/1000 (85.0%)" in text
    assert "line one line two" in text
    assert "2026-W44: sent" in text and "Health: OK" in text


def _status_args(cfg_path: Path, db: Path, as_json: bool) -> argparse.Namespace:
    from monitor.cli.status import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    argv = ["status", "--config", str(cfg_path), "--db", str(db)] + (["--json"] if as_json else [])
    return parser.parse_args(argv)


CONFIG_TOML = """
[school]
name = "Test School"
[[accounts]]
name = "fb"
platform = "facebook"
page_id = "1000"
token_env = "FB_TOKEN"
"""


def test_status_command_exit_codes(tmp_path, capsys):
    from monitor.cli.status import run_status
    from monitor.cli.util import CommandError

    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG_TOML)
    db = tmp_path / "m.db"
    with pytest.raises(CommandError):
        run_status(_status_args(cfg, db, False))
    s = Store.open(db)
    s.ensure_account(Account("fb", "facebook", "1000"), T0)
    succeed(s, "fb", T0)
    s.close()
    assert run_status(_status_args(cfg, db, True), now=lambda: T0 + timedelta(hours=1)) == 0
    assert json.loads(capsys.readouterr().out)["healthy"] is True
    assert run_status(_status_args(cfg, db, False), now=lambda: T0 + timedelta(hours=7)) == 1
    assert "STALE" in capsys.readouterr().out

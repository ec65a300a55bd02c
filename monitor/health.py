"""Health of a running monitor: systemd readiness and watchdog, stale accounts, status.

A monitor that fails silently is worse than none: the school believes it is covered. This
module answers three questions.

* **Is the daemon alive?** :func:`sd_notify` and :func:`watchdog_interval` speak the
  systemd notification protocol (``sd_notify(3)``) with the standard library only: one
  datagram on the ``AF_UNIX`` socket named by ``$NOTIFY_SOCKET``. The unit
  (``deploy/school-monitor.service``) is ``Type=notify`` with ``WatchdogSec=``; the daemon
  sends ``READY=1`` once its jobs are scheduled and ``WATCHDOG=1`` at least every
  :func:`watchdog_interval` seconds, so a hung process is killed and restarted.
* **Is every account being read?** :func:`stale_accounts` builds one ``account_stale``
  alert (kind, dedupe key and ``details`` as in the alerts contract) for each enabled
  account that has not polled successfully for ``[alerts] stale_after_hours`` (default
  6 h), including an account never polled at all since its row was created. An expired
  token therefore never goes unnoticed, even if the connector's own ``reconnect`` alert
  was lost. :func:`enqueue_stale_alerts` stores them in the outbox (once per outage).
* **What is the state of things?** :func:`status_report` gathers what ``school-monitor
  status`` prints: last successful poll per account, pause state, outbox backlog, last
  weekly report, X read budget of the month, recent poll errors and the payloads kept in
  quarantine.

Everything except :func:`sd_notify` is pure reading of the store: no network.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any, Mapping

from monitor.config import Config
from monitor.domain import Alert, iso, parse_time

# --------------------------------------------------------------------------- systemd


def sd_notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send a state string to systemd's notification socket (``sd_notify(3)``).

    :param state: newline-separated assignments, e.g. ``"READY=1"``, ``"WATCHDOG=1"``,
        ``"STOPPING=1"``, ``"STATUS=polling 3 accounts"``.
    :param environ: the environment to read ``$NOTIFY_SOCKET`` from (default
        :data:`os.environ`; injectable for tests).
    :returns: True when the datagram was sent; False when ``$NOTIFY_SOCKET`` is unset
        (not run by systemd, or not ``Type=notify``) or the send failed. Never raises:
        a monitoring aid must not take the daemon down.

    The socket path may be a file path or, when it starts with ``@``, a Linux abstract
    socket name (the ``@`` stands for a leading NUL byte).
    """
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    if not (address.startswith("/") or address.startswith("\0")):
        return False  # vsock and other address families are not used by this unit
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
        return True
    except OSError:
        return False


def watchdog_interval(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """How often, in seconds, the daemon should send ``WATCHDOG=1``; None when the
    systemd watchdog is not enabled for this process.

    systemd sets ``$WATCHDOG_USEC`` (the unit's ``WatchdogSec=`` in microseconds) and
    ``$WATCHDOG_PID``; like ``sd_watchdog_enabled(3)`` the watchdog applies only when
    ``$WATCHDOG_PID`` is unset or equals this process id. The returned interval is **half**
    the timeout, as ``sd_watchdog_enabled(3)`` recommends, so one late ping is not fatal.

    :param environ: environment to read (default :data:`os.environ`).
    :param pid: this process id (default :func:`os.getpid`).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    wpid = env.get("WATCHDOG_PID", "")
    if wpid:
        try:
            if int(wpid) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return value / 1_000_000 / 2


#: Where journald listens for its native protocol (``systemd-journald.service(8)``).
JOURNAL_SOCKET = "/run/systemd/journal/socket"
#: syslog priorities (``syslog(3)``) as journald's ``PRIORITY=`` field takes them.
PRIORITIES = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}


def _journal_field(name: str, value: str) -> bytes:
    data = value.encode("utf-8", "replace")
    if b"\n" not in data:
        return name.encode() + b"=" + data + b"\n"
    # a value with newlines: name, newline, 64-bit little-endian length, data, newline
    return name.encode() + b"\n" + len(data).to_bytes(8, "little") + data + b"\n"


def journal_send(message: str, priority: str = "crit", *, fields: Mapping[str, Any] | None = None,
                 socket_path: str | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Write one entry to the systemd journal with its native protocol (one datagram on
    ``/run/systemd/journal/socket``; format in ``systemd.journal-fields(7)`` and
    https://systemd.io/JOURNAL_NATIVE_PROTOCOL/), so it carries a real journal priority:
    ``journalctl -u school-monitor -p crit`` shows it. (The daemon's ordinary JSON lines on
    stdout all reach the journal at priority ``info``.)

    :param message: the ``MESSAGE=`` text (plain words, may span lines).
    :param priority: a key of :data:`PRIORITIES` (default ``crit``, 2).
    :param fields: extra fields, e.g. ``{"ALERT_ID": 12}`` (names are upper-cased; values
        are turned into text).
    :param socket_path: the socket (tests); default :data:`JOURNAL_SOCKET`, used only when
        ``$JOURNAL_STREAM`` is set (systemd connected our output to the journal).
    :param environ: environment to read ``$JOURNAL_STREAM`` from (default :data:`os.environ`).
    :returns: True when the entry was sent; False when not under journald or the send
        failed. Never raises.
    """
    env = os.environ if environ is None else environ
    if socket_path is None:
        if not env.get("JOURNAL_STREAM"):
            return False
        socket_path = JOURNAL_SOCKET
    parts = [_journal_field("MESSAGE", message),
             _journal_field("PRIORITY", str(PRIORITIES.get(priority, 2))),
             _journal_field("SYSLOG_IDENTIFIER", "school-monitor")]
    for key, value in (fields or {}).items():
        name = "".join(ch if ch.isalnum() else "_" for ch in str(key).upper()).lstrip("_") or "FIELD"
        parts.append(_journal_field(name, "" if value is None else str(value)))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(b"".join(parts), socket_path)
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- stale accounts


def _hours(since: datetime, now: datetime) -> float:
    return max(0.0, (now - since).total_seconds() / 3600.0)


def stale_accounts(config: Config, store: Any, now: datetime) -> list[Alert]:
    """``account_stale`` alerts for enabled accounts not polled successfully for too long.

    An account is stale when ``now - last_success_at`` (or, if it never succeeded,
    ``now - created_at`` of its ``accounts`` row) is at least
    ``config.alerts.stale_after_hours``. Accounts disabled in the config, and accounts with
    no row in the store yet (the daemon has never started with them), are not stale.
    A paused account (e.g. Graph error 190, X 401) is not polled, so it becomes stale too:
    the coordinator hears about it again if it stays paused.

    :param config: the loaded config (accounts and ``alerts.stale_after_hours``).
    :param store: a :class:`monitor.store.Store`.
    :param now: aware UTC "now" (injected, never read from the clock here).
    :returns: one :class:`~monitor.domain.Alert` per stale account, in config order, with
        ``dedupe_key = "account_stale:{account}:{last_success_at or 'never'}"`` (one alert
        per outage), ``urgent`` and ``details = {"account", "platform",
        "last_success_at", "hours", "last_error"}`` (``hours`` since the last success, or
        since the account was added, rounded to 0.1).
    """
    limit = config.alerts.stale_after_hours
    out: list[Alert] = []
    for acc in config.accounts:
        if not acc.enabled:
            continue
        row = store.account_row(acc.name)
        if row is None:
            continue
        last_ok = row.get("last_success_at")
        since = parse_time(last_ok) if last_ok else parse_time(row["created_at"])
        hours = _hours(since, now)
        if hours < limit:
            continue
        last_error = row.get("last_error") or row.get("paused_reason")
        if last_ok:
            what = f"has not polled successfully for {hours:.1f} hours (last success {last_ok})"
        else:
            what = f"has never polled successfully in the {hours:.1f} hours since it was added"
        summary = f"{acc.platform} account {acc.name} {what}"
        if row.get("paused"):
            summary += "; it is paused until `school-monitor check` passes"
        out.append(Alert(
            kind="account_stale",
            dedupe_key=f"account_stale:{acc.name}:{last_ok or 'never'}",
            created_at=now,
            platform=acc.platform,
            account=acc.name,
            summary=summary,
            details={
                "account": acc.name,
                "platform": acc.platform,
                "last_success_at": last_ok,
                "hours": round(hours, 1),
                "last_error": last_error,
            },
        ))
    return out


def enqueue_stale_alerts(config: Config, store: Any, now: datetime) -> list[Alert]:
    """Put :func:`stale_accounts`' alerts in the outbox (one transaction).

    The dedupe key makes this safe to call every few minutes: each outage alerts once,
    across restarts. Does nothing when ``[alerts] enabled = false``.

    :returns: the alerts newly enqueued (duplicates left out).
    :raises monitor.store.StoreError: when the store cannot be written.
    """
    if not config.alerts.enabled:
        return []
    alerts = stale_accounts(config, store, now)
    new: list[Alert] = []
    with store.transaction():
        for alert in alerts:
            if store.enqueue_alert(alert) is not None:
                new.append(alert)
    return new


# --------------------------------------------------------------------------- status


def _count_by_status(store: Any, table: str) -> dict[str, int]:
    return {r["status"]: r["n"] for r in store.db.query(
        f"SELECT status, COUNT(*) AS n FROM {table} GROUP BY status ORDER BY status")}


def status_report(config: Config, store: Any, now: datetime, *, errors: int = 10) -> dict[str, Any]:
    """Everything ``school-monitor status`` shows, as a JSON-able dict.

    :param config: the loaded config.
    :param store: a :class:`monitor.store.Store`.
    :param now: aware UTC "now".
    :param errors: how many recent poll errors to include.
    :returns: ``{"generated_at": iso, "stale_after_hours": float,
        "accounts": [{"account", "platform", "enabled", "in_config", "external_id",
        "last_poll_at", "last_success_at", "hours_since_success" (None if never),
        "stale", "paused", "paused_reason", "paused_at", "consecutive_failures",
        "last_error", "last_error_at", "reads_this_month", "monthly_read_cap",
        "read_budget_pct" (None without a cap), "cost_usd_this_month" (X pay-per-use
        estimate), "user_reads_this_month", "monthly_budget_usd", "budget_usd_pct" (None
        without a money budget)}],
        "outbox": {"alerts": {status: n}, "alerts_pending": n, "oldest_pending_alert": iso|None,
        "messages": {status: n}, "messages_unsent": n, "oldest_unsent_message": iso|None,
        "most_attempts": n, "last_delivery_error": str|None},
        "last_report": {"week", "status", "generated_at", "sent_at", "path"} | None,
        "recent_errors": [{"account", "at", "error"}],
        "store": {"path", "quick_check": "ok" | [problem]},
        "quarantine": {"total", "by_platform", "newest", "latest"} (payloads the platforms
        returned that could not be read: see :meth:`monitor.store.Store.quarantine_summary`),
        "healthy": bool, "problems": [str]}``; ``outbox`` also holds
        ``"escalations_overdue": [{"alert_id", "created_at", "waited_minutes", "last_error"}]``
        (escalations not delivered ``[alerts] escalation_max_wait_minutes`` after they were
        raised) and ``"escalation_max_wait_minutes"``.
        ``healthy`` is False when any enabled account is stale or paused, when an
        escalation is overdue, or when ``PRAGMA quick_check`` finds the store damaged (the
        command's exit status 1); ``problems`` says why, one line each. A damaged store
        gives a report with only the ``store`` section filled (the other queries could
        fail on the damaged pages).
    :raises monitor.store.StoreError: when the store cannot be read at all.
    """
    damage = store.quick_check()
    store_info = {"path": str(store.path), "quick_check": damage or "ok"}
    if damage:
        return {
            "generated_at": iso(now), "stale_after_hours": config.alerts.stale_after_hours, "accounts": [],
            "outbox": {"alerts": {}, "alerts_pending": 0, "oldest_pending_alert": None, "messages": {},
                       "messages_unsent": 0, "oldest_unsent_message": None, "most_attempts": 0,
                       "last_delivery_error": None, "escalations_overdue": [],
                       "escalation_max_wait_minutes": config.alerts.escalation_max_wait_minutes},
            "last_report": None, "recent_errors": [], "store": store_info,
            "healthy": False, "problems": [store.damage_report(damage)],
        }
    limit = config.alerts.stale_after_hours
    stale_names = {a.account for a in stale_accounts(config, store, now)}
    rows = {r["key"]: r for r in store.db.query("SELECT * FROM accounts ORDER BY key")}
    accounts: list[dict[str, Any]] = []
    problems: list[str] = []
    configured = [a.name for a in config.accounts]
    for name in configured + [k for k in rows if k not in configured]:
        acc = next((a for a in config.accounts if a.name == name), None)
        row = rows.get(name)
        last_ok = row["last_success_at"] if row else None
        cap = acc.monthly_read_cap if acc else None
        usage = store.usage_this_month(name, now) if row else {"reads": 0, "user_reads": 0, "cost_usd": 0.0}
        reads = usage["reads"]
        money = acc.monthly_budget_usd if acc else None
        entry = {
            "account": name,
            "platform": acc.platform if acc else (row["platform"] if row else None),
            "enabled": bool(acc.enabled) if acc else False,
            "in_config": acc is not None,
            "external_id": (row["external_id"] if row else (acc.external_id if acc else None)),
            "last_poll_at": row["last_poll_at"] if row else None,
            "last_success_at": last_ok,
            "hours_since_success": round(_hours(parse_time(last_ok), now), 2) if last_ok else None,
            "stale": name in stale_names,
            "paused": bool(row["paused"]) if row else False,
            "paused_reason": row["paused_reason"] if row else None,
            "paused_at": row["paused_at"] if row else None,
            "consecutive_failures": row["consecutive_failures"] if row else 0,
            "last_error": row["last_error"] if row else None,
            "last_error_at": row["last_error_at"] if row else None,
            "reads_this_month": reads,
            "monthly_read_cap": cap,
            "read_budget_pct": round(100.0 * reads / cap, 1) if cap else None,
            "cost_usd_this_month": round(usage["cost_usd"], 6),
            "user_reads_this_month": usage["user_reads"],
            "monthly_budget_usd": money,
            "budget_usd_pct": round(100.0 * usage["cost_usd"] / money, 1) if money else None,
        }
        accounts.append(entry)
        if not entry["enabled"]:
            continue
        if entry["paused"]:
            problems.append(f"account {name} is paused: {entry['paused_reason'] or 'no reason recorded'}")
        if entry["stale"]:
            when = f"since {last_ok}" if last_ok else "ever"
            problems.append(f"account {name} has not polled successfully {when} "
                            f"(limit {limit:g} h)")

    alerts_by_status = _count_by_status(store, "alerts")
    messages_by_status = _count_by_status(store, "messages")
    unsent = store.one(
        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest, MAX(attempts) AS most FROM messages "
        "WHERE status NOT IN ('sent', 'cancelled')") or {}
    last_err = store.scalar(
        "SELECT last_error FROM messages WHERE last_error IS NOT NULL AND status != 'sent' "
        "ORDER BY id DESC LIMIT 1")
    outbox = {
        "alerts": alerts_by_status,
        "alerts_pending": alerts_by_status.get("pending", 0),
        "oldest_pending_alert": store.scalar("SELECT MIN(created_at) FROM alerts WHERE status = 'pending'"),
        "messages": messages_by_status,
        "messages_unsent": unsent.get("n") or 0,
        "oldest_unsent_message": unsent.get("oldest"),
        "most_attempts": unsent.get("most") or 0,
        "last_delivery_error": last_err,
        "escalations_overdue": [],
        "escalation_max_wait_minutes": config.alerts.escalation_max_wait_minutes,
    }
    if config.alerts.enabled:
        wait = config.alerts.escalation_max_wait_minutes
        cutoff = iso((now - timedelta(minutes=wait)).replace(microsecond=0))
        for r in store.db.query(
                "SELECT a.id, a.created_at, a.status, m.last_error FROM alerts a LEFT JOIN messages m "
                "ON m.message_id = a.message_id WHERE a.kind = 'escalation' AND a.status != 'sent' "
                "AND a.created_at <= ? ORDER BY a.created_at, a.id", [cutoff]):
            try:
                waited = round(_hours(parse_time(r["created_at"]), now) * 60)
            except ValueError:
                waited = None
            why = r["last_error"] or ("no recipient address configured" if r["status"] == "pending"
                                      else "not attempted yet")
            outbox["escalations_overdue"].append({"alert_id": r["id"], "created_at": r["created_at"],
                                                  "waited_minutes": waited, "last_error": why})
        overdue = outbox["escalations_overdue"]
        if overdue:
            oldest = overdue[0]
            problems.append(
                f"{len(overdue)} escalation(s) not delivered after more than {wait:g} min (oldest: alert "
                f"{oldest['alert_id']}, waiting {oldest['waited_minutes']} min; last error: {oldest['last_error']}): "
                f"read them with `school-monitor review show ID` and act directly; they are listed in "
                f"undelivered-escalations.log next to the store")
    report = store.one(
        "SELECT week, status, generated_at, sent_at, path FROM reports ORDER BY generated_at DESC, week DESC LIMIT 1")
    recent = [{"account": r["account"], "at": r["finished_at"], "error": r["error"]}
              for r in store.recent_poll_errors(errors)]
    return {
        "generated_at": iso(now),
        "stale_after_hours": limit,
        "accounts": accounts,
        "outbox": outbox,
        "last_report": report,
        "recent_errors": recent,
        "store": store_info,
        "quarantine": store.quarantine_summary(),
        "healthy": not problems,
        "problems": problems,
    }

"""The outbox: turns stored alerts into emails and delivers them, exactly once, never lost.

An alert reaches the outbox already stored (``alerts`` row, status ``pending``, written by
the pipeline in the same transaction as the assessment that caused it). :meth:`Outbox.deliver`
(the daemon runs it every minute and after each poll) then does three things:

1. **Build.** Urgent alerts (``escalation``, ``reconnect``, ``permission``,
   ``account_stale``) become one message each at once. Other alerts
   (``needs_review``, ``block_recommendation``, ``read_budget``) are grouped, as
   Alertmanager groups, by post ``(platform, post_id)`` (by account for account-level
   alerts) and by recipients, and a group becomes one message once its oldest alert has
   waited ``[alerts] group_wait_minutes``. Each message is rendered
   (:func:`monitor.delivery.alerts.render_alert_message`), given a stable ``Message-ID``, and stored
   in ``messages`` (the exact bytes to send) in the same transaction that marks its alerts
   ``queued``.
2. **Repeat.** An escalation still ``open`` (not acknowledged with
   ``school-monitor review ack``) ``[alerts] repeat_minutes`` after it was sent gets a
   reminder: a new message (``Message-ID`` suffixed ``.r<n>``); the alert's ``repeats``
   and ``next_repeat_at`` advance in the same transaction.
3. **Send.** Due messages go out urgent first (then reminders, grouped alerts, reports),
   so an escalation is never held behind other mail. Before a message is handed to the
   server, the attempt is recorded and committed (``attempts`` + 1,
   ``attempt_started_at``). A delivered message is marked ``sent`` (and its alerts
   ``sent``). A failure stops the run when it concerns the server (the next messages
   would fail the same way); a refusal of one message does not.

   * Server unreachable (connect, I/O, the server hung up): the message is tried again
     at the next run, one connection attempt a minute, the most urgent message first.
     It does not back off: the first delivery that succeeds after an outage lets
     everything due go in the same run, escalations first, instead of a trickle over
     the next hour.
   * Credentials or TLS refused (permanent for the server): no attempt for
     ``[alerts] retry_max_minutes`` (a restart, e.g. after fixing the secret, tries at once).
   * One message refused: it alone backs off exponentially (1, 2, 4, ... minutes, capped
     at ``retry_max_minutes``; a 5xx refusal waits the cap at once).

   Nothing is ever dropped: a server down for hours only delays delivery.
4. **Alarm.** An escalation not delivered ``[alerts] escalation_max_wait_minutes``
   (default 15) after it was raised is reported once: a CRITICAL log event
   ``escalation_undelivered``, a journal entry at priority ``crit``, and a line in
   ``undelivered-escalations.log`` next to the store (the install guide tells the
   coordinator to watch it). ``school-monitor status`` is unhealthy while it waits.

Exactly once, and crashes during delivery
-----------------------------------------
Build and bookkeeping are transactions; the only window for a duplicate is a crash after
the SMTP server accepted a message and before ``messages.status = 'sent'`` is committed.
That commit happens the moment the server replies 250 to the data, before ``QUIT`` (the
sender's ``on_accepted``, :func:`monitor.delivery.mailer.send_with_acceptance`), so the window is
the 250 reply's trip and one commit, not a further round trip to the server.
Such an attempt is *cut off*: its ``attempt_started_at`` is still set when the next run
(usually a restarted process) finds it. The message then waits before it is sent again
(1, 2, 4 ... minutes after the cut-off attempt, capped at ``retry_max_minutes``), so a
crash loop aimed at delivery does not resend the first message of the queue on every
restart; and once two attempts of a message were cut off it goes again only from a
process that has itself run for that wait: one crash loop never sends a message more
than twice. A resend carries the *same* stored bytes and ``Message-ID``, so a
recipient's mail system (and a person) can recognise it; a mail folder sender overwrites
its file of the same name.

Alerts with no recipient at all (no address for their roles nor for the coordinator)
stay ``pending`` and are logged (``alert_no_recipients``) on each run until an address
is configured. With ``[alerts] enabled = false`` nothing is built or sent; alerts wait.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import threading
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from monitor.delivery.alerts import (decode_alert, recipients_for, render_alert_message, render_fallback_message,
                            sender_domain)
from monitor.config import Config
from monitor.domain import iso, parse_time
from monitor.delivery.mailer import DeliveryError, Sender, send_with_acceptance
from monitor.store import StoreError

try:  # the lead's logging module (structlog configured for journald)
    from monitor.logging import get_logger
except ImportError:  # pragma: no cover - only before monitor/logging.py exists
    import structlog

    get_logger = structlog.get_logger

#: Alert kinds sent at once, one email each.
URGENT_KINDS = ("escalation", "reconnect", "permission", "account_stale")
#: Order in which message kinds are sent within one run.
SEND_ORDER = {"urgent": 0, "repeat": 1, "grouped": 2, "report": 3}
#: Failure reasons that concern the server, not one message: stop the run.
SERVER_REASONS = ("connect", "tls", "auth", "secret", "io")
#: Transient failures of the server (unreachable, hung up), not of one message: the
#: message is tried again at the next run, without backoff.
SERVER_TRANSIENT_REASONS = ("connect", "io", "protocol")
#: File (next to the store) that undelivered escalations are appended to.
ALARM_FILE = "undelivered-escalations.log"


def ts(dt: datetime) -> str:
    """A timestamp as the outbox stores it: ISO UTC with ``Z``, whole seconds (so text
    comparison in SQL is exact)."""
    return iso(dt.replace(microsecond=0))


def backoff_minutes(attempts: int, cap: float, permanent: bool = False) -> float:
    """Minutes to wait after the ``attempts``-th failed attempt: 1, 2, 4, 8, ... capped
    at ``cap``; ``cap`` at once for a permanent failure."""
    if permanent:
        return float(cap)
    return float(min(cap, 2 ** max(0, attempts - 1)))


@dataclass
class DeliveryStats:
    """What one :meth:`Outbox.deliver` did.

    :ivar built: messages built from pending alerts.
    :ivar repeats: reminders built for unacknowledged escalations.
    :ivar sent: messages delivered.
    :ivar failed: delivery attempts that failed (the messages stay pending).
    :ivar cancelled: reminders dropped because their escalation was acknowledged meanwhile.
    :ivar held: messages whose last attempt was cut off, waiting before they are sent again.
    :ivar alarms: escalations newly reported as undelivered (CRITICAL log, journal, alarm file).
    :ivar waiting_alerts: alerts still pending after the run (group wait, no recipients).
    :ivar unsent: messages still pending after the run.
    """

    built: int = 0
    repeats: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    held: int = 0
    alarms: int = 0
    waiting_alerts: int = 0
    unsent: int = 0

    def __str__(self) -> str:
        return ", ".join(f"{f.name} {getattr(self, f.name)}" for f in fields(self))


def message_id_for(kind: str, alert_rows: Sequence[dict], domain: str, repeat: int = 0) -> str:
    """A stable ``Message-ID`` for a message about ``alert_rows``: derived from their
    dedupe keys (and the reminder number), so the same message always has the same id."""
    keys = "\n".join(sorted(str(a.get("dedupe_key", a.get("id"))) for a in alert_rows))
    digest = hashlib.sha256(keys.encode("utf-8", "replace")).hexdigest()[:16]
    first = min(int(a["id"]) for a in alert_rows)
    suffix = f".r{repeat}" if repeat else ""
    return f"<sm.{kind}.{first}.{digest}{suffix}@{domain}>"


def _parse_or(value: Any, default: datetime) -> datetime:
    """A stored timestamp, or ``default`` when it is missing or unreadable."""
    try:
        return parse_time(str(value))
    except ValueError:
        return default


def _printable(text: str) -> str:
    """One line with control characters shown as escapes (for the alarm file and the journal)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _created(alert: dict, now: datetime) -> datetime:
    """An alert's creation time; ``now`` (due at once) when the stored value is unreadable."""
    try:
        return parse_time(str(alert.get("created_at")))
    except ValueError:
        return now


def _group_key(alert: dict) -> tuple:
    if alert.get("post_id"):
        return ("post", alert.get("platform"), alert["post_id"])
    if alert.get("account"):
        return ("account", alert["account"])
    if alert.get("author_id"):
        return ("author", alert["author_id"])
    return ("alert", alert["id"])


class Outbox:
    """Builds, stores and delivers alert emails (see the module docstring).

    :param config: the loaded config (``[alerts]``: routes, recipients, waits, retry cap).
    :param store: the open :class:`monitor.store.Store`.
    :param sender: a :class:`monitor.delivery.mailer.Sender` (SMTP, mail folder, ...).
    :param clock: returns the current aware UTC time (injected: replay and tests).
    """

    def __init__(self, config: Config, store: Any, sender: Sender, clock: Callable[[], datetime]):
        self.config = config
        self.store = store
        self.sender = sender
        self.clock = clock
        self._lock = threading.Lock()
        #: when this outbox (this process) started: a process that has run for a while is
        #: not in a crash loop (see :meth:`_may_resend_cut_off`).
        self.started_at = clock()
        #: after an authentication or TLS refusal, no attempt before this time (in memory:
        #: a restart after the secret is fixed tries at once).
        self._server_hold_until: datetime | None = None

    @property
    def log(self):
        """The structlog logger (looked up per use, so logging configured later applies)."""
        return get_logger()

    # ------------------------------------------------------------------ public
    def deliver(self, force: bool = False, only: Iterable[str] | None = None) -> DeliveryStats:
        """Build due messages, build due reminders, send due messages.

        :param force: ignore the group wait and the retry backoff (the demo and replay
            call :meth:`flush_all` at the end so that everything goes out).
        :param only: send only the stored messages with these Message-IDs (``report
            --send``: the report, not the alerts queued in that store); nothing is built.
        :returns: what was done. Never raises for delivery failures (they are logged and
            retried later); a store failure raises :class:`monitor.store.StoreError`.
        """
        stats = DeliveryStats()
        if not self.config.alerts.enabled:
            stats.waiting_alerts = self._count("SELECT COUNT(*) FROM alerts WHERE status = 'pending'")
            stats.unsent = self._count("SELECT COUNT(*) FROM messages WHERE status = 'pending'")
            return stats
        with self._lock:
            now = self.clock()
            if only is None:
                self._build(now, force, stats)
                self._build_repeats(now, stats)
            self._send_due(now, force, stats, None if only is None else set(only))
            if only is None:
                stats.alarms = self._alarm_undelivered(now)
            stats.waiting_alerts = self._count("SELECT COUNT(*) FROM alerts WHERE status = 'pending'")
            stats.unsent = self._count("SELECT COUNT(*) FROM messages WHERE status = 'pending'")
        return stats

    def flush_all(self) -> DeliveryStats:
        """:meth:`deliver` with ``force=True``: everything pending goes out now."""
        return self.deliver(force=True)

    def enqueue_message(self, msg: EmailMessage, recipients: Sequence[str], kind: str = "report", *,
                        report_week: str | None = None, alert_ids: Iterable[int] = ()) -> str:
        """Store a ready message (e.g. the weekly report) for delivery by the next
        :meth:`deliver`. ``To`` and ``Date`` are set; the message's ``Message-ID`` is kept,
        or one is made from ``kind`` and ``report_week``.

        :returns: the message's ``Message-ID`` (an existing identical id is not stored twice).
        """
        now = self.clock()
        mid = msg.get("Message-ID") or f"<sm.{kind}.{report_week or ts(now)}@{sender_domain(self.config)}>"
        self._stamp(msg, recipients, now, mid)
        self.store.db.execute(
            "INSERT OR IGNORE INTO messages(message_id, kind, alert_ids, report_week, recipients, subject, body, "
            "status, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
            [mid, kind, json.dumps(list(alert_ids)), report_week, json.dumps(list(recipients)),
             str(msg["Subject"] or ""), msg.as_bytes(policy=email.policy.SMTP), ts(now), ts(now)])
        return mid

    # ------------------------------------------------------------------ build
    def _count(self, sql: str) -> int:
        return int(self.store.scalar(sql) or 0)

    def _stamp(self, msg: EmailMessage, recipients: Sequence[str], now: datetime, mid: str) -> None:
        for header, value in (("To", ", ".join(recipients)), ("Date", format_datetime(now)), ("Message-ID", mid)):
            if header in msg:
                del msg[header]
            msg[header] = value

    def _store_message(self, kind: str, alerts: list[dict], recipients: list[str], now: datetime,
                       repeat: int = 0) -> str | None:
        """Render and store one message; mark first-time alerts queued. One transaction.
        An alert the renderer fails on still goes out, as a plain fallback message."""
        try:
            msg = render_alert_message(alerts, self.config, self.store, repeat=repeat)
        except Exception as exc:  # noqa: BLE001 - a rendering bug must not hold an alert back
            self.log.exception("alert_render_failed", alert_ids=[a.get("id") for a in alerts], error=str(exc))
            msg = render_fallback_message(alerts, self.config, exc, repeat=repeat)
        mid = message_id_for(kind, alerts, sender_domain(self.config), repeat)
        self._stamp(msg, recipients, now, mid)
        ids = [int(a["id"]) for a in alerts]
        with self.store.transaction():
            cur = self.store.db.execute(
                "INSERT OR IGNORE INTO messages(message_id, kind, alert_ids, recipients, subject, body, status, "
                "attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                [mid, kind, json.dumps(ids), json.dumps(recipients), str(msg["Subject"]),
                 msg.as_bytes(policy=email.policy.SMTP), ts(now), ts(now)])
            if not cur.rowcount:
                return None
            if not repeat:
                marks = ",".join("?" * len(ids))
                self.store.db.execute(
                    f"UPDATE alerts SET status = 'queued', message_id = ? WHERE id IN ({marks}) AND status = 'pending'",
                    [mid, *ids])
        self.log.info("alert_message_built", message_id=mid, alert_ids=ids, kind=kind,
                      recipients=len(recipients), repeat=repeat)
        return mid

    def _build(self, now: datetime, force: bool, stats: DeliveryStats) -> None:
        rows = [decode_alert(r) for r in self.store.db.query(
            "SELECT * FROM alerts WHERE status = 'pending' ORDER BY urgent DESC, created_at, id")]
        wait = timedelta(minutes=self.config.alerts.group_wait_minutes)
        groups: dict[tuple, list[dict]] = {}
        unroutable: list[int] = []
        for a in rows:
            recipients = recipients_for([a], self.config)
            if not recipients:
                unroutable.append(a["id"])
                continue
            if a["kind"] in URGENT_KINDS or a.get("urgent"):
                if self._store_message("urgent", [a], recipients, now):
                    stats.built += 1
                continue
            groups.setdefault((_group_key(a), tuple(recipients)), []).append(a)
        for (_, recipients), alerts in groups.items():
            oldest = min(_created(a, now) for a in alerts)
            if force or oldest + wait <= now:
                if self._store_message("grouped", alerts, list(recipients), now):
                    stats.built += 1
        if unroutable:
            self.log.warning("alert_no_recipients", alert_ids=unroutable,
                             detail="no address for the alerts' roles nor for the coordinator: set "
                                    "[alerts.recipients] coordinator = [\"...\"]; the alerts stay in the outbox")

    def _build_repeats(self, now: datetime, stats: DeliveryStats) -> None:
        rows = [decode_alert(r) for r in self.store.db.query(
            "SELECT * FROM alerts WHERE kind = 'escalation' AND review_status = 'open' AND status = 'sent' "
            "AND next_repeat_at IS NOT NULL AND next_repeat_at <= ? ORDER BY id", [ts(now)])]
        every = timedelta(minutes=self.config.alerts.repeat_minutes)
        for a in rows:
            recipients = recipients_for([a], self.config)
            if not recipients:
                continue
            n = int(a.get("repeats") or 0) + 1
            with self.store.transaction():
                cur = self.store.db.execute(
                    "UPDATE alerts SET repeats = ?, next_repeat_at = ? WHERE id = ? AND repeats = ?",
                    [n, ts(now + every), a["id"], n - 1])
                if cur.rowcount and self._store_message("repeat", [a], recipients, now, repeat=n):
                    stats.repeats += 1
                    self.log.info("escalation_repeated", alert_id=a["id"], repeat=n)

    # ------------------------------------------------------------------ send
    def _send_due(self, now: datetime, force: bool, stats: DeliveryStats, only: set[str] | None = None) -> None:
        """Send due messages, most urgent first (see the module docstring: server-level
        failures, cut-off attempts and the record made before each attempt); with ``only``,
        just the messages with those Message-IDs."""
        if not force and self._server_hold_until is not None and now < self._server_hold_until:
            return  # the server refused our credentials or TLS: wait the cap, do not hammer it
        order = " ".join(f"WHEN '{k}' THEN {v}" for k, v in SEND_ORDER.items())
        due = list(self.store.db.query(
            f"SELECT id, message_id, kind, alert_ids, report_week, recipients, attempts, attempt_started_at, "
            f"cutoffs FROM messages WHERE status = 'pending' AND (? OR next_attempt_at <= ?) "
            f"ORDER BY CASE kind {order} ELSE 9 END, id",
            [int(force), ts(now)]))
        if only is not None:
            due = [m for m in due if m["message_id"] in only]
        cap = self.config.alerts.retry_max_minutes
        for m in due:
            alert_ids = json.loads(m["alert_ids"] or "[]")
            if m["kind"] == "repeat" and not self._still_open(alert_ids):
                self.store.db.execute("UPDATE messages SET status = 'cancelled', attempt_started_at = NULL "
                                      "WHERE id = ?", [m["id"]])
                stats.cancelled += 1
                continue
            log = self.log.bind(message_id=m["message_id"], alert_ids=alert_ids, kind=m["kind"])
            cutoffs = int(m["cutoffs"] or 0)
            if m["attempt_started_at"]:
                # The last attempt was cut off (the process died while sending, or another
                # process is sending it right now): the server may already have it.
                if not self._may_resend_cut_off(m, cutoffs + 1, now, cap, log):
                    stats.held += 1
                    continue
                cutoffs += 1
            attempts = int(m["attempts"]) + 1
            # Record the attempt before the message leaves (its own committed write): a
            # crash from here on leaves attempt_started_at behind for the next run to see.
            self.store.db.execute(
                "UPDATE messages SET attempts = ?, attempt_started_at = ?, cutoffs = ? WHERE id = ?",
                [attempts, ts(now), cutoffs, m["id"]])
            body = self.store.scalar("SELECT body FROM messages WHERE id = ?", [m["id"]])
            msg = email.message_from_bytes(body, policy=email.policy.default)
            recipients = json.loads(m["recipients"] or "[]")
            recorded = False

            def on_accepted(m: dict = m, alert_ids: list[int] = alert_ids) -> None:
                # The server has the message: record it before the session is even closed.
                nonlocal recorded
                self._mark_sent(m["id"], alert_ids, m["report_week"], m["message_id"], now)
                recorded = True

            try:
                send_with_acceptance(self.sender, msg, recipients, on_accepted)
            except StoreError:
                raise  # the store failed, not the delivery (the cut-off mark stays: resent after a wait)
            except Exception as exc:  # noqa: BLE001 - a sender bug must not lose the message either
                if recorded:  # delivered and recorded; the sender failed afterwards
                    log.warning("message_sender_error_after_delivery", error=f"{type(exc).__name__}: {exc}")
                    self._server_hold_until = None
                    stats.sent += 1
                    continue
                err = exc if isinstance(exc, DeliveryError) else DeliveryError(
                    f"{type(exc).__name__}: {exc}", permanent=False, reason="protocol")
                server_down = not err.permanent and err.reason in SERVER_TRANSIENT_REASONS
                # The server is unreachable: nothing is wrong with this message, so it is
                # tried again at the next run (every minute) instead of backing off; the
                # first delivery that succeeds then lets everything due go at once.
                delay = 1.0 if server_down else backoff_minutes(attempts, cap, err.permanent)
                retry_at = now + timedelta(minutes=delay)
                self.store.db.execute(
                    "UPDATE messages SET next_attempt_at = ?, last_error = ?, attempt_started_at = NULL "
                    "WHERE id = ?", [ts(retry_at), str(err)[:500], m["id"]])
                stats.failed += 1
                event = "smtp_auth_failed" if err.reason == "auth" else "message_delivery_failed"
                log_fn = log.error if err.permanent else log.warning
                log_fn(event, error=str(err), reason=err.reason, permanent=err.permanent, attempts=attempts,
                       retry_at=ts(retry_at),
                       detail="the message stays in the outbox and is retried; nothing is lost")
                if err.reason in SERVER_REASONS and err.permanent:
                    self._server_hold_until = retry_at
                if err.reason in SERVER_REASONS or not err.permanent:
                    break
                continue
            self._server_hold_until = None
            if not recorded:
                self._mark_sent(m["id"], alert_ids, m["report_week"], m["message_id"], now)
            stats.sent += 1
            log.info("message_sent", recipients=len(recipients), attempts=attempts,
                     **({"cut_off_attempts": cutoffs} if cutoffs else {}))

    def _may_resend_cut_off(self, m: dict, cutoffs: int, now: datetime, cap: float, log: Any) -> bool:
        """Whether a message whose last attempt was cut off may be sent again now.

        It waits :func:`backoff_minutes` (``cutoffs``) after the cut-off attempt started
        (1, 2, 4 ... minutes, capped at ``retry_max_minutes``): a daemon restarted by
        systemd would otherwise resend it at once, and a kill aimed at delivery would hit
        it again and again. Once two attempts were cut off (it may have been sent twice),
        it goes again only from a process that has itself been running for that wait: a
        crash loop never sends one message a third time."""
        wait = timedelta(minutes=backoff_minutes(cutoffs, cap))
        started = _parse_or(m["attempt_started_at"], now)
        if now < started + wait:
            return False
        if cutoffs >= 2 and now - self.started_at < wait:
            return False
        log.warning("message_attempt_cut_off", cut_off_attempts=cutoffs, attempt_started_at=m["attempt_started_at"],
                    detail="the last attempt was interrupted (crash or kill while sending); the server may "
                           "already have it: sent again with the same Message-ID")
        return True

    # ------------------------------------------------------------------ alarm
    def alarm_file(self) -> Path:
        """The file undelivered escalations are appended to: ``undelivered-escalations.log``
        next to the store (the service's state directory)."""
        return Path(self.store.path).parent / ALARM_FILE

    def _alarm_undelivered(self, now: datetime) -> int:
        """Raise the alarm, once per alert, for each escalation not delivered within
        ``[alerts] escalation_max_wait_minutes`` of its creation (SMTP down, credentials
        refused, no recipient configured): a CRITICAL log event ``escalation_undelivered``,
        a journal entry at priority ``crit`` (:func:`monitor.health.journal_send`), and a
        line in :meth:`alarm_file`. Returns the number of alarms raised.

        :raises monitor.store.StoreError: when the store cannot be written.
        """
        from monitor.health import journal_send

        limit = now - timedelta(minutes=self.config.alerts.escalation_max_wait_minutes)
        rows = list(self.store.db.query(
            "SELECT a.id, a.created_at, a.categories, a.platform, a.account, a.details, a.status, "
            "m.last_error, m.attempts FROM alerts a LEFT JOIN messages m ON m.message_id = a.message_id "
            "WHERE a.kind = 'escalation' AND a.status != 'sent' AND a.undelivered_alarm_at IS NULL "
            "AND a.created_at <= ? ORDER BY a.id", [ts(limit)]))
        for r in rows:
            waited = max(0, int((now - _parse_or(r["created_at"], now)).total_seconds() // 60))
            cats = ", ".join(json.loads(r["categories"] or "[]")) or "escalation"
            why = r["last_error"] or ("no recipient address configured" if r["status"] == "pending"
                                      else "not attempted yet")
            try:
                permalink = (json.loads(r["details"] or "{}").get("comment") or {}).get("permalink")
            except (ValueError, AttributeError):
                permalink = None
            line = (f"{ts(now)} ESCALATION NOT DELIVERED: alert {r['id']} ({cats}; {r['platform']} account "
                    f"{r['account']}) waiting since {r['created_at']} ({waited} min); last error: {why}; "
                    f"read it with `school-monitor review show {r['id']}`"
                    + (f"; comment: {permalink}" if isinstance(permalink, str) else ""))
            line = _printable(line)
            written = self._append_alarm(line)
            self.log.critical("escalation_undelivered", alert_id=r["id"], waited_minutes=waited, error=why,
                              alarm_file=str(self.alarm_file()) if written else None,
                              detail="an escalation could not be emailed: act on it directly (review show) "
                                     "and fix the mail settings; it is still retried")
            journal_send(line, "crit", fields={"ALERT_ID": r["id"], "SM_EVENT": "escalation_undelivered"})
            self.store.db.execute("UPDATE alerts SET undelivered_alarm_at = ? WHERE id = ?", [ts(now), r["id"]])
        return len(rows)

    def _append_alarm(self, line: str) -> bool:
        path = self.alarm_file()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode("utf-8", "replace"))
            finally:
                os.close(fd)
            return True
        except OSError as exc:
            self.log.error("alarm_file_unwritable", path=str(path), error=exc.strerror)
            return False

    def _still_open(self, alert_ids: list[int]) -> bool:
        if not alert_ids:
            return False
        marks = ",".join("?" * len(alert_ids))
        return bool(self.store.scalar(
            f"SELECT COUNT(*) FROM alerts WHERE id IN ({marks}) AND review_status = 'open'", alert_ids))

    def _mark_sent(self, msg_row_id: int, alert_ids: list[int], report_week: str | None, message_id: str,
                   now: datetime) -> None:
        repeat_at = ts(now + timedelta(minutes=self.config.alerts.repeat_minutes))
        with self.store.transaction():
            self.store.db.execute("UPDATE messages SET status = 'sent', sent_at = ?, attempt_started_at = NULL "
                                  "WHERE id = ?", [ts(now), msg_row_id])
            if alert_ids:
                marks = ",".join("?" * len(alert_ids))
                self.store.db.execute(
                    f"UPDATE alerts SET status = 'sent', sent_at = COALESCE(sent_at, ?), "
                    f"next_repeat_at = CASE WHEN kind = 'escalation' AND review_status = 'open' "
                    f"AND next_repeat_at IS NULL THEN ? ELSE next_repeat_at END "
                    f"WHERE id IN ({marks}) AND message_id = ?",
                    [ts(now), repeat_at, *alert_ids, message_id])
            if report_week:
                self.store.db.execute(
                    "UPDATE reports SET status = 'sent', sent_at = ? WHERE week = ? AND message_id = ?",
                    [ts(now), report_week, message_id])
        if alert_ids:
            marks = ",".join("?" * len(alert_ids))
            for aid in self.store.db.execute(
                    f"SELECT id FROM alerts WHERE id IN ({marks}) AND undelivered_alarm_at IS NOT NULL "
                    f"AND kind = 'escalation'", alert_ids).fetchall():
                # close the alarm the coordinator was given
                self._append_alarm(f"{ts(now)} DELIVERED LATE: alert {aid[0]} was emailed now ({message_id})")
                self.log.warning("escalation_delivered_late", alert_id=aid[0])


__all__ = ["Outbox", "DeliveryStats", "URGENT_KINDS", "ALARM_FILE", "backoff_minutes", "message_id_for", "ts"]

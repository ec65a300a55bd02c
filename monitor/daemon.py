"""``school-monitor run``: the daemon, on APScheduler 3.11's ``BlockingScheduler``.

Jobs (all synchronous: a coroutine job on ``BlockingScheduler`` never runs):

* one poll job per enabled account: interval ``poll_interval_minutes`` with jitter (10% of
  the interval, at most 60 s), ``max_instances=1``, ``coalesce=True``, a misfire grace of
  one interval, first run at start; after each poll the outbox is delivered, so an
  escalation goes out right after the poll that found it;
* the outbox job every minute (retries, grouped alerts once their wait is over, repeats of
  unacknowledged escalations);
* the weekly report: ``CronTrigger(day_of_week=<day name>, hour, minute, timezone=<school
  timezone>)`` (day names, never crontab numbers: APScheduler 3 counts 0 as Monday), plus a
  catch-up at start if the daemon was down at that hour;
* a health job every 15 minutes (accounts not polled successfully for
  ``[alerts] stale_after_hours``), and the daily retention purge at ``[storage] purge_hour``.

All jobs run on ONE worker thread: they share one SQLite connection and never interleave
(a poll over loopback or the internet takes well under a second per account; the scale
benchmark shows 200 accounts a minute fit). SIGTERM and SIGINT stop the scheduler with
``shutdown(wait=True)``: the job in progress finishes its unit of work, then the process
exits 0. Under systemd (``Type=notify``) the daemon sends ``READY=1`` and, when
``WatchdogSec=`` is set, ``WATCHDOG=1`` from a scheduler job.

Store faults (issue 14, item 12). At start the daemon runs ``PRAGMA quick_check``: a
damaged store is reported in plain words (the file, what SQLite found, what to restore
from) as a CRITICAL log event and journal entry, and the daemon exits 1 without
scheduling anything. It then writes one row to prove the store is writable. A job that
cannot write the store (read-only file or filesystem, full disk) starts a clock; while it
runs, a probe job tries one write every :data:`STORE_PROBE_SECONDS`. If the store is still
not writable after :data:`STORE_GIVE_UP_SECONDS`, the daemon stops and exits 1, so
systemd (``Restart=on-failure``) restarts it and, if the fault persists, marks the unit
failed, instead of retrying in silence for ever.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta
from typing import Any, Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.app import App
from monitor.logging import get_logger
from monitor.store import StoreError

#: Seconds the store may stay unwritable before the daemon exits 1 (systemd restarts it).
STORE_GIVE_UP_SECONDS = 120.0
#: While the store is failing, a write is tried this often (seconds).
STORE_PROBE_SECONDS = 10.0


class Daemon:
    """Schedules the app's jobs and runs until SIGTERM/SIGINT.

    :param app: the assembled :class:`monitor.app.App`.
    :param store_give_up_seconds: how long the store may stay unwritable before the daemon
        exits 1 (default :data:`STORE_GIVE_UP_SECONDS`, read at construction).
    :param monotonic: the clock for that bound (tests).
    :ivar exit_code: what :meth:`run` returns: 0 after SIGTERM/SIGINT, 1 after giving up
        on the store or refusing a damaged one.
    """

    def __init__(self, app: App, *, store_give_up_seconds: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.app = app
        self.log = get_logger()
        self.store_give_up_seconds = STORE_GIVE_UP_SECONDS if store_give_up_seconds is None \
            else store_give_up_seconds
        self.monotonic = monotonic
        self.exit_code = 0
        self._store_failing_since: float | None = None
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            timezone="UTC",
        )
        self._lock = threading.Lock()
        self.stopping = False

    # ------------------------------------------------------------------ jobs
    def poll_job(self, name: str) -> None:
        """Poll one account, then deliver the outbox. Never raises (logged)."""
        if self.stopping:
            return
        try:
            cfg = self.app.config.account(name)
            connector = self.app.connector(name)
        except KeyError as exc:
            self.log.error("poll_skipped", account=name, error=str(exc).strip("'\""))
            return
        first_run = self.app.pipeline.first_poll_at(name) is None
        try:
            self.app.pipeline.poll(cfg, connector)
        except StoreError as exc:
            self.store_failed(exc, "poll")
            return  # the outbox lives in the same store
        except Exception as exc:  # noqa: BLE001 - a job must not kill the daemon
            self.log.exception("poll_job_failed", account=name, error=str(exc))
        try:  # a failed poll never holds back the escalations already queued
            self.app.outbox.deliver()
        except StoreError as exc:
            self.store_failed(exc, "outbox")
        except Exception as exc:  # noqa: BLE001
            self.log.exception("outbox_job_failed", account=name, error=str(exc))
        if first_run and self.app.pipeline.first_poll_at(name) is not None:
            # the first poll's backfill now covers last week, which the catch-up at start
            # (before any poll) skipped as never watched: send its report now
            self.report_job()

    def outbox_job(self) -> None:
        """Deliver due messages (retries, grouped alerts, repeats)."""
        try:
            self.app.pipeline.process_pending()  # anything left 'new' by a crash
            self.app.outbox.deliver()
        except StoreError as exc:
            self.store_failed(exc, "outbox")
        except Exception as exc:  # noqa: BLE001
            self.log.exception("outbox_job_failed", error=str(exc))

    def report_job(self) -> None:
        """Write and send the weekly report when due (once per week)."""
        try:
            path = self.app.report_job.run_if_due()
            if path:
                self.log.info("weekly_report", path=str(path))
                self.app.outbox.deliver()
        except StoreError as exc:
            self.store_failed(exc, "report")
        except Exception as exc:  # noqa: BLE001
            self.log.exception("report_job_failed", error=str(exc))

    def health_job(self) -> None:
        """Alert on accounts that have not polled successfully for too long; feed the watchdog."""
        try:
            from monitor import health

            now = self.app.clock()
            for alert in health.stale_accounts(self.app.config, self.app.store, now):
                if self.app.store.enqueue_alert(alert):
                    self.log.warning("account_stale", account=alert.account)
            self.app.outbox.deliver()
        except StoreError as exc:
            self.store_failed(exc, "health")
        except Exception as exc:  # noqa: BLE001
            self.log.exception("health_job_failed", error=str(exc))

    def purge_job(self) -> None:
        """Daily retention purge (UK GDPR): text of unflagged comments past retention."""
        try:
            from monitor.casework.retention import purge

            report = purge(self.app.store, self.app.config, self.app.clock())
            self.log.info("purge", **report.to_dict())
        except StoreError as exc:
            self.store_failed(exc, "purge")
        except Exception as exc:  # noqa: BLE001
            self.log.exception("purge_job_failed", error=str(exc))

    # ------------------------------------------------------------------ store faults
    def store_failed(self, exc: StoreError, job: str) -> None:
        """A job could not read or write the store: start (or continue) the give-up clock;
        stop the daemon with exit status 1 once it has run :attr:`store_give_up_seconds`."""
        now = self.monotonic()
        if self._store_failing_since is None:
            self._store_failing_since = now
            self.log.error("store_unwritable", job=job, error=str(exc),
                           detail=f"retrying a write every {STORE_PROBE_SECONDS:g} s; the daemon exits with status "
                                  f"1 after {self.store_give_up_seconds:g} s so that systemd restarts it")
            try:
                self.scheduler.add_job(self.store_probe_job, IntervalTrigger(seconds=STORE_PROBE_SECONDS),
                                       id="store_probe", name="store probe", replace_existing=True)
            except Exception:  # noqa: BLE001 - scheduler already stopping
                pass
        else:
            self.log.warning("store_still_unwritable", job=job, error=str(exc),
                             seconds=round(now - self._store_failing_since, 1))
        if now - self._store_failing_since >= self.store_give_up_seconds:
            self.give_up(f"the store has not been writable for {now - self._store_failing_since:.0f} s: {exc}")

    def store_probe_job(self) -> None:
        """While the store is failing: try one write; clear the fault when it works."""
        if self._store_failing_since is None:
            return
        try:
            self.app.store.probe_write(self.app.clock())
        except StoreError as exc:
            self.store_failed(exc, "store_probe")
            return
        self.log.info("store_writable_again",
                      seconds=round(self.monotonic() - self._store_failing_since, 1))
        self._store_failing_since = None
        try:
            self.scheduler.remove_job("store_probe")
        except Exception:  # noqa: BLE001 - already removed
            pass

    def give_up(self, reason: str) -> None:
        """Stop the scheduler from inside a job; :meth:`run` then returns 1."""
        if self.stopping:
            return
        self.stopping = True
        self.exit_code = 1
        self.log.critical("daemon_giving_up", error=reason,
                          detail="exiting with status 1; systemd restarts the service (Restart=on-failure)")
        from monitor.health import journal_send

        journal_send(f"school-monitor exits: {reason}", "crit", fields={"SM_EVENT": "daemon_giving_up"})
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:  # noqa: BLE001 - not started yet (SchedulerNotRunningError): run() returns 1 anyway
            pass

    def check_store(self) -> bool:
        """At start: ``PRAGMA quick_check`` (False, logged CRITICAL, when damaged) and one
        write (a failure starts the give-up clock; the daemon keeps trying)."""
        store = self.app.store
        try:
            damage = store.quick_check()
        except StoreError as exc:
            damage, text = ["unreadable"], str(exc)
        else:
            text = store.damage_report(damage) if damage else ""
        if damage:
            self.log.critical("store_damaged", error=text)
            from monitor.health import journal_send

            journal_send(text, "crit", fields={"SM_EVENT": "store_damaged"})
            return False
        try:
            store.probe_write(self.app.clock())
        except StoreError as exc:
            self.store_failed(exc, "start")
        return True

    def watchdog_job(self) -> None:
        """Tell systemd the scheduler is alive."""
        from monitor.health import sd_notify

        sd_notify("WATCHDOG=1")

    # ------------------------------------------------------------------ run
    def schedule(self) -> None:
        """Add every job to the scheduler (without starting it)."""
        cfg = self.app.config
        now = self.app.clock()
        for acc in self.app.enabled_accounts():
            seconds = acc.poll_interval_minutes * 60
            self.scheduler.add_job(
                self.poll_job, IntervalTrigger(seconds=seconds, jitter=min(60, int(seconds * 0.1))),
                args=[acc.name], id=f"poll:{acc.name}", name=f"poll {acc.name}", next_run_time=now,
                misfire_grace_time=int(seconds), replace_existing=True)
        self.scheduler.add_job(self.outbox_job, IntervalTrigger(minutes=1), id="outbox", name="outbox",
                               next_run_time=now + timedelta(seconds=5), replace_existing=True)
        r = cfg.reports
        self.scheduler.add_job(
            self.report_job, CronTrigger(day_of_week=r.day[:3], hour=r.hour, minute=r.minute,
                                         timezone=cfg.school.timezone),
            id="weekly_report", name="weekly report", misfire_grace_time=6 * 3600, replace_existing=True)
        self.scheduler.add_job(self.report_job, id="weekly_report_catch_up", name="weekly report catch-up",
                               next_run_time=now + timedelta(seconds=10), replace_existing=True)
        self.scheduler.add_job(self.health_job, IntervalTrigger(minutes=15), id="health", name="health",
                               next_run_time=now + timedelta(minutes=1), replace_existing=True)
        self.scheduler.add_job(
            self.purge_job, CronTrigger(hour=cfg.storage.purge_hour, minute=17, timezone=cfg.school.timezone),
            id="purge", name="retention purge", misfire_grace_time=12 * 3600, replace_existing=True)
        try:
            from monitor.health import watchdog_interval

            interval = watchdog_interval()
        except ImportError:
            interval = None
        if interval:
            # watchdog_interval() is already half of WatchdogSec
            self.scheduler.add_job(self.watchdog_job, IntervalTrigger(seconds=max(1.0, interval)),
                                   id="watchdog", name="watchdog", replace_existing=True)

    def _stop(self, signum: int, _frame: Any) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.log.info("stopping", signal=signal.Signals(signum).name)
        try:
            from monitor.health import sd_notify

            sd_notify("STOPPING=1")
        except ImportError:
            pass
        self.scheduler.shutdown(wait=True)

    def run(self) -> int:
        """Check the store, schedule, install signal handlers, block until stopped.

        :returns: the exit status: 0 after SIGTERM/SIGINT; 1 when the store is damaged
            (nothing is scheduled) or stayed unwritable for :attr:`store_give_up_seconds`.
        """
        if not self.check_store():
            return 1
        self.schedule()
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.log.info("started", accounts=[a.name for a in self.app.enabled_accounts()],
                      db=str(self.app.store.path))
        try:
            from monitor.health import sd_notify

            sd_notify("READY=1")
        except ImportError:
            pass
        self.scheduler.start()
        self.log.info("stopped", exit_code=self.exit_code)
        return self.exit_code

"""The pipeline: poll an account, store, score, categorise, apply the strike policy,
enqueue alerts.

Order of work and why nothing is lost
-------------------------------------
1. ``poll``: the connector fetches; the comments it returns, the payloads it could not
   read (the ``quarantine`` table, each with one ``quarantine`` alert for a person) and
   the account's advanced cursor are stored in ONE transaction
   (:meth:`monitor.store.Store.ingest`). A crash
   before the commit loses nothing (the cursor did not move, the next poll fetches the
   same comments); after it, the comments are evidence with ``status='new'``.
2. ``process_pending``: every comment with ``status='new'`` is scored in batches (the
   scorer is built once at start), categorised (pure), and then, in one transaction per
   comment: scores, assessment, policy keys, strikes, the block decision and the alerts
   it causes are stored and the comment marked ``assessed``. A crash in between leaves
   the comment ``new``; it is processed again on the next run, and alert dedupe keys
   make a second enqueue a no-op.
3. Delivery is the outbox's job (:mod:`monitor.delivery.outbox`): alerts are stored before sending.

First run (backfill): an account's first successful poll reads the last ``lookback_days``.
Comments posted more than ``[alerts] backfill_alert_hours`` (48) before that poll are
assessed and counted like any other (keys, strikes, the weekly report, the review queue),
but their alerts are stored with status ``backfill`` instead of ``pending``, so they are
not emailed one by one; one ``backfill`` alert per account then lists them (status
``summarised`` once listed). Escalations of the last 48 hours go at once as usual.

Idempotence: the same data polled twice adds no rows (content SHA-256 compare) and sends
no second alert (dedupe keys). The pipeline's clock is injected: ``replay`` runs it at
each comment's own time.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol, Sequence

from classifiers.policy import strikes as strike_policy
from monitor.casework import retention
from connectors.base import Connector, ConnectorError, FetchContext
from monitor.config import AccountConfig, Config
from monitor.domain import (
    Account,
    Alert,
    Assessment,
    Comment,
    QuarantinedPayload,
    Scores,
    StrikeDecision,
    author_known,
    iso,
    parse_time,
)
from monitor.logging import get_logger, redact
from monitor.store import IngestStats, Store

Clock = Callable[[], datetime]

#: Longest text the scorer and categoriser read. A longer comment (X long posts reach
#: 25,000 characters; a hostile one may be megabytes) is assessed on its start and sent
#: to a person with a reason, so one comment can never stall the worker. The store keeps
#: the whole text as evidence.
MAX_ASSESS_CHARS = 20_000

#: Longest raw payload quoted in a quarantine alert (characters); the store keeps it whole.
MAX_QUARANTINE_QUOTE = 4000

#: Why a comment whose author the platform withheld goes to a person instead of striking.
UNKNOWN_AUTHOR_REASON = ("the platform did not say who wrote this comment (no author id), so no strike is "
                         "recorded and no block can be recommended; for a Facebook Page, `school-monitor check` "
                         "tells whether the Page token lacks what it needs")


def system_clock() -> datetime:
    """The wall clock, aware UTC."""
    return datetime.now(timezone.utc)


class SettableClock:
    """A clock that says what it is told: ``clock()`` returns :attr:`now` (aware UTC).

    Used where time is not the wall clock: ``replay`` (each comment's own time), the demo
    (Monday 12 October 2026) and the tests (week boundaries, backoff, repeats).
    """

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; returns the new time."""
        self.now = self.now + timedelta(**delta)
        return self.now


class Engine(Protocol):
    """What the pipeline needs of the scoring engine (:class:`classifiers.engine.ScoringEngine`)."""

    def score(self, texts: Sequence[str]) -> list[Scores]: ...


class Assessor(Protocol):
    """What the pipeline needs of the categoriser (:class:`classifiers.policy.Categoriser`)."""

    def assess(self, comment: Comment, scores: Scores) -> Assessment: ...


@dataclass
class PollOutcome:
    """Result of one :meth:`Pipeline.poll`: ``status`` is ``ok``, ``paused``, ``deferred``
    (rate limit or backoff still running) or ``failed``; ``stats`` the ingest counts;
    ``error`` the connector error text (for an ``ok`` poll: what cut it short, e.g. a
    repeating paging token); ``processed`` comments assessed afterwards."""

    account: str
    status: str
    stats: IngestStats | None = None
    error: str | None = None
    processed: int = 0
    alerts: list[int] = field(default_factory=list)


def comment_dict(c: Comment) -> dict[str, Any]:
    """The JSON-able comment shape used in alert details (see the alerts contract)."""
    return {
        "platform": c.platform, "account": c.account, "post_id": c.post_id, "post_text": c.post_text,
        "comment_id": c.comment_id, "parent_id": c.parent_id, "author_id": c.author_id,
        "author_name": c.author_name, "author_handle": c.author_handle, "text": c.text,
        "created_at": iso(c.created_at), "permalink": c.permalink,
        "attachments": [{"type": a.type, "url": a.url} for a in c.attachments],
    }


def assessment_dict(a: Assessment) -> dict[str, Any]:
    """The JSON-able assessment shape used in alert details and ``score`` output."""
    return {
        "categories": list(a.categories), "evidence": a.evidence_list(), "escalate": a.escalate,
        "strikes": list(a.strikes), "needs_review": a.needs_review,
        "review_reasons": list(a.review_reasons), "counted": a.counted,
    }


def quarantine_alert(q: QuarantinedPayload, row_id: int, raw_text: str, now: datetime) -> Alert:
    """The alert that sends a quarantined payload to a person (pure).

    :param q: the payload as the connector gave it.
    :param row_id: its ``quarantine`` row id; ``raw_text`` the stored raw JSON.
    :returns: a ``quarantine`` alert (grouped per post like review items, to the
        coordinator), dedupe key ``quarantine:<platform>:<account>:<row id>`` (one alert
        per distinct payload, however often the platform returns it); ``details`` hold
        the reason and the raw JSON (cut at :data:`MAX_QUARANTINE_QUOTE` characters)."""
    what = "post" if q.kind == "post" else "comment"
    where = f" on post {q.post_id}" if q.post_id and q.kind != "post" else ""
    return Alert(
        kind="quarantine", dedupe_key=f"quarantine:{q.platform}:{q.account}:{row_id}", created_at=now,
        platform=q.platform, account=q.account, post_id=q.post_id,
        summary=f"Unreadable {q.platform} {what}{where} kept in quarantine (row {row_id}): {q.reason}",
        details={"quarantine_id": row_id, "platform": q.platform, "account": q.account, "kind": q.kind,
                 "post_id": q.post_id, "item_id": q.item_id, "reason": q.reason,
                 "raw": raw_text[:MAX_QUARANTINE_QUOTE], "raw_chars": len(raw_text)})


def profile_url(platform: str, author_id: str, handle: str | None) -> str | None:
    """A link to the author's profile: ``https://www.facebook.com/<id>``,
    ``https://www.instagram.com/<username>/`` (None without a username: an Instagram-scoped
    id has no public profile link) or ``https://x.com/<handle>``
    (``https://x.com/i/user/<id>`` without a handle)."""
    native = author_id.split(":", 1)[-1]
    if platform == "facebook":
        return f"https://www.facebook.com/{native}" if native else None
    if platform == "instagram":
        return f"https://www.instagram.com/{handle}/" if handle else None
    if handle:
        return f"https://x.com/{handle}"
    return f"https://x.com/i/user/{native}" if native else None


class Pipeline:
    """One pipeline per process, built once with the scorer and categoriser.

    :param config: the loaded :class:`monitor.config.Config`.
    :param store: the open :class:`monitor.store.Store`.
    :param engine: scoring engine (``score(texts) -> list[Scores]``).
    :param categoriser: policy categoriser (``assess(comment, scores) -> Assessment``).
    :param clock: returns aware UTC "now" (injected; replay sets it per comment).
    :param on_alert: called with each NEW alert id after its transaction commits.
    """

    def __init__(self, config: Config, store: Store, engine: Engine, categoriser: Assessor,
                 clock: Clock = system_clock, on_alert: Callable[[int], None] | None = None,
                 batch_size: int | None = None):
        self.config = config
        self.store = store
        self.engine = engine
        self.categoriser = categoriser
        self.clock = clock
        self.on_alert = on_alert
        self.batch_size = batch_size or config.classifier.batch_size
        self.log = get_logger()
        self._first_poll: dict[str, datetime | None] = {}

    # ------------------------------------------------------------------ polling
    @staticmethod
    def account_of(cfg: AccountConfig) -> Account:
        """The domain :class:`Account` for a config entry."""
        return Account(key=cfg.name, platform=cfg.platform, external_id=cfg.external_id, display_name=cfg.name)

    def poll(self, cfg: AccountConfig, connector: Connector, *, force: bool = False) -> PollOutcome:
        """Poll one account, store what it returns, then process pending comments.

        Connector failures are recorded, never raised: a permanent one (token expired,
        permission missing, a connector that cannot start) pauses the account and enqueues
        one alert to the coordinator; a rate limit or transient one (and any unexpected
        exception from the connector, logged with its traceback) defers the next poll by
        ``retry_after``. Comments of an unknown author (:func:`monitor.domain.author_known`)
        never strike: those that would have go to review instead.

        :param force: poll even if a backoff is running (``poll --once``); never a paused account.
        :raises monitor.store.StoreError: when the store cannot be written (nothing partial).
        """
        now = self.clock()
        account = self.account_of(cfg)
        self.store.ensure_account(account, now)
        row = self.store.account_row(cfg.name) or {}
        log = self.log.bind(account=cfg.name, platform=cfg.platform)
        if row.get("paused"):
            log.warning("account_paused", reason=row.get("paused_reason"),
                        hint="run `school-monitor check` once the credential or permission is fixed")
            return PollOutcome(cfg.name, "paused", error=row.get("paused_reason"))
        if not force and row.get("next_poll_after") and row["next_poll_after"] > iso(now):
            log.info("poll_deferred", until=row["next_poll_after"])
            return PollOutcome(cfg.name, "deferred")

        budget = money = None
        watch: list[str] = []
        if cfg.platform == "twitter":
            usage = self.store.usage_this_month(cfg.name, now)
            if cfg.monthly_read_cap is not None:
                budget = max(0, cfg.monthly_read_cap - usage["reads"])
            if cfg.monthly_budget_usd is not None:
                money = max(0.0, cfg.monthly_budget_usd - usage["cost_usd"])
            if cfg.deletion_checks_per_poll:
                watch = retention.x_deletion_watch(self.store, cfg.name)
        elif cfg.monthly_read_cap is not None:
            budget = max(0, cfg.monthly_read_cap - self.store.reads_this_month(cfg.name, now))
        ctx = FetchContext(
            cursor=self.store.cursor(cfg.name),
            now=now,
            known_comments=self.store.known_live_comments(cfg.name, now - timedelta(days=cfg.lookback_days)),
            read_budget_remaining=budget,
            budget_usd_remaining=money,
            watch_ids=tuple(watch),
        )
        started = now
        try:
            result = connector.fetch(ctx)
        except ConnectorError as exc:
            return self._poll_failed(cfg, exc, started, log)
        except Exception as exc:  # noqa: BLE001 - a connector defect must not skip the outbox or the record
            log.exception("connector_unexpected_error", error=redact(f"{type(exc).__name__}: {exc}"))
            wrapped = ConnectorError(f"unexpected {type(exc).__name__} in the {cfg.platform} connector: "
                                     f"{redact(str(exc))[:300]}", platform=cfg.platform, kind="transient")
            return self._poll_failed(cfg, wrapped, started, log)
        finished = self.clock()
        first_poll = self.first_poll_at(cfg.name) is None
        errors = [redact(e) for e in result.errors]
        quarantine_ids: list[int] = []
        with self.store.transaction():
            stats = self.store.ingest(cfg.name, result.posts, result.comments, result.deleted, result.cursor,
                                      finished, platform=cfg.platform, reads=result.reads, calls=result.calls,
                                      started=started, user_reads=result.user_reads, cost_usd=result.cost_usd,
                                      quarantined=result.quarantined, errors=errors)
            if first_poll:  # in the same transaction as the poll's yield
                self._record_first_poll(cfg.name, started)
            if cfg.platform == "twitter" and result.deleted and self.config.storage.honour_x_deletions:
                purged = retention.honour_x_deletions(self.store, [("twitter", c) for c in result.deleted], finished)
                if purged:
                    log.info("x_deletions_honoured", purged=purged)
            for row_id, q, raw_text in stats.new_quarantine:
                alert_id = self.store.enqueue_alert(quarantine_alert(q, row_id, raw_text, finished))
                self.store.set_quarantine_alert(row_id, alert_id)
                if alert_id:
                    quarantine_ids.append(alert_id)
        self._notify(quarantine_ids)
        if result.next_poll_after:
            self.store.db.execute("UPDATE accounts SET next_poll_after = ? WHERE key = ?",
                                  [iso(finished + timedelta(seconds=result.next_poll_after)), cfg.name])
        for w in result.warnings:
            log.warning("connector_warning", detail=w)
        for row_id, q, _ in stats.new_quarantine:
            log.warning("payload_quarantined", quarantine_id=row_id, kind=q.kind, post_id=q.post_id,
                        item_id=q.item_id, reason=q.reason)
        for e in errors:
            log.error("poll_incomplete", error=e)
        log.info("poll_ok", fetched=stats.fetched, new=stats.new, changed=stats.changed,
                 deleted=stats.deleted, quarantined=stats.quarantined, calls=result.calls, reads=result.reads,
                 **({"user_reads": result.user_reads, "cost_usd": round(result.cost_usd, 6)}
                    if cfg.platform == "twitter" else {}))
        alerts = self._budget_alerts(cfg, finished)
        processed, new_alerts = self.process_pending()
        return PollOutcome(cfg.name, "ok", stats=stats, error="; ".join(errors) or None, processed=processed,
                           alerts=quarantine_ids + alerts + new_alerts)

    def _poll_failed(self, cfg: AccountConfig, exc: ConnectorError, started: datetime, log: Any) -> PollOutcome:
        now = self.clock()
        message = str(exc)
        log.error("poll_failed", kind=exc.kind, status=exc.status, code=exc.code, permanent=exc.permanent,
                  retry_after=exc.retry_after, error=message)
        alerts: list[int] = []
        if exc.permanent:
            with self.store.transaction():
                self.store.record_poll_failure(cfg.name, started, now, message)
                if self.store.pause_account(cfg.name, message, now):
                    paused_at = self.store.account_row(cfg.name)["paused_at"]
                    if exc.kind == "budget":  # X's own stop (usage cap, credits used up): one email a month
                        alerts += self._budget_alerts(cfg, now, force_stop=True, x_said=message, notify=False)
                        alert = None
                    else:
                        kind = "reconnect" if exc.kind == "auth" else "permission"
                        what = ("reconnect the account (the token was refused)" if kind == "reconnect"
                                else "X refuses the same request as invalid" if exc.kind == "invalid_request"
                                else "grant the missing permission or access tier")
                        alert = Alert(kind=kind, dedupe_key=f"{kind}:{cfg.name}:{paused_at}", created_at=now,
                                      platform=cfg.platform, account=cfg.name,
                                      summary=f"{cfg.platform} account {cfg.name} paused: {what}",
                                      details={"account": cfg.name, "platform": cfg.platform, "error": message,
                                               "error_kind": exc.kind})
                    alert_id = self.store.enqueue_alert(alert) if alert is not None else None
                    if alert_id:
                        alerts.append(alert_id)
                    self.store.audit("school-monitor", "account_paused", cfg.name, message, now,
                                     {"kind": exc.kind, "status": exc.status, "code": exc.code})
            self._notify(alerts)
            return PollOutcome(cfg.name, "paused", error=message, alerts=alerts)
        delay = exc.retry_after if exc.retry_after is not None else 60.0
        self.store.record_poll_failure(cfg.name, started, now, message,
                                       next_poll_after=now + timedelta(seconds=delay))
        if exc.kind == "budget":
            alerts = self._budget_alerts(cfg, now, force_stop=True)
        return PollOutcome(cfg.name, "failed", error=message, alerts=alerts)

    def _budget_alerts(self, cfg: AccountConfig, now: datetime, force_stop: bool = False,
                       x_said: str | None = None, notify: bool = True) -> list[int]:
        """Warn at 80% of the month's X budget, alert at 100% (reading stops): the budget
        is ``monthly_budget_usd`` (money, at X's pay-per-use prices) and/or
        ``monthly_read_cap`` (posts), whichever is nearer its end. ``x_said``: X itself
        stopped reading (usage cap, credits used up); the 100% alert then says so. One
        alert per level and month (dedupe key)."""
        cap, money = cfg.monthly_read_cap, cfg.monthly_budget_usd
        if cap is None and money is None and x_said is None:
            return []
        usage = self.store.usage_this_month(cfg.name, now)
        reads, cost = usage["reads"], usage["cost_usd"]
        pct = max(reads / cap if cap else 0.0, cost / money if money else 0.0) * 100
        month = Store.month_key(now)
        levels = [lvl for lvl in (80, 100) if pct >= lvl - 1e-9 or (force_stop and lvl == 100)]
        spent = []
        if money is not None:
            spent.append(f"${cost:,.2f} of ${money:,.2f}")
        if cap is not None:
            spent.append(f"{reads:,} of {cap:,} posts")
        used = " and ".join(spent) or f"${cost:,.2f}"
        ids = []
        for lvl in levels:
            stop = ("; X stopped reading: add credits or raise the spending limit in the X Developer Console, then "
                    "run `school-monitor check`" if x_said else
                    "; reading has stopped until next month or a higher budget" if lvl == 100 else "")
            summary = (f"X read budget for {cfg.name} at {used} this month ({lvl}%; {reads:,} post reads, "
                       f"{usage['user_reads']:,} user reads)" + stop)
            alert = Alert(kind="read_budget", dedupe_key=f"read_budget:{cfg.name}:{month}:{lvl}", created_at=now,
                          platform=cfg.platform, account=cfg.name, summary=summary,
                          details={"account": cfg.name, "month": month, "reads": reads, "cap": cap, "level": lvl,
                                   "user_reads": usage["user_reads"], "cost_usd": round(cost, 6),
                                   "budget_usd": money, **({"x_said": x_said} if x_said else {})})
            alert_id = self.store.enqueue_alert(alert)
            if alert_id:
                ids.append(alert_id)
                self.log.warning("read_budget", account=cfg.name, reads=reads, cap=cap, level=lvl,
                                 cost_usd=round(cost, 6), budget_usd=money)
        if notify:
            self._notify(ids)
        return ids

    # ------------------------------------------------------------------ first run
    def first_poll_at(self, account: str) -> datetime | None:
        """When ``account`` was first polled successfully in this store (state key
        ``first_poll_at:<account>``), None before its first successful poll."""
        if account not in self._first_poll:
            value = self.store.get_state(f"first_poll_at:{account}")
            self._first_poll[account] = parse_time(value) if value else None
        return self._first_poll[account]

    def _record_first_poll(self, account: str, started: datetime) -> None:
        # A store from before this key existed: its first poll is the oldest one still
        # logged, or the account's creation, so that only a real first run is quiet.
        earliest = None
        row = self.store.account_row(account) or {}
        if row.get("last_success_at") and self.store.scalar(
                "SELECT COUNT(*) FROM poll_log WHERE account = ? AND ok = 1", [account]) > 1:
            earliest = self.store.scalar("SELECT MIN(started_at) FROM poll_log WHERE account = ? AND ok = 1",
                                         [account]) or row.get("created_at")
        at = parse_time(earliest) if earliest else started
        self.store.set_state(f"first_poll_at:{account}", iso(at))
        self._first_poll[account] = at

    def _is_backfill(self, comment: Comment, version: int) -> bool:
        """A comment of the first run's backfill: posted more than ``backfill_alert_hours``
        before the account's first poll, and seen for the first time (an edit is news)."""
        first = self.first_poll_at(comment.account)
        if first is None or version != 1:
            return False
        return comment.created_at < first - timedelta(hours=self.config.alerts.backfill_alert_hours)

    def _summarise_backfill(self) -> list[int]:
        """One ``backfill`` alert per account listing its alerts held back (status
        ``backfill``), which become ``summarised``; one transaction per account."""
        ids: list[int] = []
        accounts = [r["account"] for r in self.store.db.query(
            "SELECT DISTINCT account FROM alerts WHERE status = 'backfill' ORDER BY account")]
        for account in accounts:
            now = self.clock()
            with self.store.transaction():
                rows = list(self.store.db.query(
                    "SELECT id, kind, platform, categories, created_at, author_id, details FROM alerts "
                    "WHERE status = 'backfill' AND account = ? ORDER BY created_at, id", [account]))
                items = []
                for r in rows:
                    d = json.loads(r["details"] or "{}")
                    c = d.get("comment") or {}
                    items.append({"id": r["id"], "kind": r["kind"], "categories": json.loads(r["categories"] or "[]"),
                                  "comment_created_at": c.get("created_at"), "author_id": r["author_id"],
                                  "author_name": (d.get("author") or {}).get("name") or c.get("author_name"),
                                  "permalink": c.get("permalink")})
                by_kind: dict[str, int] = {}
                for it in items:
                    by_kind[it["kind"]] = by_kind.get(it["kind"], 0) + 1
                first = self.first_poll_at(account)
                comments = self.store.scalar(
                    "SELECT COUNT(*) FROM comments WHERE account = ? AND created_at < ?",
                    [account, iso((first or now) - timedelta(hours=self.config.alerts.backfill_alert_hours))])
                keys = {k["key"]: k["n"] for k in self.store.db.query(
                    "SELECT key, COUNT(*) AS n FROM comment_keys k JOIN comments c ON c.platform = k.platform "
                    "AND c.comment_id = k.comment_id WHERE c.account = ? AND c.created_at < ? GROUP BY key "
                    "ORDER BY key",
                    [account, iso((first or now) - timedelta(hours=self.config.alerts.backfill_alert_hours))])}
                platform = rows[0]["platform"] if rows else None
                summary = (f"First run of {account}: {comments} earlier comment(s) assessed; "
                           + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(by_kind.items()))
                           + " in the review queue, not emailed one by one")
                alert_id = self.store.enqueue_alert(Alert(
                    kind="backfill", dedupe_key=f"backfill:{account}:{rows[-1]['id']}", created_at=now,
                    platform=platform, account=account, summary=summary,
                    details={"account": account, "platform": platform, "first_poll_at": iso(first) if first else None,
                             "quiet_before_hours": self.config.alerts.backfill_alert_hours, "comments": comments,
                             "alerts_by_kind": by_kind, "categories": keys, "items": items}))
                marks = ",".join("?" * len(rows))
                self.store.db.execute(f"UPDATE alerts SET status = 'summarised' WHERE id IN ({marks})",
                                      [r["id"] for r in rows])
            self.log.info("backfill_summarised", account=account, alerts=len(rows), comments=comments)
            if alert_id:
                ids.append(alert_id)
        self._notify(ids)
        return ids

    # ------------------------------------------------------------------ processing
    def process_pending(self) -> tuple[int, list[int]]:
        """Score and assess every stored comment not yet assessed, in batches; then list
        any alerts a first-run backfill held back in one ``backfill`` alert per account.

        :returns: (comments processed, new alert ids).
        """
        processed, alert_ids = 0, []
        while True:
            batch = self.store.pending_comments(limit=self.batch_size)
            if not batch:
                break
            alert_ids += self.assess_batch(batch)
            processed += len(batch)
        if processed:
            alert_ids += self._summarise_backfill()
        return processed, alert_ids

    def assess_batch(self, batch: Sequence[tuple[Comment, int]],
                     at: Sequence[datetime] | None = None) -> list[int]:
        """Score ``batch`` (stored ``(comment, version)`` pairs) in one call to the engine,
        then assess and store each, in the order given, one transaction per comment.

        :param at: the clock for each comment's assessment (``replay``: each comment's own
            time); default the pipeline's clock.
        :returns: the new alert ids.
        """
        scores = self.engine.score([c.text[:MAX_ASSESS_CHARS] for c, _ in batch])
        alert_ids: list[int] = []
        for i, ((comment, version), s) in enumerate(zip(batch, scores)):
            alert_ids += self._assess_one(comment, version, s, now=at[i] if at is not None else None)
        return alert_ids

    def _assess_one(self, comment: Comment, version: int, scores: Scores,
                    now: datetime | None = None) -> list[int]:
        if comment.parent_id and comment.parent_text is None:
            parent = self.store.get_comment(comment.platform, comment.parent_id)
            if parent is not None:
                comment = dataclasses.replace(comment, parent_text=parent.text)
        if len(comment.text) > MAX_ASSESS_CHARS:
            head = dataclasses.replace(comment, text=comment.text[:MAX_ASSESS_CHARS])
            assessment = self.categoriser.assess(head, scores)
            assessment = dataclasses.replace(
                assessment, needs_review=True,
                review_reasons=assessment.review_reasons + (
                    f"very long comment ({len(comment.text):,} characters): only the first "
                    f"{MAX_ASSESS_CHARS:,} were read automatically",))
        else:
            assessment = self.categoriser.assess(comment, scores)
        if assessment.strikes and not author_known(comment.author_id):
            # many people may hide behind one unknown id: assess and escalate, never strike
            assessment = dataclasses.replace(assessment, strikes=(), needs_review=True,
                                             review_reasons=assessment.review_reasons + (UNKNOWN_AUTHOR_REASON,))
        now = now or self.clock()
        new_ids: list[int] = []
        log = self.log.bind(platform=comment.platform, comment_id=comment.comment_id, account=comment.account)
        with self.store.transaction():
            new_strikes = self.store.save_assessment(comment, version, scores, assessment, now)
            details = {"comment": comment_dict(comment), "assessment": assessment_dict(assessment),
                       "scores": {k: round(float(v), 4) for k, v in scores.values.items()},
                       "language": scores.language}
            if assessment.escalate:
                keys = [k for k in assessment.categories if k in self.config.policy.escalate_keys]
                new_ids.append(self.store.enqueue_alert(Alert(
                    kind="escalation", dedupe_key=f"escalation:{comment.platform}:{comment.comment_id}",
                    created_at=now, comment_refs=(comment.ref,), categories=tuple(keys),
                    platform=comment.platform, account=comment.account, post_id=comment.post_id,
                    author_id=comment.author_id,
                    summary=f"Escalation: {', '.join(keys)} on {comment.platform}", details=details)))
            if assessment.needs_review:
                new_ids.append(self.store.enqueue_alert(Alert(
                    kind="needs_review", dedupe_key=f"needs_review:{comment.platform}:{comment.comment_id}",
                    created_at=now, comment_refs=(comment.ref,), categories=assessment.categories,
                    platform=comment.platform, account=comment.account, post_id=comment.post_id,
                    author_id=comment.author_id,
                    summary=f"Needs review: {'; '.join(assessment.review_reasons) or 'a person must read it'}",
                    details=details)))
            if new_strikes:
                decision = strike_policy.decide(
                    comment.author_id, self.store.author_strikes(comment.author_id), comment.created_at,
                    self.config.policy, self.store.last_block_recommendation(comment.author_id))
                if decision.recommend_block:
                    new_ids.append(self._block_alert(comment, assessment, decision, details, now))
            ids = [i for i in new_ids if i]
            if ids and self._is_backfill(comment, version):
                marks = ",".join("?" * len(ids))
                self.store.db.execute(f"UPDATE alerts SET status = 'backfill' WHERE id IN ({marks}) "
                                      "AND status = 'pending'", ids)
                ids = []  # listed in the backfill summary instead
        for key in assessment.categories:
            log.info("categorised", category=key, escalate=assessment.escalate)
        self._notify(ids)
        return ids

    def _block_alert(self, comment: Comment, assessment: Assessment, decision: StrikeDecision,
                     details: dict, now: datetime) -> int | None:
        strikes = []
        for s in decision.strikes:
            row = self.store.one("SELECT text, permalink FROM comments WHERE platform = ? AND comment_id = ?",
                                 [s.platform, s.comment_id]) or {}
            strikes.append({"platform": s.platform, "comment_id": s.comment_id, "key": s.key, "at": iso(s.at),
                            "text": row.get("text"), "permalink": row.get("permalink")})
        window_start = decision.window_start or comment.created_at
        author = {"author_id": comment.author_id, "name": comment.author_name, "handle": comment.author_handle,
                  "platform": comment.platform,
                  "profile_url": profile_url(comment.platform, comment.author_id, comment.author_handle)}
        alert = Alert(
            kind="block_recommendation",
            dedupe_key=f"block_recommendation:{comment.author_id}:{window_start.date().isoformat()}",
            created_at=now, comment_refs=tuple((s.platform, s.comment_id) for s in decision.strikes),
            categories=tuple(sorted({s.key for s in decision.strikes})), platform=comment.platform,
            account=comment.account, post_id=comment.post_id, author_id=comment.author_id,
            summary=f"Block recommended: {comment.author_name or comment.author_id} ({decision.reason})",
            details={**details, "author": author, "reason": decision.reason, "strikes": strikes,
                     "window_days": self.config.policy.window_days,
                     "threshold": self.config.policy.strikes_to_block})
        alert_id = self.store.enqueue_alert(alert)
        self.store.record_block_recommendation(decision, comment.created_at, alert_id)
        # the audit log is kept for ever: it names comments, never quotes them (UK GDPR storage limitation)
        self.store.audit("school-monitor", "block_recommended", comment.author_id, decision.reason, now,
                         {"strikes": [{k: s[k] for k in ("platform", "comment_id", "key", "at")} for s in strikes],
                          "alert_id": alert_id})
        return alert_id

    def _notify(self, ids: Sequence[int]) -> None:
        if self.on_alert:
            for i in ids:
                self.on_alert(i)


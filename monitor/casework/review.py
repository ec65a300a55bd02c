"""The coordinator's review queue: list, show, acknowledge and resolve review items, and
act on the platform (hide, unhide, block) once a person has confirmed.

A *review item* is a row of the ``alerts`` table whose ``kind`` is one of
:data:`monitor.domain.REVIEW_KINDS` (``escalation``, ``block_recommendation``,
``needs_review``). Its ``review_status`` moves only forward::

    open --ack--> acknowledged --resolve--> resolved
    open ------------------------resolve--> resolved --resolve --amend--> resolved

Acknowledging an escalation stops the outbox repeating it (the outbox repeats only while
``review_status == 'open'``). Resolving records the coordinator's *verdict*:

* ``confirmed``: the automatic keys were right (or, with ``keys``, these keys are right);
* ``false_positive``: the comment does not breach the policy (the automatic keys were wrong);
* ``blocked`` / ``hidden`` / ``removed``: confirmed, and this action was taken.

Each verdict is also written to the ``verdicts`` table, one row per comment the item is
about, with ``keys``: for a confirming verdict the keys the coordinator confirms (default:
the comment's automatic keys from ``comment_keys``); for ``false_positive`` the automatic
keys that were judged wrong. The weekly report counts "confirmed" as verdict rows whose
verdict is in :data:`CONFIRMING` (latest verdict per comment); calibration compares keys.

For a ``block_recommendation`` item, ``confirmed``/``blocked`` mean the strikes stand and
``false_positive`` means the strike comments do not breach the policy; deciding not to
block although the strikes stand is ``confirmed`` with a note.

Every state change and every platform action (done or refused) appends to the audit log
(:meth:`monitor.store.Store.audit`: who, when, what, why). Audit details never copy
comment text (the audit log is kept for ever, comment text is not).

The functions take ``now`` (aware UTC) and ``actor`` explicitly; nothing here reads the
wall clock or prints. Errors: :class:`ReviewError` (unknown id, invalid transition, bad
verdict or key) and :class:`ActionRefused` (the platform or the account config refused an
action; it has been audited).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from connectors.base import ConnectorError
from monitor.config import Config
from monitor.domain import PLATFORMS, POLICY_KEYS, REVIEW_KINDS, author_known, iso
from monitor.store import Store, dumps

#: The verdicts a coordinator can give.
VERDICTS: tuple[str, ...] = ("confirmed", "false_positive", "blocked", "hidden", "removed")
#: Verdicts that confirm the comment breaches the policy.
CONFIRMING: tuple[str, ...] = ("confirmed", "blocked", "hidden", "removed")
#: Review states an item can be acted on in (the "open items" of the queue).
OPEN_STATES: tuple[str, ...] = ("open", "acknowledged")
#: Platform actions the review commands offer.
ACTIONS: tuple[str, ...] = ("hide", "unhide", "block")


class ReviewError(Exception):
    """A review command cannot be done: unknown item or comment id, an invalid state
    transition (resolving twice, acknowledging a resolved item), an unknown verdict or
    policy key. The message says which and what is possible instead."""


class ActionRefused(ReviewError):
    """A platform action was refused (the account's ``hide_enabled``/``block_enabled`` is
    off, the platform answered with an error, or X cannot block through the API).

    :ivar error: the :class:`connectors.base.ConnectorError`, when it came from a connector.
    :ivar audit_id: the audit log row recording the refusal.
    """

    def __init__(self, message: str, *, error: ConnectorError | None = None, audit_id: int | None = None):
        super().__init__(message)
        self.error = error
        self.audit_id = audit_id


# --------------------------------------------------------------------------- items


def _refs(value: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((str(r[0]), str(r[1])) for r in json.loads(value or "[]"))


@dataclass(frozen=True)
class ReviewItem:
    """One review item (an ``alerts`` row of a review kind).

    :ivar id: the alert id (what ``review show ID`` takes).
    :ivar kind: ``escalation``, ``block_recommendation`` or ``needs_review``.
    :ivar review_status: ``open``, ``acknowledged`` or ``resolved``.
    :ivar delivery: the outbox ``status`` (``pending``, ``sent``, ...).
    :ivar created_at: ISO UTC text, as stored.
    :ivar comment_refs: ``(platform, comment_id)`` pairs the item is about.
    """

    id: int
    kind: str
    review_status: str
    urgent: bool
    created_at: str
    summary: str
    categories: tuple[str, ...]
    comment_refs: tuple[tuple[str, str], ...]
    platform: str | None = None
    account: str | None = None
    post_id: str | None = None
    author_id: str | None = None
    delivery: str = "pending"
    acked_at: str | None = None
    acked_by: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    verdict: str | None = None
    note: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "ReviewItem":
        """Build from an ``alerts`` row."""
        return cls(
            id=int(row["id"]), kind=row["kind"], review_status=row["review_status"] or "open",
            urgent=bool(row["urgent"]), created_at=row["created_at"], summary=row["summary"] or "",
            categories=tuple(json.loads(row["categories"] or "[]")), comment_refs=_refs(row["comment_refs"]),
            platform=row["platform"], account=row["account"], post_id=row["post_id"],
            author_id=row["author_id"], delivery=row["status"], acked_at=row["acked_at"],
            acked_by=row["acked_by"], resolved_at=row["resolved_at"], resolved_by=row["resolved_by"],
            verdict=row["verdict"], note=row["note"])


def _kinds_sql() -> str:
    return ", ".join("'" + k + "'" for k in REVIEW_KINDS)


def list_open(store: Store, *, include_resolved: bool = False, limit: int | None = None) -> list[ReviewItem]:
    """The review queue: items whose ``review_status`` is ``open`` or ``acknowledged``
    (all review items with ``include_resolved``), newest first (``created_at``, then id).

    :param limit: at most this many items (None: all).
    """
    where = "" if include_resolved else "AND review_status IN ('open', 'acknowledged')"
    sql = (f"SELECT * FROM alerts WHERE kind IN ({_kinds_sql()}) {where} "
           "ORDER BY created_at DESC, id DESC")
    params: list[Any] = []
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [ReviewItem.from_row(r) for r in store.db.query(sql, params)]


def get_item(store: Store, alert_id: int | str) -> ReviewItem:
    """The review item ``alert_id``.

    :raises ReviewError: when the id is not a number, no alert has it, or the alert is not
        a review item (e.g. a ``reconnect`` alert).
    """
    try:
        aid = int(alert_id)
    except (TypeError, ValueError):
        raise ReviewError(f"review item id must be a number (the ID column of `review`), got {alert_id!r}") from None
    row = store.one("SELECT * FROM alerts WHERE id = ?", [aid])
    if row is None:
        raise ReviewError(f"no review item {aid} (see `school-monitor review` for open items)")
    if row["kind"] not in REVIEW_KINDS:
        raise ReviewError(f"alert {aid} is a {row['kind']} alert, not a review item "
                          f"(review items are {', '.join(REVIEW_KINDS)})")
    return ReviewItem.from_row(row)


# --------------------------------------------------------------------------- show


@dataclass(frozen=True)
class CommentView:
    """One comment of a review item with its context.

    :ivar comment: the ``comments`` row (``text`` None once purged).
    :ivar post: the ``posts`` row of the school post, or None if not stored.
    :ivar parent: the comment it replies to, or None.
    :ivar siblings: up to 10 other comments in the same thread (same post and parent),
        nearest in time first then sorted by ``created_at``.
    :ivar replies: replies to this comment, oldest first.
    :ivar versions: ``comment_versions`` rows, oldest first (edit history).
    :ivar scores: ``scores`` rows (``values`` decoded), latest version first.
    :ivar assessment: the latest ``assessments`` row (JSON decoded), or None.
    :ivar keys: the automatic policy keys (``comment_keys``).
    :ivar verdicts: earlier verdicts on this comment, oldest first.
    """

    comment: dict
    post: dict | None
    parent: dict | None
    siblings: list[dict]
    replies: list[dict]
    versions: list[dict]
    scores: list[dict]
    assessment: dict | None
    keys: list[str]
    verdicts: list[dict]


@dataclass(frozen=True)
class AuthorHistory:
    """What the store holds about the item's author.

    :ivar author: the ``authors`` row, or None.
    :ivar strikes: ``strikes`` rows, oldest first.
    :ivar comments: number of comments stored from this author.
    :ivar flagged: their comments that carry a key or went to review, newest first (at
        most 20), each ``{platform, comment_id, created_at, text, keys}``.
    :ivar block_recommendations: ``block_recommendations`` rows, oldest first.
    :ivar verdicts: verdicts on their comments, oldest first.
    """

    author: dict | None
    strikes: list[dict]
    comments: int
    flagged: list[dict]
    block_recommendations: list[dict]
    verdicts: list[dict]


@dataclass(frozen=True)
class ReviewDetail:
    """Everything ``review show`` presents: the item, its ``details`` JSON, each comment
    in context, the author's history, and the item's audit trail (oldest first)."""

    item: ReviewItem
    details: dict
    comments: list[CommentView]
    author: AuthorHistory | None
    audit: list[dict] = field(default_factory=list)


def _decode(row: dict | None, *cols: str) -> dict | None:
    if row is None:
        return None
    out = dict(row)
    for c in cols:
        if out.get(c) is not None:
            out[c] = json.loads(out[c])
    return out


def comment_view(store: Store, platform: str, comment_id: str) -> CommentView | None:
    """The comment ``(platform, comment_id)`` in its thread, or None if not stored."""
    c = store.one("SELECT * FROM comments WHERE platform = ? AND comment_id = ?", [platform, comment_id])
    if c is None:
        return None
    c = _decode(c, "attachments")
    post = store.one("SELECT platform, post_id, account, text, created_at, permalink FROM posts "
                     "WHERE platform = ? AND post_id = ?", [platform, c["post_id"]])
    parent = None
    if c["parent_id"]:
        parent = store.one("SELECT * FROM comments WHERE platform = ? AND comment_id = ?", [platform, c["parent_id"]])
    siblings = list(store.db.query(
        "SELECT * FROM (SELECT * FROM comments WHERE platform = ? AND post_id = ? AND parent_id IS ? "
        "AND comment_id != ? ORDER BY ABS(julianday(created_at) - julianday(?)) LIMIT 10) ORDER BY created_at",
        [platform, c["post_id"], c["parent_id"], comment_id, c["created_at"]]))
    replies = list(store.db.query(
        "SELECT * FROM comments WHERE platform = ? AND parent_id = ? ORDER BY created_at LIMIT 20",
        [platform, comment_id]))
    versions = [_decode(v, "attachments") for v in store.db.query(
        "SELECT * FROM comment_versions WHERE platform = ? AND comment_id = ? ORDER BY version", [platform, comment_id])]
    scores = [_decode(s, "values") for s in store.db.query(
        'SELECT * FROM scores WHERE platform = ? AND comment_id = ? ORDER BY version DESC, scored_at DESC',
        [platform, comment_id])]
    assessment = _decode(store.one(
        "SELECT * FROM assessments WHERE platform = ? AND comment_id = ? ORDER BY version DESC LIMIT 1",
        [platform, comment_id]), "categories", "evidence", "strikes", "review_reasons")
    keys = [r["key"] for r in store.db.query(
        "SELECT key FROM comment_keys WHERE platform = ? AND comment_id = ?", [platform, comment_id])]
    keys.sort(key=lambda k: list(POLICY_KEYS).index(k) if k in POLICY_KEYS else 99)
    verdicts = [_decode(v, "keys") for v in store.db.query(
        "SELECT * FROM verdicts WHERE platform = ? AND comment_id = ? ORDER BY id", [platform, comment_id])]
    return CommentView(comment=c, post=post, parent=parent, siblings=siblings, replies=replies,
                       versions=versions, scores=scores, assessment=assessment, keys=keys, verdicts=verdicts)


def author_history(store: Store, author_id: str) -> AuthorHistory:
    """The author's row, strikes, flagged comments, block recommendations and verdicts."""
    author = store.one("SELECT * FROM authors WHERE author_id = ?", [author_id])
    strikes = list(store.db.query("SELECT * FROM strikes WHERE author_id = ? ORDER BY at, comment_id, key",
                                  [author_id]))
    count = int(store.scalar("SELECT COUNT(*) FROM comments WHERE author_id = ?", [author_id]) or 0)
    flagged = []
    for r in store.db.query(
            "SELECT c.platform, c.comment_id, c.created_at, c.text, "
            "(SELECT json_group_array(k.key) FROM comment_keys k WHERE k.platform = c.platform "
            " AND k.comment_id = c.comment_id) AS keys "
            "FROM comments c WHERE c.author_id = ? AND c.flagged = 1 ORDER BY c.created_at DESC LIMIT 20",
            [author_id]):
        r = dict(r)
        r["keys"] = json.loads(r["keys"] or "[]")
        flagged.append(r)
    recs = [_decode(r, "strikes") for r in store.db.query(
        "SELECT * FROM block_recommendations WHERE author_id = ? ORDER BY made_at, id", [author_id])]
    verdicts = [_decode(v, "keys") for v in store.db.query(
        "SELECT v.* FROM verdicts v JOIN comments c ON c.platform = v.platform AND c.comment_id = v.comment_id "
        "WHERE c.author_id = ? ORDER BY v.id", [author_id])]
    return AuthorHistory(author=author, strikes=strikes, comments=count, flagged=flagged,
                         block_recommendations=recs, verdicts=verdicts)


def show(store: Store, alert_id: int | str) -> ReviewDetail:
    """Everything about one review item (any review state).

    :raises ReviewError: unknown id or not a review item.
    """
    item = get_item(store, alert_id)
    row = store.one("SELECT details FROM alerts WHERE id = ?", [item.id])
    details = json.loads(row["details"] or "{}") if row else {}
    views = [v for v in (comment_view(store, p, c) for p, c in item.comment_refs) if v is not None]
    author_id = item.author_id or (views[0].comment["author_id"] if views else None)
    author = author_history(store, author_id) if author_known(author_id) else None  # fb:unknown pools many people
    audit = [_decode(a, "details") for a in store.db.query(
        "SELECT * FROM audit_log WHERE target = ? ORDER BY id", [f"alert:{item.id}"])]
    return ReviewDetail(item=item, details=details, comments=views, author=author, audit=audit)


# --------------------------------------------------------------------------- transitions


def _audit_details(item: ReviewItem, **extra: Any) -> dict[str, Any]:
    return {"kind": item.kind, "comments": [list(r) for r in item.comment_refs], "author_id": item.author_id,
            "previous": item.review_status, **extra}


def ack(store: Store, alert_id: int | str, *, actor: str, now: datetime, note: str | None = None) -> ReviewItem:
    """Acknowledge an open item: ``review_status`` becomes ``acknowledged`` with
    ``acked_at``/``acked_by``; an escalation is no longer repeated. Audited as
    ``review.ack`` (reason: ``note``).

    :returns: the updated item.
    :raises ReviewError: unknown id, or the item is already acknowledged or resolved.
    """
    if not actor:
        raise ReviewError("who is acknowledging? (give --by NAME)")
    with store.transaction():
        item = get_item(store, alert_id)
        if item.review_status == "acknowledged":
            raise ReviewError(f"review item {item.id} was already acknowledged by {item.acked_by} at {item.acked_at}; "
                              f"resolve it with `review resolve {item.id} --verdict ...`")
        if item.review_status == "resolved":
            raise ReviewError(f"review item {item.id} is already resolved ({item.verdict}, by {item.resolved_by} "
                              f"at {item.resolved_at}); it cannot be acknowledged")
        cur = store.db.execute(
            "UPDATE alerts SET review_status = 'acknowledged', acked_at = ?, acked_by = ? "
            "WHERE id = ? AND review_status = 'open'", [iso(now), actor, item.id])
        if cur.rowcount != 1:  # changed under our feet by another process
            raise ReviewError(f"review item {item.id} changed while acknowledging it; try again")
        store.audit(actor, "review.ack", f"alert:{item.id}", note, now, _audit_details(item))
    return get_item(store, item.id)


def _check_keys(keys: Sequence[str]) -> tuple[str, ...]:
    bad = [k for k in keys if k not in POLICY_KEYS]
    if bad:
        raise ReviewError(f"unknown policy key(s) {', '.join(bad)} (the keys are: {', '.join(POLICY_KEYS)})")
    order = list(POLICY_KEYS)
    return tuple(sorted(set(keys), key=order.index))


def automatic_keys(store: Store, platform: str, comment_id: str) -> list[str]:
    """The policy keys the categoriser gave a comment (``comment_keys``), in policy order."""
    keys = [r["key"] for r in store.db.query(
        "SELECT key FROM comment_keys WHERE platform = ? AND comment_id = ?", [platform, comment_id])]
    order = list(POLICY_KEYS)
    return sorted(keys, key=lambda k: order.index(k) if k in order else 99)


def resolve(store: Store, alert_id: int | str, verdict: str, *, actor: str, now: datetime,
            note: str | None = None, keys: Sequence[str] | None = None, amend: bool = False) -> ReviewItem:
    """Resolve an open or acknowledged item with a verdict (or, with ``amend``, correct
    the verdict of a resolved one).

    Sets ``review_status = 'resolved'``, ``resolved_at``/``resolved_by``, ``verdict`` and
    ``note`` on the alert; writes one ``verdicts`` row per comment of the item (see the
    module docstring for ``keys``); audits ``review.resolve`` with the note as reason. All
    in one transaction.

    :param verdict: one of :data:`VERDICTS`.
    :param keys: for a confirming verdict on a one-comment item, the keys the coordinator
        confirms (replacing the automatic ones); not allowed with ``false_positive``.
    :param amend: correct the verdict of a *resolved* item: new ``verdicts`` rows are added
        (the latest counts; earlier ones stay as history) and ``review.amend`` is audited
        with the previous verdict. A ``note`` saying why is required.
    :raises ReviewError: unknown id, already resolved (without ``amend``), not resolved
        (with ``amend``), unknown verdict or key, ``keys`` with ``false_positive`` or with an
        item about several comments, ``amend`` without a note.
    """
    if verdict not in VERDICTS:
        raise ReviewError(f"unknown verdict {verdict!r} (expected one of: {', '.join(VERDICTS)})")
    if not actor:
        raise ReviewError("who is resolving? (give --by NAME)")
    chosen = _check_keys(keys) if keys is not None else None
    if chosen is not None and verdict == "false_positive":
        raise ReviewError("--keys names the keys you confirm; a false_positive confirms none (leave --keys out)")
    if amend and not (note and note.strip()):
        raise ReviewError("correcting a verdict needs a --note saying why")
    with store.transaction():
        item = get_item(store, alert_id)
        if item.review_status == "resolved" and not amend:
            raise ReviewError(f"review item {item.id} is already resolved ({item.verdict}, by {item.resolved_by} "
                              f"at {item.resolved_at}); to correct the verdict, use --amend with a --note saying why")
        if amend and item.review_status != "resolved":
            raise ReviewError(f"review item {item.id} is {item.review_status}, not resolved: resolve it without --amend")
        if chosen is not None and len(item.comment_refs) != 1:
            raise ReviewError(f"review item {item.id} covers {len(item.comment_refs)} comments; --keys needs an item "
                              "about exactly one comment")
        states = "('resolved')" if amend else "('open', 'acknowledged')"
        cur = store.db.execute(
            "UPDATE alerts SET review_status = 'resolved', resolved_at = ?, resolved_by = ?, verdict = ?, note = ? "
            f"WHERE id = ? AND review_status IN {states}",
            [iso(now), actor, verdict, note, item.id])
        if cur.rowcount != 1:
            raise ReviewError(f"review item {item.id} changed while resolving it; try again")
        recorded: dict[str, list[str]] = {}
        for platform, comment_id in item.comment_refs:
            vkeys = list(chosen) if chosen is not None else automatic_keys(store, platform, comment_id)
            store.record_verdict(platform, comment_id, item.id, verdict, vkeys, actor, now, note)
            recorded[f"{platform}:{comment_id}"] = vkeys
        extra = {"previous_verdict": item.verdict} if amend else {}
        store.audit(actor, "review.amend" if amend else "review.resolve", f"alert:{item.id}", note, now,
                    _audit_details(item, verdict=verdict, keys=recorded, **extra))
    return get_item(store, item.id)


# --------------------------------------------------------------------------- platform actions


@dataclass(frozen=True)
class ActionPlan:
    """A platform action ready to be confirmed.

    :ivar action: ``hide``, ``unhide`` or ``block``.
    :ivar platform: ``facebook`` or ``twitter``.
    :ivar account: the ``[[accounts]]`` name whose connector acts.
    :ivar comment_id: the comment hidden/unhidden (for ``block``: the comment it is about).
    :ivar author_id: the platform-prefixed author id (what ``block`` blocks).
    :ivar alert_id: the review item it came from, when one was named.
    :ivar description: one readable sentence of what would be done.
    :ivar author_handle: the X username, when known (for the block instructions' link).
    """

    action: str
    platform: str
    account: str
    comment_id: str
    author_id: str
    alert_id: int | None
    description: str
    author_handle: str | None = None


@dataclass(frozen=True)
class ActionResult:
    """A platform action done: the plan, the connector's answer (``message``) and the
    audit row id."""

    plan: ActionPlan
    message: str
    audit_id: int


def parse_comment_ref(text: str) -> tuple[str, str]:
    """Parse ``PLATFORM:COMMENT_ID`` (``facebook:123_456``, ``twitter:1460323737035677698``).

    :raises ReviewError: naming the value when it is not of that form.
    """
    platform, sep, cid = text.partition(":")
    if not sep or platform not in PLATFORMS or not cid:
        raise ReviewError(f"expected PLATFORM:COMMENT_ID with PLATFORM one of {', '.join(PLATFORMS)} "
                          f"(e.g. facebook:123_456), got {text!r}")
    return platform, cid


def plan_action(store: Store, target: str | int, action: str, *, comment: str | None = None) -> ActionPlan:
    """Work out what ``action`` would do for ``target``: a review item id (its comment;
    with several comments, ``comment`` must say which) or ``PLATFORM:COMMENT_ID``.

    :raises ReviewError: unknown action, item or comment, or an ambiguous item.
    """
    if action not in ACTIONS:
        raise ReviewError(f"unknown action {action!r} (expected one of: {', '.join(ACTIONS)})")
    alert_id: int | None = None
    text = str(target)
    if ":" in text:
        ref = parse_comment_ref(text)
    else:
        item = get_item(store, text)
        alert_id = item.id
        if comment is not None:
            ref = parse_comment_ref(comment)
            if ref not in item.comment_refs:
                raise ReviewError(f"review item {item.id} is not about {ref[0]}:{ref[1]} (it is about "
                                  f"{', '.join(p + ':' + c for p, c in item.comment_refs)})")
        elif len(item.comment_refs) == 1 or (action == "block" and item.comment_refs):
            ref = item.comment_refs[-1]
        else:
            raise ReviewError(f"review item {item.id} is about {len(item.comment_refs)} comments "
                              f"({', '.join(p + ':' + c for p, c in item.comment_refs)}); name one with --comment")
    row = store.one("SELECT platform, comment_id, account, author_id, author_name, author_handle FROM comments "
                    "WHERE platform = ? AND comment_id = ?", list(ref))
    if row is None:
        raise ReviewError(f"no stored comment {ref[0]}:{ref[1]}")
    who = f"{row['author_name'] or 'unnamed'} ({row['author_id']})"
    if action == "block":
        desc = f"block {who} from the {row['platform']} account {row['account']!r}"
    else:
        desc = f"{action} {row['platform']} comment {row['comment_id']} by {who} on account {row['account']!r}"
    return ActionPlan(action=action, platform=row["platform"], account=row["account"], comment_id=row["comment_id"],
                      author_id=row["author_id"], alert_id=alert_id, description=desc,
                      author_handle=row["author_handle"])


ConnectorFactory = Callable[[Any], Any]


def _default_factory(account_config: Any) -> Any:
    from connectors import build_connector

    return build_connector(account_config)


def perform_action(store: Store, config: Config, plan: ActionPlan, *, actor: str, now: datetime,
                   reason: str | None = None, connector_factory: ConnectorFactory | None = None) -> ActionResult:
    """Carry out a confirmed plan through the account's connector
    (``connector_factory(config.account(plan.account))``, default
    :func:`connectors.build_connector`): ``connector.hide(comment_id, hidden)`` (Graph API
    ``POST /{comment-id}`` with ``is_hidden``; X API v2 ``PUT /2/tweets/:id/hidden``) or
    ``connector.block(author_id)`` (Graph API ``POST /{page-id}/blocked``; X refuses with the
    steps to block in the app, given the author's handle when known).

    On success the comment's ``is_hidden`` is updated and ``review.<action>`` audited; on a
    refusal ``review.<action>_refused`` is audited with the error and :class:`ActionRefused`
    raised. Audit ``target`` is ``alert:ID`` when the plan came from an item, else
    ``PLATFORM:COMMENT_ID``.

    :raises ActionRefused: the account is not configured, the connector cannot be built
        (credential missing) or the platform refused.
    """
    target = f"alert:{plan.alert_id}" if plan.alert_id is not None else f"{plan.platform}:{plan.comment_id}"
    details = {"action": plan.action, "comment": [plan.platform, plan.comment_id], "account": plan.account,
               "author_id": plan.author_id, "alert_id": plan.alert_id}

    def refused(message: str, error: ConnectorError | None) -> ActionRefused:
        extra = {"error": message}
        if error is not None:
            extra.update(error_kind=error.kind, status=error.status, code=error.code)
        with store.transaction():
            aid = store.audit(actor, f"review.{plan.action}_refused", target, reason, now, {**details, **extra})
        return ActionRefused(f"{plan.action} refused: {message}", error=error, audit_id=aid)

    try:
        account_config = config.account(plan.account)
    except KeyError:
        raise refused(f"account {plan.account!r} is not in {config.source}; add its [[accounts]] table "
                      "to act on it", None) from None
    factory = connector_factory or _default_factory
    connector = None
    try:
        connector = factory(account_config)
        if plan.action == "block":
            if plan.platform in ("twitter", "instagram") and plan.author_handle:  # these block() take the handle
                message = connector.block(plan.author_id, handle=plan.author_handle)
            else:
                message = connector.block(plan.author_id)
            message = message or f"blocked {plan.author_id}"
        else:
            hidden = plan.action == "hide"
            connector.hide(plan.comment_id, hidden)
            message = f"{'hidden' if hidden else 'unhidden'} {plan.platform} comment {plan.comment_id}"
    except ConnectorError as exc:
        raise refused(str(exc), exc) from exc
    finally:
        if connector is not None and hasattr(connector, "close"):
            connector.close()
    with store.transaction():
        if plan.action in ("hide", "unhide"):
            store.set_hidden(plan.platform, plan.comment_id, plan.action == "hide", now, actor)
        aid = store.audit(actor, f"review.{plan.action}", target, reason, now, {**details, "result": message})
    return ActionResult(plan=plan, message=message, audit_id=aid)

"""Data protection: the retention purge (UK GDPR storage limitation and data minimisation).

Two periods, from ``[storage]`` in the config:

* ``retention_days`` (default 90): a comment that carries **no policy key** (no
  ``comment_keys`` row, not ``flagged`` for review, no strike, no confirming verdict, not
  in any review item) has its personal content purged once it was created more than this
  many days ago. Only comments already assessed are purged (a comment waiting to be
  scored might be evidence).
* ``evidence_years`` (default 6): every other comment (flagged evidence) is purged the
  same way once created more than this many years ago.

A comment with an **open or acknowledged review item** is never purged.

"Purged" means (:meth:`monitor.store.Store.purge_comment`): every ``comment_versions``
row of the comment loses its ``text``, ``raw``, ``attachments``, ``author_name`` and
``author_handle``, the comment gets ``purged_at``, and a ``purged`` event is appended to
the evidence chain holding each version's author SHA-256. The SHA-256 values and chain
links stay, so :func:`monitor.casework.evidence.verify_chain` still verifies the store. For
evidence purges, the assessment's evidence ``detail``/``span`` (which may quote the text)
is redacted and the redacted assessment re-chained (a ``redaction`` record), and
the ``details`` and ``summary`` of review alerts all of whose comments are purged, and the
emails built from those alerts (``messages.body``/``subject``) are redacted as well. An
author none of whose comments keeps content has ``name``/``handle`` emptied (the id stays
as the key of the purged rows). Scores, keys, strikes, verdicts and the audit log stay:
they hold no comment text and are the record of what was decided.

SQLite's ``secure_delete`` is switched on for the purge and the WAL is checkpointed after
it, so the old text does not linger in free pages or the write-ahead log.

Every real purge appends ``retention.purge`` to the audit log with the counts removed, and
sets the ``state`` keys ``last_purge_at`` and ``last_purge``. The daemon calls
:func:`purge` daily at ``[storage] purge_hour``; ``school-monitor purge [--dry-run]`` runs it
by hand.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Iterable

from monitor.config import Config
from monitor.domain import REVIEW_KINDS, iso
from monitor.store import Store, dumps

PURGED_MARK = "[purged]"
_CHUNK = 500


@dataclass(frozen=True)
class PurgeReport:
    """What one purge removed (or, with ``dry_run``, would remove).

    :ivar now: the purge's clock (ISO UTC).
    :ivar unflagged_cutoff: comments without a key created before this are purged.
    :ivar evidence_cutoff: flagged evidence created before this is purged.
    :ivar unflagged_comments: comments without a key purged.
    :ivar evidence_comments: flagged comments purged (older than ``evidence_years``).
    :ivar versions: ``comment_versions`` rows emptied.
    :ivar alerts_redacted: review alerts whose details were redacted.
    :ivar messages_redacted: emails whose body was removed.
    :ivar authors_pseudonymised: authors whose name and handle were emptied.
    :ivar kept_open_review: old comments kept because a review item about them is open.
    :ivar poll_log_rows: health rows (``poll_log``, one per poll) older than
        :data:`POLL_LOG_DAYS` deleted: they hold no personal data but grow without bound.
    :ivar audit_id: the audit row (None for a dry run).
    """

    now: str
    dry_run: bool
    unflagged_cutoff: str
    evidence_cutoff: str
    unflagged_comments: int = 0
    evidence_comments: int = 0
    versions: int = 0
    alerts_redacted: int = 0
    messages_redacted: int = 0
    authors_pseudonymised: int = 0
    kept_open_review: int = 0
    poll_log_rows: int = 0
    audit_id: int | None = None

    def summary(self) -> str:
        """One readable line."""
        verb = "would purge" if self.dry_run else "purged"
        return (f"{verb} the text of {self.unflagged_comments} comment(s) with no policy key (created before "
                f"{self.unflagged_cutoff[:10]}) and {self.evidence_comments} flagged comment(s) (created before "
                f"{self.evidence_cutoff[:10]}); {self.versions} version(s), {self.alerts_redacted} alert(s), "
                f"{self.messages_redacted} email(s), {self.authors_pseudonymised} author name(s); "
                f"kept {self.kept_open_review} with an open review item; "
                f"{self.poll_log_rows} poll log row(s) older than {POLL_LOG_DAYS} days")

    def to_dict(self) -> dict:
        """JSON-able form."""
        return asdict(self)


#: Days of poll history (``poll_log``) kept for ``status`` and troubleshooting.
POLL_LOG_DAYS = 30


def years_before(now: datetime, years: int) -> datetime:
    """``now`` moved back ``years`` calendar years (29 February becomes 28 February)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def cutoffs(config: Config, now: datetime) -> tuple[datetime, datetime]:
    """``(unflagged_cutoff, evidence_cutoff)`` for ``now``: ``retention_days`` days and
    ``evidence_years`` calendar years before it."""
    return now - timedelta(days=config.storage.retention_days), years_before(now, config.storage.evidence_years)


EVIDENCE_SQL = (
    "(c.flagged = 1"
    " OR EXISTS (SELECT 1 FROM comment_keys k WHERE k.platform = c.platform AND k.comment_id = c.comment_id)"
    " OR EXISTS (SELECT 1 FROM strikes s WHERE s.platform = c.platform AND s.comment_id = c.comment_id)"
    " OR EXISTS (SELECT 1 FROM verdicts v WHERE v.platform = c.platform AND v.comment_id = c.comment_id"
    " AND v.verdict != 'false_positive'))"
)


def _review_refs(store: Store, open_only: bool) -> set[tuple[str, str]]:
    kinds = ", ".join("'" + k + "'" for k in REVIEW_KINDS)
    where = " AND review_status IN ('open', 'acknowledged')" if open_only else ""
    out: set[tuple[str, str]] = set()
    for row in store.db.query(f"SELECT comment_refs FROM alerts WHERE kind IN ({kinds}){where}"):
        out.update((str(p), str(c)) for p, c in json.loads(row["comment_refs"] or "[]"))
    return out


def _chunks(items: list, n: int = _CHUNK) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def plan(store: Store, config: Config, now: datetime) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int]:
    """The comments a purge at ``now`` would purge: ``(unflagged, evidence, kept_open)``
    where the first two are ``(platform, comment_id)`` lists and ``kept_open`` counts old
    comments kept because of an open review item. Reads only."""
    u_cut, e_cut = cutoffs(config, now)
    open_refs = _review_refs(store, open_only=True)
    any_refs = _review_refs(store, open_only=False)
    unflagged, evidence, kept = [], [], 0
    for r in store.db.query(
            f"SELECT c.platform, c.comment_id, c.created_at < ? AS past_evidence, {EVIDENCE_SQL} AS is_evidence "
            "FROM comments c WHERE c.purged_at IS NULL AND "
            "((c.created_at < ? AND c.status = 'assessed') OR c.created_at < ?)",
            [iso(e_cut), iso(u_cut), iso(e_cut)]):
        ref = (r["platform"], r["comment_id"])
        is_evidence = bool(r["is_evidence"]) or ref in any_refs
        if not is_evidence or r["past_evidence"]:
            if ref in open_refs:
                kept += 1
            elif is_evidence:
                evidence.append(ref)
            else:
                unflagged.append(ref)
    return unflagged, evidence, kept


def _redact_evidence(evidence_json: str) -> str:
    items = json.loads(evidence_json or "[]")
    for e in items:
        e["detail"] = PURGED_MARK
        e.pop("span", None)
    return dumps(items)


@dataclass(frozen=True)
class PurgePlan:
    """Everything one purge at ``now`` changes, computed without writing (:func:`plan_purge`).
    ``purge --dry-run`` reports it and the real purge applies exactly it.

    :ivar unflagged, evidence: ``(platform, comment_id)`` of the comments to purge.
    :ivar kept_open_review: old comments kept because of an open review item.
    :ivar versions: ``comment_versions`` rows still holding text or raw JSON among them.
    :ivar alert_ids: review alerts all of whose comments are (or will be) purged, not yet redacted.
    :ivar message_ids: ``messages`` rows (with a body) built from those alerts.
    :ivar author_ids: authors left with no comment keeping content, whose name or handle is set.
    :ivar poll_log_rows: ``poll_log`` rows older than :data:`POLL_LOG_DAYS`.
    """

    unflagged: tuple[tuple[str, str], ...]
    evidence: tuple[tuple[str, str], ...]
    kept_open_review: int
    versions: int
    alert_ids: tuple[int, ...]
    message_ids: tuple[int, ...]
    author_ids: tuple[str, ...]
    poll_log_rows: int


def plan_purge(store: Store, config: Config, now: datetime) -> PurgePlan:
    """What a purge at ``now`` would do, in full (reads only)."""
    unflagged, evidence, kept = plan(store, config, now)
    targets = unflagged + evidence
    target_set = set(targets)
    versions = 0
    authors: set[str] = set()
    for chunk in _chunks(targets):
        for ref in chunk:
            versions += int(store.scalar(
                "SELECT COUNT(*) FROM comment_versions WHERE platform = ? AND comment_id = ? "
                "AND (text IS NOT NULL OR raw IS NOT NULL)", list(ref)) or 0)
            author = store.scalar("SELECT author_id FROM comments WHERE platform = ? AND comment_id = ?", list(ref))
            if author is not None:
                authors.add(author)
    author_ids = []
    for author_id in sorted(authors):
        live = {(r["platform"], r["comment_id"]) for r in store.db.query(
            "SELECT platform, comment_id FROM comments WHERE author_id = ? AND purged_at IS NULL", [author_id])}
        named = store.scalar("SELECT COUNT(*) FROM authors WHERE author_id = ? AND (name != '' OR handle IS NOT NULL)",
                             [author_id])
        if not (live - target_set) and named:
            author_ids.append(author_id)
    alert_ids: list[int] = []
    message_ids: list[int] = []
    if evidence:
        kinds = ", ".join("'" + k + "'" for k in REVIEW_KINDS)
        purged = {(r["platform"], r["comment_id"]) for r in store.db.query(
            "SELECT platform, comment_id FROM comments WHERE purged_at IS NOT NULL")} | target_set
        for a in store.db.query(f"SELECT id, comment_refs, details FROM alerts WHERE kind IN ({kinds})"):
            refs = [(str(p), str(c)) for p, c in json.loads(a["comment_refs"] or "[]")]
            if refs and all(r in purged for r in refs) and json.loads(a["details"] or "{}").get("purged_at") is None:
                alert_ids.append(a["id"])
        if alert_ids:
            wanted = set(alert_ids)
            message_ids = [m["id"] for m in store.db.query("SELECT id, alert_ids FROM messages WHERE body IS NOT NULL")
                           if wanted & set(json.loads(m["alert_ids"] or "[]"))]
    old_polls = int(store.scalar("SELECT COUNT(*) FROM poll_log WHERE finished_at < ?",
                                 [iso(now - timedelta(days=POLL_LOG_DAYS))]) or 0)
    return PurgePlan(tuple(unflagged), tuple(evidence), kept, versions, tuple(alert_ids), tuple(message_ids),
                     tuple(author_ids), old_polls)


def purge(store: Store, config: Config, now: datetime, *, dry_run: bool = False,
          actor: str = "school-monitor") -> PurgeReport:
    """Apply the retention policy at ``now`` (aware UTC) in one transaction.

    The plan (:func:`plan_purge`) is computed once, inside the transaction, and a dry run
    reports that same plan: what ``--dry-run`` says is what the purge then does.

    :param dry_run: count only; nothing is written and nothing audited.
    :param actor: who runs it, for the audit log (the daemon uses ``school-monitor``).
    :returns: the counts (see :class:`PurgeReport`).
    :raises monitor.store.StoreError: the store cannot be written; nothing is purged.
    """
    u_cut, e_cut = cutoffs(config, now)
    now_s = iso(now)
    base = dict(now=now_s, unflagged_cutoff=iso(u_cut), evidence_cutoff=iso(e_cut))

    def report_of(pl: PurgePlan, dry: bool) -> PurgeReport:
        return PurgeReport(**base, dry_run=dry, unflagged_comments=len(pl.unflagged),
                           evidence_comments=len(pl.evidence), kept_open_review=pl.kept_open_review,
                           versions=pl.versions, alerts_redacted=len(pl.alert_ids),
                           messages_redacted=len(pl.message_ids), authors_pseudonymised=len(pl.author_ids),
                           poll_log_rows=pl.poll_log_rows)

    if dry_run:
        return report_of(plan_purge(store, config, now), True)
    previous_secure = store.scalar("PRAGMA secure_delete")
    store.db.execute("PRAGMA secure_delete = ON")
    try:
        with store.transaction():
            pl = plan_purge(store, config, now)
            evidence_refs = set(pl.evidence)
            for p, cid in pl.unflagged + pl.evidence:
                store.purge_comment(p, cid, now, _redact_evidence if (p, cid) in evidence_refs else None)
            for aid in pl.alert_ids:
                store.db.execute("UPDATE alerts SET details = ?, summary = ? WHERE id = ?",
                                 [dumps({"purged_at": now_s}), f"{PURGED_MARK} review item {aid}", aid])
            for mid in pl.message_ids:
                store.db.execute("UPDATE messages SET body = NULL, subject = ? WHERE id = ?", [PURGED_MARK, mid])
            for author_id in pl.author_ids:
                store.db.execute("UPDATE authors SET name = '', handle = NULL WHERE author_id = ?", [author_id])
            store.db.execute("DELETE FROM poll_log WHERE finished_at < ?",
                             [iso(now - timedelta(days=POLL_LOG_DAYS))])
            report = report_of(pl, False)
            details = {k: v for k, v in report.to_dict().items() if k not in ("audit_id", "dry_run")}
            details.update(retention_days=config.storage.retention_days,
                           evidence_years=config.storage.evidence_years)
            audit_id = store.audit(actor, "retention.purge", "comments",
                                   f"retention policy: no key after {config.storage.retention_days} days, "
                                   f"evidence after {config.storage.evidence_years} years", now, details)
            store.set_state("last_purge_at", now_s)
            store.set_state("last_purge", dumps(details))
    finally:
        store.db.execute(f"PRAGMA secure_delete = {int(previous_secure or 0)}")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return PurgeReport(**{**report.to_dict(), "audit_id": audit_id})


def _redact_alerts(store: Store, now_s: str) -> tuple[int, int]:
    """Redact review alerts all of whose comments are purged, and their emails (used by
    :func:`honour_x_deletions`; the retention purge applies its :func:`plan_purge`)."""
    kinds = ", ".join("'" + k + "'" for k in REVIEW_KINDS)
    purged = {(r["platform"], r["comment_id"]) for r in store.db.query(
        "SELECT platform, comment_id FROM comments WHERE purged_at IS NOT NULL")}
    alert_ids = []
    for a in store.db.query(f"SELECT id, kind, comment_refs, details FROM alerts WHERE kind IN ({kinds})"):
        refs = [(str(p), str(c)) for p, c in json.loads(a["comment_refs"] or "[]")]
        if refs and all(r in purged for r in refs) and json.loads(a["details"] or "{}").get("purged_at") is None:
            alert_ids.append(a["id"])
    for aid in alert_ids:
        store.db.execute("UPDATE alerts SET details = ?, summary = ? WHERE id = ?",
                         [dumps({"purged_at": now_s}), f"{PURGED_MARK} review item {aid}", aid])
    messages = 0
    if alert_ids:
        wanted = set(alert_ids)
        for m in list(store.db.query("SELECT id, alert_ids FROM messages WHERE body IS NOT NULL")):
            if wanted & set(json.loads(m["alert_ids"] or "[]")):
                messages += store.db.execute("UPDATE messages SET body = NULL, subject = ? WHERE id = ?",
                                             [PURGED_MARK, m["id"]]).rowcount
    return len(alert_ids), messages


def x_deletion_watch(store: Store, account: str, limit: int = 2000) -> list[str]:
    """The X replies of ``account`` worth checking for deletion: stored, not known to be
    deleted, not purged, and either flagged (:data:`EVIDENCE_SQL`: a policy key, a strike,
    a confirming verdict, ``flagged``) or in an open or acknowledged review item. Newest
    first, at most ``limit`` (the connector checks ``deletion_checks_per_poll`` of them a
    poll). Reads only."""
    open_ids = sorted({c for p, c in _review_refs(store, open_only=True) if p == "twitter"})
    rows = store.db.execute(
        "SELECT c.comment_id FROM comment_state c "
        "WHERE c.platform = 'twitter' AND c.account = ? AND c.deleted_at IS NULL AND c.purged_at IS NULL "
        f"AND ({EVIDENCE_SQL} OR c.comment_id IN (SELECT value FROM json_each(?))) "
        "ORDER BY c.created_at DESC LIMIT ?", [account, json.dumps(open_ids), limit]).fetchall()
    return [r[0] for r in rows]


def honour_x_deletions(store: Store, refs: Iterable[tuple[str, str]], now: datetime,
                       actor: str = "school-monitor") -> int:
    """Purge, at once, stored X posts that X reports deleted (``[storage]
    honour_x_deletions = true``; X's Developer Policy asks that content deleted on X be
    deleted or modified by those who store it). The purge is the retention purge's: text,
    platform data, attachment links and the author's name/handle emptied, the assessment's
    quoted evidence and fully purged review alerts and their emails redacted; hashes,
    keys, strikes, verdicts and the deletion time stay. One ``retention.x_deletion`` audit
    entry names the ids. Call inside the caller's transaction or alone.

    :returns: comments purged.
    """
    targets = [(p, c) for p, c in refs if p == "twitter"]
    targets = [r for r in targets if store.scalar(
        "SELECT 1 FROM comments WHERE platform = ? AND comment_id = ? AND purged_at IS NULL", list(r))]
    if not targets:
        return 0
    now_s = iso(now)
    with store.transaction():
        touched: set[str] = set()
        for p, cid in targets:
            touched.add(store.scalar("SELECT author_id FROM comment_state WHERE platform = ? AND comment_id = ?",
                                     [p, cid]))
            store.purge_comment(p, cid, now, _redact_evidence)
        _redact_alerts(store, now_s)
        for author_id in sorted(a for a in touched if a):
            if not store.scalar("SELECT COUNT(*) FROM comments WHERE author_id = ? AND purged_at IS NULL",
                                [author_id]):
                store.db.execute("UPDATE authors SET name = '', handle = NULL WHERE author_id = ? "
                                 "AND (name != '' OR handle IS NOT NULL)", [author_id])
        store.audit(actor, "retention.x_deletion", "comments",
                    "deleted on X: content purged ([storage] honour_x_deletions = true, X Developer Policy)", now,
                    {"comments": [c for _, c in targets]})
    return len(targets)

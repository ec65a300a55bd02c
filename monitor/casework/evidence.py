"""Evidence that stands up: the store's hash chain, and export bundles for a referral.

**The chain.** Every fact shown about a comment is a record in ``evidence_chain`` (see
:mod:`monitor.chain`): each version (ids, account, times, permalink, post text, hidden
state, the content SHA-256 of :meth:`monitor.domain.Comment.content_sha256`, the raw
payload's SHA-256 :func:`monitor.store.raw_sha256`, the author's name/handle SHA-256), each
assessment with its scores and the record hash of the version it assessed, each verdict,
and the deletion / restore / hide / purge events. Each row's link is the SHA-256 of the
previous link, its kind and its record. :func:`verify_chain` rebuilds every record from the
rows now stored and recomputes every link; an edited field is named (the row's digest,
:func:`monitor.chain.changed_fields`), as are cached ``comment_state`` fields, policy keys
and strikes that differ from the chain, and rows that are not chained. Purging (retention)
empties text, payloads and author names but chains a ``purged`` event that keeps the author
hashes, so a purged store still verifies.

Removing the *last* rows of the chain leaves a shorter chain that is still consistent; to
catch that, every ``evidence check`` and ``evidence export`` records the chain head (row id
and link) in the append-only audit log, and :func:`verify_chain` checks that each recorded
head is still there (an *anchor*). A bundle's manifest also carries the head.

**Bundles.** :func:`export_bundle` writes a zip for the police or a LADO referral:

* ``comments.json``: one record per comment: exact text, times in UTC and in school time,
  permalink, author (id, name, handle, profile link), the school post, the comment replied
  to, attachments, hidden state, first seen, deletion time, purge time, the policy
  keys with their evidence, scores, strikes, verdicts, and the chained records it was
  derived from (``versions`` with their text, ``assessments``, ``verdict_records``,
  ``events``, each with its chain row, previous link and link);
* ``raw/<platform>-<comment_id>-v<version>.json``: each stored platform payload, byte for
  byte (its SHA-256 is the ``raw_sha256`` in the chain);
* ``audit.json``: the audit log entries about these comments, their review items and (for
  an author export) the author: who acknowledged, resolved, hid, blocked or exported, when
  and why (the chain of custody);
* ``summary.html``: a readable summary for a referral;
* ``manifest.json``: SHA-256 and size of every other file, the selection, who exported it
  and when, and the store's chain head and verification result.

:func:`verify_bundle` re-checks a bundle on any machine (no store needed): file hashes
against the manifest, every chained record's link, each version's content, author and raw
payload hashes, and every shown field against :func:`derive_display` of the records; a
bundle whose manifest says the store's chain was broken does not verify. Given the store it
also checks that every link is the store's own. Anyone could
rebuild a consistent forged bundle, so the manifest's own SHA-256 is printed and audited at
export: give it with the bundle (``--manifest-sha256``) and check it.

Errors: :class:`EvidenceError` (nothing selected, unknown comment, unwritable output).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import sqlite3
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from monitor.delivery.alerts import is_web_url
from monitor.config import Config
from monitor.domain import POLICY_KEYS, REVIEW_KINDS, iso, parse_time
from monitor.files import write_private
from monitor import chain
from monitor.chain import GENESIS
from monitor.store import Store, assessment_record_in, raw_sha256, version_record_in

BUNDLE_FORMAT = "school-social-monitor/evidence-bundle"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"


class EvidenceError(Exception):
    """An export cannot be made: no selection, nothing matched, an unknown comment, or the
    output cannot be written. The message names the problem."""


# --------------------------------------------------------------------------- hashing helpers


def content_sha256(platform: str, comment_id: str, post_id: str, parent_id: str | None, author_id: str,
                   text: str, attachments: Iterable[Mapping[str, Any]]) -> str:
    """The canonical content SHA-256 of one comment version, computed exactly as
    :meth:`monitor.domain.Comment.content_sha256` from the stored fields (``attachments``
    are stored dicts ``{"type", "url"}``; a test pins the two together)."""
    canonical = json.dumps(
        {"platform": platform, "comment_id": comment_id, "post_id": post_id, "parent_id": parent_id,
         "author_id": author_id, "text": text,
         "attachments": [[a.get("type", "other"), a.get("url")] for a in attachments]},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- chain


@dataclass(frozen=True)
class ChainProblem:
    """One problem found in the store.

    :ivar table: the table where the edit shows (``evidence_chain``, ``comment_versions``,
        ``comment_state``, ``assessments``, ``scores``, ``verdicts``, ``comment_keys``,
        ``strikes``, or ``audit_log`` for anchors).
    :ivar row_id: the ``evidence_chain`` row (or the audit row of an anchor), when it applies.
    :ivar ref: ``PLATFORM:COMMENT_ID`` (version appended as ``#vN``), when it applies.
    :ivar problem: what is wrong, in words (naming the field).
    :ivar field: the field that changed (e.g. ``created_at``, ``assessment.categories``),
        when it can be named.
    """

    table: str
    row_id: int | None
    ref: str | None
    problem: str
    field: str | None = None

    def __str__(self) -> str:
        where = self.table + (f" row {self.row_id}" if self.row_id is not None else "")
        what = f"comment {self.ref}: " if self.ref else ""
        return f"{what}{self.problem} [{where}]"


@dataclass(frozen=True)
class ChainReport:
    """The result of :func:`verify_chain`.

    :ivar rows: ``evidence_chain`` rows checked; ``versions`` of them comment versions.
    :ivar comments: comments (``comment_state`` rows) checked.
    :ivar purged_versions: versions whose text and payload were purged (hashes checked only).
    :ivar head: the last chain link (``GENESIS`` for an empty store); ``head_id`` its row.
    :ivar anchors: recorded heads checked (from the audit log).
    :ivar problems: every problem found, in chain order; ``problems[0]`` is the first.
    """

    rows: int
    comments: int
    purged_versions: int
    head: str
    head_id: int | None
    anchors: int
    problems: tuple[ChainProblem, ...] = ()
    versions: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems

    @property
    def first_broken(self) -> ChainProblem | None:
        """The first problem (lowest row), or None."""
        return self.problems[0] if self.problems else None


#: The field an event row records (named when its row was edited).
EVENT_FIELD = {"deleted": "deleted_at", "restored": "deleted_at", "hidden": "is_hidden", "purged": "purged_at"}

_CHAIN_SQL = """
SELECT e.id, e.kind, e.platform, e.comment_id, e.version, e.at, e.details, e.chain,
       v.id AS v_id, v.account, v.author_name, v.author_handle, v.text, v.created_at, v.permalink, v.attachments,
       v.raw, v.post_text, v.is_hidden, v.sha256, v.raw_sha256, v.seen_at, v.digest AS v_digest,
       a.platform AS a_platform, a.categories, a.evidence, a.escalate, a.strikes, a.needs_review, a.review_reasons,
       a.counted, a.assessed_at, a.digest AS a_digest,
       sc.model, sc.model_version, sc."values", sc.language, sc.readable, sc.scored_at,
       d.id AS d_id, d.alert_id, d.verdict, d.keys, d.by, d.at AS d_at, d.note, d.digest AS d_digest
FROM evidence_chain e
LEFT JOIN comment_versions v ON e.kind = 'version' AND v.platform = e.platform AND v.comment_id = e.comment_id
     AND v.version = e.version
LEFT JOIN assessments a ON e.kind IN ('assessment', 'redaction') AND a.platform = e.platform
     AND a.comment_id = e.comment_id AND a.version = e.version
LEFT JOIN scores sc ON a.platform IS NOT NULL AND sc.platform = e.platform AND sc.comment_id = e.comment_id
     AND sc.version = e.version AND sc.model = json_extract(e.details, '$.model')
LEFT JOIN verdicts d ON e.kind = 'verdict' AND d.id = json_extract(e.details, '$.verdict_id')
ORDER BY e.id"""


def _fields_text(fields: list[str], prefix: str = "") -> str:
    return ", ".join(prefix + f for f in fields)


def verify_chain(store: Store, *, check_anchors: bool = True) -> ChainReport:
    """Recompute the whole evidence chain of ``store`` and check every displayed field.

    In chain order, each ``evidence_chain`` row's link must equal
    :func:`monitor.chain.link` of the previous row's link and the SHA-256 of its record as
    rebuilt from the rows now stored (a version from ``comment_versions`` and the
    comment's ids, an assessment from ``assessments`` + ``scores``, a verdict from
    ``verdicts``, an event from the chain row). When a link differs, the stored digest
    names the field. Unless purged, each version's text and attachments hash to its
    ``sha256`` and its payload to ``raw_sha256``; a version without text needs a chained
    ``purged`` event. Then every cached ``comment_state`` field (``version``, ``account``,
    ``created_at``, ``first_seen``, ``deleted_at``, ``is_hidden``, ``purged_at``) must equal
    what the chain says, ``comment_keys`` and ``strikes`` must be those of the chained
    assessments, and every version, assessment, score and verdict row must be chained.
    With ``check_anchors``, each chain head recorded in the audit log must still be there.

    Reads only; streams the chain. Memory grows with the number of comments and versions.
    """
    db = store.db
    problems: list[ChainProblem] = []
    state = {(r["platform"], r["comment_id"]): r for r in db.query("SELECT * FROM comment_state")}
    purge_authors: dict[tuple[str, str], dict[str, str]] = {}
    for r in db.query("SELECT platform, comment_id, details FROM evidence_chain WHERE kind = 'purged' ORDER BY id"):
        try:
            got = json.loads(r["details"]).get("author_sha256", {})
        except (ValueError, AttributeError):
            got = {}
        purge_authors.setdefault((r["platform"], r["comment_id"]), {}).update(got if isinstance(got, dict) else {})
    latest_assessment = {(r[0], r[1], r[2]): r[3] for r in db.execute(
        "SELECT platform, comment_id, version, MAX(id) FROM evidence_chain WHERE kind IN ('assessment', 'redaction') "
        "GROUP BY platform, comment_id, version HAVING COUNT(*) > 1")}
    derived: dict[tuple[str, str], dict[str, Any]] = {}
    version_hashes: dict[tuple[str, str, int], str] = {}
    prev = GENESIS
    rows = versions = purged = 0
    head_id: int | None = None
    cursor = db.conn.cursor()
    cursor.row_factory = sqlite3.Row  # C rows: the chain is the largest table read here
    for e in cursor.execute(_CHAIN_SQL):
        rows += 1
        kind, p, cid = e["kind"], e["platform"], e["comment_id"]
        key = (p, cid)
        ref = f"{p}:{cid}" + (f"#v{e['version']}" if e["version"] is not None else "")

        def bad(table: str, msg: str, field: str | None = None, row_id: int | None = e["id"]) -> None:
            problems.append(ChainProblem(table, row_id, ref, msg, field))

        st = state.get(key)
        d = derived.setdefault(key, {"version": 0, "keys": set(), "strikes": set(), "deleted_at": None,
                                     "is_hidden": None, "purged_at": None, "first_seen": None, "latest": None,
                                     "redacted": False})
        if st is None:
            bad("comment_state", "its comment_state row was deleted from the store")
        record: dict | None = None
        reported: set[str] = set()
        fields: tuple[str, ...] = ()
        digest_values: dict | None = None
        stored_digest = None
        record_hash: str | None = None
        field_prefix = ""
        table = "evidence_chain"
        if kind == "version":
            versions += 1
            if e["v_id"] is None:
                bad("comment_versions", "the version row was removed from comment_versions", "version")
            elif st is not None:
                text_held = e["text"] is not None
                if text_held:
                    author_hash = chain.author_sha256(e["author_name"], e["author_handle"])
                else:
                    purged += 1
                    author_hash = purge_authors.get(key, {}).get(str(e["version"]))
                    if author_hash is None:
                        bad("comment_versions", "text was removed but the comment was never purged (no chained "
                            "purge event)", "text")
                        author_hash = ""
                record = chain.version_record(e, post_id=st["post_id"], parent_id=st["parent_id"],
                                              author_id=st["author_id"], author_hash=author_hash)
                fields = chain.VERSION_FIELDS + chain.VERSION_PURGEABLE
                digest_values = _LazyVersionValues(record, e)
                stored_digest, table = e["v_digest"], "comment_versions"
                if text_held:
                    try:
                        atts = json.loads(e["attachments"] or "[]")
                    except ValueError:
                        atts = None
                    sha = None if atts is None else content_sha256(p, cid, st["post_id"], st["parent_id"],
                                                                  st["author_id"], e["text"], atts)
                    if sha != e["sha256"]:
                        named = [f for f in chain.changed_fields(stored_digest, digest_values, fields)
                                 if f in ("text", "attachments", "sha256")] or ["text or attachments"]
                        reported.update(named)
                        bad("comment_versions", f"{_fields_text(named)} edited: the content no longer matches its "
                            "SHA-256", named[0])
                if e["raw"] is not None and raw_sha256(e["raw"]) != e["raw_sha256"]:
                    bad("comment_versions", "raw edited: the platform payload no longer matches raw_sha256", "raw")
                version_hashes[(p, cid, e["version"])] = chain.record_sha256(record)
                if e["version"] > d["version"]:
                    d["version"] = e["version"]
                    d["latest"] = (e["account"], e["created_at"])
                if e["version"] == 1:
                    d["first_seen"] = e["seen_at"]
                d["deleted_at"] = None
                d["is_hidden"] = None if e["is_hidden"] is None else bool(e["is_hidden"])
        elif kind in ("assessment", "redaction"):
            k3 = (p, cid, e["version"])
            details = _loads(e["details"])
            superseded = k3 in latest_assessment and latest_assessment[k3] != e["id"]
            if superseded:
                record_hash = details.get("record_sha256")
                if not record_hash:
                    bad("evidence_chain", "a replaced assessment lost its record SHA-256", "assessment")
                    record_hash = ""
                d["keys"].update(details.get("categories") or [])
                d["strikes"].update(details.get("strikes") or [])
            elif e["a_platform"] is None:
                bad("assessments", "the assessment row was removed from assessments", "assessment")
            else:
                vh = version_hashes.get(k3)
                if vh is None:
                    vrec = version_record_in(db, p, cid, e["version"], purge_authors.get(key))
                    vh = chain.record_sha256(vrec) if vrec else ""
                a = {"platform": p, "comment_id": cid, "version": e["version"], **{
                    c: e[c] for c in ("categories", "evidence", "escalate", "strikes", "needs_review",
                                      "review_reasons", "counted", "assessed_at")}}
                s = None if e["model"] is None else {c: e[c] for c in ("model", "model_version", "values", "language",
                                                                      "readable", "scored_at")}
                try:
                    record = chain.assessment_record(a, s, vh)
                except (ValueError, TypeError):
                    bad("assessments", "the assessment row holds malformed JSON: edited", "assessment")
                    record_hash = ""
                else:
                    fields, digest_values, stored_digest = chain.ASSESSMENT_FIELDS, record, e["a_digest"]
                    table, field_prefix = "assessments", "assessment."
                    d["keys"].update(record["categories"] or [])
                    d["strikes"].update(record["strikes"] or [])
                    d.setdefault("assessed", set()).add(_assessed(record))
            if kind == "redaction":
                d["redacted"] = True
        elif kind == "verdict":
            if e["d_id"] is None:
                bad("verdicts", "the verdict row was removed from verdicts", "verdict")
            else:
                record = chain.verdict_record({"id": e["d_id"], "platform": p, "comment_id": cid,
                                               "alert_id": e["alert_id"], "verdict": e["verdict"],
                                               "keys": e["keys"], "by": e["by"], "at": e["d_at"], "note": e["note"]})
                fields, digest_values, stored_digest = chain.VERDICT_FIELDS, record, e["d_digest"]
                table, field_prefix = "verdicts", "verdict."
        elif kind in chain.EVENT_KINDS:
            details = _loads(e["details"])
            record = chain.event_record(kind, p, cid, e["at"], details)
            if kind == "deleted":
                d["deleted_at"] = e["at"]
            elif kind == "restored":
                d["deleted_at"] = None
            elif kind == "hidden":
                d["is_hidden"] = bool(details.get("hidden"))
            elif kind == "purged":
                d["purged_at"] = e["at"]
        else:
            bad("evidence_chain", f"unknown record kind {kind!r}: the chain row was edited", "kind")
        if record is not None:
            record_hash = chain.record_sha256(record)
        if record_hash is not None and chain.link(prev, kind, record_hash) != e["chain"]:
            named = chain.changed_fields(stored_digest, digest_values or {}, fields) if digest_values else []
            if "author_sha256" in named and {"author_name", "author_handle"} & set(named):
                named.remove("author_sha256")  # computed from the name and handle, not stored
            if named and set(named) <= reported:
                pass  # already named above (the content check)
            elif named == ["version_record_sha256"]:
                bad(table, f"assessment.version_record_sha256: the version it assessed (v{e['version']}) was "
                    "edited since", "assessment.version_record_sha256")
            elif named:
                bad(table, f"{_fields_text(named, field_prefix)} edited: no longer matches its chained record",
                    field_prefix + named[0])
            elif kind in EVENT_FIELD:
                bad("evidence_chain", f"{EVENT_FIELD[kind]} edited: the chained {kind} event was changed, or a row "
                    "was removed, inserted or reordered before it", EVENT_FIELD[kind])
            else:
                bad("evidence_chain", "chain link does not match: this row or its record was edited, or a row was "
                    "removed, inserted or reordered before it")
        prev = e["chain"]
        head_id = e["id"]
    # --- cached state, keys and strikes against the chain ----------------------------------------------------
    for key, st in state.items():
        ref = f"{key[0]}:{key[1]}"
        d = derived.get(key)
        if d is None or not d["version"]:
            problems.append(ChainProblem("comment_state", None, ref, "no chained version: its history was deleted"))
            continue
        account, created_at = d["latest"]
        hidden = None if st["is_hidden"] is None else bool(st["is_hidden"])
        for field, have, want in (("version", st["version"], d["version"]), ("account", st["account"], account),
                                  ("created_at", st["created_at"], created_at),
                                  ("first_seen", st["first_seen"], d["first_seen"]),
                                  ("deleted_at", st["deleted_at"], d["deleted_at"]),
                                  ("is_hidden", hidden, d["is_hidden"]),
                                  ("purged_at", st["purged_at"], d["purged_at"])):
            if have != want:
                problems.append(ChainProblem("comment_state", None, ref,
                                             f"{field} edited: {have!r} where the chain says {want!r}", field))
        if d["redacted"] and d["purged_at"] is None:
            problems.append(ChainProblem("assessments", None, ref, "assessment re-recorded as redacted but the "
                                         "comment was never purged", "assessment"))
    stored_keys: dict[tuple[str, str], set[str]] = {}
    for r in db.query("SELECT platform, comment_id, key, created_at FROM comment_keys"):
        key = (r["platform"], r["comment_id"])
        stored_keys.setdefault(key, set()).add(r["key"])
        st = state.get(key)
        if st is not None and r["created_at"] != st["created_at"]:
            problems.append(ChainProblem("comment_keys", None, f"{key[0]}:{key[1]}",
                                         f"keys edited: created_at of key {r['key']} is {r['created_at']!r}, the "
                                         f"comment's is {st['created_at']!r}", "keys"))
    stored_strikes: dict[tuple[str, str], set[str]] = {}
    for r in db.query("SELECT platform, comment_id, key, author_id, at FROM strikes"):
        key = (r["platform"], r["comment_id"])
        stored_strikes.setdefault(key, set()).add(r["key"])
        st = state.get(key)
        if st is not None and (r["at"], r["author_id"]) != (st["created_at"], st["author_id"]):
            problems.append(ChainProblem("strikes", None, f"{key[0]}:{key[1]}",
                                         f"strikes edited: strike {r['key']} is not the comment's (time or author)",
                                         "strikes"))
    for key in sorted(set(stored_keys) | {k for k, d in derived.items() if d["keys"]}):
        have, want = stored_keys.get(key, set()), derived.get(key, {}).get("keys", set())
        if have != want:
            problems.append(ChainProblem("comment_keys", None, f"{key[0]}:{key[1]}",
                                         f"keys edited: stored {sorted(have)} where the chained assessments give "
                                         f"{sorted(want)}", "keys"))
    for key in sorted(set(stored_strikes) | {k for k, d in derived.items() if d["strikes"]}):
        have, want = stored_strikes.get(key, set()), derived.get(key, {}).get("strikes", set())
        if have != want:
            problems.append(ChainProblem("strikes", None, f"{key[0]}:{key[1]}",
                                         f"strikes edited: stored {sorted(have)} where the chained assessments give "
                                         f"{sorted(want)}", "strikes"))
    problems += _check_alerts(db, derived)
    # --- rows nobody chained -----------------------------------------------------------------------------------
    for table, sql, field in (
        ("comment_versions", "SELECT platform, comment_id, version FROM comment_versions x WHERE NOT EXISTS "
         "(SELECT 1 FROM evidence_chain e WHERE e.kind = 'version' AND e.platform = x.platform "
         "AND e.comment_id = x.comment_id AND e.version = x.version)", "version"),
        ("assessments", "SELECT platform, comment_id, version FROM assessments x WHERE NOT EXISTS "
         "(SELECT 1 FROM evidence_chain e WHERE e.kind IN ('assessment', 'redaction') AND e.platform = x.platform "
         "AND e.comment_id = x.comment_id AND e.version = x.version)", "assessment"),
        ("scores", "SELECT platform, comment_id, version FROM scores x WHERE NOT EXISTS "
         "(SELECT 1 FROM evidence_chain e WHERE e.kind IN ('assessment', 'redaction') AND e.platform = x.platform "
         "AND e.comment_id = x.comment_id AND e.version = x.version "
         "AND json_extract(e.details, '$.model') = x.model)", "scores"),
        ("verdicts", "SELECT platform, comment_id, NULL FROM verdicts x WHERE NOT EXISTS "
         "(SELECT 1 FROM evidence_chain e WHERE e.kind = 'verdict' AND e.platform = x.platform "
         "AND e.comment_id = x.comment_id AND json_extract(e.details, '$.verdict_id') = x.id)", "verdict"),
    ):
        for p, cid, version in db.execute(sql):
            problems.append(ChainProblem(table, None, f"{p}:{cid}" + (f"#v{version}" if version else ""),
                                         f"{field} added: a {table} row that is not in the chain", field))
    anchors = 0
    if check_anchors:
        for a in db.query("SELECT id, at, action, details FROM audit_log "
                          "WHERE action IN ('evidence.check', 'evidence.export', 'evidence.migrate') ORDER BY id"):
            d = _loads(a["details"])
            if not d.get("head_id") or d.get("chain_table") != "evidence_chain":
                continue  # heads recorded before m006_evidence_chain point into the old chain
            anchors += 1
            got = store.scalar("SELECT chain FROM evidence_chain WHERE id = ?", [d["head_id"]])
            if got != d.get("head"):
                problems.append(ChainProblem(
                    "audit_log", a["id"], None,
                    f"chain head recorded by {a['action']} at {a['at']} (row {d['head_id']}) is no longer in the "
                    "chain: rows were removed or rewritten"))
    return ChainReport(rows=rows, comments=len(state), purged_versions=purged, head=prev, head_id=head_id,
                       anchors=anchors, problems=tuple(problems), versions=versions)


_QUOTED = ("categories", "escalate", "strikes", "needs_review")


def _assessed(record: Mapping[str, Any]) -> tuple:
    """What an alert may quote of an assessment (:data:`_QUOTED`; a field not quoted is None)."""
    return tuple(None if k not in record else tuple(record[k] or ()) if k in ("categories", "strikes")
                 else bool(record[k]) for k in _QUOTED)


def _quotes(quoted: tuple, chained: Iterable[tuple]) -> bool:
    """True when some chained assessment has every field the alert quotes."""
    return any(all(q is None or q == c for q, c in zip(quoted, rec)) for rec in chained)


#: Fields of an alert's ``details.comment`` compared with the comment's chained versions
#: (the ones a purge removes are skipped for purged versions).
_ALERT_COMMENT_FIELDS = ("account", "post_id", "parent_id", "author_id", "author_name", "author_handle", "text",
                         "created_at", "permalink", "post_text", "attachments")
_PURGED_FIELDS = ("author_name", "author_handle", "text", "attachments")


def _check_alerts(db: Any, derived: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[ChainProblem]:
    """What alerts (emails, the review queue, the weekly report's escalation list) show of
    a comment must be what the chain holds: each field of ``details.comment`` equals that
    field of one of the comment's chained versions, ``details.assessment`` is one of its
    chained assessments, quoted strikes are chained strikes with a chained text and link,
    and the alert's categories are chained keys of its comments."""
    problems: list[ChainProblem] = []
    versions: dict[tuple[str, str], list[dict]] = {}

    def shown(key: tuple[str, str]) -> list[dict]:
        if key not in versions:
            rows = []
            for v in db.query("SELECT v.*, s.post_id, s.parent_id, s.author_id FROM comment_versions v "
                              "JOIN comment_state s ON s.platform = v.platform AND s.comment_id = v.comment_id "
                              "WHERE v.platform = ? AND v.comment_id = ? ORDER BY v.version", list(key)):
                row = {f: v[f] for f in _ALERT_COMMENT_FIELDS}
                row["attachments"] = _loads_list(v["attachments"])
                if v["text"] is None:
                    for f in _PURGED_FIELDS:
                        row.pop(f)
                rows.append(row)
            versions[key] = rows
        return versions[key]

    for a in db.query("SELECT id, kind, comment_refs, categories, details FROM alerts ORDER BY id"):
        details = _loads(a["details"])
        refs = [(str(p), str(c)) for p, c in _loads_list(a["comment_refs"]) if p and c] \
            if isinstance(_loads_list(a["comment_refs"]), list) else []
        c = details.get("comment")

        def bad(ref: str, what: str, field: str) -> None:
            problems.append(ChainProblem("alerts", None, ref, f"{field} edited in alert {a['id']} ({a['kind']}): "
                                                               f"{what}", field))

        if isinstance(c, dict) and c.get("platform") and c.get("comment_id"):
            key = (str(c["platform"]), str(c["comment_id"]))
            ref = f"{key[0]}:{key[1]}"
            candidates = shown(key)
            asked = [f for f in _ALERT_COMMENT_FIELDS if f in c]
            if candidates and asked:
                misses = [[f for f in asked if f in v and v[f] != c[f]] for v in candidates]
                best = min(misses, key=len)
                for f in best:
                    bad(ref, "differs from every chained version of the comment", f"alert.{f}")
            assessed = derived.get(key, {}).get("assessed")
            quoted = details.get("assessment")
            if isinstance(quoted, dict) and assessed is not None and not _quotes(_assessed(quoted), assessed):
                bad(ref, "the assessment it quotes is not a chained assessment of the comment", "alert.assessment")
        for st in details.get("strikes") or []:
            if not isinstance(st, dict) or not st.get("platform") or not st.get("comment_id"):
                continue
            key = (str(st["platform"]), str(st["comment_id"]))
            ref = f"{key[0]}:{key[1]}"
            if st.get("key") and st["key"] not in derived.get(key, {}).get("strikes", set()):
                bad(ref, f"strike {st['key']} is not a chained strike of the comment", "alert.strikes")
            for f in ("text", "permalink"):
                if st.get(f) not in (None, "...") and all(v.get(f, st[f]) != st[f] for v in shown(key)):
                    bad(ref, f"the quoted strike's {f} is not one of the comment's chained versions", f"alert.strikes.{f}")
        cats = set(_loads_list(a["categories"]))
        keys: set[str] = set()
        for key in refs:
            keys |= set(derived.get(key, {}).get("keys", set()))
        if refs and cats - keys:
            bad(f"{refs[0][0]}:{refs[0][1]}", f"categories {sorted(cats - keys)} are not chained keys of its "
                "comments", "alert.categories")
    return problems


class _LazyVersionValues(dict):
    """A version's digest values (:func:`monitor.chain.version_digest_values`), built only
    when a field must be named (most rows verify and never need them)."""

    def __init__(self, record: dict, row: Mapping[str, Any]):
        super().__init__()
        self._args: tuple | None = (record, row)

    def _fill(self) -> None:
        if self._args is not None:
            record, row = self._args
            self._args = None
            row = {k: row[k] for k in chain.VERSION_PURGEABLE}
            try:
                self.update(chain.version_digest_values(record, row))
            except ValueError:  # attachments no longer JSON
                self.update({**record, **{k: v for k, v in row.items() if v is not None}, "attachments": None})

    def __contains__(self, key: object) -> bool:
        self._fill()
        return super().__contains__(key)

    def __getitem__(self, key: str) -> Any:
        self._fill()
        return super().__getitem__(key)

    def __bool__(self) -> bool:
        return True


def _loads(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def record_check(store: Store, report: ChainReport, *, actor: str, now: datetime) -> int:
    """Audit an ``evidence check`` (``evidence.check``), recording the chain head as an
    anchor for later checks. Returns the audit row id."""
    with store.transaction():
        return store.audit(actor, "evidence.check", "evidence_chain",
                           "chain verified" if report.ok else f"{len(report.problems)} problem(s)", now,
                           {"ok": report.ok, "rows": report.rows, "head": report.head, "head_id": report.head_id,
                            "chain_table": "evidence_chain", "problems": [str(p) for p in report.problems[:20]]})


# --------------------------------------------------------------------------- related rows


def review_alerts_about(store: Store, refs: Iterable[tuple[str, str]],
                        author_ids: Iterable[str] = ()) -> list[dict]:
    """Review items (``alerts`` rows of a review kind, JSON columns decoded) about any of
    the comments ``refs`` or the authors ``author_ids``, oldest first."""
    refs, authors = set(refs), set(author_ids)
    kinds = ", ".join("'" + k + "'" for k in REVIEW_KINDS)
    out = []
    for a in store.db.query(f"SELECT * FROM alerts WHERE kind IN ({kinds}) ORDER BY id"):
        a = dict(a)
        for col in ("comment_refs", "categories", "details"):
            a[col] = json.loads(a[col] or ("{}" if col == "details" else "[]"))
        if a["author_id"] in authors or any((str(p), str(c)) in refs for p, c in a["comment_refs"]):
            out.append(a)
    return out


def audit_entries_about(store: Store, refs: Iterable[tuple[str, str]], alert_ids: Iterable[int],
                        author_ids: Iterable[str] = ()) -> list[dict]:
    """Audit log entries (``details`` decoded) whose target is one of the comments
    (``PLATFORM:ID``), review items (``alert:N``) or authors, or whose details name them
    (author ids and comment ids matched as JSON strings), oldest first."""
    refs, alert_ids, authors = set(refs), set(alert_ids), set(author_ids)
    targets = {*(f"{p}:{c}" for p, c in refs), *(f"alert:{i}" for i in alert_ids), *authors}
    needles = [json.dumps(a) for a in authors] + [json.dumps(c) for _, c in refs]
    out = []
    for e in store.db.query("SELECT * FROM audit_log ORDER BY id"):
        e = dict(e)
        details = e["details"] or "{}"
        e["details"] = json.loads(details)
        if e["target"] in targets or any(n in details for n in needles) or \
                (isinstance(e["details"], dict) and e["details"].get("alert_id") in alert_ids):
            out.append(e)
    return out


# --------------------------------------------------------------------------- export


def school_time(value: str | None, tz: ZoneInfo) -> str | None:
    """An ISO UTC text as school local time, e.g. ``2026-09-07 15:58:26 BST``."""
    if not value:
        return None
    return parse_time(value).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def _profile(platform: str, author_id: str, handle: str | None) -> str | None:
    native = author_id.split(":", 1)[-1]
    if not native:
        return None
    if platform == "facebook":
        return f"https://www.facebook.com/{native}"
    if platform == "instagram":
        return f"https://www.instagram.com/{handle}/" if handle else None
    return f"https://x.com/{handle}" if handle else f"https://x.com/i/user/{native}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def raw_name(platform: str, comment_id: str, version: int) -> str:
    """Bundle path of a version's raw payload."""
    return f"raw/{_safe(platform)}-{_safe(comment_id)}-v{version}.json"


def _selection_rows(store: Store, author_id: str | None, comment_ref: tuple[str, str] | None,
                    since: datetime | None) -> list[dict]:
    if comment_ref is not None:
        row = store.one("SELECT * FROM comments WHERE platform = ? AND comment_id = ?", list(comment_ref))
        if row is None:
            raise EvidenceError(f"no stored comment {comment_ref[0]}:{comment_ref[1]}")
        return [row]
    where, params = [], []
    if author_id is not None:
        where.append("author_id = ?")
        params.append(author_id)
    if since is not None:
        where.append("created_at >= ?")
        params.append(iso(since))
    if author_id is None:
        # --since alone exports flagged evidence only (data minimisation).
        where.append("(flagged = 1 OR EXISTS (SELECT 1 FROM comment_keys k WHERE k.platform = comments.platform "
                     "AND k.comment_id = comments.comment_id) OR EXISTS (SELECT 1 FROM strikes s WHERE "
                     "s.platform = comments.platform AND s.comment_id = comments.comment_id))")
    return list(store.db.query(f"SELECT * FROM comments WHERE {' AND '.join(where)} "
                               "ORDER BY created_at, platform, comment_id", params))


def comment_record(store: Store, row: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The bundle / SAR record of one comment (a ``comments`` row; see the module docstring).

    Everything shown is taken from the comment's chained records (``versions``,
    ``assessments``, ``verdicts``, ``events``, each with its chain row and links) by
    :func:`derive_display`, so :func:`verify_bundle` can recompute it; only the school
    post's own time and link, and the comment replied to, are read from the store as is."""
    p, cid = row["platform"], row["comment_id"]
    st = store.one("SELECT * FROM comment_state WHERE platform = ? AND comment_id = ?", [p, cid])
    entries = list(store.db.query(
        "SELECT e.*, (SELECT x.chain FROM evidence_chain x WHERE x.id < e.id ORDER BY x.id DESC LIMIT 1) AS prev "
        "FROM evidence_chain e WHERE e.platform = ? AND e.comment_id = ? ORDER BY e.id", [p, cid]))
    purge_authors: dict[str, str] = {}
    for e in entries:
        if e["kind"] == "purged":
            purge_authors.update(_loads(e["details"]).get("author_sha256", {}))
    latest_assessment: dict[int, int] = {}
    for e in entries:
        if e["kind"] in ("assessment", "redaction"):
            latest_assessment[e["version"]] = e["id"]
    versions, assessments, verdicts, events = [], [], [], []
    for e in entries:
        link = {"kind": e["kind"], "chain_row": e["id"], "prev_chain": e["prev"] or GENESIS, "chain": e["chain"]}
        if e["kind"] == "version":
            v = store.one("SELECT * FROM comment_versions WHERE platform = ? AND comment_id = ? AND version = ?",
                          [p, cid, e["version"]])
            if v is None:
                continue
            author_hash = (chain.author_sha256(v["author_name"], v["author_handle"]) if v["text"] is not None
                           else purge_authors.get(str(v["version"]), ""))
            record = chain.version_record(v, post_id=st["post_id"], parent_id=st["parent_id"],
                                          author_id=st["author_id"], author_hash=author_hash)
            versions.append({
                **link, "version": v["version"], "text": v["text"], "attachments": _loads_list(v["attachments"]),
                "author_name": v["author_name"], "author_handle": v["author_handle"], "seen_at_utc": v["seen_at"],
                "seen_at_school": school_time(v["seen_at"], tz), "sha256": v["sha256"], "raw_sha256": v["raw_sha256"],
                "raw_file": raw_name(p, cid, v["version"]) if v["raw"] is not None else None, "record": record})
        elif e["kind"] in ("assessment", "redaction"):
            if latest_assessment.get(e["version"]) != e["id"]:
                assessments.append({**link, "version": e["version"], "record": None,
                                    "record_sha256": _loads(e["details"]).get("record_sha256"),
                                    "categories": _loads(e["details"]).get("categories") or [],
                                    "strikes": _loads(e["details"]).get("strikes") or []})
                continue
            a = store.one("SELECT * FROM assessments WHERE platform = ? AND comment_id = ? AND version = ?",
                          [p, cid, e["version"]])
            if a is None:
                continue
            record = assessment_record_in(store.db, a, _loads(e["details"]).get("model"), purge_authors or None)
            assessments.append({**link, "version": e["version"], "record": record})
        elif e["kind"] == "verdict":
            d = store.one("SELECT * FROM verdicts WHERE id = ?", [_loads(e["details"]).get("verdict_id")])
            if d is not None:
                verdicts.append({**link, "record": chain.verdict_record(d)})
        else:
            events.append({**link, "at_utc": e["at"], "details": _loads(e["details"])})
    post = store.one("SELECT post_id, text, created_at, permalink FROM posts WHERE platform = ? AND post_id = ?",
                     [p, row["post_id"]])
    parent = None
    if row["parent_id"]:
        pr = store.one("SELECT comment_id, author_id, author_name, text, created_at, permalink FROM comments "
                       "WHERE platform = ? AND comment_id = ?", [p, row["parent_id"]])
        parent = dict(pr) if pr else {"comment_id": row["parent_id"]}
    out: dict[str, Any] = {"platform": p, "comment_id": cid, "versions": versions, "assessments": assessments,
                           "verdict_records": verdicts, "events": events}
    out.update(derive_display(out, tz))
    out["post"].update({"created_at_utc": (post or {}).get("created_at"), "permalink": (post or {}).get("permalink")})
    if out["post"]["text"] is None:
        out["post"]["text"] = (post or {}).get("text")
    out["in_reply_to"] = parent
    return out


def _loads_list(text: str | None) -> list:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def derive_display(record: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """What a bundle record shows, derived from its chained records only (pure): the
    latest version's text, author, times, permalink, post text; ``first_seen`` (version 1),
    ``deleted_at``, ``is_hidden`` and ``purged_at`` from the versions and events in chain
    order; the keys and strikes of every chained assessment; the latest assessment and
    the scores; the verdicts. ``record`` holds ``platform``, ``comment_id``, ``versions``,
    ``assessments``, ``verdict_records`` and ``events`` as :func:`comment_record` writes them.

    :raises KeyError, IndexError: a record without versions or with missing fields.
    """
    p = record["platform"]
    versions = record["versions"]
    last = versions[-1]
    rec = last["record"]
    timeline = sorted([*((v["chain_row"], "version", v) for v in versions),
                       *((e["chain_row"], e["kind"], e) for e in record["events"])], key=lambda t: t[0])
    deleted_at = purged_at = None
    hidden: bool | None = None
    for _, kind, item in timeline:
        if kind == "version":
            deleted_at, hidden = None, item["record"]["is_hidden"]
        elif kind == "deleted":
            deleted_at = item["at_utc"]
        elif kind == "restored":
            deleted_at = None
        elif kind == "hidden":
            hidden = bool(item["details"].get("hidden"))
        elif kind == "purged":
            purged_at = item["at_utc"]
    keys: set[str] = set()
    strikes: set[str] = set()
    current: dict | None = None
    scores = []
    for a in record["assessments"]:
        r = a["record"]
        if r is None:
            keys.update(a.get("categories") or [])
            strikes.update(a.get("strikes") or [])
            continue
        keys.update(r["categories"] or [])
        strikes.update(r["strikes"] or [])
        if current is None or (r["version"], a["chain_row"]) >= (current["version"], current["_row"]):
            current = {**r, "_row": a["chain_row"]}
        if r["model"] is not None:
            scores.append({"version": r["version"], "model": r["model"], "model_version": r["model_version"],
                           "values": r["score_values"], "language": r["language"], "readable": r["readable"],
                           "scored_at_utc": r["scored_at"]})
    order = list(POLICY_KEYS)
    sorted_keys = sorted(keys, key=lambda k: (order.index(k) if k in order else 99, k))
    first = next((v for v in versions if v["version"] == 1), None)
    created = rec["created_at"]
    return {
        "account": rec["account"],
        "post": {"post_id": rec["post_id"], "text": rec["post_text"]},
        "author": {"author_id": rec["author_id"], "name": last["author_name"] if last["text"] is not None else "",
                   "handle": last["author_handle"], "profile_url": _profile(p, rec["author_id"], last["author_handle"])},
        "text": last["text"], "attachments": last["attachments"] if last["text"] is not None else [],
        "created_at_utc": created, "created_at_school": school_time(created, tz), "permalink": rec["permalink"],
        "is_hidden": hidden, "first_seen_utc": first["record"]["seen_at"] if first else None,
        "deleted_at_utc": deleted_at, "deleted_at_school": school_time(deleted_at, tz), "purged_at_utc": purged_at,
        "sha256": rec["sha256"], "version": rec["version"],
        "keys": [{"key": k, "policy_words": POLICY_KEYS.get(k, k)} for k in sorted_keys],
        "assessment": None if current is None else {
            "version": current["version"], "categories": current["categories"], "evidence": current["evidence"],
            "escalate": current["escalate"], "strikes": current["strikes"], "needs_review": current["needs_review"],
            "review_reasons": current["review_reasons"], "assessed_at_utc": current["assessed_at"]},
        "scores": sorted(scores, key=lambda s: (s["version"], s["model"])),
        "strikes": [{"key": k, "at_utc": created} for k in sorted(strikes)],
        "verdicts": [{"verdict": d["record"]["verdict"], "keys": d["record"]["keys"], "by": d["record"]["by"],
                      "at_utc": d["record"]["at"], "note": d["record"]["note"], "alert_id": d["record"]["alert_id"]}
                     for d in record["verdict_records"]],
    }


def _where(platform: str) -> str:
    return {"facebook": "Facebook comment", "twitter": "X post", "instagram": "Instagram comment"}.get(
        platform, f"{platform} comment")


def _fmt(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _a(url: Any, label: str | None = None) -> str:
    """A link to ``url`` when it is http(s) (:func:`monitor.delivery.alerts.is_web_url`, the
    alert emails' check); any other scheme (``javascript:``, ``data:``) is shown as text."""
    if not is_web_url(url):
        return _fmt(url) if label is None else f"{_fmt(label)}: {_fmt(url)}"
    return f'<a href="{_fmt(url)}">{_fmt(url if label is None else label)}</a>'


def render_summary_html(records: list[dict], manifest_head: Mapping[str, Any], audit: list[dict] | None = None,
                        tz: ZoneInfo | None = None) -> str:
    """The bundle's readable summary (HTML, every value escaped). ``manifest_head`` holds
    the manifest fields shown in the header (school, created_at, created_by, selection,
    timezone, store_chain); ``audit`` the audit log entries about the comments (shown as
    "Actions recorded", times in ``tz``)."""
    m = manifest_head
    store_chain = m.get("store_chain", {})
    out = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evidence bundle: {_fmt(m.get('school'))}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}"
        "th,td{border:1px solid #bbb;padding:.3em .5em;text-align:left;vertical-align:top}"
        "th{background:#f0f0f0;width:14em}.text{white-space:pre-wrap;font-size:1.1em;background:#fffbe6}"
        "code{font-size:.85em;word-break:break-all}</style></head><body>",
        f"<h1>Evidence bundle: {_fmt(m.get('school'))}</h1>",
        "<table>",
        f"<tr><th>Prepared</th><td>{_fmt(m.get('created_at_school'))} ({_fmt(m.get('created_at'))} UTC) "
        f"by {_fmt(m.get('created_by'))}</td></tr>",
        f"<tr><th>Selection</th><td>{_fmt(m.get('selection_text'))}</td></tr>",
        f"<tr><th>Comments</th><td>{len(records)}</td></tr>",
        f"<tr><th>School time zone</th><td>{_fmt(m.get('timezone'))}</td></tr>",
        f"<tr><th>Store integrity</th><td>{'hash chain verified' if store_chain.get('verified') else 'PROBLEMS FOUND: ' + _fmt('; '.join(store_chain.get('problems', [])))}"
        f" ({_fmt(store_chain.get('rows'))} versions; head <code>{_fmt(store_chain.get('head'))}</code>)</td></tr>",
        "</table>",
        "<h2>How this evidence was collected</h2>",
        "<p>The comments below were collected automatically from the platform's API by School Social Monitor "
        "and stored unaltered as they were first seen, with every later edit kept as a new version. Each "
        "version's text and the platform's own data (the files under <code>raw/</code>) carry SHA-256 "
        "fingerprints linked in a hash chain, so any later change is detectable. Times are given in UTC and in "
        "the school's local time. <code>manifest.json</code> lists the SHA-256 of every file in this bundle; "
        "check it with <code>school-monitor evidence verify</code> or any SHA-256 tool.</p>",
    ]
    out += ["<h2>Contents</h2>", "<table><tr><th>#</th><th>Posted (school time)</th><th>Where</th>"
            "<th>Author</th><th>Policy categories</th></tr>"]
    for i, r in enumerate(records, 1):
        out.append(f"<tr><td>{i}</td><td>{_fmt(r['created_at_school'])}</td><td>{_fmt(_where(r['platform']))}</td>"
                   f"<td>{_fmt(r['author']['name'] or r['author']['author_id'])}</td>"
                   f"<td>{_fmt(', '.join(k['key'] for k in r['keys']) or 'none')}</td></tr>")
    out.append("</table>")
    for i, r in enumerate(records, 1):
        a = r["author"]
        text = r["text"] if r["text"] is not None else f"[text purged under the retention policy on {r['purged_at_utc']}]"
        out.append(f"<h2>{i}. {_fmt(_where(r['platform']))} {_fmt(r['comment_id'])}</h2><table>")
        rows = [
            ("Posted", f"{_fmt(r['created_at_school'])} (UTC {_fmt(r['created_at_utc'])})"),
            ("Author", f"{_fmt(a['name'] or 'unnamed')} (id {_fmt(a['author_id'])}"
                       f"{', @' + _fmt(a['handle']) if a['handle'] else ''})"
                       + (f' {_a(a["profile_url"], "profile")}' if a["profile_url"] else "")),
            ("Comment text", f'<div class="text">{_fmt(text)}</div>'),
            ("Attachments", _fmt(", ".join(f"{x.get('type')}: {x.get('url') or '(no url)'}" for x in r["attachments"]))
             or "none"),
            ("Link", _a(r["permalink"]) if r["permalink"] else "not given"),
            ("On the school's post", f"{_fmt(r['post']['text'])}"
                                     + (f' ({_a(r["post"]["permalink"], "post")})' if r["post"]["permalink"] else "")),
        ]
        if r["in_reply_to"]:
            p = r["in_reply_to"]
            rows.append(("In reply to", f"{_fmt(p.get('author_name'))}: {_fmt(p.get('text'))}"))
        rows += [
            ("First seen by the monitor", f"UTC {_fmt(r['first_seen_utc'])}"),
            ("Deleted on the platform", f"{_fmt(r['deleted_at_school'])} (UTC {_fmt(r['deleted_at_utc'])})"
             if r["deleted_at_utc"] else "not deleted when last checked"),
            ("Hidden", {True: "yes", False: "no", None: "unknown"}[r["is_hidden"]]),
            ("Policy categories", "<br>".join(f"{_fmt(k['policy_words'])} (<code>{_fmt(k['key'])}</code>)"
                                              for k in r["keys"]) or "none"),
        ]
        if r["assessment"] and r["assessment"]["evidence"]:
            rows.append(("Why", "<br>".join(f"{_fmt(e.get('key'))}: {_fmt(e.get('detail'))}"
                                            for e in r["assessment"]["evidence"])))
        if r["verdicts"]:
            rows.append(("Coordinator's verdict", "<br>".join(
                f"{_fmt(v['verdict'])} by {_fmt(v['by'])} at {_fmt(v['at_utc'])}"
                + (f": {_fmt(v['note'])}" if v["note"] else "") for v in r["verdicts"])))
        if len(r["versions"]) > 1:
            rows.append(("Edit history", "<br>".join(
                f"v{v['version']} seen {_fmt(v['seen_at_school'])}: "
                f"<span class=\"text\">{_fmt(v['text'] if v['text'] is not None else '[purged]')}</span>"
                for v in r["versions"])))
        rows.append(("SHA-256 (content)", f"<code>{_fmt(r['sha256'])}</code>"))
        out += [f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows]
        out.append("</table>")
    if audit:
        out += ["<h2>Actions recorded (audit log)</h2>",
                "<table><tr><th>When</th><th>Who</th><th>What</th><th>Why</th></tr>"]
        for e in audit:
            when = school_time(e["at"], tz) if tz else e["at"]
            out.append(f"<tr><td>{_fmt(when)}</td><td>{_fmt(e['actor'])}</td><td>{_fmt(e['action'])} "
                       f"{_fmt(e['target'] or '')}</td><td>{_fmt(e['reason'] or '')}</td></tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _parse_since(since: datetime | date | None, tz: ZoneInfo) -> datetime | None:
    if since is None or isinstance(since, datetime):
        return since
    return datetime.combine(since, time(0, 0), tz).astimezone(timezone.utc)


def export_bundle(store: Store, config: Config, *, author_id: str | None = None,
                  comment_ref: tuple[str, str] | None = None, since: datetime | date | None = None,
                  out_path: str | os.PathLike, now: datetime | None = None,
                  actor: str = "school-monitor") -> Path:
    """Write an evidence bundle (zip, mode 0600, written atomically) and audit it.

    Selection: ``comment_ref`` (one comment), or ``author_id`` (all their comments,
    optionally only those created since ``since``), or ``since`` alone (every flagged
    comment since then: any key, review or strike). A ``date`` is midnight in the
    school's timezone (``config.school.tz``).

    The audit entry (``evidence.export``) records the selection, the comment refs, the
    manifest's SHA-256 and the chain head (an anchor for :func:`verify_chain`).

    :returns: ``out_path`` as a :class:`Path`.
    :raises EvidenceError: no selection, nothing matched, unknown comment, unwritable output.
    """
    if author_id is None and comment_ref is None and since is None:
        raise EvidenceError("choose what to export: --author ID, --comment PLATFORM:ID or --since DATE")
    if comment_ref is not None and (author_id is not None or since is not None):
        raise EvidenceError("--comment exports one comment; do not combine it with --author or --since")
    now = now or datetime.now(timezone.utc)
    tz = config.school.tz
    since_dt = _parse_since(since, tz)
    rows = _selection_rows(store, author_id, comment_ref, since_dt)
    if not rows:
        raise EvidenceError("nothing to export: no stored comment matches "
                            + ", ".join(x for x in [f"author {author_id}" if author_id else "",
                                                    f"since {iso(since_dt)}" if since_dt else ""] if x))
    parts = []
    if comment_ref:
        parts.append(f"comment {comment_ref[0]}:{comment_ref[1]}")
    if author_id:
        parts.append(f"all comments by {author_id}")
    if since_dt:
        parts.append(f"{'' if author_id else 'flagged comments '}since {school_time(iso(since_dt), tz)}")
    selection_text = ", ".join(parts)
    chain_report = verify_chain(store)
    records = [comment_record(store, r, tz) for r in rows]
    files: dict[str, bytes] = {}
    for r in records:
        for v in r["versions"]:
            if v["raw_file"]:
                raw = store.scalar("SELECT raw FROM comment_versions WHERE platform = ? AND comment_id = ? "
                                   "AND version = ?", [r["platform"], r["comment_id"], v["version"]])
                files[v["raw_file"]] = raw.encode("utf-8", "surrogatepass")
    files["comments.json"] = (json.dumps(records, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()
    refs = [(r["platform"], r["comment_id"]) for r in records]
    alerts = review_alerts_about(store, refs)
    audit = audit_entries_about(store, refs, [a["id"] for a in alerts], [author_id] if author_id else [])
    files["audit.json"] = (json.dumps(audit, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()
    head = {
        "format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "school": config.school.name,
        "timezone": config.school.timezone, "created_at": iso(now),
        "created_at_school": school_time(iso(now), tz), "created_by": actor,
        "selection": {"author_id": author_id, "comment": list(comment_ref) if comment_ref else None,
                      "since": iso(since_dt) if since_dt else None},
        "selection_text": selection_text, "comments": len(records),
        "store_chain": {"verified": chain_report.ok, "rows": chain_report.rows, "head": chain_report.head, "head_id": chain_report.head_id,
                        "problems": [str(p) for p in chain_report.problems[:20]]},
    }
    files["summary.html"] = render_summary_html(records, head, audit, tz).encode()
    manifest = {**head, "files": [{"path": n, "sha256": sha256_bytes(b), "bytes": len(b)}
                                  for n, b in sorted(files.items())]}
    manifest_bytes = (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()
    out = Path(out_path)
    stamp = parse_time(iso(now)).timetuple()[:6]
    try:
        def write_zip(fh) -> None:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, data in [(MANIFEST, manifest_bytes), *sorted(files.items())]:
                    info = zipfile.ZipInfo(name, date_time=stamp)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o600 << 16
                    zf.writestr(info, data)

        write_private(out, write_zip)
    except OSError as exc:
        raise EvidenceError(f"cannot write {out}: {exc.strerror or exc}") from exc
    with store.transaction():
        store.audit(actor, "evidence.export", selection_text, None, now,
                    {"selection": head["selection"], "comments": [[r["platform"], r["comment_id"]] for r in records],
                     "manifest_sha256": sha256_bytes(manifest_bytes), "head": chain_report.head,
                     "head_id": chain_report.head_id, "chain_table": "evidence_chain", "chain_ok": chain_report.ok,
                     "file": out.name})
    return out


def manifest_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a bundle's ``manifest.json`` (what the export prints and audits).

    :raises EvidenceError: not a zip or no manifest.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            return sha256_bytes(zf.read(MANIFEST))
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise EvidenceError(f"{path}: not an evidence bundle ({exc})") from exc


def verify_bundle(path: str | os.PathLike, *, store: Store | None = None,
                  expected_manifest_sha256: str | None = None) -> list[str]:
    """Check an evidence bundle; returns the problems found (empty: the bundle is intact).

    Checks: the zip opens; ``manifest.json`` parses and is of this format; every file it
    lists is present with that SHA-256 and size and nothing else is in the zip; in
    ``comments.json`` each version's chain link recomputes, each unpurged version's text
    hashes to its ``sha256``, each raw file hashes to its ``raw_sha256``, and each
    comment's current text is its latest version's. With ``store``, each link must be the
    store's own row. With ``expected_manifest_sha256``, the manifest must hash to it.
    """
    problems: list[str] = []
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path}: cannot open as a zip ({exc})"]
    with zf:
        names = [i.filename for i in zf.infolist()]
        if len(set(names)) != len(names):
            problems.append("the zip holds two entries with the same name")
        if MANIFEST not in names:
            return problems + ["manifest.json is missing"]
        mbytes = zf.read(MANIFEST)
        if expected_manifest_sha256 and sha256_bytes(mbytes) != expected_manifest_sha256.strip().lower():
            problems.append("manifest.json does not have the expected SHA-256: the manifest was replaced")
        try:
            manifest = json.loads(mbytes)
            listed = {f["path"]: f for f in manifest["files"]}
        except (ValueError, KeyError, TypeError) as exc:
            return problems + [f"manifest.json is not a valid manifest ({exc})"]
        if manifest.get("format") != BUNDLE_FORMAT:
            problems.append(f"manifest format is {manifest.get('format')!r}, expected {BUNDLE_FORMAT!r}")
        contents: dict[str, bytes] = {}
        for name, f in sorted(listed.items()):
            if name not in names:
                problems.append(f"{name}: listed in the manifest but missing from the zip")
                continue
            data = zf.read(name)
            contents[name] = data
            if sha256_bytes(data) != f.get("sha256") or len(data) != f.get("bytes"):
                problems.append(f"{name}: SHA-256 differs from the manifest: the file was changed")
        for name in names:
            if name != MANIFEST and name not in listed:
                problems.append(f"{name}: in the zip but not in the manifest: a file was added")
    if "comments.json" not in contents:
        if "comments.json" not in listed:
            problems.append("comments.json is not in the manifest")
        return problems
    try:
        records = json.loads(contents["comments.json"])
    except ValueError as exc:
        return problems + [f"comments.json is not valid JSON ({exc})"]
    chain_info = manifest.get("store_chain") or {}
    if chain_info.get("verified") is not True:
        problems.append("the store's evidence chain had problems when this bundle was made: "
                        + ("; ".join(chain_info.get("problems") or []) or "not verified"))
    try:
        tz = ZoneInfo(manifest.get("timezone") or "UTC")
    except (ValueError, KeyError, TypeError):
        tz = ZoneInfo("UTC")
    for r in records:
        try:
            problems += _verify_record(r, contents, store, tz)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            problems.append(f"comments.json: malformed record ({exc!r})")
    return problems


def _verify_record(r: Mapping[str, Any], contents: Mapping[str, bytes], store: Store | None,
                   tz: ZoneInfo) -> list[str]:
    problems = []
    p, cid = r["platform"], r["comment_id"]
    versions = r["versions"]
    if not versions:
        return [f"{p}:{cid}: no versions"]
    entries = [*versions, *r["assessments"], *r["verdict_records"], *r["events"]]
    version_hashes: dict[int, str] = {}
    for e in entries:
        kind = e["kind"]
        label = f"{p}:{cid} {kind}" + (f" v{e['version']}" if e.get("version") is not None else "")
        if kind in chain.EVENT_KINDS:
            record_hash = chain.record_sha256(chain.event_record(kind, p, cid, e["at_utc"], e["details"]))
        elif e.get("record") is None:
            record_hash = e.get("record_sha256") or ""
        else:
            record_hash = chain.record_sha256(e["record"])
        if chain.link(e["prev_chain"], kind, record_hash) != e["chain"]:
            problems.append(f"{label}: chain link does not match its record: edited")
        if store is not None:
            got = store.scalar("SELECT chain FROM evidence_chain WHERE id = ?", [e["chain_row"]])
            if got != e["chain"]:
                problems.append(f"{label}: chain link is not the store's ({'absent' if got is None else 'different'})")
        if kind == "version":
            rec = e["record"]
            version_hashes[e["version"]] = record_hash
            if (rec["platform"], rec["comment_id"], rec["version"], rec["sha256"], rec["raw_sha256"]) != \
                    (p, cid, e["version"], e["sha256"], e["raw_sha256"]):
                problems.append(f"{label}: version fields differ from its record: edited")
            if e["text"] is not None:
                sha = content_sha256(p, cid, rec["post_id"], rec["parent_id"], rec["author_id"], e["text"],
                                     e["attachments"])
                if sha != rec["sha256"]:
                    problems.append(f"{label}: text does not match its SHA-256: edited")
                if chain.author_sha256(e["author_name"], e["author_handle"]) != rec["author_sha256"]:
                    problems.append(f"{label}: author name or handle does not match its SHA-256: edited")
            if e.get("raw_file"):
                data = contents.get(e["raw_file"])
                if data is None:
                    problems.append(f"{label}: raw payload {e['raw_file']} missing")
                elif sha256_bytes(data) != rec["raw_sha256"]:
                    problems.append(f"{label}: raw payload does not match raw_sha256: edited")
    for a in r["assessments"]:
        if a.get("record") is not None and a["record"]["version_record_sha256"] != version_hashes.get(a["version"]):
            problems.append(f"{p}:{cid} assessment v{a['version']}: not the assessment of the version it names")
    shown = derive_display(r, tz)
    for k, want in shown.items():
        have = r.get(k)
        if k == "post":
            have = {x: (have or {}).get(x) for x in ("post_id", "text")}
            if want["text"] is None:
                continue
        if have != want:
            problems.append(f"{p}:{cid}: {k} differs from what its chained records say: edited")
    return problems


__all__ = [
    "BUNDLE_FORMAT", "ChainProblem", "ChainReport", "EvidenceError", "audit_entries_about", "comment_record",
    "content_sha256", "derive_display", "review_alerts_about",
    "export_bundle", "manifest_sha256", "record_check", "render_summary_html", "school_time", "verify_bundle",
    "verify_chain",
]

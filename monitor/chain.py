"""The evidence chain's records and links: pure functions, no I/O, no clock.

Every fact a bundle, an alert or a report shows about a comment is one *record* in the
chain (table ``evidence_chain``, one row per record, in order):

* ``version``: one comment version as seen on the platform (:data:`VERSION_FIELDS`): ids,
  account, times, permalink, the school post's text, hidden state, the content SHA-256
  (text, attachments, ids), the raw payload's SHA-256 and the author's name/handle SHA-256;
* ``assessment``: the categoriser's verdict and the scorer's output for one version
  (:data:`ASSESSMENT_FIELDS`), with the record SHA-256 of the version it assessed;
* ``redaction``: the same, re-recorded when a retention purge redacted its evidence;
* ``verdict``: a coordinator's verdict (:data:`VERDICT_FIELDS`);
* events, whose whole record is the chain row (:data:`EVENT_KINDS`): ``deleted`` (the
  platform no longer serves the comment), ``restored`` (it came back), ``hidden`` (hidden
  state changed without a new version), ``purged`` (the retention purge removed the text;
  ``details`` keep the author SHA-256 of each version so purged versions still verify).

A record is a dict; its SHA-256 is that of its canonical JSON (:func:`canonical`). The
link of row *n* is ``sha256(chain[n-1] | kind | record_sha256)`` (:func:`link`), with
:data:`GENESIS` before the first row, so editing any field of any record, or removing or
reordering a row, breaks that row's link and every later one.

A ``digest`` (:func:`digest`) is kept with each version, assessment and verdict row: two
bytes of each field's SHA-256. It proves nothing (the full record SHA-256 does) but
names the field that was edited when a link no longer matches (:func:`changed_fields`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Mapping, Sequence

GENESIS = "0" * 64

#: Fields of a ``version`` record, in digest order.
VERSION_FIELDS: tuple[str, ...] = (
    "platform", "comment_id", "version", "seen_at", "account", "post_id", "parent_id", "author_id", "created_at",
    "permalink", "post_text", "is_hidden", "sha256", "raw_sha256", "author_sha256")
#: Stored values of a version that a purge removes; in its digest (after the record's fields)
#: so an edit names which one, skipped once purged.
VERSION_PURGEABLE: tuple[str, ...] = ("text", "attachments", "author_name", "author_handle")
#: Fields of an ``assessment`` / ``redaction`` record, in digest order.
ASSESSMENT_FIELDS: tuple[str, ...] = (
    "platform", "comment_id", "version", "version_record_sha256", "categories", "evidence", "escalate", "strikes",
    "needs_review", "review_reasons", "counted", "assessed_at", "model", "model_version", "score_values",
    "language", "readable", "scored_at")
#: Fields of a ``verdict`` record, in digest order.
VERDICT_FIELDS: tuple[str, ...] = ("id", "platform", "comment_id", "alert_id", "verdict", "keys", "by", "at", "note")
#: Kinds whose record is the chain row itself: ``{kind, platform, comment_id, at, details}``.
EVENT_KINDS: tuple[str, ...] = ("deleted", "restored", "hidden", "purged")
KINDS: tuple[str, ...] = ("version", "assessment", "redaction", "verdict", *EVENT_KINDS)

_DIGEST_BYTES = 2


def canonical(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of ``text`` as UTF-8 (lone surrogates kept: ``surrogatepass``)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def record_sha256(record: Mapping[str, Any]) -> str:
    """Hex SHA-256 of a record's canonical JSON."""
    return sha256_hex(canonical(dict(record)))


def link(prev_chain: str, kind: str, record_hash: str) -> str:
    """The chain link of a row: ``sha256(prev_chain | kind | record_sha256)`` (hex)."""
    return sha256_hex("|".join([prev_chain, kind, record_hash]))


def author_sha256(name: str | None, handle: str | None) -> str:
    """SHA-256 of a version's author name and handle (kept when a purge removes them)."""
    return sha256_hex(canonical({"name": name, "handle": handle}))


def _json(value: Any) -> Any:
    """A JSON column's text decoded (records hold values, not their spelling)."""
    if isinstance(value, str):
        return json.loads(value)
    return value


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def version_record(v: Mapping[str, Any], *, post_id: str, parent_id: str | None, author_id: str,
                   author_hash: str) -> dict[str, Any]:
    """The ``version`` record of a ``comment_versions`` row ``v`` (``platform``,
    ``comment_id``, ``version``, ``seen_at``, ``account``, ``created_at``, ``permalink``,
    ``post_text``, ``is_hidden``, ``sha256``, ``raw_sha256``), the comment's ids and the
    author SHA-256 (:func:`author_sha256`, from the row or, once purged, the purge event)."""
    return {
        "platform": v["platform"], "comment_id": v["comment_id"], "version": int(v["version"]),
        "seen_at": v["seen_at"], "account": v["account"], "post_id": post_id, "parent_id": parent_id,
        "author_id": author_id, "created_at": v["created_at"], "permalink": v["permalink"],
        "post_text": v["post_text"], "is_hidden": _bool(v["is_hidden"]), "sha256": v["sha256"],
        "raw_sha256": v["raw_sha256"], "author_sha256": author_hash,
    }


def assessment_record(a: Mapping[str, Any], s: Mapping[str, Any] | None, version_hash: str) -> dict[str, Any]:
    """The ``assessment`` record of an ``assessments`` row ``a`` with the ``scores`` row
    ``s`` saved with it (None when missing) and the record SHA-256 of the version assessed."""
    s = s or {}
    return {
        "platform": a["platform"], "comment_id": a["comment_id"], "version": int(a["version"]),
        "version_record_sha256": version_hash, "categories": _json(a["categories"]),
        "evidence": _json(a["evidence"]), "escalate": bool(a["escalate"]), "strikes": _json(a["strikes"]),
        "needs_review": bool(a["needs_review"]), "review_reasons": _json(a["review_reasons"]),
        "counted": bool(a["counted"]), "assessed_at": a["assessed_at"], "model": s.get("model"),
        "model_version": s.get("model_version"), "score_values": _json(s.get("values")),
        "language": s.get("language"), "readable": _bool(s.get("readable")), "scored_at": s.get("scored_at"),
    }


def verdict_record(r: Mapping[str, Any]) -> dict[str, Any]:
    """The ``verdict`` record of a ``verdicts`` row."""
    return {"id": int(r["id"]), "platform": r["platform"], "comment_id": r["comment_id"], "alert_id": r["alert_id"],
            "verdict": r["verdict"], "keys": _json(r["keys"]), "by": r["by"], "at": r["at"], "note": r["note"]}


def event_record(kind: str, platform: str, comment_id: str, at: str, details: Any) -> dict[str, Any]:
    """The record of an event row (``details``: its JSON text or value)."""
    return {"kind": kind, "platform": platform, "comment_id": comment_id, "at": at, "details": _json(details)}


def _field_text(value: Any) -> str:
    """A field's text for its digest: strings as they are, anything else as canonical JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return canonical(value)


def digest(values: Mapping[str, Any], fields: Sequence[str]) -> bytes:
    """The first two bytes of the SHA-256 of each field (:func:`_field_text`), in
    ``fields`` order (a field missing from ``values`` gives two zero bytes). For naming an
    edited field, not for proof."""
    out = bytearray()
    for f in fields:
        if f in values:
            out += hashlib.sha256(_field_text(values[f]).encode("utf-8", "surrogatepass")).digest()[:_DIGEST_BYTES]
        else:
            out += bytes(_DIGEST_BYTES)
    return bytes(out)


def changed_fields(stored_digest: bytes | None, values: Mapping[str, Any], fields: Sequence[str]) -> list[str]:
    """The fields of ``values`` whose digest part differs from ``stored_digest`` (fields
    absent from ``values``, e.g. purged ones, are skipped)."""
    if not stored_digest or not isinstance(stored_digest, bytes):
        return []
    now = digest(values, fields)
    out = []
    for i, f in enumerate(fields):
        part = slice(i * _DIGEST_BYTES, (i + 1) * _DIGEST_BYTES)
        if f in values and stored_digest[part] != now[part]:
            out.append(f)
    return out


def version_digest_values(record: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """A version's digest values: its record plus the purgeable stored values still held
    (``attachments`` decoded)."""
    out = dict(record)
    for f in VERSION_PURGEABLE:
        value = row.get(f)
        if value is not None:
            out[f] = _json(value) if f == "attachments" else value
    return out


def union_keys(lists: Iterable[Iterable[str]]) -> list[str]:
    """Sorted union of key lists."""
    out: set[str] = set()
    for keys in lists:
        out.update(keys)
    return sorted(out)


__all__ = [
    "ASSESSMENT_FIELDS", "EVENT_KINDS", "GENESIS", "KINDS", "VERDICT_FIELDS", "VERSION_FIELDS", "VERSION_PURGEABLE",
    "assessment_record", "author_sha256", "canonical", "changed_fields", "digest", "event_record", "link",
    "record_sha256", "sha256_hex", "union_keys", "verdict_record", "version_digest_values", "version_record",
]

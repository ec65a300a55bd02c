"""Subject access requests (UK GDPR Article 15): everything held about one commenter.

:func:`export_sar` gathers, for one platform-prefixed author id (``fb:<id>`` / ``tw:<id>`` / ``ig:<id>``),
every row of the store that is about that person:

* ``author``: their ``authors`` row;
* ``comments``: each of their comments with its full record (the evidence bundle's
  record, :func:`monitor.casework.evidence.comment_record`: text, times, post, keys and evidence,
  scores, strikes, verdicts, every version) plus each version's raw platform payload;
* ``strikes``, ``block_recommendations``, ``verdicts`` (on their comments);
* ``alerts``: review items about them or their comments, with their ``details``;
* ``messages``: the emails built from those alerts (subject, recipients, state, body);
* ``audit_log``: entries whose target or details name them, their comments or alerts.

``counts`` gives the number of rows per table. The file is written with mode 0600 as JSON,
or as a zip holding the JSON when the name ends with ``.zip``. The export is audited
(``sar.export``). Before release the school's data protection officer must redact other
people's personal data (other commenters quoted in a grouped email, staff names); the
export says so.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from monitor.config import Config
from monitor.domain import AUTHOR_PREFIX, iso
from monitor.casework.evidence import audit_entries_about, comment_record, review_alerts_about
from monitor.files import write_private
from monitor.store import Store

SAR_FORMAT = "school-social-monitor/subject-access-export"

ABOUT_THIS_DATA = (
    "School Social Monitor reads the comments posted publicly on the school's own Facebook Page and X "
    "account, scores them for toxicity and maps them to the categories of the school's policy on parent "
    "and community use of social media, so that the school can act on allegations, threats and abuse "
    "(public task and legitimate interests: safeguarding pupils and staff). Comments that carry no "
    "category are deleted after the configured retention period (default 90 days); comments that do "
    "are kept as evidence for the configured number of years (default 6), then deleted. Hashes and "
    "the record of decisions (audit log) are kept. You may ask for this data to be corrected or erased "
    "and may complain to the Information Commissioner's Office (ico.org.uk)."
)
REDACTION_NOTE = (
    "For the data protection officer: before releasing this export, redact personal data of other people "
    "(other commenters in grouped alert emails, staff named in notes) as UK GDPR Article 15(4) requires."
)


class SarError(Exception):
    """The export cannot be made: a malformed author id or an unwritable output file."""


@dataclass(frozen=True)
class SarResult:
    """A written export: ``path``, ``author_id``, ``counts`` (rows per table) and
    ``found`` (False when the store holds nothing about the author)."""

    path: Path
    author_id: str
    counts: Mapping[str, int]
    found: bool


def check_author_id(author_id: str) -> str:
    """Validate a platform-prefixed author id (``fb:123`` / ``tw:456`` / ``ig:789``).

    :raises SarError: naming the value and the expected form.
    """
    prefixes = tuple(f"{p}:" for p in AUTHOR_PREFIX.values())
    if not author_id.startswith(prefixes) or len(author_id) <= 3:
        raise SarError(f"author id {author_id!r} must be platform-prefixed: fb:<Facebook user id>, "
                       "tw:<X user id> or ig:<Instagram user id> (as shown by `review show` and in alerts)")
    return author_id


def _rows(store: Store, sql: str, params: list, *json_cols: str) -> list[dict]:
    out = []
    for r in store.db.query(sql, params):
        r = dict(r)
        for c in json_cols:
            if isinstance(r.get(c), str):
                try:
                    r[c] = json.loads(r[c])
                except ValueError:
                    pass
        out.append(r)
    return out


def collect(store: Store, author_id: str, tz: ZoneInfo) -> dict[str, Any]:
    """Everything held about ``author_id`` as a JSON-able dict (see the module docstring)."""
    comment_rows = list(store.db.query("SELECT * FROM comments WHERE author_id = ? ORDER BY created_at, comment_id",
                                       [author_id]))
    refs = {(r["platform"], r["comment_id"]) for r in comment_rows}
    comments = []
    for row in comment_rows:
        rec = comment_record(store, row, tz)
        raws = {v["version"]: v["raw"] for v in store.db.query(
            "SELECT version, raw FROM comment_versions WHERE platform = ? AND comment_id = ?",
            [row["platform"], row["comment_id"]])}
        for v in rec["versions"]:
            raw = raws.get(v["version"])
            v["raw"] = json.loads(raw) if raw else None
            v.pop("raw_file", None)
        comments.append(rec)
    alerts = review_alerts_about(store, refs, [author_id])
    alert_ids = {a["id"] for a in alerts}
    messages = []
    for m in _rows(store, "SELECT * FROM messages ORDER BY id", [], "alert_ids", "recipients"):
        if alert_ids & set(m["alert_ids"] or []):
            body = m.pop("body")
            m["body"] = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            messages.append(m)
    audit = audit_entries_about(store, refs, alert_ids, [author_id])
    out = {
        "author": store.one("SELECT * FROM authors WHERE author_id = ?", [author_id]),
        "comments": comments,
        "strikes": _rows(store, "SELECT * FROM strikes WHERE author_id = ? ORDER BY at, comment_id, key", [author_id]),
        "block_recommendations": _rows(store, "SELECT * FROM block_recommendations WHERE author_id = ? ORDER BY id",
                                       [author_id], "strikes"),
        "verdicts": _rows(store, "SELECT v.* FROM verdicts v JOIN comments c ON c.platform = v.platform "
                                 "AND c.comment_id = v.comment_id WHERE c.author_id = ? ORDER BY v.id",
                          [author_id], "keys"),
        "alerts": alerts,
        "messages": messages,
        "audit_log": audit,
    }
    return out


def export_sar(store: Store, author_id: str, out_path: str | os.PathLike, *, now: datetime,
               actor: str, config: Config | None = None) -> SarResult:
    """Write everything held about ``author_id`` to ``out_path`` (JSON, or a zip holding
    ``subject-access-request.json`` when the name ends with ``.zip``; mode 0600, written
    atomically) and audit it as ``sar.export``.

    :param config: for the school's name and timezone (times are also given in school
        time); Europe/London when None.
    :raises SarError: malformed author id or unwritable output.
    """
    check_author_id(author_id)
    tz = config.school.tz if config else ZoneInfo("Europe/London")
    data = collect(store, author_id, tz)
    counts = {k: (0 if v is None else 1) if not isinstance(v, list) else len(v) for k, v in data.items()}
    counts["comment_versions"] = sum(len(c["versions"]) for c in data["comments"])
    counts["scores"] = sum(len(c["scores"]) for c in data["comments"])
    found = any(counts[k] for k in ("author", "comments", "strikes", "alerts"))
    doc = {
        "format": SAR_FORMAT, "format_version": 1, "subject": author_id,
        "controller": config.school.name if config else None, "generated_at": iso(now), "generated_by": actor,
        "found": found, "about_this_data": ABOUT_THIS_DATA, "note_for_the_dpo": REDACTION_NOTE,
        "counts": counts, **data,
    }
    payload = (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n").encode()
    out = Path(out_path)
    try:
        if out.suffix.lower() == ".zip":
            def write_zip(fh) -> None:
                with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
                    zf.writestr("subject-access-request.json", payload)

            write_private(out, write_zip)
        else:
            write_private(out, payload)
    except OSError as exc:
        raise SarError(f"cannot write {out}: {exc.strerror or exc}") from exc
    with store.transaction():
        store.audit(actor, "sar.export", author_id, "subject access request", now,
                    {"counts": counts, "file": out.name, "found": found})
    return SarResult(path=out, author_id=author_id, counts=counts, found=found)

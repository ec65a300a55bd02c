"""Evidence that stands up: the store's hash chain, and export bundles for a referral.

**The chain.** Every version of every comment is a ``comment_versions`` row holding the
SHA-256 of the comment's canonical content (:meth:`monitor.domain.Comment.content_sha256`),
the SHA-256 of the raw platform payload as stored (:func:`monitor.store.raw_sha256`) and a
link ``chain = chain_hash(prev_chain, platform, comment_id, version, sha256, raw_sha256,
seen_at)`` (:func:`monitor.store.chain_hash`) to the row before it. :func:`verify_chain`
recomputes all of it; editing a text, a payload, a hash, or removing / inserting /
reordering rows is reported with the first broken row. Purging (retention) empties text
and payloads but keeps the hashes, so a purged store still verifies.

Removing the *last* rows of the chain leaves a shorter chain that is still consistent; to
catch that, every ``evidence check`` and ``evidence export`` records the chain head (row id
and link) in the append-only audit log, and :func:`verify_chain` checks that each recorded
head is still there (an *anchor*). A bundle's manifest also carries the head.

**Bundles.** :func:`export_bundle` writes a zip for the police or a LADO referral:

* ``comments.json``: one record per comment: exact text, times in UTC and in school time,
  permalink, author (id, name, handle, profile link), the school post, the comment replied
  to, attachments, hidden state, first/last seen, deletion time, purge time, the policy
  keys with their evidence, scores, strikes, verdicts, and the edit history (every
  version with its text, hashes and chain link);
* ``raw/<platform>-<comment_id>-v<version>.json``: each stored platform payload, byte for
  byte (its SHA-256 is the ``raw_sha256`` in the chain);
* ``audit.json``: the audit log entries about these comments, their review items and (for
  an author export) the author: who acknowledged, resolved, hid, blocked or exported, when
  and why (the chain of custody);
* ``summary.html``: a readable summary for a referral;
* ``manifest.json``: SHA-256 and size of every other file, the selection, who exported it
  and when, and the store's chain head and verification result.

:func:`verify_bundle` re-checks a bundle on any machine (no store needed): file hashes
against the manifest, each version's content hash and chain link, each raw payload's
hash. Given the store it also checks that every link is the store's own. Anyone could
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
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from monitor.alerts import is_web_url
from monitor.config import Config
from monitor.domain import POLICY_KEYS, REVIEW_KINDS, Attachment, Comment, iso, parse_time
from monitor.files import write_private
from monitor.store import GENESIS, Store, chain_hash, raw_sha256

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
    :meth:`monitor.domain.Comment.content_sha256` (a :class:`Comment` is rebuilt from the
    stored fields). ``attachments`` are stored dicts ``{"type", "url"}``."""
    comment = Comment(
        platform=platform, account="", post_id=post_id, comment_id=comment_id, parent_id=parent_id,
        author_id=author_id, author_name="", text=text, created_at=datetime(1970, 1, 1, tzinfo=timezone.utc),
        attachments=tuple(Attachment(a.get("type", "other"), a.get("url")) for a in attachments))
    return comment.content_sha256()


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- chain


@dataclass(frozen=True)
class ChainProblem:
    """One problem found in the store.

    :ivar table: ``comment_versions``, ``comments`` or ``audit_log`` (anchors).
    :ivar row_id: ``comment_versions.id`` (or the audit row of an anchor), when it applies.
    :ivar ref: ``PLATFORM:COMMENT_ID`` (version appended as ``#vN``), when it applies.
    :ivar problem: what is wrong, in words.
    """

    table: str
    row_id: int | None
    ref: str | None
    problem: str

    def __str__(self) -> str:
        where = self.table + (f" row {self.row_id}" if self.row_id is not None else "")
        return f"{where}{' (' + self.ref + ')' if self.ref else ''}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    """The result of :func:`verify_chain`.

    :ivar rows: ``comment_versions`` rows checked.
    :ivar comments: ``comments`` rows checked.
    :ivar purged_versions: versions whose text and payload were purged (hashes checked only).
    :ivar head: the last chain link (``GENESIS`` for an empty store); ``head_id`` its row.
    :ivar anchors: recorded heads checked (from the audit log).
    :ivar problems: every problem found, in row order; ``problems[0]`` is the first broken row.
    """

    rows: int
    comments: int
    purged_versions: int
    head: str
    head_id: int | None
    anchors: int
    problems: tuple[ChainProblem, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems

    @property
    def first_broken(self) -> ChainProblem | None:
        """The first problem (lowest row), or None."""
        return self.problems[0] if self.problems else None


def verify_chain(store: Store, *, check_anchors: bool = True) -> ChainReport:
    """Recompute the whole evidence chain of ``store``.

    For each ``comment_versions`` row in id order: ``prev_chain`` equals the previous row's
    ``chain`` (``GENESIS`` for the first); ``chain`` equals :func:`chain_hash` of its
    fields; unless purged, the content SHA-256 recomputed from ``text``/``attachments`` and
    the comment's ``post_id``/``parent_id``/``author_id`` equals ``sha256``, and the
    SHA-256 of ``raw`` equals ``raw_sha256``. A version without text is only accepted when
    its comment has ``purged_at``. For each ``comments`` row: its ``sha256`` and
    ``version`` are those of its latest version and, unless purged, its current text and
    payload hash to them. With ``check_anchors``, each chain head recorded in the audit log
    (``evidence.check`` / ``evidence.export``) must still be in the chain.

    Reads only; streams the table, so memory grows with the number of comments, not versions.
    """
    problems: list[ChainProblem] = []
    meta: dict[tuple[str, str], dict] = {}
    for r in store.db.query("SELECT platform, comment_id, post_id, parent_id, author_id, text, attachments, raw, "
                            "sha256, version, purged_at FROM comments"):
        meta[(r["platform"], r["comment_id"])] = r
    latest: dict[tuple[str, str], tuple[int, str, str]] = {}
    prev = GENESIS
    rows = purged = 0
    head_id: int | None = None
    for v in store.db.query("SELECT * FROM comment_versions ORDER BY id"):
        rows += 1
        key = (v["platform"], v["comment_id"])
        ref = f"{v['platform']}:{v['comment_id']}#v{v['version']}"

        def bad(msg: str) -> None:
            problems.append(ChainProblem("comment_versions", v["id"], ref, msg))

        if v["prev_chain"] != prev:
            bad("prev_chain is not the previous row's chain: a row was removed, inserted or reordered before it")
        link = chain_hash(v["prev_chain"], v["platform"], v["comment_id"], v["version"], v["sha256"],
                          v["raw_sha256"], v["seen_at"])
        if link != v["chain"]:
            bad("chain link does not match the row's fields: the row was edited")
        c = meta.get(key)
        if c is None:
            bad("no comments row for this version: the comment was deleted from the store")
        elif v["text"] is None:
            purged += 1
            if c["purged_at"] is None:
                bad("text is missing but the comment was never purged")
        else:
            sha = content_sha256(v["platform"], v["comment_id"], c["post_id"], c["parent_id"], c["author_id"],
                                 v["text"], json.loads(v["attachments"] or "[]"))
            if sha != v["sha256"]:
                bad("text or attachments do not match the stored SHA-256: the content was edited")
        if v["raw"] is not None and raw_sha256(v["raw"]) != v["raw_sha256"]:
            bad("raw platform payload does not match raw_sha256: the payload was edited")
        prev = v["chain"]
        head_id = v["id"]
        if key not in latest or v["version"] > latest[key][0]:
            latest[key] = (v["version"], v["sha256"], v["raw_sha256"])
    for key, c in meta.items():
        ref = f"{key[0]}:{key[1]}"
        lv = latest.get(key)
        if lv is None:
            problems.append(ChainProblem("comments", None, ref, "no stored version: its history was deleted"))
            continue
        if (c["version"], c["sha256"]) != (lv[0], lv[1]):
            problems.append(ChainProblem("comments", None, ref,
                                         "sha256/version differ from the latest stored version"))
        if c["text"] is not None:
            sha = content_sha256(key[0], key[1], c["post_id"], c["parent_id"], c["author_id"], c["text"],
                                 json.loads(c["attachments"] or "[]"))
            if sha != c["sha256"]:
                problems.append(ChainProblem("comments", None, ref,
                                             "current text or attachments do not match the stored SHA-256: edited"))
        elif c["purged_at"] is None:
            problems.append(ChainProblem("comments", None, ref, "text is missing but the comment was never purged"))
        if c["raw"] is not None and raw_sha256(c["raw"]) != lv[2]:
            problems.append(ChainProblem("comments", None, ref, "raw payload differs from the latest version's"))
    anchors = 0
    if check_anchors:
        for a in store.db.query("SELECT id, at, action, details FROM audit_log "
                                "WHERE action IN ('evidence.check', 'evidence.export') ORDER BY id"):
            d = json.loads(a["details"] or "{}")
            if not d.get("head_id"):
                continue
            anchors += 1
            got = store.scalar("SELECT chain FROM comment_versions WHERE id = ?", [d["head_id"]])
            if got != d.get("head"):
                problems.append(ChainProblem(
                    "audit_log", a["id"], None,
                    f"chain head recorded by {a['action']} at {a['at']} (row {d['head_id']}) is no longer in the "
                    "chain: rows were removed or rewritten"))
    return ChainReport(rows=rows, comments=len(meta), purged_versions=purged, head=prev, head_id=head_id,
                       anchors=anchors, problems=tuple(problems))


def record_check(store: Store, report: ChainReport, *, actor: str, now: datetime) -> int:
    """Audit an ``evidence check`` (``evidence.check``), recording the chain head as an
    anchor for later checks. Returns the audit row id."""
    with store.transaction():
        return store.audit(actor, "evidence.check", "comment_versions",
                           "chain verified" if report.ok else f"{len(report.problems)} problem(s)", now,
                           {"ok": report.ok, "rows": report.rows, "head": report.head, "head_id": report.head_id,
                            "problems": [str(p) for p in report.problems[:20]]})


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
    """The bundle / SAR record of one ``comments`` row (see the module docstring)."""
    p, cid = row["platform"], row["comment_id"]
    post = store.one("SELECT post_id, text, created_at, permalink FROM posts WHERE platform = ? AND post_id = ?",
                     [p, row["post_id"]])
    parent = None
    if row["parent_id"]:
        pr = store.one("SELECT comment_id, author_id, author_name, text, created_at, permalink FROM comments "
                       "WHERE platform = ? AND comment_id = ?", [p, row["parent_id"]])
        parent = dict(pr) if pr else {"comment_id": row["parent_id"]}
    versions = []
    for v in store.db.query("SELECT * FROM comment_versions WHERE platform = ? AND comment_id = ? ORDER BY version",
                            [p, cid]):
        versions.append({
            "version": v["version"], "text": v["text"], "attachments": json.loads(v["attachments"] or "[]"),
            "seen_at_utc": v["seen_at"], "seen_at_school": school_time(v["seen_at"], tz),
            "sha256": v["sha256"], "raw_sha256": v["raw_sha256"], "prev_chain": v["prev_chain"],
            "chain": v["chain"], "chain_row": v["id"],
            "raw_file": raw_name(p, cid, v["version"]) if v["raw"] is not None else None})
    assessment = store.one("SELECT * FROM assessments WHERE platform = ? AND comment_id = ? "
                           "ORDER BY version DESC LIMIT 1", [p, cid])
    keys = [k["key"] for k in store.db.query("SELECT key FROM comment_keys WHERE platform = ? AND comment_id = ?",
                                              [p, cid])]
    order = list(POLICY_KEYS)
    keys.sort(key=lambda k: order.index(k) if k in order else 99)
    return {
        "platform": p, "comment_id": cid, "account": row["account"],
        "post": {"post_id": row["post_id"], "text": (post or {}).get("text") or row["post_text"],
                 "created_at_utc": (post or {}).get("created_at"), "permalink": (post or {}).get("permalink")},
        "in_reply_to": parent,
        "author": {"author_id": row["author_id"], "name": row["author_name"], "handle": row["author_handle"],
                   "profile_url": _profile(p, row["author_id"], row["author_handle"])},
        "text": row["text"], "attachments": json.loads(row["attachments"] or "[]"),
        "created_at_utc": row["created_at"], "created_at_school": school_time(row["created_at"], tz),
        "permalink": row["permalink"], "is_hidden": None if row["is_hidden"] is None else bool(row["is_hidden"]),
        "first_seen_utc": row["first_seen"], "last_seen_utc": row["last_seen"],
        "deleted_at_utc": row["deleted_at"], "deleted_at_school": school_time(row["deleted_at"], tz),
        "purged_at_utc": row["purged_at"], "sha256": row["sha256"], "version": row["version"],
        "keys": [{"key": k, "policy_words": POLICY_KEYS.get(k, k)} for k in keys],
        "assessment": None if assessment is None else {
            "version": assessment["version"], "categories": json.loads(assessment["categories"]),
            "evidence": json.loads(assessment["evidence"]), "escalate": bool(assessment["escalate"]),
            "strikes": json.loads(assessment["strikes"]), "needs_review": bool(assessment["needs_review"]),
            "review_reasons": json.loads(assessment["review_reasons"]), "assessed_at_utc": assessment["assessed_at"]},
        "scores": [{"version": s["version"], "model": s["model"], "model_version": s["model_version"],
                    "values": json.loads(s["values"]), "language": s["language"], "readable": bool(s["readable"]),
                    "scored_at_utc": s["scored_at"]}
                   for s in store.db.query('SELECT * FROM scores WHERE platform = ? AND comment_id = ? '
                                           'ORDER BY version, model', [p, cid])],
        "strikes": [{"key": s["key"], "at_utc": s["at"]} for s in store.db.query(
            "SELECT key, at FROM strikes WHERE platform = ? AND comment_id = ? ORDER BY key", [p, cid])],
        "verdicts": [{"verdict": v["verdict"], "keys": json.loads(v["keys"]), "by": v["by"], "at_utc": v["at"],
                      "note": v["note"], "alert_id": v["alert_id"]}
                     for v in store.db.query("SELECT * FROM verdicts WHERE platform = ? AND comment_id = ? "
                                             "ORDER BY id", [p, cid])],
        "versions": versions,
    }


def _where(platform: str) -> str:
    return {"facebook": "Facebook comment", "twitter": "X post"}.get(platform, f"{platform} comment")


def _fmt(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _a(url: Any, label: str | None = None) -> str:
    """A link to ``url`` when it is http(s) (:func:`monitor.alerts.is_web_url`, the
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
    chain = m.get("store_chain", {})
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
        f"<tr><th>Store integrity</th><td>{'hash chain verified' if chain.get('verified') else 'PROBLEMS FOUND: ' + _fmt('; '.join(chain.get('problems', [])))}"
        f" ({_fmt(chain.get('rows'))} versions; head <code>{_fmt(chain.get('head'))}</code>)</td></tr>",
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
    chain = verify_chain(store)
    records = [comment_record(store, r, tz) for r in rows]
    files: dict[str, bytes] = {}
    for r in records:
        for v in r["versions"]:
            if v["raw_file"]:
                raw = store.scalar("SELECT raw FROM comment_versions WHERE id = ?", [v["chain_row"]])
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
        "store_chain": {"verified": chain.ok, "rows": chain.rows, "head": chain.head, "head_id": chain.head_id,
                        "problems": [str(p) for p in chain.problems[:20]]},
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
                     "manifest_sha256": sha256_bytes(manifest_bytes), "head": chain.head, "head_id": chain.head_id,
                     "chain_ok": chain.ok, "file": out.name})
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
    for r in records:
        try:
            problems += _verify_record(r, contents, store)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"comments.json: malformed record ({exc!r})")
    return problems


def _verify_record(r: Mapping[str, Any], contents: Mapping[str, bytes], store: Store | None) -> list[str]:
    problems = []
    p, cid = r["platform"], r["comment_id"]
    author_id = r["author"]["author_id"]
    versions = r["versions"]
    if not versions:
        return [f"{p}:{cid}: no versions"]
    for v in versions:
        ref = f"{p}:{cid}#v{v['version']}"
        link = chain_hash(v["prev_chain"], p, cid, v["version"], v["sha256"], v["raw_sha256"], v["seen_at_utc"])
        if link != v["chain"]:
            problems.append(f"{ref}: chain link does not match the version's hashes: edited")
        if v["text"] is not None:
            sha = content_sha256(p, cid, r["post"]["post_id"], (r["in_reply_to"] or {}).get("comment_id"),
                                 author_id, v["text"], v["attachments"])
            if sha != v["sha256"]:
                problems.append(f"{ref}: text does not match its SHA-256: edited")
        if v.get("raw_file"):
            data = contents.get(v["raw_file"])
            if data is None:
                problems.append(f"{ref}: raw payload {v['raw_file']} missing")
            elif sha256_bytes(data) != v["raw_sha256"]:
                problems.append(f"{ref}: raw payload does not match raw_sha256: edited")
        if store is not None:
            got = store.scalar("SELECT chain FROM comment_versions WHERE platform = ? AND comment_id = ? "
                               "AND version = ?", [p, cid, v["version"]])
            if got != v["chain"]:
                problems.append(f"{ref}: chain link is not the store's ({'absent' if got is None else 'different'})")
    last = versions[-1]
    if r["text"] is not None and (r["text"] != last["text"] or r["sha256"] != last["sha256"]):
        problems.append(f"{p}:{cid}: current text differs from its latest version: edited")
    return problems


__all__ = [
    "BUNDLE_FORMAT", "ChainProblem", "ChainReport", "EvidenceError", "audit_entries_about", "comment_record",
    "content_sha256", "review_alerts_about",
    "export_bundle", "manifest_sha256", "record_check", "render_summary_html", "school_time", "verify_bundle",
    "verify_chain",
]

"""The evidence store: one SQLite file through sqlite-utils 4, in WAL mode.

Everything the monitor learns is written here before anything else can fail: a comment
fetched is stored (with the account's advanced cursor, in one transaction) before it is
scored; an alert is stored before it is sent. The program never deletes evidence of a
flagged comment (retention only purges the text of comments that carry no key).

The file is created with mode 0600 (SQLite gives its -wal and -shm files the same mode).
Schema: :mod:`monitor.schema`, applied at open and by ``school-monitor migrate``.

Errors: :class:`StoreError` for a file that cannot be opened or written (read-only
filesystem, disk full, locked): the message names the file and the cause, and the
transaction in progress is rolled back whole.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from sqlite_utils import Database

from monitor.domain import (
    REVIEW_KINDS,
    Account,
    Alert,
    Assessment,
    Attachment,
    Comment,
    Post,
    Scores,
    StrikeDecision,
    StrikeRecord,
    iso,
    parse_time,
)
from monitor.schema import migrations

GENESIS = "0" * 64


class StoreError(Exception):
    """The store file cannot be opened or written. The message names the file and the
    cause (read-only, disk full, locked, not a database)."""


class StoreCorrupt(StoreError):
    """The store file is damaged (SQLite reports a malformed page, or the file is not a
    database). The message names the file and says what to restore it from."""


#: What to do about a damaged store, in plain words (deploy/INSTALL.md, "Upgrades and backups").
RESTORE_ADVICE = ("stop the service (systemctl stop school-monitor), keep the damaged file aside, and restore "
                  "the latest backup made with sqlite3 .backup (deploy/INSTALL.md, section 9 \"Upgrades and "
                  "backups\") to this path, deleting its -wal and -shm files; then start the service: "
                  "comments since the backup are read again from the platforms")

# SQLite primary result codes that mean the file itself is damaged or unusable.
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_SQLITE_FAULTS = {8: "readonly", 10: "ioerr", 13: "full", 14: "cantopen", 11: "corrupt", 26: "notadb"}


def is_corruption(exc: BaseException) -> bool:
    """True when a :mod:`sqlite3` error says the database file is damaged
    (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``, "database disk image is malformed")."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    low = str(exc).lower()
    return "malformed" in low or "not a database" in low


def chain_hash(prev_chain: str, platform: str, comment_id: str, version: int, sha256: str,
               raw_sha256: str, seen_at: str) -> str:
    """The hash chain link of one comment version (hex SHA-256).

    ``sha256(prev_chain | platform | comment_id | version | sha256 | raw_sha256 | seen_at)``
    with ``|`` separators. Changing any field of any version, or removing or reordering
    a row, breaks every later link.
    """
    material = "|".join([prev_chain, platform, comment_id, str(version), sha256, raw_sha256, seen_at])
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def dumps(value: Any) -> str:
    """Canonical JSON text (sorted keys, UTF-8, no spaces) as stored in JSON columns."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(value: str | None) -> str | None:
    """Replace lone UTF-16 surrogates (a truncated emoji in a platform's JSON, CESU-8
    bytes) with U+FFFD so SQLite can store the text; everything else is kept exactly."""
    if value is None or not _LONE_SURROGATE.search(value):
        return value
    return _LONE_SURROGATE.sub("\ufffd", value)


def raw_json_text(raw: Mapping[str, Any]) -> str:
    """The stored form of a raw platform payload: canonical JSON with non-ASCII escaped,
    so the exact original (even lone surrogates) survives as evidence."""
    return json.dumps(dict(raw), sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=str)


def raw_sha256(raw_json: str) -> str:
    """SHA-256 (hex) of the stored raw payload text."""
    return hashlib.sha256(raw_json.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class IngestStats:
    """What one :meth:`Store.ingest` did: counts of comments ``fetched``, ``new``,
    ``changed`` (a new version stored), ``unchanged``, ``deleted`` (marked), ``posts``."""

    fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    posts: int = 0


def _translate(exc: BaseException, path: Path) -> StoreError:
    msg = str(exc)
    low = msg.lower()
    if is_corruption(exc):
        what = ("is not a SQLite database, or its first page is damaged" if "not a database" in low
                else "is damaged")
        return StoreCorrupt(f"store {path} {what} (SQLite: {msg}): {RESTORE_ADVICE}")
    if "readonly" in low or "read-only" in low:
        why = "the file or its folder is read-only"
    elif "disk is full" in low or "database or disk is full" in low:
        why = "the disk is full"
    elif "locked" in low:
        why = "the database is locked by another process"
    elif "not a database" in low:
        why = "the file is not a SQLite database"
    elif "unable to open" in low:
        why = "the file cannot be opened (missing folder or permissions)"
    else:
        why = msg
    return StoreError(f"store {path}: {why} ({msg}); nothing was written by the failed step")


def _is_fault(exc: BaseException) -> bool:
    """A :mod:`sqlite3` error about the file (damaged, read-only, full, I/O), not about a
    statement (constraint, syntax)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_FAULTS
    low = str(exc).lower()
    return is_corruption(exc) or any(w in low for w in ("readonly", "disk is full", "disk i/o", "unable to open"))


class _GuardedCursor:
    """A :class:`sqlite3.Cursor` whose row fetching reports a damaged file as :class:`StoreCorrupt`."""

    def __init__(self, cursor: sqlite3.Cursor, path: Path):
        self._cursor = cursor
        self._path = path

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def _guard(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except sqlite3.DatabaseError as exc:
            if _is_fault(exc):
                raise _translate(exc, self._path) from exc
            raise

    def fetchone(self) -> Any:
        return self._guard(self._cursor.fetchone)

    def fetchall(self) -> Any:
        return self._guard(self._cursor.fetchall)

    def fetchmany(self, *args: Any) -> Any:
        return self._guard(self._cursor.fetchmany, *args)

    def __iter__(self) -> Iterator[Any]:
        return _guarded_rows(iter(self._cursor), self._path)


def _guarded_rows(rows: Iterator[Any], path: Path) -> Iterator[Any]:
    try:
        yield from rows
    except sqlite3.DatabaseError as exc:
        if _is_fault(exc):
            raise _translate(exc, path) from exc
        raise


class StoreDatabase(Database):
    """The :class:`sqlite_utils.Database` of a :class:`Store`: a damaged, read-only or
    full file surfaces as :class:`StoreError` / :class:`StoreCorrupt` naming the file,
    from every query anyone runs on ``store.db`` (the evidence check, the reports, the
    review queue), never as a raw :mod:`sqlite3` traceback. Errors about a statement
    (constraints, the audit log's append-only triggers) stay :mod:`sqlite3` errors."""

    store_path: Path = Path("?")

    def execute(self, sql: str, parameters: Any = None) -> Any:  # type: ignore[override]
        try:
            return _GuardedCursor(super().execute(sql, parameters), self.store_path)
        except sqlite3.DatabaseError as exc:
            if _is_fault(exc):
                raise _translate(exc, self.store_path) from exc
            raise

    def executescript(self, sql: str) -> Any:  # type: ignore[override]
        try:
            return super().executescript(sql)
        except sqlite3.DatabaseError as exc:
            if _is_fault(exc):
                raise _translate(exc, self.store_path) from exc
            raise

    def query(self, sql: str, params: Any = None) -> Any:  # type: ignore[override]
        try:
            rows = super().query(sql, params)
        except sqlite3.DatabaseError as exc:
            if _is_fault(exc):
                raise _translate(exc, self.store_path) from exc
            raise
        return _guarded_rows(rows, self.store_path)


class Store:
    """The SQLite store. Use :meth:`open`; one instance per process.

    :ivar db: the :class:`sqlite_utils.Database`.
    :ivar path: the file path.
    """

    def __init__(self, db: Database, path: Path):
        self.db = db
        self.path = path

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, path: str | os.PathLike, *, migrate: bool = True) -> "Store":
        """Open (creating 0600 if needed) and migrate the store at ``path``.

        :raises StoreError: when the file cannot be created, opened or migrated.
        """
        p = Path(path)
        try:
            if not p.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
                os.close(fd)
            conn = sqlite3.connect(str(p), timeout=30, check_same_thread=False)
            db = StoreDatabase(conn)
            db.store_path = p
            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                db.enable_wal()
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            store = cls(db, p)
            if migrate:
                migrations.apply(db)
            return store
        except (sqlite3.Error, OSError) as exc:
            raise _translate(exc, p) from exc

    def quick_check(self, max_errors: int = 10) -> list[str]:
        """SQLite's ``PRAGMA quick_check`` (structure of every page and index, without
        the slower cross-checks of ``integrity_check``).

        :returns: ``[]`` when the file is sound, else up to ``max_errors`` problems as
            SQLite words them (e.g. ``"Page 120: btreeInitPage() returns error code 11"``).
        :raises StoreError: when the file cannot be read at all.
        """
        try:
            rows = [str(r[0]) for r in self.db.conn.execute(f"PRAGMA quick_check({int(max_errors)})").fetchall()]
        except sqlite3.DatabaseError as exc:
            if is_corruption(exc):
                return [str(exc)]
            raise _translate(exc, self.path) from exc
        return [] if rows == ["ok"] else rows

    def damage_report(self, problems: Sequence[str]) -> str:
        """One plain paragraph for a damaged store: the file, what SQLite found (first
        problem), and what to restore from."""
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        return (f"store {self.path} is damaged (PRAGMA quick_check: {problems[0]}{more}): {RESTORE_ADVICE}")

    def probe_write(self, now: datetime) -> None:
        """Write one row (``state.store_writable_at``) and commit: the cheapest proof that
        the file can be written (a read-only file or filesystem, a full disk fail here).

        :raises StoreError: when it cannot be written.
        """
        with self.transaction():
            self.set_state("store_writable_at", iso(now))

    def migrate(self) -> list[str]:
        """Apply pending migrations; returns their names."""
        pending = [m.name for m in migrations.pending(self.db)]
        try:
            migrations.apply(self.db)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        return pending

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """One atomic transaction (nested calls use savepoints).

        :raises StoreError: when SQLite fails (read-only, disk full); everything in the
            transaction is rolled back.
        """
        try:
            with self.db.atomic() as db:
                yield db
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    def one(self, sql: str, params: Sequence | Mapping | None = None) -> dict | None:
        """First row of a query as a dict, or None."""
        for row in self.db.query(sql, params or ()):
            return row
        return None

    def scalar(self, sql: str, params: Sequence | Mapping | None = None) -> Any:
        """First column of the first row, or None."""
        row = self.db.execute(sql, params or ()).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ state
    def get_state(self, key: str, default: str | None = None) -> str | None:
        """A value from the ``state`` table."""
        row = self.one("SELECT value FROM state WHERE key = ?", [key])
        return row["value"] if row else default

    def set_state(self, key: str, value: str) -> None:
        """Set a value in the ``state`` table (own transaction if none is open)."""
        self.db.execute("INSERT INTO state(key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])

    # ------------------------------------------------------------------ accounts
    def ensure_account(self, account: Account, now: datetime) -> None:
        """Insert the account row if missing (cursor ``{}``); refresh its ids."""
        self.db.execute(
            "INSERT INTO accounts(key, platform, external_id, display_name, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "platform = excluded.platform, external_id = excluded.external_id",
            [account.key, account.platform, account.external_id, account.display_name, iso(now)],
        )

    def account_row(self, key: str) -> dict | None:
        """The ``accounts`` row for ``key``, or None."""
        return self.one("SELECT * FROM accounts WHERE key = ?", [key])

    def cursor(self, key: str) -> dict:
        """The account's stored cursor (``{}`` before the first poll)."""
        row = self.account_row(key)
        return json.loads(row["cursor"]) if row else {}

    def pause_account(self, key: str, reason: str, now: datetime) -> bool:
        """Pause polling of an account until ``check`` passes. Returns True if it was
        not already paused."""
        cur = self.db.execute(
            "UPDATE accounts SET paused = 1, paused_reason = ?, paused_at = ? WHERE key = ? AND paused = 0",
            [reason, iso(now), key])
        return cur.rowcount > 0

    def unpause_account(self, key: str) -> bool:
        """Resume a paused account. Returns True if it was paused."""
        cur = self.db.execute(
            "UPDATE accounts SET paused = 0, paused_reason = NULL, paused_at = NULL, "
            "consecutive_failures = 0 WHERE key = ? AND paused = 1", [key])
        return cur.rowcount > 0

    def record_poll_failure(self, key: str, started: datetime, now: datetime, error: str,
                            next_poll_after: datetime | None = None) -> None:
        """Record a failed poll (poll_log and account health) in one transaction."""
        with self.transaction():
            self.db.execute(
                "UPDATE accounts SET last_poll_at = ?, last_error = ?, last_error_at = ?, "
                "consecutive_failures = consecutive_failures + 1, next_poll_after = ? WHERE key = ?",
                [iso(now), error, iso(now), iso(next_poll_after) if next_poll_after else None, key])
            self.db.execute(
                "INSERT INTO poll_log(account, started_at, finished_at, ok, error) VALUES (?, ?, ?, 0, ?)",
                [key, iso(started), iso(now), error])

    def known_live_comments(self, account: str, since: datetime) -> dict[str, frozenset[str]]:
        """Per post id, the comment ids held as live (not deleted) for the account's
        posts created since ``since`` (for deletion detection by connectors)."""
        out: dict[str, set[str]] = {}
        for row in self.db.execute(
            "SELECT c.post_id, c.comment_id FROM comments c JOIN posts p "
            "ON p.platform = c.platform AND p.post_id = c.post_id "
            "WHERE c.account = ? AND c.deleted_at IS NULL AND (p.created_at IS NULL OR p.created_at >= ?)",
            [account, iso(since)],
        ):
            out.setdefault(row[0], set()).add(row[1])
        return {k: frozenset(v) for k, v in out.items()}

    # ------------------------------------------------------------------ ingest
    def ingest(self, account: str, posts: Sequence[Post], comments: Sequence[Comment],
               deleted: Sequence[str], cursor: Mapping[str, Any] | None, now: datetime, *,
               platform: str | None = None, reads: int = 0, calls: int = 0,
               started: datetime | None = None) -> IngestStats:
        """Store one poll's yield in ONE transaction: posts, comments (new ones, new
        versions of edited ones), deletion marks, the account's new cursor, reads counted
        against the month, and the poll's success in ``poll_log``. With ``cursor=None``
        (replay) the account row and ``poll_log`` are left alone.

        A comment already stored with the same content SHA-256 only has ``last_seen``
        updated, so the same data ingested twice adds no rows.

        :param platform: platform of ``deleted`` ids (defaults to the account's).
        :raises StoreError: nothing is written when it fails.
        """
        stats = dict(fetched=len(comments), new=0, changed=0, unchanged=0, deleted=0, posts=len(posts))
        now_s = iso(now)
        with self.transaction():
            for post in posts:
                self.db.execute(
                    "INSERT INTO posts(platform, post_id, account, text, created_at, permalink, raw, "
                    "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(platform, post_id) DO UPDATE SET text = excluded.text, "
                    "permalink = excluded.permalink, raw = excluded.raw, last_seen = excluded.last_seen",
                    [post.platform, post.post_id, account, clean_text(post.text), iso(post.created_at),
                     clean_text(post.permalink), raw_json_text(post.raw), now_s, now_s])
            for c in comments:
                outcome = self._store_comment(account, c, now)
                stats[outcome] += 1
            plat = platform
            if plat is None:
                row = self.account_row(account)
                plat = row["platform"] if row else None
            for cid in deleted:
                cur = self.db.execute(
                    "UPDATE comments SET deleted_at = ? WHERE platform = ? AND comment_id = ? AND deleted_at IS NULL",
                    [now_s, plat, cid])
                stats["deleted"] += cur.rowcount
            if cursor is not None:
                self.db.execute(
                    "UPDATE accounts SET cursor = ?, last_poll_at = ?, last_success_at = ?, "
                    "consecutive_failures = 0, last_error = NULL WHERE key = ?",
                    [dumps(dict(cursor)), now_s, now_s, account])
            if reads:
                self.add_reads(account, now, reads)
            if cursor is not None:  # a real poll (replay passes no cursor)
                self.db.execute(
                    "INSERT INTO poll_log(account, started_at, finished_at, ok, fetched, new, changed, deleted, "
                    "calls, reads) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
                    [account, iso(started or now), now_s, stats["fetched"], stats["new"], stats["changed"],
                     stats["deleted"], calls, reads])
        return IngestStats(**stats)

    def _store_comment(self, account: str, c: Comment, now: datetime) -> str:
        now_s = iso(now)
        c = dataclasses.replace(
            c, text=clean_text(c.text) or "", author_name=clean_text(c.author_name) or "",
            author_handle=clean_text(c.author_handle), post_text=clean_text(c.post_text),
            permalink=clean_text(c.permalink))
        sha = c.content_sha256()
        raw_json = raw_json_text(c.raw)
        attachments = dumps([{"type": a.type, "url": a.url} for a in c.attachments])
        row = self.one("SELECT sha256, version, deleted_at FROM comments WHERE platform = ? AND comment_id = ?",
                       [c.platform, c.comment_id])
        self.db.execute(
            "INSERT INTO authors(author_id, platform, name, handle, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(author_id) DO UPDATE SET "
            "name = CASE WHEN excluded.name != '' THEN excluded.name ELSE authors.name END, "
            "handle = COALESCE(excluded.handle, authors.handle), last_seen = excluded.last_seen",
            [c.author_id, c.platform, c.author_name, c.author_handle, now_s, now_s])
        if row is not None and row["sha256"] == sha:
            self.db.execute(
                "UPDATE comments SET last_seen = ?, is_hidden = COALESCE(?, is_hidden), deleted_at = NULL "
                "WHERE platform = ? AND comment_id = ?",
                [now_s, c.is_hidden, c.platform, c.comment_id])
            return "unchanged"
        version = 1 if row is None else row["version"] + 1
        prev = self.scalar("SELECT chain FROM comment_versions ORDER BY id DESC LIMIT 1") or GENESIS
        rsha = raw_sha256(raw_json)
        link = chain_hash(prev, c.platform, c.comment_id, version, sha, rsha, now_s)
        self.db.execute(
            "INSERT INTO comment_versions(platform, comment_id, version, text, attachments, raw, sha256, "
            "raw_sha256, seen_at, prev_chain, chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [c.platform, c.comment_id, version, c.text, attachments, raw_json, sha, rsha, now_s, prev, link])
        values = [account, c.post_id, c.parent_id, c.author_id, c.author_name, c.author_handle, c.text,
                  iso(c.created_at), c.permalink, attachments, raw_json, c.post_text, c.is_hidden, sha,
                  version, now_s]
        if row is None:
            self.db.execute(
                "INSERT INTO comments(account, post_id, parent_id, author_id, author_name, author_handle, text, "
                "created_at, permalink, attachments, raw, post_text, is_hidden, sha256, version, last_seen, "
                "first_seen, platform, comment_id, status) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'new')",
                values + [now_s, c.platform, c.comment_id])
            return "new"
        self.db.execute(
            "UPDATE comments SET account = ?, post_id = ?, parent_id = ?, author_id = ?, author_name = ?, "
            "author_handle = ?, text = ?, created_at = ?, permalink = ?, attachments = ?, raw = ?, "
            "post_text = COALESCE(?, post_text), is_hidden = ?, sha256 = ?, version = ?, last_seen = ?, "
            "status = 'new', deleted_at = NULL WHERE platform = ? AND comment_id = ?",
            values + [c.platform, c.comment_id])
        return "changed"

    # ------------------------------------------------------------------ processing
    @staticmethod
    def comment_from_row(row: Mapping[str, Any]) -> Comment:
        """Rebuild a :class:`Comment` from a ``comments`` row."""
        return Comment(
            platform=row["platform"], account=row["account"], post_id=row["post_id"],
            comment_id=row["comment_id"], parent_id=row["parent_id"], author_id=row["author_id"],
            author_name=row["author_name"] or "", text=row["text"] or "",
            created_at=parse_time(row["created_at"]), permalink=row["permalink"],
            attachments=tuple(Attachment(a.get("type", "other"), a.get("url"))
                              for a in json.loads(row["attachments"] or "[]")),
            raw=json.loads(row["raw"]) if row["raw"] else {},
            post_text=row["post_text"], author_handle=row["author_handle"],
            is_hidden=None if row["is_hidden"] is None else bool(row["is_hidden"]),
        )

    def pending_comments(self, limit: int = 500) -> list[tuple[Comment, int]]:
        """Comments stored but not yet assessed (new or edited), oldest first, with the
        version to assess."""
        rows = self.db.query(
            "SELECT * FROM comments WHERE status = 'new' ORDER BY created_at, platform, comment_id LIMIT ?",
            [limit])
        return [(self.comment_from_row(r), r["version"]) for r in rows]

    def get_comment(self, platform: str, comment_id: str) -> Comment | None:
        """The current version of a comment, or None."""
        row = self.one("SELECT * FROM comments WHERE platform = ? AND comment_id = ?", [platform, comment_id])
        return self.comment_from_row(row) if row else None

    def save_assessment(self, comment: Comment, version: int, scores: Scores, assessment: Assessment,
                        now: datetime) -> list[StrikeRecord]:
        """Store scores, the assessment, the comment's policy keys and its strikes, and
        mark the comment assessed. Call inside :meth:`transaction` together with the
        alerts it causes. Returns the strikes newly recorded."""
        now_s = iso(now)
        p, cid = comment.platform, comment.comment_id
        self.db.execute(
            'INSERT OR REPLACE INTO scores(platform, comment_id, version, model, model_version, "values", '
            "language, readable, scored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [p, cid, version, scores.model, scores.model_version, dumps(dict(scores.values)),
             scores.language, int(scores.readable), now_s])
        self.db.execute(
            "INSERT OR REPLACE INTO assessments(platform, comment_id, version, categories, evidence, escalate, "
            "strikes, needs_review, review_reasons, counted, assessed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [p, cid, version, dumps(list(assessment.categories)), dumps(assessment.evidence_list()),
             int(assessment.escalate), dumps(list(assessment.strikes)), int(assessment.needs_review),
             dumps(list(assessment.review_reasons)), int(assessment.counted), now_s])
        for key in assessment.categories:
            self.db.execute(
                "INSERT OR IGNORE INTO comment_keys(platform, comment_id, key, account, created_at, first_version) "
                "VALUES (?, ?, ?, ?, ?, ?)", [p, cid, key, comment.account, iso(comment.created_at), version])
        new_strikes = []
        for key in assessment.strikes:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO strikes(platform, comment_id, key, author_id, at, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", [p, cid, key, comment.author_id, iso(comment.created_at), now_s])
            if cur.rowcount:
                new_strikes.append(StrikeRecord(p, cid, key, comment.created_at))
        flagged = bool(assessment.categories) or assessment.needs_review
        self.db.execute(
            "UPDATE comments SET status = 'assessed', flagged = MAX(flagged, ?) WHERE platform = ? AND comment_id = ?",
            [int(flagged), p, cid])
        return new_strikes

    def author_strikes(self, author_id: str) -> list[StrikeRecord]:
        """All strikes recorded against an author, oldest first."""
        return [StrikeRecord(r["platform"], r["comment_id"], r["key"], parse_time(r["at"]))
                for r in self.db.query("SELECT * FROM strikes WHERE author_id = ? ORDER BY at, comment_id, key",
                                       [author_id])]

    def last_block_recommendation(self, author_id: str) -> datetime | None:
        """When the last block recommendation for ``author_id`` was made, or None."""
        v = self.scalar("SELECT MAX(made_at) FROM block_recommendations WHERE author_id = ?", [author_id])
        return parse_time(v) if v else None

    def record_block_recommendation(self, decision: StrikeDecision, now: datetime,
                                    alert_id: int | None) -> None:
        """Record that a block recommendation was made (once per author per window)."""
        self.db.execute(
            "INSERT INTO block_recommendations(author_id, made_at, window_start, reason, strikes, alert_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [decision.author_id, iso(now), iso(decision.window_start) if decision.window_start else None,
             decision.reason,
             dumps([{"platform": s.platform, "comment_id": s.comment_id, "key": s.key, "at": iso(s.at)}
                    for s in decision.strikes]), alert_id])

    # ------------------------------------------------------------------ alerts
    def enqueue_alert(self, alert: Alert) -> int | None:
        """Store an alert in the outbox unless its ``dedupe_key`` is already there.

        :returns: the new alert id, or None when it was a duplicate (never alerts twice,
            across restarts).
        """
        cur = self.db.execute(
            "INSERT OR IGNORE INTO alerts(dedupe_key, kind, urgent, status, platform, account, post_id, author_id, "
            "comment_refs, categories, summary, details, created_at, review_status) "
            "VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [alert.dedupe_key, alert.kind, int(alert.urgent), alert.platform, alert.account, alert.post_id,
             alert.author_id, dumps([list(r) for r in alert.comment_refs]), dumps(list(alert.categories)),
             " ".join(alert.summary.split()), dumps(dict(alert.details)), iso(alert.created_at),
             "open" if alert.kind in REVIEW_KINDS else None])
        return cur.lastrowid if cur.rowcount else None

    # ------------------------------------------------------------------ audit, usage
    def audit(self, actor: str, action: str, target: str | None, reason: str | None,
              now: datetime, details: Mapping[str, Any] | None = None) -> int:
        """Append to the audit log (who, when, what, why). The table refuses UPDATE and
        DELETE (triggers). Returns the row id."""
        cur = self.db.execute(
            "INSERT INTO audit_log(at, actor, action, target, reason, details) VALUES (?, ?, ?, ?, ?, ?)",
            [iso(now), actor, action, target, reason, dumps(dict(details or {}))])
        return cur.lastrowid

    @staticmethod
    def month_key(now: datetime) -> str:
        """Calendar month (UTC) as ``YYYY-MM``: the unit of the X read budget."""
        return now.strftime("%Y-%m")

    def add_reads(self, account: str, now: datetime, reads: int) -> None:
        """Count ``reads`` posts read against the account's month."""
        self.db.execute(
            "INSERT INTO read_usage(account, month, reads) VALUES (?, ?, ?) "
            "ON CONFLICT(account, month) DO UPDATE SET reads = reads + excluded.reads",
            [account, self.month_key(now), reads])

    def reads_this_month(self, account: str, now: datetime) -> int:
        """Posts read by the account in ``now``'s calendar month."""
        return int(self.scalar("SELECT reads FROM read_usage WHERE account = ? AND month = ?",
                               [account, self.month_key(now)]) or 0)

    def recent_poll_errors(self, limit: int = 10) -> list[dict]:
        """The latest failed polls, newest first."""
        return list(self.db.query("SELECT * FROM poll_log WHERE ok = 0 ORDER BY id DESC LIMIT ?", [limit]))



def _guarded(method):
    """Wrap a Store method so any SQLite failure surfaces as :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    return wrapper


# Every public read or write (not only those inside transaction()) reports a read-only or
# full disk as a StoreError naming the file, never a raw sqlite3 error.
for _name, _fn in list(vars(Store).items()):
    if (callable(_fn) and not isinstance(_fn, (staticmethod, classmethod)) and not _name.startswith("_")
            and _name not in ("transaction", "migrate")):
        setattr(Store, _name, _guarded(_fn))

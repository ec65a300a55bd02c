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
from typing import Any, Callable, Iterator, Mapping, Sequence

from sqlite_utils import Database

from monitor.domain import (
    REVIEW_KINDS,
    Account,
    Alert,
    Assessment,
    Attachment,
    Comment,
    Post,
    QuarantinedPayload,
    Scores,
    StrikeDecision,
    StrikeRecord,
    iso,
    parse_time,
)
from monitor import chain as ch
from monitor.chain import GENESIS
from monitor.schema import migrations


class ChainWriter:
    """Appends rows to ``evidence_chain`` (the store and the migration share it).

    ``append(kind, platform, comment_id, version, at, record, details)``: the row's link is
    :func:`monitor.chain.link` of the previous row's and the record's SHA-256; an event
    (``record=None``) is its own record (:func:`monitor.chain.event_record`)."""

    def __init__(self, db: Database):
        self.db = db
        self.count = 0

    def head(self) -> tuple[int | None, str]:
        """``(row id, chain)`` of the last row, ``(None, GENESIS)`` when empty."""
        row = self.db.execute("SELECT id, chain FROM evidence_chain ORDER BY id DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (None, GENESIS)

    def append(self, kind: str, platform: str, comment_id: str, version: int | None, at: str,
               record: dict | None, details: dict | None = None) -> int:
        details_text = ch.canonical(details or {})
        if record is None:
            record = ch.event_record(kind, platform, comment_id, at, details_text)
        _, prev = self.head()
        cur = self.db.execute(
            "INSERT INTO evidence_chain(kind, platform, comment_id, version, at, details, chain) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [kind, platform, comment_id, version, at, details_text, ch.link(prev, kind, ch.record_sha256(record))])
        self.count += 1
        return cur.lastrowid


def version_record_in(db: Database, platform: str, comment_id: str, version: int,
                      author_hashes: dict[str, str] | None = None) -> dict | None:
    """The ``version`` record of a stored version (None when the row is missing). For a
    purged version the author SHA-256 comes from ``author_hashes`` (version number as text
    to hash, from the ``purged`` event) or, when not given, from the store's purge event."""
    rows = list(db.query("SELECT v.*, s.post_id AS s_post_id, s.parent_id AS s_parent_id, "
                         "s.author_id AS s_author_id FROM comment_versions v JOIN comment_state s "
                         "ON s.platform = v.platform AND s.comment_id = v.comment_id "
                         "WHERE v.platform = ? AND v.comment_id = ? AND v.version = ?",
                         [platform, comment_id, version]))
    if not rows:
        return None
    v = rows[0]
    if v["text"] is not None:
        author_hash = ch.author_sha256(v["author_name"], v["author_handle"])
    else:
        if author_hashes is None:
            row = db.execute("SELECT details FROM evidence_chain WHERE kind = 'purged' AND platform = ? "
                             "AND comment_id = ? ORDER BY id DESC LIMIT 1", [platform, comment_id]).fetchone()
            author_hashes = json.loads(row[0]).get("author_sha256", {}) if row else {}
        author_hash = author_hashes.get(str(version), "")
    return ch.version_record(v, post_id=v["s_post_id"], parent_id=v["s_parent_id"], author_id=v["s_author_id"],
                             author_hash=author_hash)


def assessment_record_in(db: Database, a: dict, model: str | None = None,
                         author_hashes: dict[str, str] | None = None) -> dict:
    """The ``assessment`` record of an ``assessments`` row as stored now, with its scores
    row (``model``: the scorer saved with it; default: the only / first one)."""
    p, cid, version = a["platform"], a["comment_id"], a["version"]
    sql = "SELECT * FROM scores WHERE platform = ? AND comment_id = ? AND version = ?"
    params: list = [p, cid, version]
    if model is not None:
        sql += " AND model = ?"
        params.append(model)
    scores = list(db.query(sql + " ORDER BY scored_at DESC, model LIMIT 1", params))
    vrec = version_record_in(db, p, cid, version, author_hashes)
    return ch.assessment_record(a, scores[0] if scores else None, ch.record_sha256(vrec) if vrec else "")


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


def any_json_text(value: Any) -> str:
    """Canonical JSON text of any JSON value (a quarantined payload need not be an
    object), non-ASCII escaped like :func:`raw_json_text`. A value JSON cannot hold
    (nested deeper than the interpreter can walk) is kept as its type and size."""
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=str)
    except (RecursionError, ValueError, TypeError) as exc:
        return json.dumps({"unserialisable_payload": type(value).__name__, "error": type(exc).__name__})


@dataclass(frozen=True)
class IngestStats:
    """What one :meth:`Store.ingest` did: counts of comments ``fetched``, ``new``,
    ``changed`` (a new version stored), ``unchanged``, ``deleted`` (marked), ``posts``,
    ``quarantined`` (payloads the connector could not read, new or seen before) and
    ``new_quarantine`` (``(row id, payload, stored raw JSON)`` of the rows new to the
    store: each needs an alert)."""

    fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    posts: int = 0
    quarantined: int = 0
    new_quarantine: tuple[tuple[int, QuarantinedPayload, str], ...] = ()


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
               started: datetime | None = None, user_reads: int = 0, cost_usd: float = 0.0,
               quarantined: Sequence[QuarantinedPayload] = (), errors: Sequence[str] = ()) -> IngestStats:
        """Store one poll's yield in ONE transaction: posts, comments (new ones, new
        versions of edited ones), deletion marks, the account's new cursor, reads counted
        against the month, and the poll's success in ``poll_log``. With ``cursor=None``
        (replay) the account row and ``poll_log`` are left alone.

        A comment already stored with the same content SHA-256 only has ``last_seen``
        updated, so the same data ingested twice adds no rows.

        :param platform: platform of ``deleted`` ids (defaults to the account's).
        :param user_reads: user objects read (X), counted with ``reads`` against the month.
        :param cost_usd: the poll's estimated X pay-per-use cost (US dollars).
        :param quarantined: payloads the connector could not map, stored in the
            ``quarantine`` table in the same transaction (one row per distinct payload).
        :param errors: problems that cut the poll short (a repeating paging token): the
            account's ``last_error`` and the ``poll_log`` row's ``error`` say so, although
            what was read is stored and the cursor moves.
        :raises StoreError: nothing is written when it fails.
        """
        stats: dict[str, Any] = dict(fetched=len(comments), new=0, changed=0, unchanged=0, deleted=0,
                                     posts=len(posts), quarantined=len(quarantined))
        new_quarantine: list[tuple[int, QuarantinedPayload, str]] = []
        error_text = "; ".join(" ".join(e.split()) for e in errors) or None
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
            for q in quarantined:
                row_id, raw_text, is_new = self._quarantine(q, now_s)
                if is_new:
                    new_quarantine.append((row_id, q, raw_text))
            plat = platform
            if plat is None:
                row = self.account_row(account)
                plat = row["platform"] if row else None
            if deleted and plat is not None:
                stats["deleted"] += self.mark_deleted(plat, deleted, now)
            if cursor is not None:
                self.db.execute(
                    "UPDATE accounts SET cursor = ?, last_poll_at = ?, last_success_at = ?, "
                    "consecutive_failures = 0, last_error = ?, "
                    "last_error_at = CASE WHEN ? IS NULL THEN last_error_at ELSE ? END WHERE key = ?",
                    [dumps(dict(cursor)), now_s, now_s, error_text, error_text, now_s, account])
            if reads or user_reads or cost_usd:
                self.add_reads(account, now, reads, user_reads=user_reads, cost_usd=cost_usd)
            if cursor is not None:  # a real poll (replay passes no cursor)
                self.db.execute(
                    "INSERT INTO poll_log(account, started_at, finished_at, ok, fetched, new, changed, deleted, "
                    "calls, reads, error) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
                    [account, iso(started or now), now_s, stats["fetched"], stats["new"], stats["changed"],
                     stats["deleted"], calls, reads, error_text])
        return IngestStats(**stats, new_quarantine=tuple(new_quarantine))

    def _quarantine(self, q: QuarantinedPayload, now_s: str) -> tuple[int, str, bool]:
        """Store one quarantined payload (inside the caller's transaction): a new row,
        or ``last_seen``/``times_seen`` moved on a row holding the same payload.
        Returns (row id, stored raw JSON text, whether the row is new)."""
        raw_text = any_json_text(q.raw)
        digest = raw_sha256(raw_text)
        cur = self.db.execute(
            "INSERT OR IGNORE INTO quarantine(platform, account, kind, post_id, item_id, reason, raw, raw_sha256, "
            "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [q.platform, q.account, q.kind, clean_text(q.post_id), clean_text(q.item_id),
             clean_text(q.reason) or "", raw_text, digest, now_s, now_s])
        if cur.rowcount:
            return int(cur.lastrowid), raw_text, True
        self.db.execute(
            "UPDATE quarantine SET last_seen = ?, times_seen = times_seen + 1 "
            "WHERE platform = ? AND account = ? AND raw_sha256 = ?", [now_s, q.platform, q.account, digest])
        row_id = self.scalar("SELECT id FROM quarantine WHERE platform = ? AND account = ? AND raw_sha256 = ?",
                             [q.platform, q.account, digest])
        return int(row_id), raw_text, False

    def set_quarantine_alert(self, row_id: int, alert_id: int | None) -> None:
        """Record the alert sent about a quarantine row."""
        self.db.execute("UPDATE quarantine SET alert_id = ? WHERE id = ?", [alert_id, row_id])

    def quarantine_summary(self, latest: int = 5) -> dict[str, Any]:
        """What ``status`` shows of the quarantine: ``{"total": n, "by_platform": {platform:
        n}, "newest": iso | None, "latest": [{"id", "platform", "account", "kind",
        "post_id", "item_id", "reason", "first_seen", "times_seen"}]}`` (newest first)."""
        by = {r["platform"]: r["n"] for r in self.db.query(
            "SELECT platform, COUNT(*) AS n FROM quarantine GROUP BY platform ORDER BY platform")}
        rows = list(self.db.query(
            "SELECT id, platform, account, kind, post_id, item_id, reason, first_seen, times_seen FROM quarantine "
            "ORDER BY id DESC LIMIT ?", [latest]))
        return {"total": sum(by.values()), "by_platform": by,
                "newest": rows[0]["first_seen"] if rows else None, "latest": rows}

    def _store_comment(self, account: str, c: Comment, now: datetime) -> str:
        now_s = iso(now)
        c = dataclasses.replace(
            c, text=clean_text(c.text) or "", author_name=clean_text(c.author_name) or "",
            author_handle=clean_text(c.author_handle), post_text=clean_text(c.post_text),
            permalink=clean_text(c.permalink))
        sha = c.content_sha256()
        raw_json = raw_json_text(c.raw)
        attachments = dumps([{"type": a.type, "url": a.url} for a in c.attachments])
        row = self.one("SELECT s.version, s.deleted_at, s.is_hidden, v.sha256, v.post_text FROM comment_state s "
                       "LEFT JOIN comment_versions v ON v.platform = s.platform AND v.comment_id = s.comment_id "
                       "AND v.version = s.version WHERE s.platform = ? AND s.comment_id = ?",
                       [c.platform, c.comment_id])
        self.db.execute(
            "INSERT INTO authors(author_id, platform, name, handle, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(author_id) DO UPDATE SET "
            "name = CASE WHEN excluded.name != '' THEN excluded.name ELSE authors.name END, "
            "handle = COALESCE(excluded.handle, authors.handle), last_seen = excluded.last_seen",
            [c.author_id, c.platform, c.author_name, c.author_handle, now_s, now_s])
        chain = ChainWriter(self.db)
        if row is not None and row["sha256"] == sha:
            self.db.execute("UPDATE comment_state SET last_seen = ? WHERE platform = ? AND comment_id = ?",
                            [now_s, c.platform, c.comment_id])
            if row["deleted_at"] is not None:  # served again: it was not deleted after all
                self.db.execute("UPDATE comment_state SET deleted_at = NULL WHERE platform = ? AND comment_id = ?",
                                [c.platform, c.comment_id])
                chain.append("restored", c.platform, c.comment_id, None, now_s, None)
            if c.is_hidden is not None and (row["is_hidden"] is None or bool(row["is_hidden"]) != c.is_hidden):
                self._hidden(c.platform, c.comment_id, c.is_hidden, now_s, "platform")
            return "unchanged"
        version = 1 if row is None else row["version"] + 1
        post_text = c.post_text if c.post_text is not None or row is None else row["post_text"]
        is_hidden = None if c.is_hidden is None else int(c.is_hidden)
        v = {"platform": c.platform, "comment_id": c.comment_id, "version": version, "account": account,
             "author_name": c.author_name, "author_handle": c.author_handle, "text": c.text,
             "created_at": iso(c.created_at), "permalink": c.permalink, "attachments": attachments, "raw": raw_json,
             "post_text": post_text, "is_hidden": is_hidden, "sha256": sha, "raw_sha256": raw_sha256(raw_json),
             "seen_at": now_s}
        record = ch.version_record(v, post_id=c.post_id, parent_id=c.parent_id, author_id=c.author_id,
                                   author_hash=ch.author_sha256(c.author_name, c.author_handle))
        v["digest"] = ch.digest(ch.version_digest_values(record, v), ch.VERSION_FIELDS + ch.VERSION_PURGEABLE)
        cols = list(v)
        self.db.execute(f"INSERT INTO comment_versions({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                        [v[k] for k in cols])
        chain.append("version", c.platform, c.comment_id, version, now_s, record)
        state = [account, c.post_id, c.parent_id, c.author_id, iso(c.created_at), version, now_s, is_hidden]
        if row is None:
            self.db.execute(
                "INSERT INTO comment_state(account, post_id, parent_id, author_id, created_at, version, last_seen, "
                "is_hidden, first_seen, platform, comment_id, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'new')",
                state + [now_s, c.platform, c.comment_id])
            return "new"
        self.db.execute(
            "UPDATE comment_state SET account = ?, post_id = ?, parent_id = ?, author_id = ?, created_at = ?, "
            "version = ?, last_seen = ?, is_hidden = ?, status = 'new', deleted_at = NULL "
            "WHERE platform = ? AND comment_id = ?", state + [c.platform, c.comment_id])
        return "changed"

    def _hidden(self, platform: str, comment_id: str, hidden: bool, now_s: str, by: str) -> None:
        self.db.execute("UPDATE comment_state SET is_hidden = ? WHERE platform = ? AND comment_id = ?",
                        [int(hidden), platform, comment_id])
        ChainWriter(self.db).append("hidden", platform, comment_id, None, now_s, None,
                                    {"hidden": bool(hidden), "by": by})

    def set_hidden(self, platform: str, comment_id: str, hidden: bool, now: datetime, by: str) -> None:
        """Record that a comment was hidden (``hidden=True``) or unhidden on the platform,
        by ``by`` (a coordinator's name): ``comment_state.is_hidden`` and a chained
        ``hidden`` event. Call inside :meth:`transaction`."""
        self._hidden(platform, comment_id, hidden, iso(now), by)

    def mark_deleted(self, platform: str, comment_ids: Sequence[str], now: datetime) -> int:
        """Record that the platform no longer serves these comments: ``deleted_at`` and a
        chained ``deleted`` event for each one held as live. Returns how many."""
        now_s, n = iso(now), 0
        chain = ChainWriter(self.db)
        for cid in comment_ids:
            cur = self.db.execute("UPDATE comment_state SET deleted_at = ? WHERE platform = ? AND comment_id = ? "
                                  "AND deleted_at IS NULL", [now_s, platform, cid])
            if cur.rowcount:
                chain.append("deleted", platform, cid, None, now_s, None)
                n += 1
        return n

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
        self._supersede_assessment(p, cid, version)
        s_row = {"platform": p, "comment_id": cid, "version": version, "model": scores.model,
                 "model_version": scores.model_version, "values": dumps(dict(scores.values)),
                 "language": scores.language, "readable": int(scores.readable), "scored_at": now_s}
        self.db.execute(
            'INSERT OR REPLACE INTO scores(platform, comment_id, version, model, model_version, "values", '
            "language, readable, scored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", list(s_row.values()))
        a_row = {"platform": p, "comment_id": cid, "version": version,
                 "categories": dumps(list(assessment.categories)), "evidence": dumps(assessment.evidence_list()),
                 "escalate": int(assessment.escalate), "strikes": dumps(list(assessment.strikes)),
                 "needs_review": int(assessment.needs_review), "review_reasons": dumps(list(assessment.review_reasons)),
                 "counted": int(assessment.counted), "assessed_at": now_s}
        vrec = version_record_in(self.db, p, cid, version)
        record = ch.assessment_record(a_row, s_row, ch.record_sha256(vrec) if vrec else "")
        self.db.execute(
            "INSERT OR REPLACE INTO assessments(platform, comment_id, version, categories, evidence, escalate, "
            "strikes, needs_review, review_reasons, counted, assessed_at, digest) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*a_row.values(), ch.digest(record, ch.ASSESSMENT_FIELDS)])
        ChainWriter(self.db).append("assessment", p, cid, version, now_s, record, {"model": scores.model})
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
            "UPDATE comment_state SET status = 'assessed', flagged = MAX(flagged, ?) WHERE platform = ? "
            "AND comment_id = ?",
            [int(flagged), p, cid])
        return new_strikes

    def _supersede_assessment(self, p: str, cid: str, version: int) -> None:
        """Before a version's assessment row is replaced (re-assessed, or redacted by a
        purge), keep the SHA-256, keys and strikes of the record it held in its chain row's
        ``details``, so that row still verifies once the assessment row changes."""
        old = self.one("SELECT * FROM assessments WHERE platform = ? AND comment_id = ? AND version = ?",
                       [p, cid, version])
        if old is None:
            return
        entry = self.one("SELECT id, details FROM evidence_chain WHERE platform = ? AND comment_id = ? "
                         "AND version = ? AND kind IN ('assessment', 'redaction') ORDER BY id DESC LIMIT 1",
                         [p, cid, version])
        if entry is None:
            return
        details = json.loads(entry["details"] or "{}")
        record = assessment_record_in(self.db, old, details.get("model"))
        details.update(record_sha256=ch.record_sha256(record), categories=record["categories"],
                       strikes=record["strikes"])
        self.db.execute("UPDATE evidence_chain SET details = ? WHERE id = ?", [ch.canonical(details), entry["id"]])

    def _chain_assessment(self, p: str, cid: str, version: int, model: str | None, kind: str, at: str,
                          author_hashes: dict[str, str] | None = None) -> None:
        """Digest the stored assessment of a version and append its record to the chain."""
        a = self.one("SELECT * FROM assessments WHERE platform = ? AND comment_id = ? AND version = ?",
                     [p, cid, version])
        record = assessment_record_in(self.db, a, model, author_hashes)
        self.db.execute("UPDATE assessments SET digest = ? WHERE platform = ? AND comment_id = ? AND version = ?",
                        [ch.digest(record, ch.ASSESSMENT_FIELDS), p, cid, version])
        ChainWriter(self.db).append(kind, p, cid, version, at, record, {"model": record["model"]})

    def record_verdict(self, platform: str, comment_id: str, alert_id: int | None, verdict: str,
                       keys: Sequence[str], by: str, now: datetime, note: str | None) -> int:
        """Store a coordinator's verdict on a comment (``verdicts``) and chain it. Call
        inside :meth:`transaction`. Returns the verdict id."""
        cur = self.db.execute(
            "INSERT INTO verdicts(platform, comment_id, alert_id, verdict, keys, by, at, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [platform, comment_id, alert_id, verdict, dumps(list(keys)), by,
                                                iso(now), note])
        vid = cur.lastrowid
        record = ch.verdict_record(self.one("SELECT * FROM verdicts WHERE id = ?", [vid]))
        self.db.execute("UPDATE verdicts SET digest = ? WHERE id = ?", [ch.digest(record, ch.VERDICT_FIELDS), vid])
        ChainWriter(self.db).append("verdict", platform, comment_id, None, record["at"], record, {"verdict_id": vid})
        return vid

    def purge_comment(self, platform: str, comment_id: str, now: datetime,
                      redact: Callable[[str], str] | None = None) -> int:
        """Retention purge of one comment: every version loses its text, payload,
        attachments and author name/handle; the comment gets ``purged_at`` and a chained
        ``purged`` event holding each version's author SHA-256 (so the versions still
        verify). With ``redact`` (evidence purges) each assessment's ``evidence`` JSON is
        replaced by ``redact(evidence)`` and re-chained as a ``redaction``. Call inside
        :meth:`transaction`. Returns the versions emptied."""
        now_s = iso(now)
        authors = {str(r["version"]): ch.author_sha256(r["author_name"], r["author_handle"])
                   for r in self.db.query("SELECT version, author_name, author_handle FROM comment_versions "
                                          "WHERE platform = ? AND comment_id = ? AND text IS NOT NULL",
                                          [platform, comment_id])}
        prior = self.one("SELECT details FROM evidence_chain WHERE kind = 'purged' AND platform = ? AND comment_id = ? "
                         "ORDER BY id DESC LIMIT 1", [platform, comment_id])
        if prior is not None:  # purged before (then edited): keep the earlier versions' hashes
            authors = {**json.loads(prior["details"]).get("author_sha256", {}), **authors}
        if redact is not None:
            for a in list(self.db.query("SELECT version, evidence FROM assessments WHERE platform = ? "
                                        "AND comment_id = ?", [platform, comment_id])):
                redacted = redact(a["evidence"])
                if redacted == a["evidence"]:
                    continue
                model = self.scalar("SELECT json_extract(details, '$.model') FROM evidence_chain WHERE platform = ? "
                                    "AND comment_id = ? AND version = ? AND kind IN ('assessment', 'redaction') "
                                    "ORDER BY id DESC LIMIT 1", [platform, comment_id, a["version"]])
                self._supersede_assessment(platform, comment_id, a["version"])
                self.db.execute("UPDATE assessments SET evidence = ? WHERE platform = ? AND comment_id = ? "
                                "AND version = ?", [redacted, platform, comment_id, a["version"]])
                self._chain_assessment(platform, comment_id, a["version"], model, "redaction", now_s)
        versions = self.db.execute(
            "UPDATE comment_versions SET text = NULL, raw = NULL, attachments = NULL, author_name = NULL, "
            "author_handle = NULL WHERE platform = ? AND comment_id = ? AND (text IS NOT NULL OR raw IS NOT NULL)",
            [platform, comment_id]).rowcount
        self.db.execute("UPDATE comment_state SET purged_at = ? WHERE platform = ? AND comment_id = ?",
                        [now_s, platform, comment_id])
        ChainWriter(self.db).append("purged", platform, comment_id, None, now_s, None, {"author_sha256": authors})
        return versions

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

    def add_reads(self, account: str, now: datetime, reads: int, *, user_reads: int = 0,
                  cost_usd: float = 0.0) -> None:
        """Count ``reads`` posts read, ``user_reads`` user objects read and ``cost_usd`` US
        dollars (kept as whole micro-USD) against the account's month."""
        self.db.execute(
            "INSERT INTO read_usage(account, month, reads, user_reads, cost_micro_usd) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(account, month) DO UPDATE SET reads = reads + excluded.reads, "
            "user_reads = user_reads + excluded.user_reads, cost_micro_usd = cost_micro_usd + excluded.cost_micro_usd",
            [account, self.month_key(now), reads, user_reads, int(round(cost_usd * 1_000_000))])

    def usage_this_month(self, account: str, now: datetime) -> dict[str, Any]:
        """``{"reads", "user_reads", "cost_usd"}`` of the account in ``now``'s calendar month
        (posts read, user objects read, the estimated X pay-per-use cost in US dollars)."""
        row = self.one("SELECT reads, user_reads, cost_micro_usd FROM read_usage WHERE account = ? AND month = ?",
                       [account, self.month_key(now)]) or {}
        return {"reads": int(row.get("reads") or 0), "user_reads": int(row.get("user_reads") or 0),
                "cost_usd": int(row.get("cost_micro_usd") or 0) / 1_000_000}

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

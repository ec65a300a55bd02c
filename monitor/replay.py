"""``school-monitor replay``: the same pipeline over past comments, offline.

Input: JSONL shaped like the bundled demo data, one comment per line: ``id``,
``platform`` (facebook/twitter/instagram), ``post`` (the school's post text), ``author_id``
(``fb:...``/``tw:...``/``ig:...``; a bare id is prefixed), ``author_name``, ``created_at`` (ISO 8601
with offset), ``text``, ``attachment`` (null, ``photo`` or ``video``). Extra keys (labels,
notes) are ignored.

Comments are processed in ``created_at`` order with the pipeline's clock at each comment's
own time, so strike windows and block recommendations fall as they would have. Each new
alert is written as a JSON line (``kind``, ``comment_ids``, ``author_id``, ``categories``,
``created_at``) and, with ``--mail-dir``, as an .eml file of the email it would send. This
is how a school tries its policy settings on past comments.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple

from monitor.config import Config
from monitor.domain import AUTHOR_PREFIX, PLATFORMS, Account, Attachment, Comment, Post, parse_time
from monitor.logging import get_logger


class ReplayInputError(ValueError):
    """A line of the replay input is unusable; the message names the line number."""


def post_id_for(platform: str, post_text: str) -> str:
    """A stable post id for a post known only by its text (``replay-<12 hex>``)."""
    return "replay-" + hashlib.sha256(f"{platform}\n{post_text}".encode("utf-8", "surrogatepass")).hexdigest()[:12]


def row_to_comment(row: dict[str, Any], line_no: int = 0) -> tuple[Comment, Post]:
    """Build the :class:`Comment` and its :class:`Post` from one input row.

    :raises ReplayInputError: naming the line and the missing or bad field.
    """
    where = f"line {line_no}" if line_no else "row"
    for key in ("id", "created_at", "text"):
        if key not in row or row[key] is None:
            raise ReplayInputError(f"{where}: missing {key!r}")
    platform = row.get("platform") or "facebook"
    if platform not in PLATFORMS:
        raise ReplayInputError(f"{where} (comment {row['id']}): unknown platform {platform!r}")
    try:
        created = parse_time(str(row["created_at"]))
    except ValueError as exc:
        raise ReplayInputError(f"{where} (comment {row['id']}): {exc}") from None
    author = str(row.get("author_id") or "")
    prefix = AUTHOR_PREFIX[platform]
    if author and ":" not in author:
        author = f"{prefix}:{author}"
    post_text = str(row.get("post") or "")
    post_id = post_id_for(platform, post_text)
    attachment = row.get("attachment")
    attachments = (Attachment(str(attachment)),) if attachment else ()
    account = f"replay-{platform}"
    comment = Comment(
        platform=platform, account=account, post_id=post_id, comment_id=str(row["id"]),
        parent_id=str(row["parent_id"]) if row.get("parent_id") else None,
        author_id=author, author_name=str(row.get("author_name") or ""), text=str(row["text"]),
        created_at=created, permalink=None, attachments=attachments,
        raw={k: v for k, v in row.items() if k not in ("categories", "escalate", "note")},
        post_text=post_text or None,
    )
    return comment, Post(platform, account, post_id, post_text, created)


def read_rows(fh: Iterable[str], errors: list[str], first_line: int = 1) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, dict)`` for each JSON line (numbered from ``first_line``);
    bad lines are added to ``errors``."""
    for n, line in enumerate(fh, first_line):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {n}: not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            errors.append(f"line {n}: expected a JSON object")
            continue
        yield n, row


class _Entry(NamedTuple):
    """One usable input line, as little as replay's ordering needs (pass 1)."""

    created_us: int       # created_at as microseconds since the epoch (exact order)
    comment_id: str
    offset: int           # byte offset of the line in the input
    line_no: int


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def index_input(path: Path, errors: list[str]) -> list[_Entry]:
    """Pass 1 over ``path``: check every line (as :func:`read_rows` and
    :func:`row_to_comment` do, problems added to ``errors`` in line order) and return the
    usable ones in replay order (``created_at``, then id) with their byte offsets. Keeps
    about 100 bytes per comment, never the comments.

    :raises OSError: the file cannot be read.
    """
    entries: list[_Entry] = []
    offset = 0
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            at = offset
            offset += len(raw)
            for _, row in read_rows([raw.decode("utf-8", "surrogateescape")], errors, first_line=n):
                try:
                    comment, _ = row_to_comment(row, n)
                except ReplayInputError as exc:
                    errors.append(str(exc))
                    continue
                entries.append(_Entry((comment.created_at - _EPOCH) // timedelta(microseconds=1),
                                      comment.comment_id, at, n))
    entries.sort(key=lambda e: (e.created_us, e.comment_id))
    return entries


def iter_comments(path: Path, entries: list[_Entry]) -> Iterator[tuple[Comment, Post]]:
    """Pass 2: the comments of ``entries``, in that order, one line read at a time."""
    with open(path, "rb") as fh:
        for e in entries:
            fh.seek(e.offset)
            row = json.loads(fh.readline().decode("utf-8", "surrogateescape"))
            yield row_to_comment(row, e.line_no)


def replay(config: Config, path: Path, db: Path | None, *, alerts_out: Path | None = None,
           mail_dir: Path | None = None, batch_size: int | None = None) -> dict[str, Any]:
    """Replay ``path`` into the store at ``db``.

    The input is streamed: a first pass checks every line and keeps only each comment's
    time, id and byte offset; the second reads the comments one line at a time in
    ``created_at`` order. They are stored one by one with the pipeline's clock at each
    comment's time, and scored in batches of ``batch_size`` (default ``[classifier]
    batch_size``, the engine's), then assessed in the same order, each at its own time:
    the output is the same for every batch size, and memory does not grow with the input.

    :param db: the store to fill; None: a temporary store, deleted at the end (the alerts
        still go to ``alerts_out`` and ``mail_dir``).
    :returns: a summary: comments read, stored, skipped lines (with reasons), alerts by kind,
        comments per policy key, the store (None when temporary).
    :raises FileNotFoundError: (an :class:`OSError`) when ``path`` cannot be read.
    """
    import tempfile

    log = get_logger()
    errors: list[str] = []
    entries = index_input(path, errors)
    for e in errors:
        log.warning("replay_skipped", detail=e)
    if db is None:
        with tempfile.TemporaryDirectory(prefix="school-monitor-replay-") as tmp:
            return _replay(config, path, entries, errors, Path(tmp) / "replay.db", None, alerts_out, mail_dir,
                           batch_size)
    return _replay(config, path, entries, errors, db, db, alerts_out, mail_dir, batch_size)


def _replay(config: Config, path: Path, entries: list[_Entry], errors: list[str], db: Path, shown_db: Path | None,
            alerts_out: Path | None, mail_dir: Path | None, batch_size: int | None) -> dict[str, Any]:
    from monitor.delivery.alerts import alert_to_json, recipients_for, render_alert_message
    from monitor.app import build_engine_and_categoriser
    from monitor.pipeline import Pipeline, SettableClock
    from monitor.store import Store

    store = Store.open(db)
    engine, categoriser = build_engine_and_categoriser(config)
    first = datetime.fromtimestamp(entries[0].created_us / 1e6, timezone.utc) if entries else None
    clock = SettableClock(first or datetime.now().astimezone())
    out_fh = open(alerts_out, "w", encoding="utf-8") if alerts_out else None
    if mail_dir:
        mail_dir.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, int] = {}

    def on_alert(alert_id: int) -> None:
        row = store.one("SELECT * FROM alerts WHERE id = ?", [alert_id])
        if row is None:
            return
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
        if out_fh:
            out_fh.write(json.dumps(alert_to_json(row), ensure_ascii=False, sort_keys=True) + "\n")
        if mail_dir:
            msg = render_alert_message([row], config, store)
            to = recipients_for([row], config)
            msg["To"] = ", ".join(to) if to else "undisclosed-recipients:;"  # no [alerts.recipients] set
            msg["Date"] = email.utils.format_datetime(parse_time(row["created_at"]))
            msg["Message-ID"] = f"<replay.{alert_id}.{row['kind']}@school-monitor.invalid>"
            (mail_dir / f"alert-{alert_id:05d}-{row['kind']}.eml").write_bytes(bytes(msg))

    size = batch_size or config.classifier.batch_size
    pipeline = Pipeline(config, store, engine, categoriser, clock=clock, on_alert=on_alert, batch_size=size)
    batch: list[tuple[Comment, int]] = []
    times: list[datetime] = []
    in_batch: set[tuple[str, str]] = set()

    def flush() -> None:
        if batch:
            pipeline.assess_batch(batch, at=times)
            batch.clear()
            times.clear()
            in_batch.clear()

    try:
        for comment, post in iter_comments(path, entries):
            if comment.ref in in_batch:
                flush()  # a second version of a comment: the first is assessed before it is stored
            clock.now = comment.created_at
            store.ensure_account(Account(comment.account, comment.platform, "replay", "replay"), clock.now)
            store.ingest(comment.account, [post], [comment], [], None, clock.now, platform=comment.platform)
            row = store.one("SELECT * FROM comments WHERE platform = ? AND comment_id = ? AND status = 'new'",
                            [comment.platform, comment.comment_id])
            if row is not None:
                batch.append((store.comment_from_row(row), row["version"]))
                times.append(comment.created_at)
                in_batch.add(comment.ref)
            if len(batch) >= size:
                flush()
        flush()
        pipeline.process_pending()  # anything left 'new' in a reused store
    finally:
        if out_fh:
            out_fh.close()
    keys = {r["key"]: r["n"] for r in store.db.query(
        "SELECT key, COUNT(*) AS n FROM comment_keys GROUP BY key ORDER BY key")}
    summary = {"comments_read": len(entries), "skipped_lines": errors, "alerts": kinds, "categories": keys,
               "db": str(shown_db) if shown_db is not None else None}
    store.close()
    return summary

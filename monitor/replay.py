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
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Iterator

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


def read_rows(fh: IO[str], errors: list[str]) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, dict)`` for each JSON line; bad lines are added to ``errors``."""
    for n, line in enumerate(fh, 1):
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


def replay(config: Config, path: Path, db: Path, *, alerts_out: Path | None = None,
           mail_dir: Path | None = None) -> dict[str, Any]:
    """Replay ``path`` into the store at ``db``.

    :returns: a summary: comments read, stored, skipped lines (with reasons), alerts by kind,
        comments per policy key.
    :raises FileNotFoundError: when ``path`` does not exist.
    """
    from monitor.alerts import alert_to_json, recipients_for, render_alert_message
    from monitor.app import build_engine_and_categoriser
    from monitor.pipeline import Pipeline, SettableClock
    from monitor.store import Store

    log = get_logger()
    errors: list[str] = []
    comments: list[tuple[Comment, Post]] = []
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        for n, row in read_rows(fh, errors):
            try:
                comments.append(row_to_comment(row, n))
            except ReplayInputError as exc:
                errors.append(str(exc))
    for e in errors:
        log.warning("replay_skipped", detail=e)
    comments.sort(key=lambda cp: (cp[0].created_at, cp[0].comment_id))

    store = Store.open(db)
    engine, categoriser = build_engine_and_categoriser(config)
    clock = SettableClock(comments[0][0].created_at if comments else datetime.now().astimezone())
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

    pipeline = Pipeline(config, store, engine, categoriser, clock=clock, on_alert=on_alert, batch_size=1)
    try:
        for comment, post in comments:
            clock.now = comment.created_at
            store.ensure_account(Account(comment.account, comment.platform, "replay", "replay"), clock.now)
            store.ingest(comment.account, [post], [comment], [], None, clock.now, platform=comment.platform)
            pipeline.process_pending()
    finally:
        if out_fh:
            out_fh.close()
    keys = {r["key"]: r["n"] for r in store.db.query(
        "SELECT key, COUNT(*) AS n FROM comment_keys GROUP BY key ORDER BY key")}
    summary = {"comments_read": len(comments), "skipped_lines": errors, "alerts": kinds, "categories": keys,
               "db": str(db)}
    store.close()
    return summary

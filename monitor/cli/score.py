"""``school-monitor score INPUT --config CONF [-o OUT]``: score and categorise comments from
a file, one JSON line out per comment in.

INPUT is JSONL (one object per line with at least ``id`` and ``text``; optionally
``platform``, ``author_id``, ``author_name``, ``created_at``, ``attachment``, ``post``
(the school post's text), ``post_id``, ``parent_id``) or CSV (``--text-column``,
``--id-column``; chosen by a ``.csv`` name, either column option, or ``--format csv``).
``-`` reads standard input.

Each output line: ``id``, ``scores`` ({Detoxify label: probability}), ``language`` (ISO
639-1 or null), ``needs_review``, ``categories`` (policy keys), ``escalate``, ``evidence``
(list of :meth:`monitor.domain.Evidence.to_dict`), plus ``review_reasons`` and ``model``.
Comments are read, scored and written in batches, so memory stays flat whatever the input
size. Bad rows (invalid JSON, no id, no text, bad timestamp) are reported on stderr with
their line number and skipped; the exit status is 0 unless the input or the config
cannot be used.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Iterator, Mapping

from monitor.cli.util import CommandError, add_config_arg, load_config_from_args, visible
from monitor.domain import PLATFORMS, Attachment, Comment, parse_time

#: Rows scored per batch when the config's batch size is smaller.
MIN_BATCH = 256


@dataclass(frozen=True)
class Row:
    """One usable input row: its line number, id and the comment built from it."""

    line: int
    id: str
    comment: Comment


class BadRow(Exception):
    """An input row that cannot be scored; the message names the problem."""


def _text(value: Any) -> str | None:
    """A JSON scalar as text: strings as they are, numbers (ids such as ``7``) as their
    decimal form; None for anything else (null, booleans, objects)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def comment_from_row(data: Mapping[str, Any], now: datetime | None = None) -> tuple[str, Comment]:
    """Build ``(id, Comment)`` from one input row (a JSON object or CSV record).

    Defaults: platform ``facebook``, author_id ``""``, created_at now (UTC); ``attachment``
    may be ``"photo"``/``"video"``/any type name, ``{"type": ..., "url": ...}``, or a list
    of those.

    :raises BadRow: no id, no text (missing or blank), unknown platform, bad created_at.
    """
    cid = _text(data.get("id"))
    if cid is None or not cid.strip():
        raise BadRow("no id")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadRow(f"comment {cid}: no text")
    platform = data.get("platform") or "facebook"
    if platform not in PLATFORMS:
        raise BadRow(f"comment {cid}: unknown platform {platform!r} (expected {' or '.join(PLATFORMS)})")
    created = data.get("created_at")
    if created:
        try:
            created_at = parse_time(str(created))
        except ValueError as exc:
            raise BadRow(f"comment {cid}: created_at {exc}") from None
    else:
        created_at = now or datetime.now(timezone.utc)
    raw_att = data.get("attachment", data.get("attachments"))
    items = raw_att if isinstance(raw_att, list) else [raw_att]
    attachments = []
    for a in items:
        if isinstance(a, str) and a.strip():
            attachments.append(Attachment(a.strip().lower()))
        elif isinstance(a, Mapping) and a.get("type"):
            attachments.append(Attachment(str(a["type"]).lower(), a.get("url")))
    post = data.get("post")
    return cid, Comment(
        platform=platform,
        account=_text(data.get("account")) or "score",
        post_id=_text(data.get("post_id")) or "",
        comment_id=cid,
        parent_id=_text(data.get("parent_id")) or None,
        author_id=_text(data.get("author_id")) or "",
        author_name=_text(data.get("author_name")) or "",
        text=text,
        created_at=created_at,
        attachments=tuple(attachments),
        raw=dict(data),
        post_text=post if isinstance(post, str) else None,
    )


def read_jsonl(fh: IO[str]) -> Iterator[tuple[int, Mapping[str, Any] | BadRow]]:
    """Yield ``(line number, object or BadRow)`` for each non-blank line."""
    for n, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            yield n, BadRow(f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield n, BadRow(f"expected a JSON object, got {type(data).__name__}")
            continue
        yield n, data


def read_csv(fh: IO[str], text_column: str, id_column: str) -> Iterator[tuple[int, Mapping[str, Any] | BadRow]]:
    """Yield ``(line number, record or BadRow)`` for each CSV record; the columns are
    renamed to ``text`` and ``id`` (other columns keep their names).

    :raises CommandError: the header lacks the text or id column.
    """
    reader = csv.DictReader(fh)
    header = reader.fieldnames or []
    for col, opt in ((text_column, "--text-column"), (id_column, "--id-column")):
        if col not in header:
            raise CommandError(f"CSV has no column {col!r} ({opt}); columns are: {', '.join(header) or '(none)'}", 2)
    while True:
        start = reader.line_num + 1
        try:
            rec = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, BadRow(f"bad CSV: {exc}")
            continue
        if None in rec:
            yield start, BadRow("more fields than the header")
            continue
        row = {k: v for k, v in rec.items() if v is not None and v != ""}
        row["id"] = rec.get(id_column)
        row["text"] = rec.get(text_column)
        yield start, row


class _Progress:
    """A one-line progress display on stderr, shown only when stderr is a terminal."""

    def __init__(self, stream: IO[str], total_bytes: int | None):
        self.stream = stream
        self.enabled = stream.isatty()
        self.total = total_bytes
        self.start = time.monotonic()
        self.last = 0.0

    def update(self, done: int, pos: int | None, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last < 0.2:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if self.total and pos is not None:
            frac = min(pos / self.total, 1.0)
            bar = "#" * int(frac * 30)
            msg = f"\r[{bar:<30}] {frac:4.0%} {done} comments, {rate:,.0f}/s"
        else:
            msg = f"\r{done} comments, {rate:,.0f}/s"
        self.stream.write(msg + ("\n" if final else ""))
        self.stream.flush()


def score_stream(rows: Iterator[tuple[int, Mapping[str, Any] | BadRow]], engine: Any, categoriser: Any,
                 out: IO[str], err: IO[str], batch_size: int = MIN_BATCH,
                 progress: _Progress | None = None, position=None) -> tuple[int, int]:
    """Score ``rows`` in batches and write one JSON line per good row to ``out``; report
    bad rows on ``err`` as ``line N: problem``. Returns ``(written, skipped)``.

    :param engine: a :class:`classifiers.engine.ScoringEngine`.
    :param categoriser: a :class:`classifiers.policy.Categoriser`, or None (categories
        empty, ``needs_review`` from readability alone).
    """
    written = skipped = 0
    batch: list[Row] = []
    now = datetime.now(timezone.utc)

    def flush() -> None:
        nonlocal written
        if not batch:
            return
        nonlocal skipped
        scores = engine.score([r.comment.text for r in batch])
        for r, s in zip(batch, scores):
            record: dict[str, Any] = {
                "id": r.id,
                "scores": {k: round(float(v), 6) for k, v in s.values.items()},
                "language": s.language,
            }
            if categoriser is not None:
                try:
                    a = categoriser.assess(r.comment, s)
                except Exception as exc:  # noqa: BLE001 - one comment must not stop a long run
                    err.write(visible(f"line {r.line}: comment {r.id}: categoriser failed ({type(exc).__name__}: "
                                      f"{exc}); skipped") + "\n")
                    skipped += 1
                    continue
                record.update(
                    needs_review=bool(a.needs_review or not s.readable),
                    categories=list(a.categories),
                    escalate=bool(a.escalate),
                    evidence=a.evidence_list(),
                    review_reasons=list(a.review_reasons)
                    or ([] if s.readable else ["language the scorer cannot read"]),
                )
            else:
                record.update(needs_review=not s.readable, categories=[], escalate=False, evidence=[],
                              review_reasons=[] if s.readable else ["language the scorer cannot read"])
            record["model"] = f"{s.model} {s.model_version}"
            # the same JSON, with bidi, C1 and other invisible characters as \u escapes (terminals)
            out.write(visible(json.dumps(record, ensure_ascii=False)) + "\n")
            written += 1
        out.flush()
        batch.clear()
        if progress is not None:
            progress.update(written, position() if position else None)

    for line, item in rows:
        if isinstance(item, BadRow):
            err.write(visible(f"line {line}: {item}; skipped") + "\n")
            skipped += 1
            continue
        try:
            cid, comment = comment_from_row(item, now)
        except BadRow as exc:
            err.write(visible(f"line {line}: {exc}; skipped") + "\n")
            skipped += 1
            continue
        batch.append(Row(line, cid, comment))
        if len(batch) >= batch_size:
            flush()
    flush()
    if progress is not None:
        progress.update(written, position() if position else None, final=True)
    return written, skipped


def load_categoriser(config: Any) -> Any:
    """The policy categoriser (:class:`classifiers.policy.Categoriser`), or None if that
    package is not installed in this build."""
    try:
        from classifiers.policy import Categoriser
    except ImportError:
        return None
    return Categoriser(config)


def cmd_score(args: argparse.Namespace) -> int:
    """Handler of ``score``: returns the exit status (0, or raises CommandError)."""
    from classifiers import ScorerError, build_engine

    config = load_config_from_args(args)
    fmt = args.format
    if fmt == "auto":
        fmt = "csv" if (str(args.input).lower().endswith(".csv") or args.text_column or args.id_column) else "jsonl"
    if args.input == "-":
        fh: IO[str] = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="" if fmt == "csv" else None)
        total = None
    else:
        path = Path(args.input)
        try:
            fh = open(path, encoding="utf-8", errors="replace", newline="" if fmt == "csv" else None)
            total = path.stat().st_size
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}", 2) from None
    try:
        engine = build_engine(config.classifier, base_dir=config.base_dir)
    except ScorerError as exc:
        fh.close()
        raise CommandError(f"cannot load the scorer: {exc}") from None
    categoriser = load_categoriser(config)
    out_fh: IO[str]
    if args.output and args.output != "-":
        try:
            out_fh = open(args.output, "w", encoding="utf-8")
        except OSError as exc:
            fh.close()
            raise CommandError(f"cannot write {args.output}: {exc.strerror}", 2) from None
    else:
        out_fh = sys.stdout
    try:
        rows = read_jsonl(fh) if fmt == "jsonl" else read_csv(fh, args.text_column or "text", args.id_column or "id")
        progress = _Progress(sys.stderr, total)
        raw = getattr(fh, "buffer", None)
        position = (lambda: raw.tell()) if (raw is not None and total) else None
        written, skipped = score_stream(rows, engine, categoriser, out_fh, sys.stderr,
                                        batch_size=max(config.classifier.batch_size, MIN_BATCH),
                                        progress=progress, position=position)
    finally:
        fh.close()
        if out_fh is not sys.stdout:
            out_fh.close()
    if skipped:
        print(f"{written} comments scored, {skipped} bad rows skipped", file=sys.stderr)
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``score`` command to the ``school-monitor`` sub-parsers."""
    p = sub.add_parser(
        "score",
        help="score and categorise comments from a JSONL or CSV file, one JSON line each",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="JSONL or CSV file of comments ('-' for standard input)")
    add_config_arg(p)
    p.add_argument("-o", "--output", metavar="OUT", help="write JSON lines here (default: standard output)")
    p.add_argument("--format", choices=("auto", "jsonl", "csv"), default="auto",
                   help="input format (default: csv for a .csv name or when a column option is given)")
    p.add_argument("--text-column", metavar="C", help="CSV column holding the comment text (default: text)")
    p.add_argument("--id-column", metavar="C", help="CSV column holding the comment id (default: id)")
    p.set_defaults(func=cmd_score)

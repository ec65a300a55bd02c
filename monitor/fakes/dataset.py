"""The demo data set as platform-neutral records, for the fake platform servers.

The bundled ``comments.jsonl`` lines (``id``, ``platform``, ``post`` (the school's post
text), ``author_id``, ``author_name``, ``created_at``, ``text``, ``attachment``) are grouped
into school posts; each post gets a deterministic native id and a creation time one hour
before its first comment. Ids are stable across runs so the demo and tests are repeatable.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable

from monitor.domain import parse_time


@dataclass
class FakePost:
    """A school post on a fake platform. ``native_id`` is the platform id (Graph
    ``{page}_{n}``, X numeric string); ``comments`` are in created_at order."""

    platform: str
    native_id: str
    text: str
    created_at: datetime
    comments: list["FakeComment"] = field(default_factory=list)


@dataclass
class FakeComment:
    """A comment on a fake platform. ``author_id`` is the native user id (no ``fb:``/``tw:``
    prefix); ``source_id`` is the demo line id (``A-0001``); ``attachment`` is None,
    ``photo`` or ``video``; ``hidden`` and ``deleted`` are toggled by tests."""

    platform: str
    native_id: str
    post_id: str
    source_id: str
    author_id: str
    author_name: str
    created_at: datetime
    text: str
    attachment: str | None = None
    parent_id: str | None = None
    hidden: bool = False
    deleted: bool = False


def _num(seed: str, digits: int) -> str:
    h = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    return str(10 ** (digits - 1) + h % (9 * 10 ** (digits - 1)))


def build_posts(rows: Iterable[dict], page_id: str = "1000", x_user_id: str = "2000") -> list[FakePost]:
    """Group demo rows into :class:`FakePost` objects with stable native ids.

    :param rows: dicts shaped like a ``comments.jsonl`` line.
    :raises KeyError: when a row lacks a required field (names it).
    """
    posts: dict[tuple[str, str], FakePost] = {}
    for row in sorted(rows, key=lambda r: parse_time(r["created_at"])):
        platform, text = row["platform"], row["post"]
        created = parse_time(row["created_at"])
        key = (platform, text)
        if key not in posts:
            native = f"{page_id}_{_num(text, 15)}" if platform == "facebook" else _num(text, 19)
            posts[key] = FakePost(platform, native, text, created - timedelta(hours=1))
        post = posts[key]
        raw_author = row["author_id"].split(":", 1)[-1]
        if platform == "facebook":
            cid = f"{post.native_id.split('_')[1]}_{_num(row['id'], 16)}"
        else:
            cid = _num(row["id"], 19)
        post.comments.append(FakeComment(
            platform=platform, native_id=cid, post_id=post.native_id, source_id=row["id"],
            author_id=raw_author, author_name=row.get("author_name") or "",
            created_at=created, text=row["text"], attachment=row.get("attachment"),
        ))
    return list(posts.values())


def load_demo_posts(path: str | Path | None = None, page_id: str = "1000",
                    x_user_id: str = "2000") -> list[FakePost]:
    """Load the bundled demo comments (or ``path``) as :class:`FakePost` objects."""
    if path is None:
        from monitor.demo_data import path as demo_path

        path = demo_path("comments.jsonl")
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return build_posts(rows, page_id=page_id, x_user_id=x_user_id)

"""A fake Instagram API with Facebook Login for one Instagram professional account: a real
HTTP server on 127.0.0.1, on the fake Graph server's machinery (:class:`FakeGraphServer`:
the same token and ``appsecret_proof`` checks, Graph error objects, faults, delays, usage
headers, ``facebook-api-version`` header and request log).

It answers the paths :class:`connectors.instagram.InstagramConnector` calls, with the shapes
of Meta's Instagram Platform reference ("IG User", "IG User Media", "IG Media Comments",
"IG Comment Replies", "IG Comment"):

* ``GET /{v}/{ig-user-id}?fields=id,username,name``: the account;
* ``GET /{v}/{ig-user-id}/media``: IG Media newest first, ``{"data": [{"id", "caption",
  "timestamp": "2026-10-05T15:02:11+0000", "permalink":
  "https://www.instagram.com/p/<shortcode>/", "media_type": "IMAGE" | "CAROUSEL_ALBUM" |
  "VIDEO", "comments_count"}], "paging": {"cursors": {"before", "after"}, "next"}}``;
  ``comments_count`` counts comments and replies;
* ``GET /{v}/{ig-media-id}/comments``: top-level comments, newest first, ``{"data": [{"id",
  "text", "timestamp", "from": {"id", "username"}, "username", "hidden", "like_count"}],
  "paging": {...}}`` (``limit`` at most 50); hidden comments are served to the owner with
  ``"hidden": true``;
* ``GET /{v}/{ig-comment-id}/replies``: the comment's replies, oldest first, each with
  ``parent_id``;
* ``GET /{v}/{ig-media-id}``, ``GET /{v}/{ig-comment-id}``: the node;
* ``POST /{v}/{ig-comment-id}?hide=true|false``: ``{"success": true}`` (needs
  ``instagram_manage_comments``; error 100 without ``hide``);
* ``GET /{v}/debug_token`` as on the fake Graph server (the Page token of the linked Page).

Test controls: :meth:`add_media`, :meth:`add_comment`, :meth:`delete_comment`,
:meth:`empty_pages`, and the inherited :meth:`fail_next`, :meth:`delay`,
:meth:`set_usage`, :attr:`requests`, :meth:`reset_requests`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from monitor.fakes.dataset import FakeComment, FakePost
from monitor.fakes.graph import FakeGraphServer, GraphFault, _gtime, _key_cursor, _key_uncursor, parse_fields
from monitor.domain import parse_time

DEFAULT_IG_SCOPES = ("instagram_basic", "instagram_manage_comments", "pages_read_engagement", "pages_show_list")
_COMMENT_LIMIT = 50
_MEDIA_LIMIT = 100


def _num(seed: str, digits: int = 17) -> str:
    h = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    return "17" + str(10 ** (digits - 3) + h % (9 * 10 ** (digits - 3)))


def _shortcode(media_id: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    n = int(hashlib.sha256(media_id.encode()).hexdigest(), 16)
    return "".join(alphabet[(n >> (6 * i)) & 63] for i in range(11))


def build_instagram_media(rows: Iterable[dict]) -> list[FakePost]:
    """Group ``instagram.jsonl``-shaped rows (``id``, ``post`` (the caption), ``media_type``,
    ``author_id`` (``ig:<id>``), ``author_name`` (the username), ``created_at``, ``text``,
    ``parent_id`` (the ``id`` of the row replied to, or null)) into media with stable
    17-digit Instagram ids; each media is posted one hour before its first comment.

    :raises KeyError: when a row lacks a field or replies to an unknown row."""
    media: dict[str, FakePost] = {}
    native: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: parse_time(r["created_at"])):
        caption = row["post"]
        created = parse_time(row["created_at"])
        if caption not in media:
            m = FakePost("instagram", _num("media:" + caption), caption, created - timedelta(hours=1))
            media[caption] = m
        m = media[caption]
        cid = _num("comment:" + row["id"])
        native[row["id"]] = cid
        parent = native[row["parent_id"]] if row.get("parent_id") else None
        m.comments.append(FakeComment(platform="instagram", native_id=cid, post_id=m.native_id, source_id=row["id"],
                                      author_id=row["author_id"].split(":", 1)[-1],
                                      author_name=row.get("author_name") or "", created_at=created,
                                      text=row["text"], parent_id=parent))
    return list(media.values())


def load_demo_instagram(path: str | Path | None = None) -> list[FakePost]:
    """The bundled Instagram demo comments (``monitor/demo_data/instagram.jsonl``) as media."""
    if path is None:
        from monitor.demo_data import path as demo_path

        path = demo_path("instagram.jsonl")
    with open(path, encoding="utf-8") as f:
        return build_instagram_media(json.loads(line) for line in f if line.strip())


class FakeInstagramServer(FakeGraphServer):
    """A loopback Instagram API (Facebook Login path) serving one professional account.

    :param media: :class:`~monitor.fakes.dataset.FakePost` objects with ``platform ==
        "instagram"`` (others are ignored), used in place.
    :param ig_user_id: the Instagram professional account id.
    :param username: its username.
    :param page_id: the linked Facebook Page (``debug_token`` ``profile_id``).
    :param token: the only access token accepted (the linked Page's token).
    :param scopes: permissions reported by ``debug_token``.
    :param rebase_to: shift every timestamp so the newest comment is one hour before it.
    Other keywords as :class:`~monitor.fakes.graph.FakeGraphServer`.
    """

    def __init__(self, media: Iterable[FakePost] = (), ig_user_id: str = "17841400000003000",
                 username: str = "brookfieldprimary", page_id: str = "1000", token: str = "fake-page-token", *,
                 scopes: Iterable[str] = DEFAULT_IG_SCOPES, rebase_to: datetime | None = None, **kwargs: Any):
        super().__init__((), page_id=page_id, token=token, scopes=scopes, **kwargs)
        self.ig_user_id = ig_user_id
        self.username = username
        self._media: dict[str, FakePost] = {}
        self._media_type: dict[str, str] = {}
        items = [m for m in media if m.platform == "instagram"]
        if rebase_to is not None and items:
            newest = max([c.created_at for m in items for c in m.comments] + [m.created_at for m in items])
            shift = (rebase_to - timedelta(hours=1)) - newest
            for m in items:
                m.created_at += shift
                for c in m.comments:
                    c.created_at += shift
        for m in items:
            self._index_media(m)

    # ---------------------------------------------------------------- data controls
    def _index_media(self, m: FakePost, media_type: str | None = None) -> None:
        self._media[m.native_id] = m
        self._media_type[m.native_id] = media_type or ("CAROUSEL_ALBUM" if len(m.text) % 3 == 0 else "IMAGE")
        m.comments.sort(key=lambda c: (c.created_at, c.native_id))
        for c in m.comments:
            self._comments[c.native_id] = c

    def add_media(self, caption: str, created_at: datetime | None = None, media_type: str = "IMAGE") -> str:
        """Publish a media; returns its id."""
        with self._lock:
            self._seq += 1
            mid = f"179{self._seq:014d}"
            self._index_media(FakePost("instagram", mid, caption, created_at or datetime.now(timezone.utc)), media_type)
            return mid

    def add_comment(self, media_id: str, text: str, *, author_id: str = "17841400000009999",  # type: ignore[override]
                    author_name: str = "test_parent", created_at: datetime | None = None,
                    parent_id: str | None = None, **_: Any) -> str:
        """Add a comment (or a reply when ``parent_id`` is a top-level comment id; a reply
        to a reply goes to its top-level comment, as on Instagram); returns its id.

        :raises KeyError: for an unknown media or parent id."""
        with self._lock:
            media = self._media[media_id]
            if parent_id is not None:
                parent = self._comments[parent_id]
                parent_id = parent.parent_id or parent_id
            self._seq += 1
            cid = f"178{self._seq:014d}"
            c = FakeComment(platform="instagram", native_id=cid, post_id=media_id, source_id=f"added-{self._seq}",
                            author_id=author_id, author_name=author_name,
                            created_at=created_at or datetime.now(timezone.utc), text=text, parent_id=parent_id)
            media.comments.append(c)
            media.comments.sort(key=lambda x: (x.created_at, x.native_id))
            self._comments[cid] = c
            return cid

    @property
    def media(self) -> list[FakePost]:
        """The served media, oldest first."""
        return sorted(self._media.values(), key=lambda m: (m.created_at, m.native_id))

    # ---------------------------------------------------------------- request handling
    def handle(self, method: str, path: str, q: dict[str, str], form: dict[str, str],
               headers: Any, url_query: str) -> tuple[int, dict]:
        """As :meth:`FakeGraphServer.handle`; a POST's query parameters count as its form
        (Instagram documents ``POST /{ig-comment-id}?hide=true``)."""
        if method == "POST":
            form = {**q, **form}
        return super().handle(method, path, q, form, headers, url_query)

    def _live(self, m: FakePost) -> list[FakeComment]:  # type: ignore[override]
        return [c for c in m.comments if not c.deleted]

    def _get(self, parts: list[str], q: dict[str, str], url_query: str) -> dict:
        if parts in (["debug_token"], ["me", "permissions"]):
            return super()._get(parts, q, url_query)
        fields = parse_fields(q.get("fields", ""))
        oid = parts[0]
        if len(parts) == 1:
            if oid == self.ig_user_id:
                full = {"id": self.ig_user_id, "username": self.username, "name": self.page_name,
                        "media_count": len(self._media)}
                return {k: v for k, v in full.items() if k in fields or not fields}
            if oid in self._media:
                return self._media_json(self._media[oid], fields)
            c = self._comments.get(oid)
            if c is not None and not c.deleted:
                return self._ig_comment_json(c, fields or parse_fields("id,text,timestamp"))
            raise self._missing(oid)
        edge = "/".join(parts[1:])
        if oid == self.ig_user_id and edge == "media":
            items = sorted(self._media.values(), key=lambda m: (m.created_at, m.native_id), reverse=True)
            return self._listing(items, lambda m: [-m.created_at.timestamp(), m.native_id],
                                 lambda m: self._media_json(m, fields or parse_fields("id")), q, "/".join(parts),
                                 url_query, _MEDIA_LIMIT)
        if oid in self._media and edge == "comments":
            live = [c for c in self._live(self._media[oid]) if c.parent_id is None]
            live.sort(key=lambda c: (c.created_at, c.native_id), reverse=True)  # newest first
            cf = fields or parse_fields("id,text,timestamp")
            return self._listing(live, lambda c: [-c.created_at.timestamp(), c.native_id],
                                 lambda c: self._ig_comment_json(c, cf), q, "/".join(parts), url_query, _COMMENT_LIMIT)
        if oid in self._comments and edge == "replies":
            parent = self._comments[oid]
            if parent.deleted:
                raise self._missing(oid)
            live = [c for c in self._live(self._media[parent.post_id]) if c.parent_id == oid]
            cf = fields or parse_fields("id,text,timestamp")
            return self._listing(live, lambda c: [c.created_at.timestamp(), c.native_id],
                                 lambda c: self._ig_comment_json(c, cf), q, "/".join(parts), url_query, _COMMENT_LIMIT)
        raise self._missing(oid)

    def _post(self, parts: list[str], form: dict[str, str]) -> dict:
        if len(parts) == 1 and parts[0] in self._comments and not self._comments[parts[0]].deleted:
            if "hide" not in form:
                raise GraphFault(400, 100, "(#100) The parameter hide is required")
            if "instagram_manage_comments" not in self.scopes:
                raise GraphFault(403, 10, "(#10) Application does not have permission for this action: "
                                          "instagram_manage_comments")
            if self._comments[parts[0]].author_id == self.ig_user_id:
                raise GraphFault(400, 100, "(#100) Cannot hide a comment made by the media owner")
            self._comments[parts[0]].hidden = form["hide"].lower() == "true"
            return {"success": True}
        raise self._missing(parts[0])

    # -- JSON shapes ---------------------------------------------------------------
    def _listing(self, items: list, key, render, q: dict[str, str], path: str, url_query: str,
                 max_limit: int) -> dict:
        from urllib.parse import parse_qsl, urlencode

        pos = _key_uncursor(q["after"]) if q.get("after") else None
        if pos is not None:
            items = [i for i in items if key(i) > pos]
        limit = max(1, min(max_limit, int(q.get("limit", "25"))))
        self._nonce += 1
        paging: dict[str, Any] = {}
        if self._empty_pages > 0 and "media" not in path:  # an empty page that still points further on
            self._empty_pages -= 1
            here = _key_cursor(pos, self._nonce)
            page, more = [], True
            paging["cursors"] = {"before": here, "after": here}
        else:
            page, more = items[:limit], len(items) > limit
            if page:
                paging["cursors"] = {"before": _key_cursor(key(page[0]), self._nonce),
                                     "after": _key_cursor(key(page[-1]), self._nonce)}
        if more:
            nq = [(k, v) for k, v in parse_qsl(url_query, keep_blank_values=True) if k not in ("after", "before")]
            nq.append(("after", paging["cursors"]["after"]))
            paging["next"] = f"{self.base_url}/{self._version}/{path}?{urlencode(nq)}"
        return {"data": [render(i) for i in page], "paging": paging}

    def _media_json(self, m: FakePost, fields: dict) -> dict:
        full = {"id": m.native_id, "caption": m.text, "timestamp": _gtime(m.created_at),
                "permalink": f"https://www.instagram.com/p/{_shortcode(m.native_id)}/",
                "media_type": self._media_type.get(m.native_id, "IMAGE"),
                "comments_count": len(self._live(m)), "like_count": 0,
                "username": self.username}
        out = {k: v for k, v in full.items() if k in fields}
        out.setdefault("id", m.native_id)
        return out

    def _ig_comment_json(self, c: FakeComment, fields: dict) -> dict:
        full: dict[str, Any] = {"id": c.native_id, "text": c.text, "timestamp": _gtime(c.created_at),
                                "from": {"id": c.author_id, "username": c.author_name},
                                "username": c.author_name, "hidden": c.hidden, "like_count": 0,
                                "media": {"id": c.post_id}}
        if c.parent_id:
            full["parent_id"] = c.parent_id
        out: dict[str, Any] = {}
        for k, (_mods, sub) in fields.items():
            if k in full:
                v = full[k]
                if sub and isinstance(v, dict):
                    keep = parse_fields(sub)
                    v = {kk: vv for kk, vv in v.items() if kk in keep}
                out[k] = v
        out.setdefault("id", c.native_id)
        return out


__all__ = ["FakeInstagramServer", "build_instagram_media", "load_demo_instagram", "DEFAULT_IG_SCOPES"]

"""A fake Graph API for one Facebook Page: a real HTTP server on 127.0.0.1.

It answers the paths :class:`connectors.facebook.FacebookConnector` calls, with the
response shapes recorded from the real Graph API (``tests/fixtures/facebook/``): comment
objects with ``from{id,name}`` as the API returns them to a Page token, post listings with
``comments.summary`` counts, ``paging.cursors`` and ``paging.next`` URLs, and Graph error
objects (``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``).

Served (``{v}`` is any ``vNN.N``):

* ``GET /{v}/{page-id}?fields=...``                        Page node (``id``, ``name``)
* ``GET /{v}/{page-id}/posts`` (also ``/feed``, ``/published_posts``): ``since``,
  ``until``, ``limit``, ``after``, ``fields`` with ``comments...summary(true)``
* ``GET /{v}/{post-id}/comments``: ``filter`` (``stream`` | ``toplevel``), ``order``
  (``chronological`` | ``reverse_chronological``), ``since``, ``limit``, ``after``,
  ``summary``, ``fields``. The order served follows ``comment_order`` (below): by default
  as the Graph API documents it, ``filter=stream`` is chronological whatever ``order`` says
* ``GET /{v}/{comment-id}/comments`` (replies), ``GET /{v}/{comment-id}`` and ``GET /{v}/{post-id}``
* ``POST /{v}/{comment-id}`` with ``is_hidden``; ``POST /{v}/{page-id}/blocked`` with ``user``
* ``GET /{v}/debug_token?input_token=...`` (called with the app token
  ``{app_id}|{app_secret}``; the Page token itself gets error 100 as on Graph);
  ``GET /{v}/me/permissions``

The token is read from ``Authorization: Bearer|OAuth`` or ``access_token``; a wrong or
missing one gets HTTP 400 with Graph error 190. With ``app_secret`` set, a missing or wrong
``appsecret_proof`` (HMAC-SHA256 of the token used, keyed with the app secret) gets error
100. ``updated_time`` of a post follows the Graph rule: the later of its creation and its
newest comment. Every response carries ``facebook-api-version`` (the version in the path,
or ``served_version`` to play Meta upgrading calls to an expired version).

Test and fault controls: :meth:`add_post`, :meth:`add_comment`, :meth:`edit_comment`,
:meth:`delete_comment`, :meth:`withhold`, :meth:`empty_pages`, :meth:`fail_next`,
:meth:`delay`, :meth:`set_usage`, :meth:`malform_comment` (serve a comment in a malformed
shape), :attr:`withhold_from` (answer as Graph does to a token without the Page's
permissions: no ``from`` on comments by anyone but the Page), :attr:`request_count`,
:attr:`requests`, :meth:`reset_requests`, :attr:`blocked`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit

from monitor.fakes.dataset import FakeComment, FakePost

DEFAULT_SCOPES = ("pages_show_list", "pages_read_engagement", "pages_read_user_content",
                  "pages_manage_engagement")
_ERROR_TEXT = {
    1: ("An unknown error occurred", "OAuthException"),
    2: ("An unexpected error has occurred. Please retry your request later.", "OAuthException"),
    4: ("(#4) Application request limit reached", "OAuthException"),
    10: ("(#10) This endpoint requires the 'pages_read_engagement' permission or the "
         "'Page Public Content Access' feature.", "OAuthException"),
    17: ("(#17) User request limit reached", "OAuthException"),
    32: ("(#32) Page request limit reached", "OAuthException"),
    100: ("Unsupported get request.", "GraphMethodException"),
    190: ("Error validating access token: Session has expired.", "OAuthException"),
    200: ("(#200) Requires pages_read_user_content permission to manage the object", "OAuthException"),
    613: ("(#613) Calls to this api have exceeded the rate limit.", "OAuthException"),
    80001: ("(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
            "OAuthException"),
}
_HTML_502 = (b"<!DOCTYPE html><html><head><title>Error</title></head><body><h1>502 Bad Gateway</h1>"
             b"<p>Sorry, something went wrong. We're working on getting this fixed as soon as we can.</p>"
             b"</body></html>")


def _gtime(dt: datetime) -> str:
    """Graph timestamp: ``2026-09-07T14:58:26+0000``."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_fields(spec: str) -> dict[str, tuple[dict[str, str], str | None]]:
    """Parse Graph field expansion (``a,b{c,d},comments.filter(stream).limit(0){id}``) into
    ``{name: ({modifier: arg}, subfields or None)}`` (top level only; pure)."""
    out: dict[str, tuple[dict[str, str], str | None]] = {}
    depth, buf, items = 0, "", []
    for ch in spec:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(buf)
            buf = ""
        else:
            buf += ch
    if buf:
        items.append(buf)
    for item in items:
        item = item.strip()
        if not item:
            continue
        sub = None
        if item.endswith("}") and "{" in item:
            i = item.index("{")
            item, sub = item[:i], item[i + 1:-1]
        parts = item.split(".")
        mods = {}
        for m in parts[1:]:
            if "(" in m and m.endswith(")"):
                k, v = m[:-1].split("(", 1)
                mods[k] = v
        out[parts[0]] = (mods, sub)
    return out


def _cursor(ts: datetime, cid: str) -> str:
    return base64.urlsafe_b64encode(f"{ts.timestamp()!r}|{cid}".encode()).decode().rstrip("=")


def _uncursor(c: str) -> tuple[float, str]:
    raw = base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)).decode()
    ts, cid = raw.split("|", 1)
    return float(ts), cid


def _key_cursor(key: list | None, nonce: int) -> str:
    """A comment-listing cursor: the sort key of the item it points at (None: the start of
    the list) and a nonce, so that two cursors for one position differ (as Graph's do)."""
    return base64.urlsafe_b64encode(json.dumps([key, nonce]).encode()).decode().rstrip("=")


def _key_uncursor(c: str) -> list | None:
    key, _nonce = json.loads(base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)).decode())
    return key


#: ``comment_order`` values: ``documented`` (``filter=stream`` chronological whatever
#: ``order`` says; ``filter=toplevel`` honours ``order``), ``as_requested`` (``order``
#: always honoured), ``ranked`` (every listing in Facebook's ranked order).
COMMENT_ORDERS = ("documented", "as_requested", "ranked")
_CHRONO_ORDERS = ("chronological", "reverse_chronological")
#: Graph's answer to debug_token called with a Page token (Graph API "debug_token").
_DEBUG_TOKEN_NEEDS_APP = ("(#100) You must provide an app access token, or a user access token that is an "
                          "owner or developer of the app")


class GraphFault(Exception):
    """Internal: a Graph error to send."""

    def __init__(self, status: int, code: int, message: str | None = None, subcode: int | None = None):
        self.status, self.code, self.message, self.subcode = status, code, message, subcode


@dataclass
class _Fault:
    status: int = 500
    graph_code: int | None = None
    html: bool = False
    body: str | None = None
    subcode: int | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestRecord:
    """One request served: ``method``, ``path`` and query ``params`` (secrets removed)."""

    method: str
    path: str
    params: dict[str, str]


class FakeGraphServer:
    """A loopback Graph API serving one Page and its posts.

    :param posts: :class:`~monitor.fakes.dataset.FakePost` objects; only
        ``platform == "facebook"`` ones are served. They are used in place (tests may
        toggle ``hidden`` / ``deleted`` on their comments).
    :param page_id: the Page id (``"1000"``; post ids are ``{page_id}_{n}``).
    :param page_name: the Page name returned by ``GET /{page-id}``.
    :param token: the only Page access token accepted.
    :param app_secret: when set, ``appsecret_proof`` is required and checked.
    :param scopes: permissions reported by ``debug_token`` and ``/me/permissions``.
    :param token_expires_at: ``expires_at`` reported by ``debug_token`` (0: never).
    :param app_id: the app's id (``debug_token`` ``app_id``; the app token is
        ``{app_id}|{app_secret}``).
    :param comment_order: one of :data:`COMMENT_ORDERS` (default ``documented``, as the
        Graph API reference describes the comments edge).
    :param served_version: when set, the ``facebook-api-version`` header of every response
        (as when Meta serves an expired pinned version with the oldest one available).
    :param rebase_to: when given, every timestamp is shifted so that the newest comment
        is one hour before this time (lets the demo's old data fall inside a look-back
        window measured from the real clock).
    :param port: 0 picks a free port.

    Use as a context manager, or :meth:`start` / :meth:`stop`. :attr:`base_url` is
    ``http://127.0.0.1:<port>``.
    """

    def __init__(self, posts: Iterable[FakePost] = (), page_id: str = "1000",
                 page_name: str = "Brookfield Primary School", token: str = "fake-page-token",
                 *, app_secret: str | None = None, scopes: Iterable[str] = DEFAULT_SCOPES,
                 token_expires_at: int = 0, app_id: str = "4000", comment_order: str = "documented",
                 served_version: str | None = None, rebase_to: datetime | None = None, port: int = 0):
        if comment_order not in COMMENT_ORDERS:
            raise ValueError(f"comment_order must be one of {', '.join(COMMENT_ORDERS)}, not {comment_order!r}")
        self.page_id = page_id
        self.app_id = app_id
        self.comment_order = comment_order
        self.served_version = served_version
        self.page_name = page_name
        self.token = token
        self.app_secret = app_secret
        self.scopes = list(scopes)
        self.token_expires_at = token_expires_at
        self._lock = threading.RLock()
        self._posts: dict[str, FakePost] = {}
        self._post_order: list[tuple[float, str]] = []  # (created ts, id) ascending
        self._comments: dict[str, FakeComment] = {}
        self._edited: dict[str, datetime] = {}
        self._faults: deque[_Fault] = deque()
        self._delay = 0.0
        self._delay_left: int | None = None
        self._usage_headers: dict[str, str] = {}
        self._withheld: set[str] = set()
        self._empty_pages = 0
        self._nonce = 0
        self.requests: list[RequestRecord] = []
        self.blocked: set[str] = set()
        #: True: comments by anyone but the Page come without ``from`` (what Graph answers a
        #: token lacking the Page's permissions or Advanced Access).
        self.withhold_from = False
        self._malformed: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {}
        self._seq = 0
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        fb = [p for p in posts if p.platform == "facebook"]
        if rebase_to is not None and fb:
            newest = max([c.created_at for p in fb for c in p.comments] + [p.created_at for p in fb])
            shift = (rebase_to - timedelta(hours=1)) - newest
            for p in fb:
                p.created_at += shift
                for c in p.comments:
                    c.created_at += shift
        for p in fb:
            self._index_post(p)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "FakeGraphServer":
        """Start serving on 127.0.0.1 in a daemon thread; returns self."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", self._port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-graph", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeGraphServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (set once started)."""
        if self._server is None:
            raise RuntimeError("FakeGraphServer not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---------------------------------------------------------------- data controls
    def _index_post(self, p: FakePost) -> None:
        self._posts[p.native_id] = p
        self._post_order.insert(bisect_left(self._post_order, (p.created_at.timestamp(), p.native_id)),
                                (p.created_at.timestamp(), p.native_id))
        p.comments.sort(key=lambda c: (c.created_at, c.native_id))
        for c in p.comments:
            self._comments[c.native_id] = c

    def add_post(self, text: str, created_at: datetime | None = None) -> str:
        """Publish a Page post; returns its id ``{page_id}_{n}``."""
        with self._lock:
            self._seq += 1
            pid = f"{self.page_id}_{900000000000000 + self._seq}"
            self._index_post(FakePost("facebook", pid, text, created_at or datetime.now(timezone.utc)))
            return pid

    def add_comment(self, post_id: str, text: str, *, author_id: str = "1099",
                    author_name: str = "Test Parent", created_at: datetime | None = None,
                    parent_id: str | None = None, attachment: str | None = None) -> str:
        """Add a comment (or a reply when ``parent_id`` is a comment id) to a post;
        returns the new comment id ``{post-number}_{n}``.

        :raises KeyError: for an unknown post or parent id."""
        with self._lock:
            post = self._posts[post_id]
            if parent_id is not None and parent_id not in self._comments:
                raise KeyError(parent_id)
            self._seq += 1
            cid = f"{post_id.split('_', 1)[1]}_{8000000000000000 + self._seq}"
            c = FakeComment(platform="facebook", native_id=cid, post_id=post_id, source_id=f"added-{self._seq}",
                            author_id=author_id, author_name=author_name,
                            created_at=created_at or datetime.now(timezone.utc), text=text,
                            attachment=attachment, parent_id=parent_id)
            post.comments.append(c)
            post.comments.sort(key=lambda x: (x.created_at, x.native_id))
            self._comments[cid] = c
            return cid

    def edit_comment(self, comment_id: str, text: str) -> None:
        """Change a comment's message (its id and created_time stay, as on Facebook)."""
        with self._lock:
            self._comments[comment_id].text = text
            self._edited[comment_id] = datetime.now(timezone.utc)

    def delete_comment(self, comment_id: str) -> None:
        """Delete a comment (it disappears from listings and counts; a direct GET gives
        error 100/33)."""
        with self._lock:
            self._comments[comment_id].deleted = True

    def withhold(self, comment_id: str, withheld: bool = True) -> None:
        """Leave a live comment out of comment listings while ``summary.total_count``
        still counts it (Graph filters some comments from listings for privacy, while the
        count includes them); ``withheld=False`` serves it again."""
        with self._lock:
            if withheld:
                self._withheld.add(comment_id)
            else:
                self._withheld.discard(comment_id)

    def empty_pages(self, n: int = 1) -> None:
        """Answer the next ``n`` comment-listing requests with an empty page that still has
        ``paging.next`` (continuing from the same position), as the Graph API may do:
        ``{"data": [], "paging": {"cursors": {...}, "next": "..."}}``."""
        with self._lock:
            self._empty_pages += n

    def malform_comment(self, comment_id: str, *, drop: Iterable[str] = (),
                        replace: dict[str, Any] | None = None) -> None:
        """Serve a comment in a malformed shape from now on: the keys in ``drop`` left
        out (``created_time``), the keys in ``replace`` replaced (``{"message": 42}``,
        ``{"from": "someone"}``, ``{"id": None}``). Listings, counts and paging are
        unchanged, as when Graph itself sends a bad object.

        :raises KeyError: for an unknown comment id."""
        with self._lock:
            self._comments[comment_id]  # noqa: B018 - KeyError for an unknown id
            self._malformed[comment_id] = (tuple(drop), dict(replace or {}))

    def comment(self, comment_id: str) -> FakeComment:
        """The stored comment (for assertions)."""
        return self._comments[comment_id]

    @property
    def posts(self) -> list[FakePost]:
        """The served posts, oldest first."""
        return [self._posts[pid] for _, pid in self._post_order]

    # ---------------------------------------------------------------- fault controls
    def fail_next(self, n: int = 1, status: int = 500, graph_code: int | None = None, *,
                  html: bool = False, body: str | None = None, subcode: int | None = None,
                  message: str | None = None, headers: dict[str, str] | None = None) -> None:
        """Make the next ``n`` requests fail.

        :param status: HTTP status to send.
        :param graph_code: send a Graph error object with this code (190, 4, 17, 32, 613,
            80001, 10, 200, ...); ``message`` and ``subcode`` override its text.
        :param html: send an HTML error page (e.g. with ``status=502``).
        :param body: send this raw body (e.g. malformed JSON with ``status=200``).
        :param headers: extra response headers (e.g. ``x-business-use-case-usage``).
        """
        with self._lock:
            for _ in range(n):
                self._faults.append(_Fault(status, graph_code, html, body, subcode, message, dict(headers or {})))

    def delay(self, seconds: float, n: int | None = None) -> None:
        """Wait ``seconds`` before answering each of the next ``n`` requests (all
        requests when ``n`` is None; ``delay(0)`` ends it)."""
        with self._lock:
            self._delay = seconds
            self._delay_left = n

    def set_usage(self, app_pct: float | None = None, business_pct: float | None = None,
                  regain_minutes: int = 0) -> None:
        """Send ``x-app-usage`` (``app_pct`` for call_count, total_time, total_cputime)
        and/or ``x-business-use-case-usage`` (``business_pct`` for the Page, with
        ``estimated_time_to_regain_access`` = ``regain_minutes``) on every response;
        None removes the header."""
        with self._lock:
            self._usage_headers = {}
            if app_pct is not None:
                self._usage_headers["x-app-usage"] = json.dumps(
                    {"call_count": app_pct, "total_time": app_pct, "total_cputime": app_pct})
            if business_pct is not None:
                self._usage_headers["x-business-use-case-usage"] = json.dumps(
                    {self.page_id: [{"type": "pages", "call_count": business_pct, "total_cputime": business_pct,
                                     "total_time": business_pct,
                                     "estimated_time_to_regain_access": regain_minutes}]})

    @property
    def request_count(self) -> int:
        """Requests received (faults included)."""
        return len(self.requests)

    def reset_requests(self) -> None:
        """Forget the request log."""
        with self._lock:
            self.requests.clear()

    # ---------------------------------------------------------------- request handling
    def _take_fault(self) -> tuple[_Fault | None, float]:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            wait = self._delay
            if self._delay_left is not None:
                if self._delay_left <= 0:
                    wait = 0.0
                else:
                    self._delay_left -= 1
            return fault, wait

    @property
    def app_token(self) -> str | None:
        """The app access token ``{app_id}|{app_secret}`` (None without an app secret)."""
        return f"{self.app_id}|{self.app_secret}" if self.app_secret else None

    def _check_auth(self, headers: Any, q: dict[str, str], parts: list[str]) -> None:
        auth = headers.get("Authorization") or ""
        token = q.get("access_token")
        if not token and auth.split(" ", 1)[0] in ("Bearer", "OAuth") and " " in auth:
            token = auth.split(" ", 1)[1].strip()
        if not token:
            raise GraphFault(400, 2500, "An active access token must be used to query information about the "
                                        "current user.")
        if parts == ["debug_token"]:
            if token == self.token:
                raise GraphFault(400, 100, _DEBUG_TOKEN_NEEDS_APP)
            if self.app_token is None or token != self.app_token:
                raise GraphFault(400, 190, "Invalid OAuth access token - Cannot parse access token")
        elif token != self.token:
            raise GraphFault(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.app_secret is not None:
            want = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if q.get("appsecret_proof") != want:
                raise GraphFault(400, 100, "Invalid appsecret_proof provided in the API argument")

    def handle(self, method: str, path: str, q: dict[str, str], form: dict[str, str],
               headers: Any, url_query: str) -> tuple[int, dict]:
        """Serve one request; returns (status, JSON body). Raises :class:`GraphFault`."""
        parts = [p for p in path.split("/") if p]
        if parts and parts[0].startswith("v") and "." in parts[0]:
            parts = parts[1:]
        self._check_auth(headers, {**q, **form}, parts)
        if not parts:
            raise GraphFault(400, 100, "Unsupported get request.")
        with self._lock:
            if method == "GET":
                return 200, self._get(parts, q, url_query)
            if method == "POST":
                return 200, self._post(parts, form)
        raise GraphFault(400, 100, f"Unsupported method {method}")

    def _missing(self, oid: str) -> GraphFault:
        return GraphFault(400, 100, f"Unsupported get request. Object with ID '{oid}' does not exist, cannot be "
                                    "loaded due to missing permissions, or does not support this operation.", 33)

    def _get(self, parts: list[str], q: dict[str, str], url_query: str) -> dict:
        fields = parse_fields(q.get("fields", ""))
        if parts == ["debug_token"]:
            if q.get("input_token") != self.token:
                return {"data": {"error": {"code": 190, "message": "Invalid OAuth access token."},
                                 "is_valid": False, "scopes": []}}
            return {"data": {"app_id": self.app_id, "type": "PAGE", "application": "School Social Monitor",
                             "data_access_expires_at": 0, "expires_at": self.token_expires_at,
                             "is_valid": True, "issued_at": 1760000000, "profile_id": self.page_id,
                             "scopes": list(self.scopes), "user_id": "5000",
                             "granular_scopes": [{"scope": s, "target_ids": [self.page_id]} for s in self.scopes]}}
        if parts == ["me", "permissions"]:
            return {"data": [{"permission": s, "status": "granted"} for s in self.scopes]}
        oid = parts[0]
        if len(parts) == 1:
            if oid in (self.page_id, "me"):
                page = {"id": self.page_id, "name": self.page_name}
                return {k: v for k, v in page.items() if k in fields or not fields}
            if oid in self._posts:
                return self._post_json(self._posts[oid], fields)
            c = self._comments.get(oid)
            if c is not None and not c.deleted:
                return self._comment_json(c, fields or parse_fields("id,message,created_time"))
            raise self._missing(oid)
        edge = parts[1]
        if oid in (self.page_id, "me") and edge in ("posts", "feed", "published_posts"):
            return self._list_posts(q, fields, "/".join(parts), url_query)
        if edge == "comments" and (oid in self._posts or oid in self._comments):
            return self._list_comments(oid, q, fields, "/".join(parts), url_query)
        if oid == self.page_id and edge == "blocked":
            return {"data": [{"id": u, "name": ""} for u in sorted(self.blocked)]}
        raise self._missing(oid)

    def _post(self, parts: list[str], form: dict[str, str]) -> dict:
        if len(parts) == 1 and parts[0] in self._comments and not self._comments[parts[0]].deleted:
            if "is_hidden" not in form:
                raise GraphFault(400, 100, "(#100) Missing is_hidden")
            if "pages_manage_engagement" not in self.scopes:
                raise GraphFault(403, 200, "(#200) Requires pages_manage_engagement permission to manage the object")
            self._comments[parts[0]].hidden = form["is_hidden"].lower() == "true"
            return {"success": True}
        if parts == [self.page_id, "blocked"]:
            uid = form.get("user") or form.get("uid") or form.get("psid") or form.get("asid")
            if not uid:
                raise GraphFault(400, 100, "(#100) The parameter user is required")
            if "pages_manage_engagement" not in self.scopes:
                raise GraphFault(403, 200, "(#200) Requires pages_manage_engagement permission to manage the object")
            self.blocked.add(uid)
            return {uid: True}
        raise self._missing(parts[0])

    # -- JSON shapes ---------------------------------------------------------------
    def _live(self, post: FakePost) -> list[FakeComment]:
        return [c for c in post.comments if not c.deleted]

    def _post_json(self, p: FakePost, fields: dict) -> dict:
        live = self._live(p)
        updated = max([p.created_at] + [c.created_at for c in live])
        num = p.native_id.split("_", 1)[1]
        full = {"id": p.native_id, "message": p.text, "created_time": _gtime(p.created_at),
                "updated_time": _gtime(updated),
                "permalink_url": f"https://www.facebook.com/{self.page_id}/posts/{num}/"}
        out = {k: v for k, v in full.items() if k in fields} if fields else \
            {k: full[k] for k in ("id", "message", "created_time")}
        if "comments" in fields:
            mods, sub = fields["comments"]
            chosen = live if mods.get("filter") == "stream" else [c for c in live if not c.parent_id]
            n = int(mods.get("limit", "25"))
            cf = parse_fields(sub or "id,message,created_time,from")
            block: dict[str, Any] = {"data": [self._comment_json(c, cf) for c in chosen[:n]]}
            if mods.get("summary") in ("true", "1", "total_count"):
                block["summary"] = {"order": "ranked" if self.comment_order == "ranked" else "chronological",
                                    "total_count": len(chosen), "can_comment": True}
            out["comments"] = block
        return out

    def _comment_json(self, c: FakeComment, fields: dict) -> dict:
        post_num, cnum = c.native_id.split("_", 1)
        link = f"https://www.facebook.com/{self.page_id}/posts/{post_num}/?comment_id="
        if c.parent_id:
            link += f"{c.parent_id.split('_', 1)[1]}&reply_comment_id={cnum}"
        else:
            link += cnum
        full: dict[str, Any] = {
            "id": c.native_id, "message": c.text, "created_time": _gtime(c.created_at),
            "from": {"id": c.author_id, "name": c.author_name}, "permalink_url": link,
            "is_hidden": c.hidden, "can_hide": c.author_id != self.page_id,
            "comment_count": sum(1 for x in self._posts[c.post_id].comments
                                 if x.parent_id == c.native_id and not x.deleted) if "comment_count" in fields else 0,
            "like_count": 0,
        }
        if c.parent_id:
            full["parent"] = {"id": c.parent_id}
        if c.attachment:
            fbid = str(int(hashlib.sha256(c.native_id.encode()).hexdigest(), 16) % 10 ** 15)
            if c.attachment == "video":
                full["attachment"] = {
                    "type": "video_inline", "url": f"https://www.facebook.com/watch/?v={fbid}",
                    "media": {"image": {"height": 720, "width": 1280,
                                        "src": f"https://scontent.xx.fbcdn.net/v/t15.5256-10/{fbid}_n.jpg"},
                              "source": f"https://video.xx.fbcdn.net/v/t42.1790-2/{fbid}_n.mp4"},
                    "target": {"id": fbid, "url": f"https://www.facebook.com/watch/?v={fbid}"}}
            else:
                url = f"https://www.facebook.com/photo.php?fbid={fbid}&set=p.{fbid}&type=3"
                full["attachment"] = {
                    "type": "photo", "url": url, "target": {"id": fbid, "url": url},
                    "media": {"image": {"height": 720, "width": 720,
                                        "src": f"https://scontent.xx.fbcdn.net/v/t1.6435-9/{fbid}_n.jpg"}}}
        out = {}
        for k, (_mods, sub) in fields.items():
            if k in full:
                v = full[k]
                if sub and isinstance(v, dict):
                    keep = parse_fields(sub)
                    v = {kk: vv for kk, vv in v.items() if kk in keep}
                out[k] = v
        out.setdefault("id", c.native_id)
        if self.withhold_from and c.author_id != self.page_id:
            out.pop("from", None)
        if c.native_id in self._malformed:
            drop, replace = self._malformed[c.native_id]
            for k in drop:
                out.pop(k, None)
            out.update(replace)
        return out

    def _page_links(self, path: str, url_query: str, items: list, key, more: bool) -> dict:
        paging: dict[str, Any] = {}
        if items:
            paging["cursors"] = {"before": _cursor(*key(items[0])), "after": _cursor(*key(items[-1]))}
            if more:
                q = [(k, v) for k, v in parse_qsl(url_query, keep_blank_values=True) if k not in ("after", "before")]
                q.append(("after", paging["cursors"]["after"]))
                paging["next"] = f"{self.base_url}/{self._version}/{path}?{urlencode(q)}"
        return paging

    _version = "v23.0"

    def _list_posts(self, q: dict[str, str], fields: dict, path: str, url_query: str) -> dict:
        limit = max(1, min(100, int(q.get("limit", "25"))))
        since = float(q["since"]) if q.get("since", "").strip() else None
        until = float(q["until"]) if q.get("until", "").strip() else None
        after = _uncursor(q["after"]) if q.get("after") else None
        out: list[FakePost] = []
        more = False
        for ts, pid in reversed(self._post_order):  # newest first
            if after is not None and (ts, pid) >= after:
                continue
            if until is not None and ts > until:
                continue
            if since is not None and ts < since:
                break
            if len(out) == limit:
                more = True
                break
            out.append(self._posts[pid])
        body: dict[str, Any] = {"data": [self._post_json(p, fields) for p in out]}
        body["paging"] = self._page_links(path, url_query, out, lambda p: (p.created_at, p.native_id), more)
        return body

    def _served_order(self, filt: str, order: str) -> str:
        """The order a comment listing is served in, per :attr:`comment_order`."""
        if self.comment_order == "ranked":
            return "ranked"
        if order not in _CHRONO_ORDERS:
            raise GraphFault(400, 100, f"(#100) order must be one of the following values: "
                                       f"{', '.join(_CHRONO_ORDERS)}")
        if self.comment_order == "documented" and filt == "stream":
            return "chronological"
        return order

    @staticmethod
    def _sort_key(c: FakeComment, served: str) -> list:
        if served == "ranked":  # a stable stand-in for Facebook's relevance ranking
            return [hashlib.sha256(c.native_id.encode()).hexdigest(), c.native_id]
        return [c.created_at.timestamp(), c.native_id]

    def _list_comments(self, oid: str, q: dict[str, str], fields: dict, path: str, url_query: str) -> dict:
        filt = q.get("filter", "toplevel")
        if oid in self._posts:
            live = self._live(self._posts[oid])
            if filt != "stream":
                live = [c for c in live if not c.parent_id]
        else:
            parent = self._comments[oid]
            live = [c for c in self._live(self._posts[parent.post_id]) if c.parent_id == oid]
        total = len(live)
        served = self._served_order(filt, q.get("order", "chronological"))
        rev = served == "reverse_chronological"
        live = sorted((c for c in live if c.native_id not in self._withheld),
                      key=lambda c: self._sort_key(c, served), reverse=rev)
        since = float(q["since"]) if q.get("since", "").strip() else None
        if since is not None:
            live = [c for c in live if c.created_at.timestamp() >= since]
        pos = _key_uncursor(q["after"]) if q.get("after") else None
        if pos is not None:
            live = [c for c in live if (self._sort_key(c, served) < pos if rev else self._sort_key(c, served) > pos)]
        limit = max(1, min(100, int(q.get("limit", "25"))))
        self._nonce += 1
        if self._empty_pages > 0:  # an empty page that still points further on
            self._empty_pages -= 1
            here = _key_cursor(pos, self._nonce)
            page, more = [], True
            paging: dict[str, Any] = {"cursors": {"before": here, "after": here}}
        else:
            page, more = live[:limit], len(live) > limit
            paging = {}
            if page:
                paging["cursors"] = {"before": _key_cursor(self._sort_key(page[0], served), self._nonce),
                                     "after": _key_cursor(self._sort_key(page[-1], served), self._nonce)}
        if more:
            nq = [(k, v) for k, v in parse_qsl(url_query, keep_blank_values=True) if k not in ("after", "before")]
            nq.append(("after", paging["cursors"]["after"]))
            paging["next"] = f"{self.base_url}/{self._version}/{path}?{urlencode(nq)}"
        cf = fields or parse_fields("id,message,created_time")
        body: dict[str, Any] = {"data": [self._comment_json(c, cf) for c in page], "paging": paging}
        if q.get("summary") in ("true", "1", "total_count"):
            body["summary"] = {"order": served, "total_count": total, "can_comment": True}
        return body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client gave up (timeout): fine
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: avoid 40 ms delayed-ACK stalls
    fake: FakeGraphServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        fake = self.fake
        split = urlsplit(self.path)
        q = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        form = dict(parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True)) if raw_body else {}
        with fake._lock:
            parts = split.path.split("/")
            if len(parts) > 1 and parts[1].startswith("v"):
                fake._version = parts[1]
            fake.requests.append(RequestRecord(method, split.path,
                                               {k: v for k, v in {**q, **form}.items()
                                                if k not in ("access_token", "appsecret_proof", "input_token")}))
        fault, wait = fake._take_fault()
        if wait:
            time.sleep(wait)
        headers = dict(fake._usage_headers)
        headers["facebook-api-version"] = fake.served_version or fake._version
        if fault is not None:
            headers.update(fault.headers)
            if fault.html:
                return self._send(fault.status, _HTML_502, "text/html; charset=utf-8", headers)
            if fault.body is not None:
                return self._send(fault.status, fault.body.encode(), "application/json; charset=UTF-8", headers)
            if fault.graph_code is not None:
                msg, typ = _ERROR_TEXT.get(fault.graph_code, (f"(#{fault.graph_code}) Error", "OAuthException"))
                err = {"message": fault.message or msg, "type": typ, "code": fault.graph_code,
                       "fbtrace_id": "AfakeTrace123"}
                if fault.subcode is not None:
                    err["error_subcode"] = fault.subcode
                if fault.graph_code in (1, 2):
                    err["is_transient"] = True
                return self._json(fault.status, {"error": err}, headers)
            return self._json(fault.status, {"error": {"message": "An unexpected error has occurred. Please retry "
                                                                  "your request later.", "type": "OAuthException",
                                                       "is_transient": True, "code": 2,
                                                       "fbtrace_id": "AfakeTrace500"}}, headers)
        try:
            status, body = fake.handle(method, split.path, q, form, self.headers, split.query)
        except GraphFault as f:
            msg, typ = _ERROR_TEXT.get(f.code, ("Error", "OAuthException"))
            err = {"message": f.message or msg, "type": typ, "code": f.code, "fbtrace_id": "AfakeTrace456"}
            if f.subcode is not None:
                err["error_subcode"] = f.subcode
            if f.code == 190:
                headers["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"'
            return self._json(f.status, {"error": err}, headers)
        except (ValueError, KeyError) as exc:
            return self._json(400, {"error": {"message": f"(#100) Invalid parameter: {type(exc).__name__}",
                                              "type": "OAuthException", "code": 100,
                                              "fbtrace_id": "AfakeTrace789"}}, headers)
        self._json(status, body, headers)

    def _json(self, status: int, body: dict, headers: dict[str, str]) -> None:
        self._send(status, json.dumps(body, ensure_ascii=False).encode("utf-8"),
                   "application/json; charset=UTF-8", headers)

    def _send(self, status: int, payload: bytes, ctype: str, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

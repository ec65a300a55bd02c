"""A fake X API v2 server on loopback, for the demo and the tests.

:class:`FakeXServer` is a real HTTP server (``ThreadingHTTPServer`` on 127.0.0.1, in a
daemon thread) that answers the X API v2 endpoints the X connector uses, with the
response shapes recorded from the real API (tweepy's cassettes and python-twitter's test
data, copied under ``tests/fixtures/twitter/``):

==========================================  =====================================================
``GET /2/users/:id/mentions``               user mention timeline (``since_id``, ``until_id``,
                                            ``start_time``, ``end_time``, ``max_results`` 5..100,
                                            ``pagination_token``)
``GET /2/tweets/search/recent``             recent search (``query`` up to 512 characters with
                                            ``conversation_id:``, ``OR``, parentheses, ``-@user``,
                                            ``@user``, ``from:``, ``to:``, ``is:reply``,
                                            ``is:retweet``; ``max_results`` 10..100,
                                            ``next_token``)
``GET /2/users/:id/tweets``                 user post timeline (``exclude=replies,retweets``,
                                            ``max_results`` 5..100)
``GET /2/users/by/username/:username``      user lookup by handle
``GET /2/users/:id``                        user lookup by id
``GET /2/tweets?ids=``                       post lookup by id (up to 100): found posts in ``data``,
                                            deleted ones as ``resource-not-found`` partial errors
``GET /2/users/me``                         the authenticated user (OAuth 1.0a user context)
``PUT /2/tweets/:id/hidden``                hide or unhide a reply (user context, only in a
                                            conversation the account started)
==========================================  =====================================================

Every tweet carries ``edit_history_tweet_ids``; a post longer than 280 characters (an X
long post) has ``text`` cut to its first 280 characters with ``…`` and its whole text in
``note_tweet.text`` when ``tweet.fields`` asks for ``note_tweet``; videos and GIFs carry
``variants`` (mp4 renditions with ``bit_rate``, and an HLS playlist) when ``media.fields``
asks for them; ``tweet.fields``, ``expansions``
(``author_id``, ``attachments.media_keys``, ``in_reply_to_user_id``,
``referenced_tweets.id``), ``user.fields`` and ``media.fields`` select what is returned,
as on X. Results are newest first, paged with ``meta.next_token``.

Data: the school's posts (:class:`monitor.fakes.dataset.FakePost`, ``platform ==
"twitter"`` only) and their comments become tweets. X ids are snowflakes (time-ordered;
``since_id`` and ``until_id`` compare them numerically), so a dataset id that does not
encode its own ``created_at`` is replaced by a snowflake built from ``created_at`` and a
hash of the dataset id; :meth:`FakeXServer.tweet_id` maps a dataset id to the served id.
A comment replies to the tweet of the user whose ``@handle`` starts its text when that
user spoke earlier in the conversation, otherwise to the school's post.

Which tweets are *mentions* of the school (served by the mention timeline and excluded
by ``-@username`` in search): with ``mention_rule="replies"`` (default) every reply in a
conversation the school started (X puts the conversation's author in the reply's
mentions by default) and every tweet whose text contains ``@username``; with
``mention_rule="text"`` only the latter, so replies that do not name the school are found
only by conversation search.

Faults for reliability tests: :meth:`fail_next` (any status, with or without
``x-rate-limit-reset``, any body and headers, e.g. ``Content-Encoding: gzip`` on a body
that is not gzip), :meth:`set_delay` (slow responses, timeouts), ``rate_limit``
(requests per 15-minute window before an automatic 429), :attr:`repeat_next_token`
(paging that sends the same ``next_token`` for ever) and :meth:`malform_tweet` (serve
a post in a malformed shape). Observation:
:attr:`requests` (every request), :attr:`posts_served` (tweets returned: what X counts
against the monthly read cap).

Billing (X's pay-per-use price list since 6 Feb 2026): :attr:`billed_micro_usd` adds, per
successful answer, $0.005 for each post returned (post lookup, search, timelines), $0.001
instead for an *owned read* (the mention and post timelines of the user whose user-context
token made the request), $0.010 for each user object returned (lookups and ``includes``),
$0.005 for each media object; a resource already billed on the same UTC day (by
``clock()``) is not billed again. :attr:`billed` counts ``posts``, ``owned``, ``users`` and
``media``. ``usage_cap_micro_usd`` (None: no cap): once the bill reaches it, reads are
answered 429 with X's ``usage-capped`` problem (recorded shape). :meth:`delete_tweet`
deletes a post, as its author would on X.

Authentication: ``Authorization: Bearer <bearer_token>`` for reads (a wrong token gets
X's 401 body); ``Authorization: OAuth ...`` whose ``oauth_consumer_key`` and
``oauth_token`` match ``consumer_key`` and ``access_token`` for user context (the
signature is not verified).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from monitor.domain import iso, parse_time
from monitor.fakes.dataset import FakeComment, FakePost

#: X's snowflake epoch (2010-11-04T01:42:54.657Z) in Unix milliseconds.
TWEPOCH_MS = 1288834974657

#: Default tweet fields X returns when ``tweet.fields`` is not given.
_DEFAULT_TWEET_FIELDS = ("id", "text", "edit_history_tweet_ids")
_TWEET_FIELDS = frozenset({
    "attachments", "author_id", "conversation_id", "created_at", "edit_history_tweet_ids",
    "entities", "id", "in_reply_to_user_id", "lang", "referenced_tweets", "text",
    "possibly_sensitive", "reply_settings", "source", "public_metrics", "note_tweet",
})
#: X's pay-per-use prices (since 6 Feb 2026) in micro-USD per resource.
PRICE_POST, PRICE_OWNED, PRICE_USER, PRICE_MEDIA = 5000, 1000, 10000, 5000
#: Characters of a long post's ``text`` (the rest is in ``note_tweet``).
SHORT_TEXT = 280
_QUERY_MAX_CHARS = 512


def snowflake(created_at: datetime, seed: str = "") -> str:
    """An X snowflake id for a post created at ``created_at`` (aware): the millisecond
    timestamp since :data:`TWEPOCH_MS` in the top bits, 22 low bits from ``seed``'s hash."""
    ms = int(created_at.timestamp() * 1000) - TWEPOCH_MS
    low = int(hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest(), 16) & 0x3FFFFF
    return str((ms << 22) | low)


def snowflake_time(tweet_id: str | int) -> datetime:
    """The creation time encoded in an X snowflake id (aware UTC)."""
    ms = (int(tweet_id) >> 22) + TWEPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


@dataclass
class FakeRequest:
    """One request the fake received: ``method``, ``path``, ``query`` (single values),
    ``auth`` (``bearer``, ``oauth`` or None), ``status`` answered."""

    method: str
    path: str
    query: dict[str, str]
    auth: str | None
    status: int = 0


@dataclass
class _Fault:
    status: int
    reset_after: float | None
    body: bytes | None
    content_type: str
    path: str | None
    headers: dict[str, str]


@dataclass
class _Tweet:
    id: str
    text: str
    author_id: str
    created_at: datetime
    conversation_id: str
    in_reply_to_user_id: str | None = None
    replied_to: str | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    source: FakeComment | FakePost | None = None
    hidden: bool = False
    retweet_of: str | None = None


class FakeXServer:
    """A fake X API v2 server on 127.0.0.1 (see the module docstring for the endpoints).

    :param posts: demo posts (only ``platform == "twitter"`` ones are served).
    :param user_id: the school's X user id; ``username``/``name`` its handle and name.
    :param bearer_token: the app-only token reads must present.
    :param consumer_key, access_token: what user-context (OAuth 1.0a) requests must present.
    :param mention_rule: ``"replies"`` or ``"text"`` (see the module docstring).
    :param rebase_to: when given, every time is shifted so that the newest tweet is one
        minute before it (e.g. the demo's "now"), keeping the data inside X's 7-day
        recent-search window.
    :param recent_days: when given, recent search refuses a ``start_time`` or ``since_id``
        older than that many days before ``clock()`` (X: 7). None: not enforced.
    :param rate_limit: requests allowed per 15-minute window per endpoint before an
        automatic 429 (None: unlimited).
    :param clock: the fake's "now" (aware UTC); default the system clock.
    :param port: 0 picks a free port.
    :param usage_cap_micro_usd: bill (micro-USD) at which reads get 429 ``usage-capped``.
    """

    def __init__(self, posts: Iterable[FakePost] = (), user_id: str = "2000",
                 username: str = "BrookfieldPS", bearer_token: str = "fake-x-bearer-token", *,
                 name: str = "Brookfield Primary School",
                 consumer_key: str = "fake-x-consumer-key", access_token: str = "2000-fake-x-access-token",
                 mention_rule: str = "replies", rebase_to: datetime | None = None,
                 recent_days: float | None = None, rate_limit: int | None = None,
                 clock: Callable[[], datetime] | None = None, port: int = 0,
                 usage_cap_micro_usd: int | None = None):
        if mention_rule not in ("replies", "text"):
            raise ValueError(f"mention_rule must be 'replies' or 'text', got {mention_rule!r}")
        self.user_id = str(user_id)
        self.username = username
        self.bearer_token = bearer_token
        self.consumer_key = consumer_key
        self.access_token = access_token
        self.mention_rule = mention_rule
        self.recent_days = recent_days
        self.rate_limit = rate_limit
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.requests: list[FakeRequest] = []
        self.posts_served = 0
        self.billed_micro_usd = 0
        self.billed = {"posts": 0, "owned": 0, "users": 0, "media": 0}
        self.usage_cap_micro_usd = usage_cap_micro_usd
        self._billed_day: str | None = None
        self._billed_keys: set[str] = set()
        self.deleted_ids: set[str] = set()
        #: True: from the second page on, every page repeats the ``next_token`` it was asked
        #: with (and so its own posts), as a looping X paging answer does.
        self.repeat_next_token = False
        self._malformed: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {}
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._delay: float = 0.0
        self._delay_left: int | None = None
        self._window: dict[str, tuple[float, int]] = {}
        self._users: dict[str, dict[str, str]] = {}
        self._by_username: dict[str, dict[str, str]] = {}
        self._tweets: dict[str, _Tweet] = {}
        self._ids: dict[str, str] = {}
        self._add_user(self.user_id, username, name)
        posts = [p for p in posts if p.platform == "twitter"]
        shift = timedelta(0)
        if rebase_to is not None:
            times = [c.created_at for p in posts for c in p.comments] + [p.created_at for p in posts]
            if times:
                shift = (rebase_to - timedelta(minutes=1)) - max(times)
        for post in posts:
            self._load_post(post, shift)
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ data
    def _add_user(self, uid: str, username: str, name: str) -> None:
        user = self._users.setdefault(uid, {"id": uid, "name": name, "username": username})
        self._by_username.setdefault(user["username"].lower(), user)

    def _served_id(self, native: str, created_at: datetime) -> str:
        if native.isdigit():
            try:
                if abs((snowflake_time(native) - created_at).total_seconds()) < 2:
                    return native
            except (OverflowError, ValueError, OSError):
                pass
        return snowflake(created_at, native)

    def _user_for_comment(self, c: FakeComment) -> None:
        handle = (c.author_name or "").strip()
        if handle.startswith("@"):
            username = handle[1:]
        else:
            username = re.sub(r"\W+", "_", handle).strip("_")[:15] or f"user{c.author_id}"
        self._add_user(c.author_id, username, handle.lstrip("@") or username)

    def _load_post(self, post: FakePost, shift: timedelta) -> None:
        created = post.created_at + shift
        pid = self._served_id(post.native_id, created)
        self._ids[post.native_id] = pid
        self._tweets[pid] = _Tweet(pid, post.text, self.user_id, created, pid, source=post)
        for c in post.comments:
            self._user_for_comment(c)
            parent = self._ids.get(c.parent_id) if c.parent_id else None
            self._insert_reply(pid, c.text, c.author_id, c.created_at + shift, c.native_id,
                               parent, c.attachment, source=c, hidden=c.hidden)

    def _infer_parent(self, conversation_id: str, text: str, before: datetime) -> str:
        m = re.match(r"\s*@(\w{1,15})", text)
        if m:
            handle = m.group(1).lower()
            earlier = [t for t in self._tweets.values()
                       if t.conversation_id == conversation_id and t.created_at <= before
                       and self._users.get(t.author_id, {}).get("username", "").lower() == handle]
            if earlier:
                return max(earlier, key=lambda t: int(t.id)).id
        return conversation_id

    def _insert_reply(self, conversation_id: str, text: str, author_id: str, created_at: datetime,
                      seed: str, parent_id: str | None, attachment: str | None,
                      source: FakeComment | None = None, hidden: bool = False) -> str:
        tid = self._served_id(seed, created_at)
        while tid in self._tweets:  # two replies in the same millisecond with colliding low bits
            tid = str(int(tid) + 1)
        self._ids[seed] = tid
        parent = parent_id or self._infer_parent(conversation_id, text, created_at)
        media = []
        if attachment:
            kind = attachment if attachment in ("photo", "video", "animated_gif") else "photo"
            key = {"photo": "3", "video": "7", "animated_gif": "16"}[kind] + "_" + tid
            m: dict[str, Any] = {"media_key": key, "type": kind}
            if kind == "photo":
                m["url"] = f"https://pbs.twimg.com/media/fake{tid}.jpg"
            else:
                m["preview_image_url"] = f"https://pbs.twimg.com/ext_tw_video_thumb/{tid}/pu/img/fake.jpg"
                m["variants"] = (
                    [{"bit_rate": 0, "content_type": "video/mp4",
                      "url": f"https://video.twimg.com/tweet_video/fake{tid}.mp4"}] if kind == "animated_gif" else
                    [{"content_type": "application/x-mpegURL",
                      "url": f"https://video.twimg.com/ext_tw_video/{tid}/pu/pl/fake.m3u8?tag=12"},
                     {"bit_rate": 632000, "content_type": "video/mp4",
                      "url": f"https://video.twimg.com/ext_tw_video/{tid}/pu/vid/avc1/480x270/fake.mp4?tag=12"},
                     {"bit_rate": 2176000, "content_type": "video/mp4",
                      "url": f"https://video.twimg.com/ext_tw_video/{tid}/pu/vid/avc1/1280x720/fake.mp4?tag=12"}])
            media.append(m)
        self._tweets[tid] = _Tweet(tid, text, author_id, created_at, conversation_id,
                                   in_reply_to_user_id=self._tweets[parent].author_id,
                                   replied_to=parent, media=media, source=source, hidden=hidden)
        return tid

    def tweet_id(self, dataset_id: str) -> str:
        """The served X id of a dataset post or comment (``FakePost.native_id`` /
        ``FakeComment.native_id``, or the seed :meth:`add_reply` returned).

        :raises KeyError: naming the id when it is unknown.
        """
        try:
            return self._ids[dataset_id]
        except KeyError:
            raise KeyError(f"unknown dataset id {dataset_id!r}") from None

    def tweet(self, tweet_id: str) -> dict[str, Any]:
        """The full JSON of a served tweet (all fields), e.g. to check hidden state:
        ``{"id", "text", ..., "hidden"}``."""
        with self._lock:
            t = self._tweets[str(tweet_id)]
            d = self._tweet_json(t, _TWEET_FIELDS)
            d["hidden"] = t.hidden
            return d

    @property
    def tweet_ids(self) -> list[str]:
        """Every served tweet id (the school's posts and replies), oldest first."""
        with self._lock:
            return sorted(self._tweets, key=int)

    @property
    def reply_ids(self) -> list[str]:
        """Ids of tweets that are not the school's top-level posts, oldest first."""
        with self._lock:
            return sorted((t.id for t in self._tweets.values() if t.id != t.conversation_id), key=int)

    def add_post(self, text: str, created_at: datetime | None = None) -> str:
        """Publish a new school post; returns its id (a snowflake of ``created_at``,
        default: now, after every existing tweet)."""
        with self._lock:
            created = created_at or self._next_time()
            pid = snowflake(created, f"post:{text}:{created.isoformat()}")
            self._tweets[pid] = _Tweet(pid, text, self.user_id, created, pid)
            self._ids[pid] = pid
            return pid

    def add_reply(self, post_id: str, text: str, *, author_id: str = "3001",
                  username: str | None = None, name: str | None = None,
                  created_at: datetime | None = None, parent_id: str | None = None,
                  attachment: str | None = None) -> str:
        """Add a reply in the conversation of the school's post ``post_id`` (served id);
        returns the reply's id. ``parent_id`` defaults as for dataset comments;
        ``attachment`` is ``photo``, ``video`` or ``animated_gif``.

        :raises KeyError: when ``post_id`` or ``parent_id`` is not a served tweet.
        """
        with self._lock:
            if post_id not in self._tweets:
                raise KeyError(f"unknown post id {post_id!r}")
            if parent_id is not None and parent_id not in self._tweets:
                raise KeyError(f"unknown parent id {parent_id!r}")
            uname = username or f"user{author_id}"
            self._add_user(str(author_id), uname, name or uname)
            created = created_at or self._next_time()
            seed = f"reply:{post_id}:{author_id}:{text}:{created.isoformat()}"
            return self._insert_reply(self._tweets[post_id].conversation_id, text, str(author_id),
                                      created, seed, parent_id, attachment)

    def delete_tweet(self, tweet_id: str) -> None:
        """Delete a served post, as its author would on X: it is no longer served anywhere,
        and ``GET /2/tweets?ids=`` reports it as a ``resource-not-found`` partial error.

        :raises KeyError: when ``tweet_id`` is not a served post.
        """
        with self._lock:
            if str(tweet_id) not in self._tweets:
                raise KeyError(f"unknown tweet id {tweet_id!r}")
            del self._tweets[str(tweet_id)]
            self.deleted_ids.add(str(tweet_id))

    def _next_time(self) -> datetime:
        newest = max((t.created_at for t in self._tweets.values()), default=None)
        now = self.clock()
        if newest is not None and newest >= now:
            return newest + timedelta(seconds=1)
        return now

    # ------------------------------------------------------------------ faults
    def malform_tweet(self, tweet_id: str, *, drop: Iterable[str] = (),
                      replace: Mapping[str, Any] | None = None) -> None:
        """Serve a post in a malformed shape from now on: the fields in ``drop`` left
        out (``created_at``, ``author_id``), those in ``replace`` replaced
        (``{"text": 42}``). Selection and paging are unchanged.

        :raises KeyError: for an unknown (served) tweet id."""
        with self._lock:
            self._tweets[tweet_id]  # noqa: B018 - KeyError for an unknown id
            self._malformed[tweet_id] = (tuple(drop), dict(replace or {}))

    def fail_next(self, n: int = 1, status: int = 503, *, reset_after: float | None = 60.0,
                  body: bytes | str | Mapping | list | None = None, content_type: str | None = None,
                  path: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        """Answer the next ``n`` requests (whose path contains ``path``, when given; a
        ``path`` ending in ``$`` must match exactly, e.g. ``/2/tweets$``) with ``status``
        instead of serving them.

        :param reset_after: for 429, ``x-rate-limit-reset`` is now + this many seconds
            (Unix seconds, as X sends it); None sends no reset header.
        :param body: the body (bytes, text or JSON-able); default X's JSON problem body for
            the status (e.g. 401 ``Unauthorized``, 403 ``client-not-enrolled``, 429
            ``Too Many Requests``, 503 ``Service Unavailable``).
        """
        if isinstance(body, (Mapping, list)):
            raw: bytes | None = json.dumps(body).encode()
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = body
        ctype = content_type or ("application/json; charset=utf-8" if raw is None or raw[:1] in b"{[" else "text/html")
        with self._lock:
            for _ in range(n):
                self._faults.append(_Fault(status, reset_after, raw, ctype, path, dict(headers or {})))

    def set_delay(self, seconds: float, n: int | None = None) -> None:
        """Wait ``seconds`` before answering the next ``n`` requests (None: all)."""
        with self._lock:
            self._delay = seconds
            self._delay_left = n

    def clear_faults(self) -> None:
        """Drop pending faults and delays."""
        with self._lock:
            self._faults.clear()
            self._delay, self._delay_left = 0.0, None

    @property
    def request_count(self) -> int:
        """Requests received so far."""
        return len(self.requests)

    # ------------------------------------------------------------------ server
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the API root; paths start with ``/2/``)."""
        if self._httpd is None:
            raise RuntimeError("FakeXServer not started: call start() or use it as a context manager")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> "FakeXServer":
        """Bind 127.0.0.1 and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-x",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeXServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ answering
    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes
               ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: ``(status, headers, body)``. Thread-safe."""
        parts = urlsplit(target)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        auth = self._auth_kind(headers.get("Authorization", ""))
        req = FakeRequest(method, path, query, auth)
        with self._lock:
            self.requests.append(req)
            fault = next((f for f in self._faults if f.path is None or f.path in path
                          or (f.path.endswith("$") and f.path[:-1] == path)), None)
            if fault is not None:
                self._faults.remove(fault)
            delay = 0.0
            if self._delay and (self._delay_left is None or self._delay_left > 0):
                delay = self._delay
                if self._delay_left is not None:
                    self._delay_left -= 1
        if delay:
            time.sleep(delay)
        with self._lock:
            if fault is not None:
                status, hdrs, out = self._fault_response(fault)
            elif (method == "GET" and self.usage_cap_micro_usd is not None
                  and self.billed_micro_usd >= self.usage_cap_micro_usd and auth not in (None, "bad")):
                status, hdrs, out = _json(429, usage_capped(), self._rate_headers(path)[0])
            else:
                status, hdrs, out = self._route(method, path, query, headers, body, auth)
                if method == "GET" and status == 200:
                    self._bill(path, auth, out)
            req.status = status
        return status, hdrs, out

    def _bill(self, path: str, auth: str | None, out: bytes) -> None:
        """Add one successful answer to the bill (see the module docstring)."""
        try:
            body = json.loads(out)
        except ValueError:
            return
        day = self.clock().astimezone(timezone.utc).date().isoformat()
        if day != self._billed_day:
            self._billed_day, self._billed_keys = day, set()
        m = re.fullmatch(r"/2/users/(\d+)/(mentions|tweets)", path)
        owned = bool(m) and auth == "oauth" and m.group(1) == self.access_token.split("-", 1)[0]
        data = body.get("data")
        posts = data if isinstance(data, list) else []
        includes = body.get("includes") or {}
        users = list(includes.get("users") or [])
        if isinstance(data, dict) and "/users/" in path:
            users.append(data)
        elif isinstance(data, dict):
            posts = [data]

        def charge(key: str, price: int, what: str) -> None:
            if key in self._billed_keys:
                return
            self._billed_keys.add(key)
            self.billed_micro_usd += price
            self.billed[what] += 1

        for t in posts:
            charge(f"p:{t.get('id')}", PRICE_OWNED if owned else PRICE_POST, "owned" if owned else "posts")
        for t in includes.get("tweets") or []:
            charge(f"p:{t.get('id')}", PRICE_POST, "posts")
        for u in users:
            charge(f"u:{u.get('id')}", PRICE_USER, "users")
        for md in includes.get("media") or []:
            charge(f"m:{md.get('media_key')}", PRICE_MEDIA, "media")

    def _auth_kind(self, value: str) -> str | None:
        if value.startswith("Bearer "):
            return "bearer" if value[7:] == self.bearer_token else "bad"
        if value.startswith("OAuth "):
            params = dict(re.findall(r'(\w+)="([^"]*)"', value))
            ok = unquote(params.get("oauth_consumer_key", "")) == self.consumer_key and \
                unquote(params.get("oauth_token", "")) == self.access_token
            return "oauth" if ok else "bad"
        return None

    def _rate_headers(self, path: str) -> tuple[dict[str, str], bool]:
        """X's ``x-rate-limit-*`` headers for this endpoint's 15-minute window, and
        whether ``rate_limit`` is exceeded."""
        now = time.time()
        key = re.sub(r"\d+", ":id", path)
        start, count = self._window.get(key, (now, 0))
        if now - start >= 900:
            start, count = now, 0
        count += 1
        self._window[key] = (start, count)
        limit = self.rate_limit or 450
        return ({"x-rate-limit-limit": str(limit),
                 "x-rate-limit-remaining": str(max(0, limit - count)),
                 "x-rate-limit-reset": str(int(start + 900))},
                self.rate_limit is not None and count > self.rate_limit)

    def _fault_response(self, f: _Fault) -> tuple[int, dict[str, str], bytes]:
        headers = {"content-type": f.content_type, **f.headers}
        if f.status == 429 and f.reset_after is not None:
            headers["x-rate-limit-reset"] = str(int(time.time() + f.reset_after))
            headers.setdefault("x-rate-limit-remaining", "0")
        body = f.body if f.body is not None else json.dumps(_problem(f.status)).encode()
        return f.status, headers, body

    def _route(self, method: str, path: str, q: dict[str, str], headers: Mapping[str, str],
               body: bytes, auth: str | None) -> tuple[int, dict[str, str], bytes]:
        rl, exceeded = self._rate_headers(path)
        if exceeded:
            return _json(429, _problem(429), rl)
        if auth in (None, "bad"):
            return _json(401, _problem(401), rl)
        user_ctx = path == "/2/users/me" or (method == "PUT" and path.endswith("/hidden"))
        if user_ctx and auth != "oauth":
            return _json(403, _problem(403, unsupported_auth=True), rl)

        m = re.fullmatch(r"/2/users/(\d+)/mentions", path)
        if method == "GET" and m:
            return self._timeline(q, rl, lambda t: self._is_mention(t, m.group(1)), "mentions")
        m = re.fullmatch(r"/2/users/(\d+)/tweets", path)
        if method == "GET" and m:
            uid = m.group(1)
            excl = set(filter(None, q.get("exclude", "").split(",")))
            bad = excl - {"replies", "retweets"}
            if bad:
                return _json(400, _invalid("exclude", f"[{','.join(sorted(bad))}] is not one of [replies,retweets]"), rl)

            def own(t: _Tweet) -> bool:
                return t.author_id == uid and not ("replies" in excl and t.replied_to)
            return self._timeline(q, rl, own, "tweets")
        if method == "GET" and path == "/2/tweets/search/recent":
            query = q.get("query", "")
            if not query:
                return _json(400, _invalid("query", "The `query` query parameter can not be empty"), rl)
            if len(query) > _QUERY_MAX_CHARS:
                return _json(400, _invalid("query", f"Query must be between 1 and {_QUERY_MAX_CHARS} characters long"), rl)
            try:
                pred = _SearchQuery(query, self).predicate
            except ValueError as exc:
                return _json(400, _invalid("query", str(exc)), rl)
            return self._timeline(q, rl, pred, "search")
        if method == "GET" and path == "/2/tweets":
            ids = [i for i in q.get("ids", "").split(",") if i]
            if not ids or len(ids) > 100 or not all(i.isdigit() for i in ids):
                return _json(400, _invalid("ids", f"The `ids` query parameter value [{q.get('ids', '')}] is not "
                                           "between 1 and 100 comma-separated post ids"), rl)
            fields = set(_DEFAULT_TWEET_FIELDS) | set(filter(None, q.get("tweet.fields", "").split(",")))
            found = [self._tweets[i] for i in ids if i in self._tweets]
            out: dict[str, Any] = {}
            if found:
                out["data"] = [self._tweet_json(t, fields) for t in found]
                includes = self._includes(found, q)
                if includes:
                    out["includes"] = includes
            missing = [i for i in ids if i not in self._tweets]
            if missing:
                out["errors"] = [_tweet_not_found(i) for i in missing]
            self.posts_served += len(found)
            return _json(200, out, rl)
        m = re.fullmatch(r"/2/tweets/(\d+)", path)
        if method == "GET" and m:
            t = self._tweets.get(m.group(1))
            if t is None:
                return _json(200, {"errors": [_tweet_not_found(m.group(1), "id")]}, rl)
            fields = set(_DEFAULT_TWEET_FIELDS) | set(filter(None, q.get("tweet.fields", "").split(",")))
            self.posts_served += 1
            return _json(200, {"data": self._tweet_json(t, fields)}, rl)
        if method == "GET" and path == "/2/users/me":
            uid = self.access_token.split("-", 1)[0]
            user = self._users.get(uid, self._users[self.user_id])
            return _json(200, {"data": self._user_json(user, q)}, rl)
        m = re.fullmatch(r"/2/users/by/username/(\w{1,15})", path)
        if method == "GET" and m:
            user = self._by_username.get(m.group(1).lower())
            if user is None:
                return _json(200, _user_not_found("username", m.group(1)), rl)
            return _json(200, {"data": self._user_json(user, q)}, rl)
        m = re.fullmatch(r"/2/users/(\d+)", path)
        if method == "GET" and m:
            user = self._users.get(m.group(1))
            if user is None:
                return _json(200, _user_not_found("id", m.group(1)), rl)
            return _json(200, {"data": self._user_json(user, q)}, rl)
        m = re.fullmatch(r"/2/tweets/(\d+)/hidden", path)
        if method == "PUT" and m:
            try:
                hidden = json.loads(body or b"{}")["hidden"]
                if not isinstance(hidden, bool):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                return _json(400, _invalid("hidden", "body must be {\"hidden\": true|false}"), rl)
            t = self._tweets.get(m.group(1))
            if t is None:
                return _json(404, {"title": "Not Found Error", "type": "https://api.twitter.com/2/problems/resource-not-found",
                                   "detail": f"Could not find tweet with id: [{m.group(1)}].", "status": 404}, rl)
            me = self.access_token.split("-", 1)[0]
            root = self._tweets.get(t.conversation_id)
            if t.id == t.conversation_id or root is None or root.author_id != me:
                return _json(403, {"title": "Forbidden", "type": "about:blank", "status": 403,
                                   "detail": "You can only hide or unhide replies to conversations you authored."}, rl)
            t.hidden = hidden
            if isinstance(t.source, FakeComment):
                t.source.hidden = hidden
            return _json(200, {"data": {"hidden": hidden}}, rl)
        return _json(404, {"title": "Not Found", "type": "about:blank", "status": 404,
                           "detail": f"no route for {method} {path}"}, rl)

    def _is_mention(self, t: _Tweet, uid: str) -> bool:
        user = self._users.get(uid)
        if user is None or t.author_id == uid or t.retweet_of:
            return False
        if f"@{user['username'].lower()}" in t.text.lower():
            return True
        if self.mention_rule == "replies" and t.replied_to:
            root = self._tweets.get(t.conversation_id)
            return root is not None and root.author_id == uid
        return False

    def _timeline(self, q: dict[str, str], rl: dict[str, str], pred: Callable[[_Tweet], bool],
                  kind: str) -> tuple[int, dict[str, str], bytes]:
        lo, hi = (10, 100) if kind == "search" else (5, 100)
        try:
            max_results = int(q.get("max_results", "10"))
        except ValueError:
            return _json(400, _invalid("max_results", f"[{q['max_results']}] is not a number"), rl)
        if not lo <= max_results <= hi:
            return _json(400, _invalid("max_results", f"The `max_results` query parameter value "
                                       f"[{max_results}] is not between {lo} and {hi}"), rl)
        token_key = "next_token" if kind == "search" and "next_token" in q else "pagination_token"
        offset = 0
        if q.get(token_key):
            m = re.fullmatch(r"fx([0-9a-f]+)z[0-9a-f]{8}", q[token_key])
            if not m:
                return _json(400, _invalid(token_key, f"The `{token_key}` query parameter value "
                                           f"[{q[token_key]}] is not valid"), rl)
            offset = int(m.group(1), 16)
        since = q.get("since_id")
        until = q.get("until_id")
        for name in ("since_id", "until_id"):
            if q.get(name) and not q[name].isdigit():
                return _json(400, _invalid(name, f"The `{name}` query parameter value [{q[name]}] is not valid"), rl)
        try:
            start = parse_time(q["start_time"]) if q.get("start_time") else None
            end = parse_time(q["end_time"]) if q.get("end_time") else None
        except ValueError as exc:
            return _json(400, _invalid("start_time", str(exc)), rl)
        if kind == "search" and self.recent_days is not None:
            floor = self.clock() - timedelta(days=self.recent_days)
            if start is not None and start < floor:
                return _json(400, _invalid("start_time", f"Invalid 'start_time':'{q['start_time']}'. "
                                           f"'start_time' must be on or after {iso(floor)}"), rl)
            if since and snowflake_time(since) < floor:
                return _json(400, _invalid("since_id", f"Invalid 'since_id':'{since}'. 'since_id' must "
                                           f"be a tweet id created after {iso(floor)}"), rl)
        hits = [t for t in self._tweets.values() if pred(t)
                and (not since or int(t.id) > int(since)) and (not until or int(t.id) < int(until))
                and (start is None or t.created_at >= start) and (end is None or t.created_at < end)]
        hits.sort(key=lambda t: int(t.id), reverse=True)
        page = hits[offset:offset + max_results]
        fields = set(_DEFAULT_TWEET_FIELDS) | set(filter(None, q.get("tweet.fields", "").split(",")))
        unknown = fields - _TWEET_FIELDS
        if unknown:
            return _json(400, _invalid("tweet.fields", f"[{','.join(sorted(unknown))}] is not one of "
                                       f"[{','.join(sorted(_TWEET_FIELDS))}]"), rl)
        out: dict[str, Any] = {}
        if page:
            out["data"] = [self._tweet_json(t, fields) for t in page]
            includes = self._includes(page, q)
            if includes:
                out["includes"] = includes
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0].id, page[-1].id
        if offset + max_results < len(hits):
            nxt = offset if self.repeat_next_token and offset else offset + max_results
            digest = hashlib.sha256(f"{nxt}".encode()).hexdigest()[:8]
            meta["next_token"] = f"fx{nxt:x}z{digest}"
        out["meta"] = meta
        self.posts_served += len(page)
        return _json(200, out, rl)

    def _tweet_json(self, t: _Tweet, fields: set[str] | frozenset[str]) -> dict[str, Any]:
        text = t.text if len(t.text) <= SHORT_TEXT else t.text[:SHORT_TEXT] + "…"
        full: dict[str, Any] = {
            "id": t.id, "text": text, "edit_history_tweet_ids": [t.id],
            "author_id": t.author_id, "conversation_id": t.conversation_id,
            "created_at": t.created_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "lang": "en", "possibly_sensitive": False, "reply_settings": "everyone",
        }
        if t.in_reply_to_user_id:
            full["in_reply_to_user_id"] = t.in_reply_to_user_id
        if t.replied_to:
            full["referenced_tweets"] = [{"type": "replied_to", "id": t.replied_to}]
        if t.media:
            full["attachments"] = {"media_keys": [m["media_key"] for m in t.media]}
        mentions = []
        for mm in re.finditer(r"@(\w{1,15})", t.text):
            user = self._by_username.get(mm.group(1).lower())
            if user is not None:
                mentions.append({"start": mm.start(), "end": mm.end(), "username": user["username"], "id": user["id"]})
        if mentions:
            full["entities"] = {"mentions": mentions}
        if len(t.text) > SHORT_TEXT:
            full["note_tweet"] = {"text": t.text}
            if mentions:
                full["note_tweet"]["entities"] = {"mentions": mentions}
        out = {k: v for k, v in full.items() if k in fields}
        if t.id in self._malformed:
            drop, replace = self._malformed[t.id]
            for k in drop:
                out.pop(k, None)
            out.update(replace)
        return out

    def _user_json(self, user: Mapping[str, str], q: Mapping[str, str]) -> dict[str, Any]:
        out = dict(user)
        extra = set(filter(None, q.get("user.fields", "").split(",")))
        if "created_at" in extra:
            out["created_at"] = "2012-03-01T09:00:00.000Z"
        if "protected" in extra:
            out["protected"] = False
        return out

    def _includes(self, page: list[_Tweet], q: Mapping[str, str]) -> dict[str, Any]:
        exp = set(filter(None, q.get("expansions", "").split(",")))
        inc: dict[str, Any] = {}
        uids: list[str] = []
        if "author_id" in exp:
            uids += [t.author_id for t in page]
        if "in_reply_to_user_id" in exp:
            uids += [t.in_reply_to_user_id for t in page if t.in_reply_to_user_id]
        if uids:
            seen = dict.fromkeys(uids)
            inc["users"] = [self._user_json(self._users[u], q) for u in seen if u in self._users]
        if "attachments.media_keys" in exp:
            mfields = set(filter(None, q.get("media.fields", "").split(","))) | {"media_key", "type"}
            media = [{k: v for k, v in m.items() if k in mfields} for t in page for m in t.media]
            if media:
                inc["media"] = media
        if "referenced_tweets.id" in exp:
            refs = [self._tweets[t.replied_to] for t in page if t.replied_to and t.replied_to in self._tweets]
            if refs:
                fields = set(_DEFAULT_TWEET_FIELDS) | set(filter(None, q.get("tweet.fields", "").split(",")))
                inc["tweets"] = [self._tweet_json(t, fields) for t in {r.id: r for r in refs}.values()]
                self.posts_served += len(inc["tweets"])
        return inc


class _SearchQuery:
    """The subset of X's search query language the fake understands: terms
    ``conversation_id:N``, ``from:user``, ``to:user``, ``@user``, ``is:reply``,
    ``is:retweet``; ``-`` negation; ``OR``; parentheses; juxtaposition is AND.

    :raises ValueError: for anything else (the fake answers 400, as X does).
    """

    _TOKEN = re.compile(r"\(|\)|-?[^\s()]+")

    def __init__(self, query: str, server: FakeXServer):
        self.server = server
        self.tokens = self._TOKEN.findall(query)
        if query.count("(") != query.count(")"):
            raise ValueError("There were errors processing your request: mismatched parentheses")
        self.pos = 0
        self.predicate = self._conj()
        if self.pos != len(self.tokens):
            raise ValueError(f"There were errors processing your request: unexpected "
                             f"{self.tokens[self.pos]!r} (at position {self.pos + 1})")

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _conj(self) -> Callable[[_Tweet], bool]:
        parts = []
        while self._peek() not in (None, ")"):
            parts.append(self._disj())
        if not parts:
            raise ValueError("There were errors processing your request: empty group")
        return lambda t: all(p(t) for p in parts)

    def _disj(self) -> Callable[[_Tweet], bool]:
        parts = [self._atom()]
        while self._peek() == "OR":
            self.pos += 1
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else (lambda t: any(p(t) for p in parts))

    def _atom(self) -> Callable[[_Tweet], bool]:
        tok = self._peek()
        if tok is None or tok in ("OR", ")"):
            raise ValueError(f"There were errors processing your request: unexpected {tok or 'end of query'!r}")
        self.pos += 1
        if tok == "(":
            inner = self._conj()
            if self._peek() != ")":
                raise ValueError("There were errors processing your request: missing ')'")
            self.pos += 1
            return inner
        neg = tok.startswith("-")
        term = self._term(tok[1:] if neg else tok)
        return (lambda t: not term(t)) if neg else term

    def _term(self, tok: str) -> Callable[[_Tweet], bool]:
        users = self.server._users
        tweets = self.server._tweets

        def uname(uid: str | None) -> str:
            return users.get(uid or "", {}).get("username", "").lower()

        if m := re.fullmatch(r"conversation_id:(\d+)", tok):
            cid = m.group(1)
            return lambda t: t.conversation_id == cid
        if m := re.fullmatch(r"from:@?(\w{1,15})", tok):
            h = m.group(1).lower()
            return lambda t: uname(t.author_id) == h
        if m := re.fullmatch(r"to:@?(\w{1,15})", tok):
            h = m.group(1).lower()
            return lambda t: t.replied_to is not None and uname(t.in_reply_to_user_id) == h
        if m := re.fullmatch(r"@(\w{1,15})", tok):
            h = m.group(1).lower()

            user = self.server._by_username.get(h)
            return lambda t: user is not None and self.server._is_mention(t, user["id"])
        if tok == "is:reply":
            return lambda t: t.replied_to is not None
        if tok == "is:retweet":
            return lambda t: t.retweet_of is not None and t.retweet_of in tweets
        raise ValueError(f"There were errors processing your request: unsupported operator {tok!r} "
                         "(the fake understands conversation_id:, from:, to:, @user, is:reply, is:retweet)")


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A JSON answer, UTF-8 as X sends it; text that is not valid Unicode (lone
    surrogates) goes out as ``\\uXXXX`` escapes, still valid JSON."""
    try:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raw = json.dumps(body).encode("ascii")
    return status, {"content-type": "application/json; charset=utf-8", **(headers or {})}, raw


def _invalid(param: str, message: str) -> dict[str, Any]:
    """X's 400 body for an invalid parameter."""
    return {"errors": [{"parameters": {param: []}, "message": message}],
            "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request"}


def _user_not_found(parameter: str, value: str) -> dict[str, Any]:
    """X's 200 body for a user lookup (by ``id`` or ``username``) that found nobody."""
    return {"errors": [{
        "value": value, "detail": f"Could not find user with {parameter}: [{value}].",
        "title": "Not Found Error", "resource_type": "user", "parameter": parameter,
        "resource_id": value, "type": "https://api.twitter.com/2/problems/resource-not-found"}]}


def _tweet_not_found(tweet_id: str, parameter: str = "ids") -> dict[str, Any]:
    """X's partial error for a post lookup of a deleted (or never existing) post."""
    return {"value": tweet_id, "detail": f"Could not find tweet with {parameter}: [{tweet_id}].",
            "title": "Not Found Error", "resource_type": "tweet", "parameter": parameter,
            "resource_id": tweet_id, "type": "https://api.twitter.com/2/problems/resource-not-found"}


def usage_capped() -> dict[str, Any]:
    """X's 429 body when the app's usage cap or spending limit is reached (shape as reported
    by X API users on pay-per-use, Feb 2026: ``type`` ``.../problems/usage-capped``)."""
    return {"account_id": "1500000000000000000", "product_name": "standard-basic", "title": "UsageCapExceeded",
            "period": "Monthly", "scope": "Product", "detail": "Usage cap exceeded: Monthly product cap",
            "type": "https://api.twitter.com/2/problems/usage-capped"}


def _problem(status: int, unsupported_auth: bool = False) -> dict[str, Any]:
    """X's JSON problem body for an error status (shapes as X sends them)."""
    if status == 401:
        return {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
    if status == 403 and unsupported_auth:
        return {"title": "Unsupported Authentication", "type": "https://api.twitter.com/2/problems/unsupported-authentication",
                "status": 403, "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this "
                "endpoint.  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."}
    if status == 403:
        return {"client_id": "28000001", "required_enrollment": "Appropriate Level of API Access",
                "registration_url": "https://developer.x.com/en/portal/product",
                "title": "Client Forbidden", "reason": "client-not-enrolled",
                "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and "
                          "tokens from a Twitter developer App that is attached to a Project. You can create a "
                          "project via the developer portal.",
                "type": "https://api.twitter.com/2/problems/client-forbidden"}
    if status == 429:
        return {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
    if status == 503:
        return {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank", "status": 503}
    return {"title": "Internal Server Error" if status >= 500 else "Error", "detail": f"HTTP {status}",
            "type": "about:blank", "status": status}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeXServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body in one segment: no 40 ms delayed-ACK stall
    wbufsize = 1 << 16  # buffered; handle_one_request flushes after each response

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, out = self.fake.handle(self.command, self.path, self.headers, body)
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

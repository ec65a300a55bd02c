"""Facebook Page connector on the Graph API (httpx; source: Graph API ``v23.0`` by default).

Reads the school Page's posts and every comment and reply on them, maps them to
:mod:`monitor.domain` types, and on a coordinator's confirmation hides/unhides a comment
or blocks a commenter. HTTP, auth, retries and error mapping live in
:mod:`connectors.graph_client`.

Permissions (Page access token): ``pages_read_engagement`` (Page and posts),
``pages_read_user_content`` (comments and their authors), ``pages_manage_engagement``
(hiding comments, blocking; only when ``hide_enabled`` / ``block_enabled``).

Fetch plan (calls per poll grow with new data, not with history)
----------------------------------------------------------------
Let ``P`` be the number of Page posts created inside the look-back window
(``lookback_days``, default 30) and ``A`` the posts with activity since the last poll.

1. **Post listing**: ``GET /{page-id}/posts?since=<window start>&limit=100&fields=id,message,
   story,created_time,updated_time,permalink_url,comments.filter(stream).summary(true).limit(0)``
   following ``paging.next``: ``ceil(P / 100)`` calls. Each post carries its comment
   ``summary.total_count`` (replies included, ``filter(stream)``) and ``updated_time``
   (bumped by Graph when someone comments).
2. **Activity test** against the cursor (per post: last ``total_count``, ``updated_time``
   and newest comment time seen): a post is active when it is new, or its count or
   ``updated_time`` changed. Quiet posts cost nothing.
3. **Comments of an active post**: ``GET /{post-id}/comments?filter=stream&order=chronological
   &limit=100&summary=true&fields=id,message,from{id,name},created_time,permalink_url,
   attachment{type,url,media,target},parent{id},is_hidden,can_hide``. Nothing depends on
   the order Graph serves: the comments reference says ``filter=stream`` is chronological
   whatever ``order`` says, and ranked comments come ranked.

   * *full listing* (every page) when the post is new, has at most 100 comments (one call
     either way), has a first miss to confirm (below), or the incremental arithmetic does
     not add up; a full listing also finds edits and, against
     ``FetchContext.known_comments``, deletions;
   * otherwise *incremental*: ``since=<newest comment seen - 10 minutes>`` (a watermark in
     the cursor; the margin catches late-indexed comments), every page of that:
     ``ceil((new + margin) / 100)`` calls. If the count moved by exactly the number of new
     comments found, nothing was deleted; if not (a deletion, a late arrival), the post is
     listed in full.

   **Deletions.** Paging follows ``paging.next`` past empty pages (Graph returns
   ``{"data": [], "paging": {"next": ...}}`` with more after it; at most
   :data:`MAX_EMPTY_PAGES` in a row). A stored comment is marked deleted only when a
   *complete* listing misses it (at least ``summary.total_count`` minus
   :func:`count_tolerance` comments returned, no paging guard tripped, nothing malformed)
   **and** the previous complete listing of the post missed it too: the first miss is kept
   in the cursor (``m``) and the post is listed again next poll to confirm or clear it.
4. **Audit**: ``audit_posts_per_poll`` (default 2) quiet posts are re-listed in full each
   poll, round-robin over the window, so an edit or a deletion on a post with no other
   activity is found within ``P / 2`` polls (a deletion is confirmed the poll after).

Calls per poll = ``ceil(P/100) + A`` (more for a burst of more than 100 comments on one
post) + the audit. Nothing depends on the number of comments already stored or on posts
older than the window (``benchmarks/facebook_poll.py``: 2,000 posts in the window, 50,000
comments, 100 new on 83 posts: 128 calls; nothing new: 29 calls). The first poll lists everything in the
window once. ``max_calls_per_poll`` bounds a poll; unfinished posts stay "active" in the
cursor and are done next poll, newest first.

Cursor (JSON-able, stored by the pipeline with the comments)::

    {"v": 1,
     "posts": {"<post id>": {"n": <summary.total_count>, "u": "<updated_time>",
                             "w": "<newest comment created_time seen, ISO>" | null,
                             "m": ["<comment id missing from the last complete listing>", ...]}},
     "audit": "<created_time>|<post id>" | null,   # round-robin position
     "polled_at": "<ISO UTC>"}

Only posts inside the window are kept, so its size is bounded by ``P``.

Limits: ``x-app-usage``, ``x-page-usage`` and ``x-business-use-case-usage`` are read on
every response. From 75% the client pauses between calls (0.5 s per point) and the result
asks for a later poll (``next_poll_after``, over the header's window: a Page token's calls
fall under the Business Use Case limits, a rolling 24 hours; see
:func:`connectors.graph_client.backoff_after`); at 95% (or when Graph gives a time to
regain access) the poll stops early and returns what it has. A rate-limit or transient error in
the middle of a poll that already made progress also returns the progress with a
warning; with no progress it raises :class:`~connectors.base.ConnectorError`.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from connectors.base import CheckResult, ConnectorError, FetchContext, FetchResult
from connectors.graph_client import (
    DEFAULT_BASE_URL,
    PLATFORM,
    STOP_AT_PCT,
    GraphClient,
    Usage,
    backoff_after,
    graph_pages,
    redact,
    scrub,
)
from monitor.domain import Account, Attachment, Comment, Post, QuarantinedPayload, iso, parse_time

PAGE_LIMIT = 100
#: Comment fields requested (Graph API Comment node).
COMMENT_FIELDS = ("id,message,from{id,name},created_time,permalink_url,"
                  "attachment{type,url,media,target},parent{id},is_hidden,can_hide")
#: Post fields requested (Graph API Page Post node) with the comment count summary.
POST_FIELDS = ("id,message,story,created_time,updated_time,permalink_url,"
               "comments.filter(stream).summary(true).limit(0)")
#: Pages followed in one listing at most (50,000 comments): a guard against endless paging.
MAX_PAGES = 500
#: Empty pages in a row that still carry ``paging.next`` followed before a listing is given
#: up as incomplete (Graph returns ``{"data": [], "paging": {"next": ...}}`` when privacy
#: filtering empties a page, with more after it).
MAX_EMPTY_PAGES = 10
#: A full listing counts as complete for deletions when it returned at least
#: ``summary.total_count`` minus this many comments (Graph's count includes comments it
#: leaves out of listings), or minus 2% of the count when that is more.
COUNT_TOLERANCE = 2
#: Comments created this long before the newest seen are re-read by incremental fetches.
LATE_MARGIN = timedelta(minutes=10)
CURSOR_VERSION = 1

#: When each Graph API version stops working (Meta's changelog, "Versions" table, as
#: published in December 2026). A version newer than these has no published date yet; an
#: older one has expired. Update this table when Meta publishes new dates.
GRAPH_VERSION_EXPIRY: dict[str, date] = {
    "v16.0": date(2025, 5, 14), "v17.0": date(2025, 9, 12), "v18.0": date(2026, 1, 26),
    "v19.0": date(2026, 5, 21), "v20.0": date(2026, 9, 24), "v21.0": date(2027, 1, 21),
    "v22.0": date(2027, 5, 20), "v23.0": date(2027, 10, 8), "v24.0": date(2028, 2, 18),
    "v25.0": date(2028, 7, 29),
}
#: ``check`` warns this many months before the pinned version's end date.
VERSION_WARN_MONTHS = 6

_ATTACHMENT_TYPES = {
    "photo": "photo", "album": "photo", "cover_photo": "photo", "profile_media": "photo",
    "video": "video", "video_inline": "video", "video_autoplay": "video", "video_share_youtube": "video",
    "video_direct_response": "video", "native_templates": "other",
    "animated_image_share": "animated_gif", "animated_image_video": "animated_gif",
    "animated_image_autoplay": "animated_gif", "animated_gif": "animated_gif",
    "sticker": "sticker", "share": "link", "link": "link",
}


#: A Graph object id: digits, joined by ``_`` for posts (``{page}_{post}``) and comments
#: (``{post}_{comment}``).
_GRAPH_ID_RE = re.compile(r"[0-9]{1,40}(?:_[0-9]{1,40}){0,3}")


def graph_id(value: Any, what: str) -> str:
    """Return ``value`` as a Graph id string (pure).

    :raises ValueError: naming ``what`` when it is not digits (and ``_``), e.g. a lone
        surrogate or an object where an id belongs."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _GRAPH_ID_RE.fullmatch(value):
        raise ValueError(f"{what}: not a Graph id: {value!r:.60}")
    return value


def strip_secret_params(url: Any) -> str | None:
    """Remove ``access_token``, ``appsecret_proof`` and ``input_token`` from a URL's query
    (pure); other parameters (``comment_id`` ...) keep their order. Anything that is not
    a non-empty, parseable URL string gives None."""
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.query:
        return url
    q = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
         if k.lower() not in ("access_token", "appsecret_proof", "input_token")]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(q), parts.fragment))


def _version_number(version: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"v(\d{1,3})\.(\d{1,3})", version.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def _months_before(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    m += 1
    days = [31, 29 if y % 4 == 0 and (y % 100 or y % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return date(y, m, min(d.day, days[m - 1]))


def graph_version_verdict(version: str, today: date, *,
                          expiry: Mapping[str, date] = GRAPH_VERSION_EXPIRY) -> tuple[bool, bool, str]:
    """Judge the pinned Graph API ``version`` on ``today`` against ``expiry`` (pure).

    :returns: ``(ok, warning, detail)``: expired: ``(False, False, ...)``; within
        :data:`VERSION_WARN_MONTHS` months of its end date: ``(True, True, ...)``; else
        ``(True, False, ...)``. A version newer than the table has no published date yet
        (ok); one older than the table has expired.
    """
    known = sorted((n, v) for v in expiry if (n := _version_number(v)) is not None)
    newest = known[-1][1] if known else None
    advice = (f"test the monitor with a newer version (such as {newest}) and set graph_version in the "
              "account's [[accounts]] table")
    end = expiry.get(version)
    num = _version_number(version)
    if end is None:
        if num is not None and known and num < known[0][0]:
            return False, False, (f"Graph API {version} has expired (before {known[0][1]}, which ended "
                                  f"{expiry[known[0][1]]:%Y-%m-%d}): {advice}")
        return True, False, f"Graph API {version}: Meta has published no end date for it yet"
    if today >= end:
        return False, False, (f"Graph API {version} stopped working on {end:%Y-%m-%d}: Meta now answers with "
                              f"a newer version the monitor was not tested with; {advice}")
    if today >= _months_before(end, VERSION_WARN_MONTHS):
        return True, True, (f"Graph API {version} stops working on {end:%Y-%m-%d} (in {(end - today).days} days): "
                            f"{advice}")
    return True, False, f"Graph API {version} works until {end:%Y-%m-%d}"


def map_attachment(att: Mapping[str, Any] | None) -> tuple[Attachment, ...]:
    """Graph ``attachment{type,url,media,target}`` to domain attachments (pure).

    The type is normalised (``video_inline`` to ``video``, ``animated_image_share`` to
    ``animated_gif``, ``share`` to ``link`` ...); the URL is the media's own
    (``media.source`` for video, ``media.image.src`` for images), else ``url``."""
    if not att or not isinstance(att, Mapping):
        return ()
    gtype = att.get("type") if isinstance(att.get("type"), str) else ""
    kind = _ATTACHMENT_TYPES.get(gtype, "video" if "video" in gtype else "other")
    media = att.get("media") if isinstance(att.get("media"), Mapping) else {}
    image = media.get("image") if isinstance(media.get("image"), Mapping) else {}
    url = next((u for u in (media.get("source"), image.get("src"), att.get("url")) if isinstance(u, str) and u), None)
    return (Attachment(type=kind, url=strip_secret_params(url)),)


def map_comment(raw: Mapping[str, Any], *, account: str, post_id: str, post_text: str | None,
                secrets: tuple[str, ...] = ()) -> Comment:
    """One Graph comment object to a :class:`~monitor.domain.Comment` (pure).

    ``author_id`` is ``fb:<from.id>`` (``fb:unknown`` when Graph withholds ``from``),
    ``parent_id`` is ``parent.id`` for a reply, ``raw`` is the comment's JSON with any
    secret URL parameter removed.

    :raises ValueError: naming the comment when ``id`` (or ``from.id``, ``parent.id``) is
        not a Graph id, ``created_time`` is missing or malformed, or ``from``, ``parent``
        or ``message`` has the wrong JSON type.
    """
    cid = graph_id(raw.get("id"), f"comment on post {post_id}")
    ctime = raw.get("created_time")
    if not isinstance(ctime, str):
        raise ValueError(f"Graph comment {cid} has no created_time")
    created = parse_time(ctime)
    frm, parent, message = raw.get("from"), raw.get("parent"), raw.get("message")
    if frm is not None and not isinstance(frm, Mapping):
        raise ValueError(f"Graph comment {cid}: 'from' is not an object")
    if parent is not None and not isinstance(parent, Mapping):
        raise ValueError(f"Graph comment {cid}: 'parent' is not an object")
    if message is not None and not isinstance(message, str):
        raise ValueError(f"Graph comment {cid}: 'message' is not a string")
    frm = frm or {}
    author = graph_id(frm["id"], f"comment {cid} from.id") if frm.get("id") is not None else "unknown"
    parent_id = graph_id(parent["id"], f"comment {cid} parent.id") if parent and parent.get("id") else None
    name, hidden = frm.get("name"), raw.get("is_hidden")
    return Comment(
        platform=PLATFORM,
        account=account,
        post_id=post_id,
        comment_id=cid,
        parent_id=parent_id,
        author_id=f"fb:{author}",
        author_name=name if isinstance(name, str) else "",
        text=message or "",
        created_at=created,
        permalink=strip_secret_params(raw.get("permalink_url")),
        attachments=map_attachment(raw.get("attachment")),
        raw=scrub(dict(raw), secrets),
        post_text=post_text,
        is_hidden=hidden if isinstance(hidden, bool) else None,
    )


def _reason(exc: BaseException) -> str:
    """The quarantine reason for a mapping failure: the mapper's own words for a
    ValueError, the failure's type otherwise (an object that is not a JSON object ...)."""
    if isinstance(exc, ValueError):
        return str(exc)
    if isinstance(exc, AttributeError):
        return "not a JSON object"
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    return f"{type(exc).__name__}: {exc}"[:200]


def quarantined(raw: Any, exc: BaseException, *, account: str, kind: str, post_id: str | None,
                secrets: tuple[str, ...] = ()) -> QuarantinedPayload:
    """A Graph object that could not be mapped, kept as returned (secret URL parameters
    removed) with the reason (pure)."""
    rid = raw.get("id") if isinstance(raw, Mapping) else None
    item_id = str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) and _GRAPH_ID_RE.fullmatch(
        str(rid)) else None
    try:
        clean = scrub(raw, secrets)
    except RecursionError:
        clean = None
    return QuarantinedPayload(platform=PLATFORM, account=account, kind=kind, post_id=post_id, item_id=item_id,
                              reason=_reason(exc), raw=clean)


def map_post(raw: Mapping[str, Any], *, account: str, secrets: tuple[str, ...] = ()) -> Post:
    """One Graph post object to a :class:`~monitor.domain.Post` (pure); text is
    ``message``, else ``story``, else empty.

    :raises ValueError: when ``id`` is not a Graph id or ``created_time`` is missing or
        malformed."""
    pid = graph_id(raw.get("id"), "post")
    if not isinstance(raw.get("created_time"), str):
        raise ValueError(f"Graph post {pid} has no created_time")
    text = next((t for t in (raw.get("message"), raw.get("story")) if isinstance(t, str) and t), "")
    return Post(platform=PLATFORM, account=account, post_id=pid, text=text,
                created_at=parse_time(raw["created_time"]),
                permalink=strip_secret_params(raw.get("permalink_url")),
                raw=scrub(dict(raw), secrets))


@dataclass
class _PostState:
    n: int
    u: str | None
    w: str | None
    #: comment ids missing from the last complete listing (a first miss: deleted only if
    #: the next complete listing misses them too)
    m: tuple[str, ...] = ()

    def to_json(self) -> dict:
        out: dict[str, Any] = {"n": self.n, "u": self.u, "w": self.w}
        if self.m:
            out["m"] = list(self.m)
        return out


def count_tolerance(total: int) -> int:
    """Comments a complete listing may lack against ``summary.total_count`` (pure):
    :data:`COUNT_TOLERANCE`, or 2% of ``total`` when that is more."""
    return max(COUNT_TOLERANCE, total // 50)


def listing_complete(seen: int, total: int | None) -> bool:
    """Whether a listing that returned ``seen`` comments (malformed ones included) is
    complete against Graph's ``summary.total_count`` ``total`` (pure). No count: False."""
    return total is not None and seen >= total - count_tolerance(total)


def confirm_deletions(known: Iterable[str], seen: Iterable[str], first_misses: Iterable[str]
                      ) -> tuple[list[str], tuple[str, ...]]:
    """Two-listing deletion rule (pure). Of the ``known`` comment ids (live in the store),
    those missing from this complete listing (``seen``) are deleted when they were also
    missing from the previous one (``first_misses``); the others become first misses.

    :returns: (deleted ids, sorted; the new first misses, sorted)."""
    seen_set, before = set(seen), set(first_misses)
    missing = {k for k in known if k not in seen_set}
    return sorted(missing & before), tuple(sorted(missing - before))


def _load_cursor(cursor: Mapping[str, Any]) -> tuple[dict[str, _PostState], str | None, list[str]]:
    """Parse a cursor (tolerant: anything unusable starts fresh, with a warning)."""
    warnings: list[str] = []
    if not cursor:
        return {}, None, warnings
    if cursor.get("v") != CURSOR_VERSION or not isinstance(cursor.get("posts"), Mapping):
        warnings.append("cursor not understood (version or shape); starting a fresh look-back")
        return {}, None, warnings
    posts: dict[str, _PostState] = {}
    dropped = 0
    for pid, st in cursor["posts"].items():
        try:
            if not isinstance(st, Mapping) or not isinstance(st.get("n"), int):
                raise ValueError("no count")
            w = st.get("w")
            if w is not None:
                parse_time(w)
            u = st.get("u")
            m = st.get("m")
            misses = tuple(x for x in m if isinstance(x, str)) if isinstance(m, list) else ()
            posts[str(pid)] = _PostState(st["n"], u if isinstance(u, str) else None, w, misses)
        except (ValueError, TypeError, AttributeError):
            dropped += 1  # re-read in full this poll
    if dropped:
        warnings.append(f"{dropped} unreadable post state(s) in the cursor; those posts are re-read")
    audit = cursor.get("audit")
    return posts, audit if isinstance(audit, str) else None, warnings


class _StopPoll(Exception):
    """Internal: stop this poll early and return what was gathered."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class FacebookConnector:
    """Connector for one Facebook Page (:class:`connectors.base.Connector`).

    :param cfg: the ``[[accounts]]`` entry (``platform = "facebook"``, ``page_id``,
        ``token``, optional ``app_id`` and ``app_secret``, ``graph_version``, ``base_url``,
        ``timeout_seconds``, ``lookback_days``, ``hide_enabled``, ``block_enabled``).
    :param transport: an ``httpx.BaseTransport`` (tests: ``httpx.MockTransport``).
    :param clock: callable returning aware UTC now (used by :meth:`check`: token expiry and
        the Graph version's end date); fetch uses ``FetchContext.now``.
    :param sleep: called for retry backoff and pacing near rate limits.
    :param max_calls_per_poll: HTTP calls after which a poll stops and leaves the rest for
        the next one (None: no bound).
    :param audit_posts_per_poll: quiet posts re-listed in full per poll (edit/deletion audit).
    :param max_attempts: tries per call for transient failures.
    :raises ConnectorError: ``kind="auth"`` when the token (or app secret) cannot be read;
        the message names the config key and where it is read from, never the value.
    :raises ValueError: when ``cfg`` is not a Facebook account with a ``page_id``.
    """

    platform = PLATFORM

    def __init__(self, cfg: Any, *, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], datetime] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 max_calls_per_poll: int | None = 1000, audit_posts_per_poll: int = 2,
                 max_attempts: int = 3):
        from monitor.config import SecretError

        if cfg.platform != "facebook" or not cfg.page_id:
            raise ValueError(f"account {cfg.name!r}: FacebookConnector needs platform 'facebook' and page_id")
        self.cfg = cfg
        self.page_id = str(cfg.page_id)
        self.account = Account(key=cfg.name, platform=PLATFORM, external_id=self.page_id,
                               display_name=cfg.name)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._sleep = sleep
        self.max_calls_per_poll = max_calls_per_poll
        self.audit_posts_per_poll = max(0, audit_posts_per_poll)
        self._quarantined: dict[tuple[str | None, str], QuarantinedPayload] = {}
        ref = cfg.secrets.get("token")
        if ref is None:
            raise ConnectorError(f"account {cfg.name!r}: no Page access token configured (set token_env, "
                                 "token_file or token_credential)", platform=PLATFORM, kind="auth", permanent=True)
        try:
            token = ref.resolve()
            app_secret = cfg.secrets["app_secret"].resolve() if "app_secret" in cfg.secrets else None
        except SecretError as exc:
            raise ConnectorError(str(exc), platform=PLATFORM, kind="auth", permanent=True) from None
        self._page_token = token
        app_id = getattr(cfg, "app_id", None)
        #: ``{app-id}|{app-secret}``: the app token ``debug_token`` is called with (None
        #: without both; the secret comes from its SecretRef, never from the config file)
        self._app_token = f"{app_id}|{app_secret}" if app_id and app_secret else None
        self._has_app_secret = bool(app_secret)
        self.client = GraphClient(base_url=cfg.base_url or DEFAULT_BASE_URL, version=cfg.graph_version,
                                  token=token, app_secret=app_secret, timeout=cfg.timeout_seconds,
                                  transport=transport, sleep=sleep, max_attempts=max_attempts)

    # ------------------------------------------------------------------ fetch
    def fetch(self, ctx: FetchContext) -> FetchResult:
        """Poll the Page (see the module docstring for the plan and the cursor).

        :returns: posts new or changed, every comment read (new, unchanged or edited),
            ``deleted`` comment ids (known to the store, missing from a full listing of a
            post that is still visible), the new cursor, calls made, warnings and
            ``next_poll_after`` near a rate limit.
        :raises ConnectorError: auth and permission errors always; rate-limit and
            transient errors when nothing was gathered yet.
        """
        start_calls = self.client.calls
        self._quarantined: dict[tuple[str | None, str], QuarantinedPayload] = {}
        states, audit_pos, warnings = _load_cursor(ctx.cursor)
        window_start = ctx.now - timedelta(days=self.cfg.lookback_days)
        new_states: dict[str, _PostState] = {}
        posts_out: list[Post] = []
        comments_out: list[Comment] = []
        deleted: list[str] = []
        next_after: float | None = None
        listing: list[dict] = []
        listing_complete = False
        progress = False
        slow_noted = False

        def budget_check() -> None:
            nonlocal slow_noted
            usage: Usage | None = self.client.usage
            if usage is not None and (usage.pct >= STOP_AT_PCT or usage.regain_seconds):
                raise _StopPoll(f"stopping early near the rate limit: {usage.describe()}", backoff_after(usage))
            if usage is not None and backoff_after(usage) and not slow_noted:
                slow_noted = True
                warnings.append(f"slowing down: {usage.describe()}")
            if self.max_calls_per_poll is not None and self.client.calls - start_calls >= self.max_calls_per_poll:
                raise _StopPoll(f"call budget of {self.max_calls_per_poll} per poll reached")

        try:
            # 1. posts inside the look-back window, newest first
            listing, listing_complete = self._list_posts(window_start, budget_check, warnings)
            by_created = sorted(listing, key=lambda p: (p["created_time"], p["id"]), reverse=True)
            done: set[str] = set()
            # 2-3. active posts
            for raw_post in by_created:
                pid = raw_post["id"]
                count = _total_count(raw_post)
                updated = raw_post.get("updated_time") if isinstance(raw_post.get("updated_time"), str) else None
                prev = states.get(pid)
                if prev is not None and count >= 0 and prev.n == count and prev.u == updated and not prev.m:
                    continue  # quiet (a post with a first miss is re-listed to confirm or clear it)
                if prev is None or prev.u != updated:
                    posts_out.append(map_post(raw_post, account=self.account.key, secrets=self.client.secrets))
                if count == 0 and prev is None:
                    new_states[pid] = _PostState(0, updated, None)
                    continue
                budget_check()
                new_states[pid] = self._fetch_post(raw_post, prev, count, ctx, comments_out, deleted, warnings)
                done.add(pid)
                progress = True
            # 4. audit: re-list quiet posts round-robin
            audit_pos = self._audit(by_created, done, audit_pos, states, new_states, ctx,
                                    comments_out, deleted, warnings, budget_check)
        except _StopPoll as stop:
            warnings.append(stop.reason + "; the rest is left for the next poll")
            if stop.retry_after:
                next_after = max(next_after or 0.0, stop.retry_after)
        except ConnectorError as exc:
            if exc.permanent or not progress or exc.kind not in ("rate_limit", "transient"):
                raise
            warnings.append(f"poll cut short, progress kept: {exc}")
            next_after = max(next_after or 0.0, exc.retry_after or 60.0)

        served, pinned = self.client.api_version, self.client.version
        if served and served != pinned:
            warnings.append(f"Graph served facebook-api-version {served} to calls pinned to {pinned}: the pinned "
                            "version has probably expired; run `school-monitor check` and update graph_version")
        usage_wait = backoff_after(self.client.usage)
        if usage_wait:
            next_after = max(next_after or 0.0, usage_wait)
            if not any(w.startswith(("slowing down", "stopping early")) for w in warnings):
                warnings.append(f"slowing down: {self.client.usage.describe()}")  # type: ignore[union-attr]

        # cursor: posts seen in a complete listing stay; unfinished active posts keep their
        # previous state (so they are active again next poll); posts gone from a complete
        # listing (older than the window or removed) are dropped.
        merged: dict[str, _PostState] = {}
        seen_ids = {p["id"] for p in listing}
        for pid, st in states.items():
            if pid in seen_ids or not listing_complete:
                merged[pid] = st
        merged.update(new_states)
        cursor = {"v": CURSOR_VERSION, "posts": {k: v.to_json() for k, v in merged.items()},
                  "audit": audit_pos, "polled_at": iso(ctx.now)}
        return FetchResult(posts=tuple(posts_out), comments=tuple(comments_out), deleted=tuple(deleted),
                           cursor=cursor, calls=self.client.calls - start_calls, reads=len(comments_out),
                           warnings=tuple(warnings), next_poll_after=next_after,
                           quarantined=tuple(self._quarantined.values()))

    def _quarantine(self, raw: Any, exc: BaseException, kind: str, post_id: str | None) -> None:
        """Keep an object that could not be mapped for the pipeline's quarantine (once per
        distinct object per poll: an incremental read and the full listing after it may
        both meet it)."""
        q = quarantined(raw, exc, account=self.account.key, kind=kind, post_id=post_id,
                        secrets=self.client.secrets)
        try:
            key = json.dumps(q.raw, sort_keys=True, default=str)
        except (RecursionError, ValueError, TypeError):
            key = repr(type(q.raw))
        self._quarantined.setdefault((post_id, key), q)

    def _list_posts(self, window_start: datetime, budget_check: Callable[[], None],
                    warnings: list[str]) -> tuple[list[dict], bool]:
        """Step 1. Returns the posts created since ``window_start`` (each with a usable
        ``id`` and ``created_time``; others are skipped with a warning) and whether the
        listing reached its end (a stop part-way leaves ``complete`` False)."""
        params = {"fields": POST_FIELDS, "since": int(window_start.timestamp()), "limit": PAGE_LIMIT}
        out: list[dict] = []
        skipped = 0
        complete = True
        try:
            for page in self._pages(f"{self.page_id}/posts", params, action="read_posts", check=budget_check):
                older = 0
                for p in page:
                    try:
                        graph_id(p.get("id"), "post")
                        if not isinstance(p.get("created_time"), str):
                            raise ValueError(f"Graph post {p.get('id')} has no created_time")
                        created = parse_time(p["created_time"])
                    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                        skipped += 1
                        self._quarantine(p, exc, "post", None)
                        continue
                    if created >= window_start:
                        out.append(p)
                    else:
                        older += 1
                if page and older == len(page):
                    break  # the API ignored `since`: stop at the window's edge
        except _StopPoll:
            if not out:
                raise
            complete = False
        if skipped:
            warnings.append(f"{skipped} post(s) without a usable id or created_time quarantined")
        return out, complete

    def _pages(self, path: str, params: Mapping[str, Any], *, action: str,
               check: Callable[[], None] | None = None, summary_out: dict | None = None) -> Iterable[list]:
        """Yield each page's ``data`` list, following ``paging.next`` exactly as given,
        past empty pages too (Graph may return ``{"data": [], "paging": {"next": ...}}``
        with more after it).

        Stops when there is no ``next``. Loop guards, after which ``summary_out["looped"]``
        is set True (the listing is incomplete): a ``next`` URL repeats, :data:`MAX_PAGES`
        were read, or :data:`MAX_EMPTY_PAGES` empty pages came in a row."""
        return graph_pages(self.client, path, params, action=action, check=check, summary_out=summary_out,
                           max_pages=MAX_PAGES, max_empty_pages=MAX_EMPTY_PAGES)

    def _read_comments(self, post_id: str, *, post_text: str | None, since: datetime | None = None
                       ) -> tuple[list[Comment], bool, int | None, int]:
        """List a post's comments: ``GET /{post-id}/comments?filter=stream&order=chronological
        &summary=true`` (replies included), every page; with ``since`` only comments created
        from then on (``since=<unix time>``). Nothing depends on the order Graph serves:
        ``filter=stream`` is chronological whatever ``order`` says, and ranked comments come
        ranked.

        :returns: (comments, complete, summary ``total_count``, raw comments skipped as
            malformed); ``complete`` is False when a paging guard stopped the listing.
        """
        params: dict[str, Any] = {"fields": COMMENT_FIELDS, "filter": "stream", "order": "chronological",
                                  "summary": "true", "limit": PAGE_LIMIT}
        if since is not None:
            params["since"] = int(since.timestamp())
        out: list[Comment] = []
        bad = 0
        summary: dict = {}
        for page in self._pages(f"{post_id}/comments", params, action="read_comments", summary_out=summary):
            for raw in page:
                try:
                    out.append(map_comment(raw, account=self.account.key, post_id=post_id, post_text=post_text,
                                           secrets=self.client.secrets))
                except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
                    bad += 1
                    self._quarantine(raw, exc, "comment", post_id)
        total = summary.get("summary", {}).get("total_count")
        total = total if isinstance(total, int) and not isinstance(total, bool) else None
        return out, not summary.get("looped"), total, bad

    def _full_listing(self, raw_post: dict, ctx: FetchContext, first_misses: tuple[str, ...],
                      comments_out: list[Comment], deleted: list[str], warnings: list[str]
                      ) -> tuple[list[Comment], tuple[str, ...]]:
        """List a post in full and apply the deletion rule: a stored comment is deleted
        only when a complete listing (see :func:`listing_complete`) misses it and the
        previous complete listing missed it too (:func:`confirm_deletions`).

        :returns: (comments, first misses to keep in the cursor)."""
        pid = raw_post["id"]
        text = _post_text(raw_post)
        comments, paged_out, total, bad = self._read_comments(pid, post_text=text)
        comments_out.extend(comments)
        if bad:
            warnings.append(f"post {pid}: {bad} malformed comment(s) quarantined")
        if not paged_out:
            warnings.append(f"post {pid}: Graph paging looped; deletions not checked this poll")
        known = ctx.known_comments.get(pid)
        if not known:
            return comments, ()
        if bad or not paged_out:
            return comments, first_misses
        if not listing_complete(len(comments) + bad, total):
            warnings.append(f"post {pid}: listing incomplete ({len(comments)} comments returned, "
                            f"summary.total_count {total}); deletions not checked this poll")
            return comments, first_misses
        gone, misses = confirm_deletions(known, (c.comment_id for c in comments), first_misses)
        deleted.extend(gone)
        return comments, misses

    def _fetch_post(self, raw_post: dict, prev: _PostState | None, count: int, ctx: FetchContext,
                    comments_out: list[Comment], deleted: list[str], warnings: list[str]) -> _PostState:
        """Step 3 for one active post; returns its new cursor state."""
        pid = raw_post["id"]
        updated = raw_post.get("updated_time") if isinstance(raw_post.get("updated_time"), str) else None
        misses = prev.m if prev else ()
        try:
            if prev is None or prev.w is None or count <= PAGE_LIMIT or prev.m:
                comments, misses = self._full_listing(raw_post, ctx, misses, comments_out, deleted, warnings)
            else:
                wm = parse_time(prev.w)
                since = wm - LATE_MARGIN
                text = _post_text(raw_post)
                comments, paged_out, _, bad = self._read_comments(pid, post_text=text, since=since)
                if any(c.created_at < since - timedelta(seconds=1) for c in comments):
                    warnings.append(f"post {pid}: Graph ignored since= on the comments edge; "
                                    "the post was read in full")
                known = ctx.known_comments.get(pid, frozenset())
                new = [c for c in comments if c.created_at > wm or (known and c.comment_id not in known)]
                if bad or not paged_out or len({c.comment_id for c in new}) != count - prev.n:
                    # a deletion or a late-indexed comment: list the post in full
                    comments, misses = self._full_listing(raw_post, ctx, misses, comments_out, deleted, warnings)
                else:
                    comments_out.extend(comments)
        except ConnectorError as exc:
            if exc.kind != "not_found":
                raise
            warnings.append(f"post {pid} vanished while reading its comments: {exc}")
            return prev or _PostState(count, updated, None)
        newest = max((c.created_at for c in comments), default=None)
        wm_new = max(filter(None, [newest, parse_time(prev.w) if prev and prev.w else None]), default=None)
        return _PostState(count, updated, iso(wm_new) if wm_new else None, misses)

    def _audit(self, by_created: list[dict], done: set[str], audit_pos: str | None,
               states: dict[str, _PostState], new_states: dict[str, _PostState], ctx: FetchContext,
               comments_out: list[Comment], deleted: list[str], warnings: list[str],
               budget_check: Callable[[], None]) -> str | None:
        """Step 4: re-list ``audit_posts_per_poll`` quiet posts, continuing after
        ``audit_pos`` (``"<created_time>|<id>"``) towards older posts, wrapping round."""
        candidates = [p for p in by_created if p["id"] not in done and _total_count(p) > 0]
        if not candidates or not self.audit_posts_per_poll:
            return audit_pos
        keys = [f"{p['created_time']}|{p['id']}" for p in candidates]
        start = 0
        if audit_pos:
            start = next((i for i, k in enumerate(keys) if k < audit_pos), 0)
        for j in range(min(self.audit_posts_per_poll, len(candidates))):
            i = (start + j) % len(candidates)
            raw_post = candidates[i]
            budget_check()
            prev = new_states.get(raw_post["id"]) or states.get(raw_post["id"])
            try:
                comments, misses = self._full_listing(raw_post, ctx, prev.m if prev else (), comments_out,
                                                      deleted, warnings)
            except ConnectorError as exc:
                if exc.kind != "not_found":
                    raise
                continue
            finally:
                audit_pos = keys[i]
            newest = max((c.created_at for c in comments), default=None)
            if prev is not None:
                old_w = parse_time(prev.w) if prev.w else None
                w = max(filter(None, [newest, old_w]), default=None)
                new_states[raw_post["id"]] = _PostState(prev.n, prev.u, iso(w) if w else None, misses)
        return audit_pos

    # ------------------------------------------------------------------ check
    def check(self) -> list[CheckResult]:
        """Verify the token and its permissions; one :class:`CheckResult` per check.

        1. ``GET /{page-id}?fields=id,name``: the token reads this Page.
        2. ``GET /debug_token?input_token=<Page token>`` called with the app token
           ``{app_id}|{app_secret}`` (Graph API ``debug_token`` takes an app token or an app
           developer's user token, not the Page token itself): validity, expiry,
           data-access expiry and granted scopes (``pages_read_engagement``,
           ``pages_read_user_content``, and ``pages_manage_engagement`` when hiding or
           blocking is enabled). Without ``app_id`` and the app secret this line is a
           warning saying what was not verified, never ``ok``.
        3. ``GET /{page-id}/posts?limit=5&fields=id,comments.filter(stream).limit(25){id,
           message,from{id,name}}``: comments and their authors can actually be read. It
           fails when a comment comes back without ``from.id``: Meta gives the commenter
           only to a Page access token, and for people who are not admins of the app only
           with Advanced Access to ``pages_read_user_content``; without it every comment
           would be stored as author ``fb:unknown`` (never a strike, never a block).
        4. The pinned ``graph_version`` against :data:`GRAPH_VERSION_EXPIRY` on the
           injected clock's date: fails once expired, warns :data:`VERSION_WARN_MONTHS`
           months before; names the ``facebook-api-version`` Graph served.

        Never raises for a platform failure: it becomes a failed result whose detail names
        the Graph code and what to do.
        """
        results: list[CheckResult] = []
        name = None
        try:
            page = self.client.get(self.page_id, {"fields": "id,name"}, action="read_page")
            name = page.get("name") or "?"
            if str(page.get("id")) != self.page_id:
                results.append(CheckResult(f"{self.cfg.name} token", False,
                                           f"Page {self.page_id!r} is {name} with id {page.get('id')!r}: set "
                                           f"page_id = \"{page.get('id')}\" (the numeric Page id) in the "
                                           "[[accounts]] table"))
            else:
                results.append(CheckResult(f"{self.cfg.name} token", True,
                                           f"token valid for Page {name} ({self.page_id})"))
        except ConnectorError as exc:
            results.append(CheckResult(f"{self.cfg.name} token", False, str(exc)))
            if exc.kind == "auth":
                return results

        needed = ["pages_read_engagement", "pages_read_user_content"]
        if self.cfg.hide_enabled or self.cfg.block_enabled:
            needed.append("pages_manage_engagement")
        results.append(self._check_permissions(needed))
        try:
            body = self.client.get(f"{self.page_id}/posts",
                                   {"fields": "id,comments.filter(stream).limit(25){id,message,from{id,name}}",
                                    "limit": 5}, action="read_comments")
            results.append(self._comments_verdict(body, name))
        except ConnectorError as exc:
            results.append(CheckResult(f"{self.cfg.name} comments read", False, str(exc)))
        ok, warning, detail = graph_version_verdict(self.client.version, self._clock().date())
        if self.client.api_version:
            detail += f"; Graph served facebook-api-version {self.client.api_version}"
        results.append(CheckResult(f"{self.cfg.name} graph version", ok, detail, warning=warning))
        return results

    def _check_permissions(self, needed: list[str]) -> CheckResult:
        """Check 2: ``debug_token`` with the app token, or a warning naming what could not
        be verified without it."""
        name = f"{self.cfg.name} permissions"
        unverified = ("the token's expiry, its data-access expiry and its granted permissions ("
                      + ", ".join(needed) + ")")
        if self._app_token is None:
            missing = " and ".join(
                ([] if getattr(self.cfg, "app_id", None) else ["app_id (the App ID)"])
                + ([] if self._has_app_secret else ["the app secret (app_secret_credential, app_secret_file "
                                                     "or app_secret_env)"]))
            return CheckResult(name, True, f"not verified: {unverified}: Graph's debug_token needs the app token; "
                                           f"set {missing} in the [[accounts]] table. Only reading is tested "
                                           "below", warning=True)
        try:
            dbg = self.client.get("debug_token", {"input_token": self._page_token}, action="debug_token",
                                  token=self._app_token).get("data") or {}
        except ConnectorError as exc:
            if exc.kind in ("auth", "refused", "permission"):
                return CheckResult(name, False, f"Graph refused the app token for debug_token ({exc}): check that "
                                                f"app_id {self.cfg.app_id} and the app secret belong to the app the "
                                                "Page token was generated with")
            # attempted and could not run: a failed check, not a pass (issue 14, item 15)
            return CheckResult(name, False, f"could not verify {unverified}: debug_token failed ({exc}); "
                                            "run check again")
        if not isinstance(dbg, Mapping):
            return CheckResult(name, True, f"not verified: {unverified}: debug_token gave no data object",
                               warning=True)
        return self._permission_verdict(dbg, needed)

    def _comments_verdict(self, body: Mapping[str, Any], page_name: str | None) -> CheckResult:
        """Judge the sample of step 3 of :meth:`check` (pure): fails when any comment
        comes back without ``from.id``, naming how many and what the token lacks."""
        label = f"{self.cfg.name} comments read"
        posts = [p for p in body.get("data") or [] if isinstance(p, Mapping)]
        comments = []
        for p in posts:
            block = p.get("comments")
            data = block.get("data") if isinstance(block, Mapping) else None
            comments += [c for c in data or [] if isinstance(c, Mapping)]
        anonymous = [c for c in comments
                     if not (isinstance(c.get("from"), Mapping) and c["from"].get("id") not in (None, ""))]
        if anonymous:
            ids = ", ".join(str(c.get("id")) for c in anonymous[:3]) + (" ..." if len(anonymous) > 3 else "")
            return CheckResult(label, False,
                               f"{len(anonymous)} of {len(comments)} comments read came back without from.id "
                               f"(the commenter; comment {ids}): Meta gives the commenter only to a Page access "
                               "token, and for people who are not admins of the app only with Advanced Access to "
                               "pages_read_user_content. Use the Page token from GET /me/accounts and request "
                               "Advanced Access in the app dashboard (App Review); until then those comments are "
                               "stored as author fb:unknown, never strike and no block can be recommended")
        return CheckResult(label, True, f"can read posts and comments of Page {page_name or self.page_id}"
                           + ("" if posts else " (no posts yet)")
                           + (f"; {len(comments)} comment(s) sampled, each with its author" if comments else ""))

    def _permission_verdict(self, dbg: Mapping[str, Any], needed: list[str]) -> CheckResult:
        """Judge a ``debug_token`` ``data`` object (pure apart from the clock): validity,
        token type (``PAGE``), the Page it belongs to, expiry, data-access expiry and the
        permissions ``needed``."""
        name = f"{self.cfg.name} permissions"
        now = self._clock()

        def when(ts: Any) -> datetime | None:
            return datetime.fromtimestamp(ts, timezone.utc) if isinstance(ts, int) and ts > 0 else None

        if dbg.get("is_valid") is False:
            return CheckResult(name, False, "Graph debug_token says the token is not valid: reconnect the Page "
                                            "(generate a new Page access token)")
        if dbg.get("type") not in (None, "PAGE"):
            return CheckResult(name, False, f"this is a {dbg.get('type')} token, not a Page access token: get the "
                                            "Page token from GET /me/accounts with the user token")
        if dbg.get("profile_id") not in (None, self.page_id):
            return CheckResult(name, False, f"the token belongs to Page {dbg.get('profile_id')}, not {self.page_id}")
        expires, data_until = when(dbg.get("expires_at")), when(dbg.get("data_access_expires_at"))
        for label, ts in (("token expired", expires), ("data access expired", data_until)):
            if ts is not None and ts < now:
                return CheckResult(name, False, f"{label} on {ts:%Y-%m-%d %H:%M} UTC: reconnect the Page "
                                                "(log in again and generate a new Page access token)")
        scopes = set(dbg.get("scopes") or [])
        missing = [p for p in needed if p not in scopes]
        if missing:
            return CheckResult(name, False, f"missing permission {', '.join(missing)}: grant it to the app and "
                                            "generate a new Page access token (granted: "
                                            f"{', '.join(sorted(scopes)) or 'none'})")
        detail = f"granted {', '.join(needed)}; token " + (
            f"expires {expires:%Y-%m-%d %H:%M} UTC" if expires else "never expires")
        if data_until is not None:
            days = (data_until - now).days
            detail += f"; data access until {data_until:%Y-%m-%d}" + (
                f" (in {days} days: reconnect the Page soon)" if days < 14 else "")
        return CheckResult(name, True, detail)

    # ------------------------------------------------------------------ actions
    def hide(self, comment_id: str, hidden: bool = True) -> None:
        """Hide (``hidden=True``) or unhide a comment: ``POST /{comment-id}`` with
        ``is_hidden`` (needs ``pages_manage_engagement``). Called only by the review
        commands on a coordinator's confirmation.

        :raises ConnectorError: ``kind="refused"`` when ``hide_enabled`` is off or Graph
            refuses (``can_hide`` false); ``permission`` naming the permission; others as
            for reads.
        """
        if not self.cfg.hide_enabled:
            raise ConnectorError(
                f"hiding is off for account {self.cfg.name!r}: set hide_enabled = true in its [[accounts]] "
                "table (the Page token needs pages_manage_engagement)", platform=PLATFORM, kind="refused")
        body = self.client.post(str(comment_id), {"is_hidden": "true" if hidden else "false"}, action="hide")
        if body.get("success") is not True:
            raise ConnectorError(f"Graph did not confirm {'hiding' if hidden else 'unhiding'} comment {comment_id}",
                                 platform=PLATFORM, kind="refused")

    def block(self, author_id: str) -> str:
        """Block a commenter from the Page: ``POST /{page-id}/blocked`` with ``user=<id>``.

        :param author_id: ``fb:<id>`` or a bare Graph user id.
        :returns: what was done, e.g. ``"blocked fb:1004 from Page 1000"``.
        :raises ConnectorError: ``kind="refused"`` when ``block_enabled`` is off or Graph
            refuses; ``permission`` naming the permission.
        """
        if not self.cfg.block_enabled:
            raise ConnectorError(
                f"blocking is off for account {self.cfg.name!r}: set block_enabled = true in its [[accounts]] "
                "table, or block the person in Meta Business Suite (Settings, People and other Pages)",
                platform=PLATFORM, kind="refused")
        uid = author_id.split(":", 1)[1] if author_id.startswith("fb:") else author_id
        if not uid.isdigit():
            raise ConnectorError(f"cannot block {author_id!r}: not a Graph user id", platform=PLATFORM, kind="refused")
        body = self.client.post(f"{self.page_id}/blocked", {"user": uid}, action="block")
        if body.get(uid) is not True:
            raise ConnectorError(f"Graph did not confirm blocking fb:{uid} from Page {self.page_id}",
                                 platform=PLATFORM, kind="refused")
        return f"blocked fb:{uid} from Page {self.page_id}"

    def close(self) -> None:
        """Release the HTTP client."""
        self.client.close()

    def __enter__(self) -> "FacebookConnector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _post_text(raw_post: Mapping[str, Any]) -> str | None:
    return next((t for t in (raw_post.get("message"), raw_post.get("story")) if isinstance(t, str) and t), None)


def _total_count(raw_post: Mapping[str, Any]) -> int:
    c = raw_post.get("comments")
    if isinstance(c, Mapping) and isinstance(c.get("summary"), Mapping):
        n = c["summary"].get("total_count")
        if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
            return n
    return -1  # unknown: treated as changed every poll (listed in full)


__all__ = ["FacebookConnector", "map_comment", "map_post", "map_attachment", "strip_secret_params", "redact",
           "GRAPH_VERSION_EXPIRY", "graph_version_verdict", "listing_complete", "confirm_deletions",
           "count_tolerance"]

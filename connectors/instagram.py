"""Instagram professional account connector on the Graph API (Instagram API with Facebook
Login; httpx; source: Graph API ``v23.0`` by default, host ``graph.facebook.com``).

Reads the school's Instagram media from the look-back window and every comment and reply on
them, maps them to :mod:`monitor.domain` types, and on a coordinator's confirmation hides or
unhides a comment. The account is an Instagram professional (business or creator) account
linked to the school's Facebook Page; it is read with that Page's access token through the
same :class:`connectors.graph_client.GraphClient` as the Facebook connector, so Graph error
codes (190 pauses the account with the reconnect email, 4/17/32/613/80001 back off),
usage headers, retries, ``appsecret_proof`` and secret redaction are the Facebook
connector's, not a copy.

Permissions: ``instagram_basic`` (the account and its media), ``instagram_manage_comments``
(comments, replies, hiding), ``pages_read_engagement`` and ``pages_show_list`` (the linked
Page, through which the token reaches the account).

Endpoints (Instagram Platform reference, "IG User Media", "IG Media Comments", "IG Comment
Replies", "IG Comment")
-------------------------------------------------------------------------------------
* ``GET /{ig-user-id}/media?fields=id,caption,timestamp,permalink,media_type,comments_count``
  (newest first; the listing stops at the window's edge);
* ``GET /{ig-media-id}/comments?fields=id,text,timestamp,from{id,username},username,hidden,
  parent_id,like_count`` (top-level comments);
* ``GET /{ig-comment-id}/replies`` with the same fields (replies; Instagram has two levels
  only: a reply to a reply is added to the top-level comment);
* ``POST /{ig-comment-id}?hide=true|false`` (``{"success": true}``).

Every listing follows ``paging.next`` (the ``paging.cursors.after`` position) with the
Facebook connector's guards (:func:`connectors.graph_client.graph_pages`: at most
:data:`~connectors.graph_client.MAX_PAGES` pages, a repeated ``next`` or
:data:`~connectors.graph_client.MAX_EMPTY_PAGES` empty pages in a row end it as incomplete).

Fetch plan (calls per poll grow with activity, not with history)
----------------------------------------------------------------
1. **Media listing**: ``ceil(M / 50)`` calls for ``M`` media in the window (one call for a
   school's usual month).
2. **Activity test**: ``comments_count`` (comments and replies) against the cursor. A media
   whose count did not change costs nothing: a quiet poll is one call.
3. **Active media** (new, or count changed): its top-level comments, every page
   (``ceil(T / 50)`` calls). Replies are read (``GET /{ig-comment-id}/replies``) only when
   the number of replies implied by the count (``comments_count`` minus the top-level
   comments listed) differs from the replies seen last time, newest top-level comment
   first, until the replies found plus the known counts of the comments not read add up
   (:func:`replies_to_read`): a new top-level comment costs no reply calls, a new reply one
   call per top-level comment newer than the one it answers, plus one.

Deletions are not reported: Instagram's listings may leave hidden or restricted comments out
while its count still includes them, so a missing comment is no proof of a deletion. Stored
evidence is kept either way.

Cursor (JSON-able, stored by the pipeline with the comments)::

    {"v": 1, "media": {"<ig-media-id>": {"n": <comments_count>, "r": <replies seen>,
                                        "c": {"<ig-comment-id>": <its replies>, ...}}},
     "polled_at": "<ISO UTC>"}

Only media inside the window are kept, so its size is bounded by ``M``.

No block endpoint: the Instagram API does not let an app block a user. :meth:`block` raises
``ConnectorError(kind="refused")`` telling a person how to block in the app, as on X.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

import httpx

from connectors.base import CheckResult, ConnectorError, FetchContext, FetchResult
from connectors.facebook import graph_version_verdict, strip_secret_params
from connectors.graph_client import (
    DEFAULT_BASE_URL,
    STOP_AT_PCT,
    GraphClient,
    backoff_after,
    graph_pages,
    scrub,
)
from monitor.domain import Account, Comment, Post, iso, parse_time

PLATFORM = "instagram"
#: Items asked for per page (the IG edges page at 50 at most for comments).
PAGE_LIMIT = 50
#: IG Media fields requested (Instagram Platform reference, "IG Media").
MEDIA_FIELDS = "id,caption,timestamp,permalink,media_type,comments_count"
#: IG Comment fields requested on ``/comments`` and ``/replies`` ("IG Comment").
COMMENT_FIELDS = "id,text,timestamp,from{id,username},username,hidden,parent_id,like_count"
CURSOR_VERSION = 1
#: Permissions a Page token needs for this connector (Facebook Login for Business).
REQUIRED_PERMISSIONS = ("instagram_basic", "instagram_manage_comments", "pages_read_engagement",
                        "pages_show_list")

_IG_ID_RE = re.compile(r"[0-9]{1,40}")


def ig_id(value: Any, what: str) -> str:
    """Return ``value`` as an Instagram Graph id string (digits only; pure).

    :raises ValueError: naming ``what`` when it is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _IG_ID_RE.fullmatch(value):
        raise ValueError(f"{what}: not an Instagram id: {value!r:.60}")
    return value


def map_media(raw: Mapping[str, Any], *, account: str, secrets: tuple[str, ...] = ()) -> Post:
    """One IG Media object to a :class:`~monitor.domain.Post` (pure): text is ``caption``
    (empty when none), ``created_at`` is ``timestamp``, ``permalink`` is ``permalink``.

    :raises ValueError: when ``id`` is not an Instagram id or ``timestamp`` is missing or
        malformed."""
    mid = ig_id(raw.get("id"), "media")
    if not isinstance(raw.get("timestamp"), str):
        raise ValueError(f"Instagram media {mid} has no timestamp")
    caption = raw.get("caption")
    return Post(platform=PLATFORM, account=account, post_id=mid,
                text=caption if isinstance(caption, str) else "",
                created_at=parse_time(raw["timestamp"]),
                permalink=strip_secret_params(raw.get("permalink")),
                raw=scrub(dict(raw), secrets))


def map_comment(raw: Mapping[str, Any], *, account: str, media: Mapping[str, Any],
                parent_id: str | None = None, secrets: tuple[str, ...] = ()) -> Comment:
    """One IG Comment object to a :class:`~monitor.domain.Comment` (pure).

    ``author_id`` is ``ig:<from.id>`` (the Instagram-scoped user id; ``ig:unknown`` when
    ``from`` is withheld), ``author_handle`` and ``author_name`` are ``from.username`` (else
    ``username``; Instagram gives no display name), ``parent_id`` is the comment's
    ``parent_id`` (else ``parent_id`` given: the comment whose ``/replies`` were read),
    ``permalink`` and ``post_text`` are the media's ``permalink`` and ``caption``,
    ``is_hidden`` is ``hidden``.

    :raises ValueError: naming the comment when ``id`` (or ``from.id``, ``parent_id``) is
        not an Instagram id, ``timestamp`` is missing or malformed, or ``from``, ``text`` or
        ``username`` has the wrong JSON type.
    """
    mid = ig_id(media.get("id"), "media")
    cid = ig_id(raw.get("id"), f"comment on media {mid}")
    ts = raw.get("timestamp")
    if not isinstance(ts, str):
        raise ValueError(f"Instagram comment {cid} has no timestamp")
    created = parse_time(ts)
    frm, text, uname = raw.get("from"), raw.get("text"), raw.get("username")
    if frm is not None and not isinstance(frm, Mapping):
        raise ValueError(f"Instagram comment {cid}: 'from' is not an object")
    if text is not None and not isinstance(text, str):
        raise ValueError(f"Instagram comment {cid}: 'text' is not a string")
    if uname is not None and not isinstance(uname, str):
        raise ValueError(f"Instagram comment {cid}: 'username' is not a string")
    frm = frm or {}
    author = ig_id(frm["id"], f"comment {cid} from.id") if frm.get("id") is not None else "unknown"
    handle = frm.get("username") if isinstance(frm.get("username"), str) and frm.get("username") else uname
    raw_parent = raw.get("parent_id")
    parent = ig_id(raw_parent, f"comment {cid} parent_id") if raw_parent is not None else parent_id
    hidden = raw.get("hidden")
    caption = media.get("caption")
    return Comment(
        platform=PLATFORM,
        account=account,
        post_id=mid,
        comment_id=cid,
        parent_id=parent,
        author_id=f"ig:{author}",
        author_name=handle or "",
        text=text or "",
        created_at=created,
        permalink=strip_secret_params(media.get("permalink")),
        raw=scrub(dict(raw), secrets),
        post_text=caption if isinstance(caption, str) and caption else None,
        author_handle=handle or None,
        is_hidden=hidden if isinstance(hidden, bool) else None,
    )


def _comments_count(raw_media: Mapping[str, Any]) -> int:
    n = raw_media.get("comments_count")
    if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
        return n
    return -1  # unknown: treated as changed every poll


@dataclass
class _MediaState:
    n: int
    r: int
    #: replies seen per top-level comment id (only comments with replies)
    c: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"n": self.n, "r": self.r}
        if self.c:
            out["c"] = dict(self.c)
        return out


def replies_to_read(tops_newest_first: list[str], expected: int, known: Mapping[str, int],
                    read: Callable[[str], int]) -> tuple[dict[str, int], int]:
    """Which top-level comments' replies to read (pure apart from ``read``).

    Reads ``read(comment_id)`` (returns the replies found) newest first, and stops as soon
    as the replies found plus the ``known`` counts of the comments not read yet add up to
    ``expected`` (``comments_count`` minus the top-level comments listed): new replies are
    usually on recent comments, so an old thread is not re-read for a reply elsewhere. When
    the sum never adds up (a count that includes comments the listing leaves out), every
    comment is read.

    :returns: (reply counts per comment, those read and the known ones not read, only
        counts > 0; comments read).
    """
    counts: dict[str, int] = {}
    pending = sum(known.get(cid, 0) for cid in tops_newest_first)
    done = 0
    for cid in tops_newest_first:
        if expected >= 0 and sum(counts.values()) + pending == expected:
            break
        pending -= known.get(cid, 0)
        counts[cid] = read(cid)
        done += 1
    for cid in tops_newest_first[done:]:
        if known.get(cid):
            counts[cid] = known[cid]
    return {k: v for k, v in counts.items() if v}, done


def _load_cursor(cursor: Mapping[str, Any]) -> tuple[dict[str, _MediaState], list[str]]:
    """Parse a cursor (tolerant: anything unusable starts fresh, with a warning)."""
    if not cursor:
        return {}, []
    if cursor.get("v") != CURSOR_VERSION or not isinstance(cursor.get("media"), Mapping):
        return {}, ["cursor not understood (version or shape); starting a fresh look-back"]
    out: dict[str, _MediaState] = {}
    dropped = 0
    for mid, st in cursor["media"].items():
        if (isinstance(st, Mapping) and isinstance(st.get("n"), int) and isinstance(st.get("r"), int)
                and not isinstance(st.get("n"), bool)):
            raw_c = st.get("c")
            c = {str(k): v for k, v in raw_c.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0} \
                if isinstance(raw_c, Mapping) else {}
            out[str(mid)] = _MediaState(st["n"], st["r"], c)
        else:
            dropped += 1
    return out, ([f"{dropped} unreadable media state(s) in the cursor; those media are re-read"] if dropped else [])


class _StopPoll(Exception):
    """Internal: stop this poll early and return what was gathered."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class InstagramConnector:
    """Connector for one Instagram professional account (:class:`connectors.base.Connector`).

    :param cfg: the ``[[accounts]]`` entry (``platform = "instagram"``, ``ig_user_id``,
        ``token`` (the linked Page's access token), optional ``app_id`` and ``app_secret``,
        ``graph_version``, ``base_url``, ``timeout_seconds``, ``lookback_days``,
        ``hide_enabled``).
    :param transport: an ``httpx.BaseTransport`` (tests).
    :param clock: callable returning aware UTC now (used by :meth:`check`).
    :param sleep: called for retry backoff and pacing near rate limits.
    :param max_calls_per_poll: HTTP calls after which a poll stops and leaves the rest for
        the next one (None: no bound).
    :param max_attempts: tries per call for transient failures.
    :raises ConnectorError: ``kind="auth"`` when the token (or app secret) cannot be read;
        the message names the config key and where it is read from, never the value.
    :raises ValueError: when ``cfg`` is not an Instagram account with an ``ig_user_id``.
    """

    platform = PLATFORM

    def __init__(self, cfg: Any, *, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], datetime] | None = None, sleep: Callable[[float], None] = time.sleep,
                 max_calls_per_poll: int | None = 1000, max_attempts: int = 3):
        from monitor.config import SecretError

        if cfg.platform != PLATFORM or not getattr(cfg, "ig_user_id", None):
            raise ValueError(f"account {cfg.name!r}: InstagramConnector needs platform 'instagram' and ig_user_id")
        self.cfg = cfg
        self.ig_user_id = str(cfg.ig_user_id)
        self.account = Account(key=cfg.name, platform=PLATFORM, external_id=self.ig_user_id,
                               display_name=cfg.name)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self.max_calls_per_poll = max_calls_per_poll
        ref = cfg.secrets.get("token")
        if ref is None:
            raise ConnectorError(f"account {cfg.name!r}: no access token configured (set token_env, token_file or "
                                 "token_credential to the linked Page's access token)", platform=PLATFORM,
                                 kind="auth", permanent=True)
        try:
            token = ref.resolve()
            app_secret = cfg.secrets["app_secret"].resolve() if "app_secret" in cfg.secrets else None
        except SecretError as exc:
            raise ConnectorError(str(exc), platform=PLATFORM, kind="auth", permanent=True) from None
        self._token = token
        app_id = getattr(cfg, "app_id", None)
        self._app_token = f"{app_id}|{app_secret}" if app_id and app_secret else None
        self.client = GraphClient(base_url=cfg.base_url or DEFAULT_BASE_URL, version=cfg.graph_version,
                                  token=token, app_secret=app_secret, timeout=cfg.timeout_seconds,
                                  transport=transport, sleep=sleep, max_attempts=max_attempts, platform=PLATFORM)

    # ------------------------------------------------------------------ fetch
    def fetch(self, ctx: FetchContext) -> FetchResult:
        """Poll the account (see the module docstring for the plan and the cursor).

        :returns: media new or active, every comment and reply read on active media, the
            new cursor, calls made, warnings and ``next_poll_after`` near a rate limit.
            ``deleted`` is always empty (see the module docstring).
        :raises ConnectorError: auth and permission errors always (platform
            ``instagram``); rate-limit and transient errors when nothing was gathered yet.
        """
        start_calls = self.client.calls
        states, warnings = _load_cursor(ctx.cursor)
        window_start = ctx.now - timedelta(days=self.cfg.lookback_days)
        new_states: dict[str, _MediaState] = {}
        posts: list[Post] = []
        comments: list[Comment] = []
        listing: list[dict] = []
        complete = False
        progress = False
        next_after: float | None = None

        def budget_check() -> None:
            usage = self.client.usage
            if usage is not None and (usage.pct >= STOP_AT_PCT or usage.regain_seconds):
                raise _StopPoll(f"stopping early near the rate limit: {usage.describe()}", backoff_after(usage))
            if self.max_calls_per_poll is not None and self.client.calls - start_calls >= self.max_calls_per_poll:
                raise _StopPoll(f"call budget of {self.max_calls_per_poll} per poll reached")

        try:
            listing, complete = self._list_media(window_start, budget_check, warnings)
            for raw in listing:
                mid = raw["id"]
                n = _comments_count(raw)
                prev = states.get(mid)
                if prev is not None and n >= 0 and prev.n == n:
                    continue  # quiet: the activity test costs nothing
                if prev is None:
                    posts.append(map_media(raw, account=self.account.key, secrets=self.client.secrets))
                if n == 0:
                    new_states[mid] = _MediaState(0, 0)
                    continue
                budget_check()
                state = self._read_media(raw, prev, n, comments, warnings, budget_check)
                if state is not None:
                    new_states[mid] = state
                progress = True
        except _StopPoll as stop:
            warnings.append(stop.reason + "; the rest is left for the next poll")
            if stop.retry_after:
                next_after = stop.retry_after
        except ConnectorError as exc:
            if exc.permanent or not progress or exc.kind not in ("rate_limit", "transient"):
                raise
            warnings.append(f"poll cut short, progress kept: {exc}")
            next_after = exc.retry_after or 60.0

        served, pinned = self.client.api_version, self.client.version
        if served and served != pinned:
            warnings.append(f"Graph served facebook-api-version {served} to calls pinned to {pinned}: the pinned "
                            "version has probably expired; run `school-monitor check` and update graph_version")
        usage_wait = backoff_after(self.client.usage)
        if usage_wait:
            next_after = max(next_after or 0.0, usage_wait)
            if not any(w.startswith("stopping early") for w in warnings):
                warnings.append(f"slowing down: {self.client.usage.describe()}")  # type: ignore[union-attr]
        seen = {m["id"] for m in listing}
        merged = {k: v for k, v in states.items() if k in seen or not complete}
        merged.update(new_states)
        cursor = {"v": CURSOR_VERSION, "media": {k: v.to_json() for k, v in merged.items()},
                  "polled_at": iso(ctx.now)}
        return FetchResult(posts=tuple(posts), comments=tuple(comments), deleted=(), cursor=cursor,
                           calls=self.client.calls - start_calls, reads=len(comments),
                           warnings=tuple(warnings), next_poll_after=next_after)

    def _list_media(self, window_start: datetime, budget_check: Callable[[], None],
                    warnings: list[str]) -> tuple[list[dict], bool]:
        """Step 1: media created since ``window_start`` (newest first, each with a usable
        ``id`` and ``timestamp``; others skipped with a warning) and whether the listing
        reached the window's edge or its end."""
        out: list[dict] = []
        skipped = 0
        complete = True
        summary: dict = {}
        try:
            for page in graph_pages(self.client, f"{self.ig_user_id}/media",
                                    {"fields": MEDIA_FIELDS, "limit": PAGE_LIMIT}, action="ig_read_media",
                                    check=budget_check, summary_out=summary):
                older = 0
                for m in page:
                    try:
                        ig_id(m.get("id"), "media")
                        created = parse_time(m["timestamp"])
                    except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
                        skipped += 1
                        continue
                    if created >= window_start:
                        out.append(m)
                    else:
                        older += 1
                if older:
                    break  # newest first: the rest is older than the window
        except _StopPoll:
            if not out:
                raise
            complete = False
        if summary.get("looped"):
            complete = False
            warnings.append("Graph paging of the media listing looped; the listing was cut short")
        if skipped:
            warnings.append(f"{skipped} media without a usable id or timestamp skipped")
        return out, complete

    def _list(self, path: str, *, media: Mapping[str, Any], parent_id: str | None, action: str
              ) -> tuple[list[Comment], bool, int]:
        """Every page of ``/comments`` or ``/replies``: (comments, complete, malformed)."""
        out: list[Comment] = []
        bad = 0
        summary: dict = {}
        for page in graph_pages(self.client, path, {"fields": COMMENT_FIELDS, "limit": PAGE_LIMIT}, action=action,
                                summary_out=summary):
            for raw in page:
                try:
                    out.append(map_comment(raw, account=self.account.key, media=media, parent_id=parent_id,
                                           secrets=self.client.secrets))
                except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
                    bad += 1
        return out, not summary.get("looped"), bad

    def _read_media(self, raw_media: dict, prev: _MediaState | None, n: int, comments_out: list[Comment],
                    warnings: list[str], budget_check: Callable[[], None]) -> _MediaState | None:
        """Step 3 for one active media; returns its new cursor state (None: read it again
        next poll, because the listing was cut short)."""
        mid = raw_media["id"]
        try:
            top, complete, bad = self._list(f"{mid}/comments", media=raw_media, parent_id=None,
                                            action="ig_read_comments")
            comments_out.extend(top)
            tops = [c for c in top if c.parent_id is None]
            expected = n - len(top) if n >= 0 else -1
            state = _MediaState(n, prev.r, dict(prev.c)) if prev else _MediaState(n, 0)
            if expected != 0 and (prev is None or expected != prev.r or expected < 0):
                live = {c.comment_id for c in tops}
                known = {k: v for k, v in (prev.c if prev else {}).items() if k in live}
                flags = {"complete": complete, "bad": bad}

                def read(cid: str) -> int:
                    budget_check()
                    reps, ok, rbad = self._list(f"{cid}/replies", media=raw_media, parent_id=cid,
                                                action="ig_read_comments")
                    comments_out.extend(reps)
                    flags["complete"] = flags["complete"] and ok
                    flags["bad"] += rbad
                    return len(reps) + rbad

                newest_first = [c.comment_id for c in sorted(tops, key=lambda c: (c.created_at, c.comment_id),
                                                             reverse=True)]
                counts, _ = replies_to_read(newest_first, expected, known, read)
                complete, bad = flags["complete"], flags["bad"]
                state = _MediaState(n, sum(counts.values()), counts)
            elif expected == 0:
                state = _MediaState(n, 0)
        except ConnectorError as exc:
            if exc.kind != "not_found":
                raise
            warnings.append(f"media {mid} vanished while reading its comments: {exc}")
            return prev
        if bad:
            warnings.append(f"media {mid}: {bad} malformed comment(s) skipped")
        if not complete:
            warnings.append(f"media {mid}: Graph paging looped; the media is read again next poll")
            return prev
        return state

    # ------------------------------------------------------------------ check
    def check(self) -> list[CheckResult]:
        """Verify the token and its permissions; one :class:`CheckResult` per check.

        1. ``GET /{ig-user-id}?fields=id,username``: the token reaches this Instagram
           professional account (through its linked Page).
        2. With ``app_id`` and the app secret: ``GET /debug_token?input_token=<token>``
           called with the app token: validity, expiry and the granted permissions
           (:data:`REQUIRED_PERMISSIONS`); without them a warning naming what was not
           verified.
        3. ``GET /{ig-user-id}/media?limit=1`` then ``GET /{ig-media-id}/comments?limit=1``:
           comments can be read.
        4. The pinned ``graph_version`` (:func:`connectors.facebook.graph_version_verdict`).

        Never raises for a platform failure: it becomes a failed result.
        """
        name = self.cfg.name
        results: list[CheckResult] = []
        try:
            user = self.client.get(self.ig_user_id, {"fields": "id,username"}, action="ig_read_account")
            if str(user.get("id")) != self.ig_user_id:
                results.append(CheckResult(f"{name} token", False,
                                           f"ig_user_id {self.ig_user_id} answered as id {user.get('id')!r}: set "
                                           "ig_user_id to the instagram_business_account id of the linked Page"))
            else:
                results.append(CheckResult(f"{name} token", True, f"token reads Instagram account "
                                                                 f"@{user.get('username') or '?'} ({self.ig_user_id})"))
        except ConnectorError as exc:
            results.append(CheckResult(f"{name} token", False, str(exc)))
            if exc.kind == "auth":
                return results
        results.append(self._check_permissions())
        try:
            body = self.client.get(f"{self.ig_user_id}/media", {"fields": "id,comments_count", "limit": 1},
                                   action="ig_read_media")
            media = [m for m in body.get("data") or [] if isinstance(m, Mapping)]
            if media:
                self.client.get(f"{ig_id(media[0].get('id'), 'media')}/comments",
                                {"fields": COMMENT_FIELDS, "limit": 1}, action="ig_read_comments")
            results.append(CheckResult(f"{name} comments read", True, "can read media and comments"
                                       + ("" if media else " (no media yet)")))
        except (ConnectorError, ValueError) as exc:
            results.append(CheckResult(f"{name} comments read", False, str(exc)))
        ok, warning, detail = graph_version_verdict(self.client.version, self._clock().date())
        if self.client.api_version:
            detail += f"; Graph served facebook-api-version {self.client.api_version}"
        results.append(CheckResult(f"{name} graph version", ok, detail, warning=warning))
        return results

    def _check_permissions(self) -> CheckResult:
        name = f"{self.cfg.name} permissions"
        needed = ", ".join(REQUIRED_PERMISSIONS)
        if self._app_token is None:
            return CheckResult(name, True, f"not verified: the token's expiry and its granted permissions ({needed}): "
                                           "Graph's debug_token needs the app token; set app_id and the app secret "
                                           "(app_secret_credential, app_secret_file or app_secret_env) in the "
                                           "[[accounts]] table. Only reading is tested below", warning=True)
        try:
            dbg = self.client.get("debug_token", {"input_token": self._token}, action="debug_token",
                                  token=self._app_token).get("data") or {}
        except ConnectorError as exc:
            if exc.kind in ("auth", "refused", "permission"):
                return CheckResult(name, False, f"Graph refused the app token for debug_token ({exc}): check that "
                                                f"app_id {self.cfg.app_id} and the app secret belong to the app the "
                                                "Page token was generated with")
            return CheckResult(name, True, f"not verified: the token's expiry and its granted permissions ({needed}): "
                                           f"debug_token failed ({exc}); only reading is tested below", warning=True)
        if not isinstance(dbg, Mapping) or dbg.get("is_valid") is False:
            return CheckResult(name, False, "Graph debug_token says the token is not valid: generate a new access "
                                            "token for the linked Page")
        expires = dbg.get("expires_at")
        if isinstance(expires, int) and expires > 0 and datetime.fromtimestamp(expires, timezone.utc) < self._clock():
            return CheckResult(name, False, "the token has expired: generate a new access token for the linked Page")
        scopes = set(dbg.get("scopes") or [])
        missing = [p for p in REQUIRED_PERMISSIONS if p not in scopes]
        if missing:
            return CheckResult(name, False, f"missing permission {', '.join(missing)}: grant it to the app and "
                                            "generate a new access token (granted: "
                                            f"{', '.join(sorted(scopes)) or 'none'})")
        return CheckResult(name, True, f"granted {needed}")

    # ------------------------------------------------------------------ actions
    def hide(self, comment_id: str, hidden: bool = True) -> None:
        """Hide (``hidden=True``) or unhide a comment or reply: ``POST /{ig-comment-id}
        ?hide=true|false`` (needs ``instagram_manage_comments``; answer ``{"success": true}``).

        :raises ConnectorError: ``kind="refused"`` when ``hide_enabled`` is off or Graph does
            not confirm; ``permission`` naming the permission; others as for reads.
        """
        if not self.cfg.hide_enabled:
            raise ConnectorError(f"hiding is off for account {self.cfg.name!r}: set hide_enabled = true in its "
                                 "[[accounts]] table (the token needs instagram_manage_comments)",
                                 platform=PLATFORM, kind="refused")
        cid = ig_id(str(comment_id), "comment")
        body = self.client.post(cid, {}, action="ig_hide", params={"hide": "true" if hidden else "false"})
        if body.get("success") is not True:
            raise ConnectorError(f"Graph did not confirm {'hiding' if hidden else 'unhiding'} Instagram comment {cid}",
                                 platform=PLATFORM, kind="refused")

    def block(self, author_id: str, handle: str | None = None) -> str:
        """Never blocks: the Instagram API has no block endpoint.

        :raises ConnectorError: always, ``kind="refused"``, telling a person how to block
            ``author_id`` in the Instagram app (by ``handle`` when known)."""
        who = f"@{handle}" if handle else author_id
        link = f" (https://www.instagram.com/{handle}/)" if handle else ""
        raise ConnectorError(
            f"the Instagram API has no block endpoint: block {who} in the Instagram app, signed in as the school's "
            f"account: open their profile{link} → ⋯ → Block. Hiding their comment is available "
            "(school-monitor review hide)", platform=PLATFORM, kind="refused")

    def close(self) -> None:
        """Release the HTTP client."""
        self.client.close()

    def __enter__(self) -> "InstagramConnector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["InstagramConnector", "map_comment", "map_media", "ig_id", "replies_to_read", "MEDIA_FIELDS",
           "COMMENT_FIELDS", "REQUIRED_PERMISSIONS"]

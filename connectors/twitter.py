"""X (Twitter) connector: replies to and mentions of a school's X account, through
tweepy 4.17's ``tweepy.Client`` on the X API v2, within a monthly read budget.

Endpoints (X API v2)
--------------------
* ``GET /2/users/:id/mentions`` (``Client.get_users_mentions``): posts that mention the
  school, including direct replies to its posts (X puts the author of the post replied
  to in a reply's mentions).
* ``GET /2/users/:id/tweets`` (``Client.get_users_tweets``, ``exclude=replies,retweets``):
  the school's own new posts, whose conversations are then watched.
* ``GET /2/tweets/search/recent`` (``Client.search_recent_tweets``): replies in those
  conversations that do not mention the school (deeper replies where the user removed
  the school from "Replying to"). Recent search covers the last 7 days only.
* ``GET /2/users/by/username/:username`` and ``GET /2/users/:id`` (``Client.get_user``):
  resolve the configured handle to a user id (no post read), and ``check``.
* ``GET /2/users/me`` (``Client.get_me``) and ``PUT /2/tweets/:id/hidden``
  (``Client.hide_reply``/``unhide_reply``): user-context credentials, hiding replies.

Every read asks for ``tweet.fields`` created_at, author_id, conversation_id,
in_reply_to_user_id, referenced_tweets, attachments, entities, edit_history_tweet_ids and
``expansions`` author_id, attachments.media_keys (the author's ``name``/``username`` and
the media's ``type``/``url``/``preview_image_url`` arrive in ``includes``).

The read plan (every post returned counts against X's monthly post cap)
-----------------------------------------------------------------------
One poll reads, in this order, each step only while budget remains:

1. **Mentions** since the last ``since_id`` (first poll: the last ``lookback_days``).
   They come first: they are where harmful replies land.
2. **The school's own new posts** since their ``since_id`` (usually 0 to 2 posts a day).
   Replies and retweets are excluded server-side, so only new conversations are read.
3. **Conversation search** for the school's posts of the last 7 days: as many
   ``conversation_id:<id>`` clauses as fit, OR-combined, in one query of at most 512
   characters (about 11 conversations), with ``is:reply -@<handle>`` so that the post
   itself and every reply already read as a mention are not read (and paid for) twice.
   Each conversation keeps its own ``since_id`` (at first the post's own id: every reply
   has a larger id), and conversations searched together end with the same ``since_id``
   so that they keep sharing one query.

Each request asks ``max_results = min(100, budget left)`` and paging (``next_token``)
stops when the budget is spent, so a poll never reads past
:attr:`FetchContext.read_budget_remaining`, nor past ``max_reads_per_poll`` (default
:data:`DEFAULT_MAX_READS_PER_POLL`: the rest waits for the next poll). A ``next_token``
that X already sent in the same read stops that read at once (``FetchResult.errors``:
logged at ERROR and kept as the account's ``last_error``), so a looping paging answer
costs two requests, not a month's budget. A request whose minimum page (5 for
timelines, 10 for search) exceeds the budget left is not made. When reading stops
part-way (budget, rate limit, a server error after some pages), the unread id range is
kept in the cursor (``until_id``) and read first next time, so nothing is skipped and
nothing is read twice. With the budget already at 0, :meth:`TwitterConnector.fetch`
raises ``ConnectorError(kind="budget")`` without calling X.

Cost (pay-per-use since 6 Feb 2026): every answer is priced at :data:`PRICE_POST_READ`,
:data:`PRICE_OWNED_READ` (mentions and the post timeline read with the school's own
user-context tokens), :data:`PRICE_USER_READ` and :data:`PRICE_MEDIA_READ`, each resource
once per UTC day as X bills it (the keys paid for today are kept in the cursor's
``billing``); ``ctx.budget_usd_remaining`` bounds each page at its worst price. After the
read plan, up to ``deletion_checks_per_poll`` of ``ctx.watch_ids`` are looked up with
``GET /2/tweets?ids=`` (:meth:`TwitterConnector._check_deletions`); the post count
``reads`` is not de-duplicated (a legacy post cap errs on the safe side).

Cursor
------
A JSON-able dict, stored by the pipeline in the same transaction as the comments, so a
``since_id`` only advances once the comments it covers are committed::

    {"version": 1, "user_id": "2000", "username": "BrookfieldPS",
     "mentions":  {"since_id": "...", "until_id": None, "pending_since_id": None},
     "own_posts": {"since_id": "...", "until_id": None, "pending_since_id": None},
     "conversations": {"<post id>": {"created_at": "2026-09-08T07:48:16Z", "text": "...",
                                     "since_id": "...", "until_id": None,
                                     "pending_since_id": None}}}

A stream's unread range is ``(since_id, until_id)`` (``until_id`` None: up to now;
``since_id`` None: from ``lookback_days`` ago); ``pending_since_id`` is the newest id
already read, which becomes ``since_id`` once the range is read.

Errors
------
Everything becomes :class:`connectors.base.ConnectorError` (``platform="twitter"``):
429 ``rate_limit`` with ``retry_after`` from ``x-rate-limit-reset`` (900 s, X's window,
when the header is missing); 401 ``auth`` (permanent: reconnect the X credentials);
403 ``permission`` (permanent, naming the endpoint the access tier does not allow);
5xx, timeouts, connection errors, malformed JSON and every other ``requests`` or
tweepy failure (``ContentDecodingError`` for a body that is not the gzip it claims to
be, ``ChunkedEncodingError`` ...) ``transient`` after
``max_attempts`` tries with exponential backoff (the injected ``sleep``); 400 ``transient``
with X's message (e.g. an invalid ``since_id``); 404 and an unknown handle ``not_found``
(permanent); a missing or unreadable secret ``auth`` (permanent, naming the config key);
a 429 whose problem type is ``usage-capped`` or a 402 (credits used up) ``budget``
(permanent: X's own spending stop, not a rate limit); the same 400 twice in a row
``invalid_request`` (permanent).
A rate limit or server failure after some posts were read returns what was read (with
``next_poll_after`` and a warning) instead of raising, so paid-for reads are kept. A
post that cannot be mapped (no numeric id, no valid ``created_at``, ``author_id`` or
``text``) is returned in ``FetchResult.quarantined`` as X sent it, never dropped. Tokens never
appear in an error or a log: the ``tweepy`` logger (which prints ``Bearer <token>`` at
DEBUG) is held at INFO or above and its records are redacted.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Sequence

import requests
import tweepy
from requests.adapters import HTTPAdapter

from connectors.base import CheckResult, ConnectorError, FetchContext, FetchResult
from monitor.config import AccountConfig, SecretError
from monitor.domain import Account, Attachment, Comment, Post, QuarantinedPayload, iso, parse_time

PLATFORM = "twitter"
#: Where tweepy sends every request (``BaseClient.request`` hard-codes it).
X_API_HOST = "https://api.twitter.com"
TWEET_FIELDS = ("created_at", "author_id", "conversation_id", "in_reply_to_user_id",
                "referenced_tweets", "attachments", "entities", "edit_history_tweet_ids", "note_tweet")
EXPANSIONS = ("author_id", "attachments.media_keys")
USER_FIELDS = ("name", "username")
MEDIA_FIELDS = ("type", "url", "preview_image_url", "variants")
#: X's pay-per-use prices since 6 Feb 2026, in micro-USD per resource returned (X's price
#: list, docs.x.com/x-api/getting-started/pricing): a post read, a post read that is an
#: *owned read* (the authenticated user's own mentions and post timeline, read with that
#: user's tokens), a user read, a media read. A resource already returned on the same UTC
#: day is billed once.
PRICE_POST_READ = 5_000
PRICE_OWNED_READ = 1_000
PRICE_USER_READ = 10_000
PRICE_MEDIA_READ = 5_000
#: Most resource keys remembered per UTC day for de-duplicating the cost estimate (beyond
#: it, every resource is counted again: the estimate errs on the safe side).
BILLING_KEYS_MAX = 50_000
#: Post ids per ``GET /2/tweets?ids=`` request (X's maximum).
LOOKUP_MAX_IDS = 100
#: X's recent-search window, in days.
RECENT_SEARCH_DAYS = 7
#: Query length limit of recent search on the self-serve tiers (characters).
SEARCH_QUERY_MAX = 512
#: The rate-limit window X uses: the wait when a 429 carries no x-rate-limit-reset.
DEFAULT_RATE_LIMIT_WAIT = 900.0
_PAGE_MAX = 100
#: Posts one poll reads at most (None: no cap); the rest is read by the next polls.
DEFAULT_MAX_READS_PER_POLL = 2000
_PAGE_MIN = {"mentions": 5, "own_posts": 5, "search": 10, "lookup": 1}
_LOGGERS = ("tweepy", "tweepy.client", "requests_oauthlib", "oauthlib")
_USER_SECRETS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
_ENDPOINTS = {
    "mentions": ("GET /2/users/:id/mentions", "the user mention timeline"),
    "own_posts": ("GET /2/users/:id/tweets", "the user post timeline"),
    "search": ("GET /2/tweets/search/recent", "recent search"),
    "user": ("GET /2/users/:id", "user lookup"),
    "me": ("GET /2/users/me", "the authenticated user lookup (user context)"),
    "hide": ("PUT /2/tweets/:id/hidden", "hiding replies (user context)"),
    "lookup": ("GET /2/tweets", "post lookup"),
}


class _RedactFilter(logging.Filter):
    """Replaces bearer tokens and known secret values in log records of the
    ``tweepy``/OAuth loggers (a second line of defence behind the INFO level)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = re.sub(r"(Bearer|OAuth)\s+[^'\"\n]+", r"\1 [redacted]", text)
        for s in self.secrets:
            clean = clean.replace(s, "[redacted]")
        if clean != text:
            record.msg, record.args = clean, ()
        return True


_REDACT = _RedactFilter()


def quiet_tweepy_logger() -> None:
    """Hold the ``tweepy`` logger (and the OAuth libraries' loggers) at INFO or above:
    at DEBUG, ``tweepy.client`` logs each request's headers, ``Authorization: Bearer
    <token>`` included. Also attaches a redacting filter to each. Idempotent."""
    for name in _LOGGERS:
        lg = logging.getLogger(name)
        if lg.level == logging.NOTSET or lg.level < logging.INFO:
            lg.setLevel(logging.INFO)
        if _REDACT not in lg.filters:
            lg.addFilter(_REDACT)


class XTransportAdapter(HTTPAdapter):
    """The ``requests`` adapter mounted on ``tweepy.Client.session``: gives every request
    a ``(connect, read)`` timeout (tweepy sets none, so a stalled server would hang the
    poll forever), does no retries of its own, and, when ``base_url`` is given, sends
    the requests tweepy addresses to ``https://api.twitter.com`` to that root instead (the
    loopback fake X server of the demo and the tests).

    :param timeout: seconds, applied as both connect and read timeout.
    :param base_url: API root such as ``http://127.0.0.1:8123``, or None for X itself.
    """

    def __init__(self, timeout: float, base_url: str | None = None):
        super().__init__(max_retries=0)
        self.timeout = timeout
        self.base_url = base_url.rstrip("/") if base_url else None

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        if self.base_url and request.url and request.url.startswith(X_API_HOST):
            request.url = self.base_url + request.url[len(X_API_HOST):]
        return super().send(request, stream=stream, timeout=timeout if timeout is not None else self.timeout,
                            verify=verify, cert=cert, proxies=proxies)


@dataclass
class _Window:
    """An unread id range of one stream (see the module docstring). ``outcome`` (not
    stored) says what the last read did: ``finished``, ``cut`` or None (nothing read)."""

    since_id: str | None = None
    until_id: str | None = None
    pending_since_id: str | None = None
    outcome: str | None = field(default=None, compare=False)

    @classmethod
    def load(cls, d: Any) -> "_Window":
        if not isinstance(d, Mapping):
            return cls()
        return cls(*(_id_or_none(d.get(k)) for k in ("since_id", "until_id", "pending_since_id")))

    def dump(self) -> dict[str, str | None]:
        return {"since_id": self.since_id, "until_id": self.until_id,
                "pending_since_id": self.pending_since_id}

    def finish(self, newest: str | None) -> None:
        """The whole range was read; ``newest`` is the newest id seen (None: nothing)."""
        self.since_id = _max_id(self.since_id, self.pending_since_id, newest)
        self.until_id = self.pending_since_id = None
        self.outcome = "finished"

    def cut(self, newest: str | None, oldest: str | None) -> None:
        """Reading stopped after ids ``newest``..``oldest`` (None, None: nothing read);
        ids between ``since_id`` and ``oldest`` stay unread."""
        if oldest is None:
            return
        self.pending_since_id = _max_id(self.pending_since_id, newest)
        if self.since_id is not None and int(self.since_id) + 1 >= int(oldest):
            self.finish(None)
        else:
            self.until_id = oldest
            self.outcome = "cut"

    def follow(self, group: "_Window") -> None:
        """Take over the outcome of a search that covered this conversation among others
        (``group``'s range started at or before this window's ``since_id``)."""
        if group.outcome == "finished":
            self.since_id = _max_id(self.since_id, group.since_id, self.pending_since_id)
            self.until_id = self.pending_since_id = None
        elif group.outcome == "cut":
            assert group.until_id is not None
            self.pending_since_id = _max_id(self.pending_since_id, group.pending_since_id)
            if self.since_id is not None and int(self.since_id) + 1 >= int(group.until_id):
                self.since_id = _max_id(self.since_id, self.pending_since_id)
                self.until_id = self.pending_since_id = None
            else:
                self.until_id = group.until_id


@dataclass
class _Run:
    """What one fetch has gathered so far, and what it has cost.

    ``budget``: posts that may still be read this month (None: no post cap); ``money``:
    micro-USD that may still be spent (None: no money budget). ``billed`` holds the
    resource keys (``p:<post id>``, ``u:<user id>``, ``m:<media key>``) already paid for
    on the UTC day ``billed_day``: X bills a resource returned twice on one day once."""

    budget: int | None
    money: int | None = None
    billed_day: str = ""
    billed: set[str] = field(default_factory=set)
    calls: int = 0
    reads: int = 0
    post_reads: int = 0
    owned_reads: int = 0
    user_reads: int = 0
    media_reads: int = 0
    cost: int = 0
    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    next_poll_after: float | None = None
    budget_hit: bool = False
    money_hit: bool = False
    poll_cap: int | None = None
    cap_hit: bool = False
    errors: list[str] = field(default_factory=list)
    quarantined: list[QuarantinedPayload] = field(default_factory=list)

    def page_size(self, kind: str, owned: bool = False) -> int | None:
        """max_results for the next page, or None when the monthly budget (posts or money)
        or the read cap of this poll cannot pay for it. A page is priced at its worst
        (every post new today, each with a new author and a medium), so the money budget
        is never overspent by a page."""
        if self.poll_cap is not None and self.poll_cap - self.reads < _PAGE_MIN[kind]:
            if not self.cap_hit:
                self.warnings.append(
                    f"read cap of {self.poll_cap} posts per poll reached on {_ENDPOINTS[kind][0]}; stopped "
                    "reading (the rest is read by the next poll)")
            self.cap_hit = True
            return None
        sizes = [_PAGE_MAX]
        if self.poll_cap is not None:
            sizes.append(self.poll_cap - self.reads)
        if self.budget is not None:
            sizes.append(self.budget - self.reads)
        if self.money is not None:
            worst = (PRICE_POST_READ if kind == "lookup" else
                     (PRICE_OWNED_READ if owned else PRICE_POST_READ) + PRICE_USER_READ + PRICE_MEDIA_READ)
            sizes.append(max(0, self.money - self.cost) // worst)
        size = min(sizes)
        if size < _PAGE_MIN[kind]:
            if not self.budget_hit:
                if self.budget is not None and self.budget - self.reads == size:
                    left = f"{size} post(s) left this month"
                else:
                    left = f"${max(0, (self.money or 0) - self.cost) / 1e6:.3f} left this month"
                    self.money_hit = True
                self.warnings.append(
                    f"X read budget reached: {left}, fewer than the smallest "
                    f"page ({_PAGE_MIN[kind]}) of {_ENDPOINTS[kind][0]}; stopped reading (the rest is read "
                    "when budget is available)")
            self.budget_hit = True
            return None
        return size

    def bill(self, posts: list[Any], includes: Mapping[str, Any] | None = None, *, owned: bool = False,
             users: list[Any] | None = None) -> None:
        """Price one answer: its posts (owned reads when ``owned``), ``includes.tweets``,
        ``includes.users`` (and ``users``) and ``includes.media``, each resource once per
        UTC day."""
        inc = includes or {}

        def charge(key: str, price: int) -> bool:
            if key in self.billed:
                return False
            if len(self.billed) < BILLING_KEYS_MAX and re.fullmatch(r"[pum]:[0-9A-Za-z_]{1,40}", key):
                self.billed.add(key)  # a malformed id is charged, never remembered (nor stored in the cursor)
            self.cost += price
            return True

        for t in _dicts(posts):
            if charge(f"p:{t.get('id')}", PRICE_OWNED_READ if owned else PRICE_POST_READ):
                if owned:
                    self.owned_reads += 1
                else:
                    self.post_reads += 1
        for t in _dicts(inc.get("tweets")):
            if charge(f"p:{t.get('id')}", PRICE_POST_READ):
                self.post_reads += 1
        for u in _dicts(inc.get("users")) + _dicts(users or []):
            if charge(f"u:{u.get('id')}", PRICE_USER_READ):
                self.user_reads += 1
        for m in _dicts(inc.get("media")):
            if charge(f"m:{m.get('media_key')}", PRICE_MEDIA_READ):
                self.media_reads += 1


class TwitterConnector:
    """The X connector for one ``[[accounts]]`` table with ``platform = "twitter"``
    (see the module docstring for endpoints, read plan, cursor and errors).

    :param cfg: the account's config: ``user_id`` and/or ``handle``, ``bearer_token``
        (app-only, for reading), the four user-context secrets when ``hide_enabled``,
        ``base_url`` (API root; None for X), ``timeout_seconds``, ``lookback_days``.
    :param session_adapter: a ``requests`` adapter to mount on the tweepy session for
        ``https://api.twitter.com`` instead of :class:`XTransportAdapter` (it must set
        its own timeouts).
    :param clock: returns "now" (aware UTC), for rate-limit waits; default the system clock.
    :param sleep: used between retries of transient failures (tests pass a recorder).
    :param environ: where ``*_env`` secrets are looked up (default ``os.environ``).
    :param max_attempts: tries per request for 5xx, timeouts and connection errors.
    :param backoff_seconds: first retry delay; doubled each further try.
    :param search_window_days: how far back conversations are searched (X: 7 days).
    :param max_reads_per_poll: posts one poll reads at most (None: no cap besides the
        monthly budget); reading stops there and the unread range is read next poll.
    """

    def __init__(self, cfg: AccountConfig, *, session_adapter: HTTPAdapter | None = None,
                 clock: Callable[[], datetime] | None = None, sleep: Callable[[float], None] = time.sleep,
                 environ: Mapping[str, str] | None = None, max_attempts: int = 3,
                 backoff_seconds: float = 2.0, search_window_days: float = RECENT_SEARCH_DAYS,
                 max_reads_per_poll: int | None = DEFAULT_MAX_READS_PER_POLL):
        if cfg.platform != PLATFORM:
            raise ValueError(f"accounts: {cfg.name!r} has platform {cfg.platform!r}, not 'twitter'")
        if not (cfg.user_id or cfg.handle):
            raise ValueError(f"accounts: {cfg.name!r} needs user_id or handle")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.cfg = cfg
        self.account = Account(key=cfg.name, platform=PLATFORM, external_id=cfg.external_id,
                               display_name=f"@{cfg.handle}" if cfg.handle else "")
        self._adapter = session_adapter
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._sleep = sleep
        self._environ = environ
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.search_window_days = search_window_days
        self.max_reads_per_poll = max_reads_per_poll
        self._reader: tweepy.Client | None = None
        self._writer: tweepy.Client | None = None
        self._secrets: set[str] = set()
        self._last_status: int | None = None
        self._exhausted_until: int | None = None
        self._bad_request: str | None = None
        quiet_tweepy_logger()

    @property
    def user_context(self) -> bool:
        """True when the four user-context secrets (``consumer_key``, ``consumer_secret``,
        ``access_token``, ``access_token_secret``) are configured: mentions and the school's
        own timeline are then read with them, as owned reads ($0.001 a post, not $0.005)."""
        return all(k in self.cfg.secrets for k in _USER_SECRETS)

    # ------------------------------------------------------------------ clients
    def _secret(self, name: str) -> str:
        ref = self.cfg.secrets.get(name)
        if ref is None:
            raise ConnectorError(f"account {self.cfg.name!r}: no {name} configured (set {name}_env, "
                                 f"{name}_file or {name}_credential)", platform=PLATFORM, kind="auth",
                                 permanent=True)
        try:
            value = ref.resolve(self._environ)
        except SecretError as exc:
            raise ConnectorError(str(exc), platform=PLATFORM, kind="auth", permanent=True) from None
        self._secrets.add(value)
        _REDACT.secrets.add(value)
        return value

    def _mount(self, client: tweepy.Client) -> tweepy.Client:
        adapter = self._adapter or XTransportAdapter(self.cfg.timeout_seconds, self.cfg.base_url)
        client.session.mount(X_API_HOST + "/", adapter)
        client.session.hooks["response"].append(self._remember)
        if self.cfg.base_url and not self.cfg.base_url.startswith(X_API_HOST):
            client.session.trust_env = False  # no environment proxy between us and a test/demo fake
        return client

    def _read_client(self) -> tweepy.Client:
        if self._reader is None:
            self._reader = self._mount(tweepy.Client(bearer_token=self._secret("bearer_token"),
                                                     return_type=dict, wait_on_rate_limit=False))
        return self._reader

    def _user_client(self) -> tweepy.Client:
        if self._writer is None:
            keys = {k: self._secret(k) for k in _USER_SECRETS}
            self._writer = self._mount(tweepy.Client(**keys, return_type=dict, wait_on_rate_limit=False))
        return self._writer

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """requests response hook: keep the last status (tweepy loses it when a 429's
        ``x-rate-limit-reset`` is not an integer and ``int()`` raises ValueError), and note
        when an endpoint's ``x-rate-limit-remaining`` reaches 0 (Unix reset time), so the
        next poll waits for the window instead of spending a request on a 429."""
        self._last_status = response.status_code
        remaining = response.headers.get("x-rate-limit-remaining")
        reset = response.headers.get("x-rate-limit-reset")
        if remaining == "0" and reset and reset.isdigit() and response.status_code < 300:
            self._exhausted_until = max(self._exhausted_until or 0, int(reset))

    def close(self) -> None:
        """Close the HTTP sessions (idempotent)."""
        for c in (self._reader, self._writer):
            if c is not None:
                c.session.close()
        self._reader = self._writer = None

    # ------------------------------------------------------------------ calls and errors
    def _redact(self, text: str) -> str:
        for s in self._secrets:
            if s:
                text = text.replace(s, "[redacted]")
        return re.sub(r"(Bearer|OAuth)\s+\S+", r"\1 [redacted]", text)

    def _call(self, run: _Run | None, kind: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a tweepy method with bounded retries; map every failure to ConnectorError."""
        endpoint = _ENDPOINTS[kind][0]
        err: ConnectorError | None = None
        for attempt in range(self.max_attempts):
            if run is not None:
                run.calls += 1
            self._last_status = None
            try:
                result = fn(*args, **kwargs)
                if not isinstance(result, dict):
                    raise ValueError("not a JSON object")
                if self._bad_request and self._bad_request.startswith(kind + " "):
                    self._bad_request = None
                return result
            except tweepy.TooManyRequests as exc:
                if _usage_capped(exc):
                    raise self._budget_stop(endpoint, exc) from None
                raise self._rate_limited(endpoint, exc) from None
            except tweepy.Unauthorized as exc:
                raise self._error(exc, kind, "auth", user_ctx=bool(kwargs.get("user_auth"))) from None
            except tweepy.Forbidden as exc:
                raise self._error(exc, kind, "permission") from None
            except tweepy.NotFound as exc:
                raise self._error(exc, kind, "not_found") from None
            except tweepy.BadRequest as exc:
                raise self._bad_request_error(exc, kind, args, kwargs) from None
            except tweepy.TwitterServerError as exc:
                err = self._error(exc, kind, "transient")
            except tweepy.HTTPException as exc:
                status = _status(exc)
                if status == 402 or _usage_capped(exc):  # credits exhausted / spending limit reached
                    raise self._budget_stop(endpoint, exc) from None
                if status is not None and 400 <= status < 500:
                    raise self._bad_request_error(exc, kind, args, kwargs) from None
                err = self._error(exc, kind, "transient")
            except requests.Timeout:
                err = ConnectorError(f"{endpoint} timed out after {self.cfg.timeout_seconds:g} s "
                                     f"({self.max_attempts} tries)", platform=PLATFORM, kind="transient")
            except requests.ConnectionError as exc:
                err = ConnectorError(f"{endpoint}: cannot connect to X ({type(exc).__name__}; "
                                     f"{self.max_attempts} tries)", platform=PLATFORM, kind="transient")
            except (ValueError, RecursionError) as exc:  # JSONDecodeError, deeply nested JSON, a bad header
                if self._last_status == 429:
                    raise self._rate_limited(endpoint, tweepy.TooManyRequests(_Stub429())) from None
                err = ConnectorError(f"{endpoint}: malformed response from X ({self._redact(str(exc))[:120]})",
                                     platform=PLATFORM, kind="transient")
            except requests.RequestException as exc:  # ContentDecodingError, ChunkedEncodingError, TooManyRedirects ...
                err = ConnectorError(f"{endpoint}: the response from X could not be read ({type(exc).__name__}: "
                                     f"{self._redact(str(exc))[:160]}; {self.max_attempts} tries)",
                                     platform=PLATFORM, kind="transient", status=self._last_status)
            except tweepy.TweepyException as exc:  # any other tweepy failure
                err = ConnectorError(f"{endpoint}: tweepy failed ({type(exc).__name__}: "
                                     f"{self._redact(str(exc))[:160]})", platform=PLATFORM, kind="transient")
            if attempt + 1 < self.max_attempts:
                self._sleep(self.backoff_seconds * 2 ** attempt)
        assert err is not None
        raise err

    def _budget_stop(self, endpoint: str, exc: tweepy.HTTPException) -> ConnectorError:
        """X's own spending stop: a 429 whose problem ``type`` is ``.../problems/usage-capped``
        (title ``UsageCapExceeded``) or a 402 (pay-per-use credits exhausted). Waiting for a
        rate-limit window cannot help: a permanent ``budget`` error, so the account is
        paused with one email until credits are added and ``check`` passes."""
        detail = self._redact("; ".join(str(m) for m in exc.api_messages if m))[:200]
        status = _status(exc)
        return ConnectorError(
            f"X stopped reading on {endpoint}: the app's usage cap or spending limit is reached, or its pay-per-use "
            f"credits are used up ({detail or 'no detail'}). Add credits or raise the spending limit in the X "
            f"Developer Console (console.x.com), then run `school-monitor check`",
            platform=PLATFORM, kind="budget", permanent=True, status=status,
            code=_problem_type(exc) or _problem_code(exc))

    def _bad_request_error(self, exc: tweepy.HTTPException, kind: str, args: tuple, kwargs: Mapping[str, Any]
                           ) -> ConnectorError:
        """A 400 (or other 4xx): transient the first time (X's message, e.g. an invalid
        ``since_id``), permanent ``invalid_request`` when the same request (endpoint and
        its id, range, query and paging parameters; not times or page size) is refused
        again on the next try, so the account is paused with one alert instead of failing
        every poll for ever."""
        keep = ("id", "ids", "username", "since_id", "until_id", "query", "pagination_token", "next_token", "exclude")
        sig = f"{kind} {args!r} " + repr(sorted((k, str(v)) for k, v in kwargs.items() if k in keep))
        err = self._error(exc, kind, "bad_request")
        if self._bad_request == sig:
            return ConnectorError(
                f"{err.args[0]}; refused again on the next try, so it will not succeed by itself: check the account's "
                "user_id and handle, then run `school-monitor check`", platform=PLATFORM, kind="invalid_request",
                permanent=True, status=err.status, code=err.code)
        self._bad_request = sig
        return err

    def _rate_limited(self, endpoint: str, exc: tweepy.TooManyRequests) -> ConnectorError:
        now = self._clock().timestamp()
        if exc.reset_time is not None:
            wait = max(1.0, float(exc.reset_time) - now + 1)
            when = f"the limit resets at {iso(datetime.fromtimestamp(exc.reset_time, timezone.utc))}"
        else:
            wait = DEFAULT_RATE_LIMIT_WAIT
            when = f"no x-rate-limit-reset header: waiting X's {DEFAULT_RATE_LIMIT_WAIT / 60:g}-minute window"
        return ConnectorError(f"X rate limit reached on {endpoint}; {when} (retry in {wait:.0f} s)",
                              platform=PLATFORM, kind="rate_limit", retry_after=wait, status=429,
                              code=_problem_code(exc))

    def _error(self, exc: tweepy.HTTPException, kind: str, what: str, user_ctx: bool = False) -> ConnectorError:
        endpoint, label = _ENDPOINTS[kind]
        status = _status(exc)
        detail = self._redact("; ".join(str(m) for m in exc.api_messages if m))[:300]
        code = _problem_code(exc)
        if what == "auth":
            uctx = user_ctx or kind in ("me", "hide")
            where = self.cfg.secrets.get("bearer_token") if not uctx else self.cfg.secrets.get("access_token")
            source = f" ({'access_token' if uctx else 'bearer_token'} from {where.describe()})" if where else ""
            user_ctx_word = " user-context" if uctx else ""
            return ConnectorError(
                f"X rejected the{user_ctx_word} credentials{source} on {endpoint}: reconnect the X credentials "
                f"for account {self.cfg.name!r} (a new token from the X developer portal), then run "
                "`school-monitor check`", platform=PLATFORM, kind="auth", permanent=True, status=status, code=code)
        if what == "permission":
            if kind == "hide":
                return ConnectorError(
                    f"X refused {endpoint}: only replies in conversations the school's account started can "
                    f"be hidden, with that account's user-context tokens ({detail or 'forbidden'})",
                    platform=PLATFORM, kind="refused", permanent=True, status=status, code=code)
            tier = ("this endpoint needs user-context credentials (consumer key/secret and access "
                    "token/secret)" if code == "Unsupported Authentication" else
                    f"the access tier of this X developer App does not allow {label}: the App must be in a Project "
                    "with pay-per-use credits "
                    "(or a legacy Basic or Pro subscription)")
            return ConnectorError(f"X refused {endpoint} (403): {tier}. X says: {detail or 'Forbidden'}",
                                  platform=PLATFORM, kind="permission", permanent=True, status=status, code=code)
        if what == "not_found":
            return ConnectorError(f"X found nothing at {endpoint}: {detail or 'Not Found'}", platform=PLATFORM,
                                  kind="not_found", permanent=True, status=status, code=code)
        if what == "bad_request":
            return ConnectorError(f"X refused the request to {endpoint} as invalid: {detail or exc}",
                                  platform=PLATFORM, kind="transient", status=status, code=code)
        return ConnectorError(f"X server error on {endpoint} ({self.max_attempts} tries): {detail or status}",
                              platform=PLATFORM, kind="transient", status=status, code=code)

    # ------------------------------------------------------------------ identity
    def _lookup_user(self, run: _Run | None) -> dict[str, str]:
        client = self._read_client()
        if self.cfg.user_id:
            resp = self._call(run, "user", client.get_user, id=self.cfg.user_id)
            what = f"user id {self.cfg.user_id} (accounts {self.cfg.name!r} user_id)"
        else:
            handle = self.cfg.handle.lstrip("@")  # type: ignore[union-attr]
            resp = self._call(run, "user", client.get_user, username=handle)
            what = f"@{handle} (accounts {self.cfg.name!r} handle)"
        data = resp.get("data")
        if run is not None and isinstance(data, dict):
            run.bill([], users=[data])
        if not isinstance(data, dict) or not data.get("id") or not data.get("username"):
            detail = "; ".join(e.get("detail", "") for e in resp.get("errors", []) if isinstance(e, dict))
            raise ConnectorError(f"X has no user {what}{': ' + detail if detail else ''}",
                                 platform=PLATFORM, kind="not_found", permanent=True)
        return {"id": str(data["id"]), "username": str(data["username"]), "name": str(data.get("name", ""))}

    def _identity(self, cursor: Mapping[str, Any], run: _Run) -> tuple[str, str, bool]:
        """(user id, username, cursor still valid for this account)."""
        cid, cname = cursor.get("user_id"), cursor.get("username")
        want_id = self.cfg.user_id
        want_handle = self.cfg.handle.lstrip("@").lower() if self.cfg.handle else None
        if cid and cname and (not want_id or want_id == cid) and (not want_handle or want_handle == cname.lower()):
            return str(cid), str(cname), True
        if want_id and want_handle:  # both configured: no lookup (``check`` verifies they match)
            return want_id, self.cfg.handle.lstrip("@"), cid == want_id  # type: ignore[union-attr]
        user = self._lookup_user(run)
        return user["id"], user["username"], bool(cid) and cid == user["id"]

    # ------------------------------------------------------------------ fetch
    def fetch(self, ctx: FetchContext) -> FetchResult:
        """Poll X for new mentions, new school posts and new replies in their conversations
        (the read plan of the module docstring), then look up stored replies still open or
        flagged (``ctx.watch_ids``) to notice deletions.

        :returns: :class:`FetchResult` with ``posts`` (the school's new posts), ``comments``
            (mentions and replies, the school's own replies included), ``deleted`` (watched
            ids X reports as ``resource-not-found``), the new ``cursor``, ``calls`` (HTTP
            requests), ``reads`` (posts returned by X), ``user_reads`` and ``cost_usd``
            (the pay-per-use estimate, each resource once per UTC day) and ``warnings``.
            When reading stops part-way on a rate limit, a server error or X's usage cap
            after some posts were read, the partial result is returned (``next_poll_after``
            set, the unread range kept in the cursor) rather than raised, so the reads paid
            for are kept.
        :raises ConnectorError: ``budget`` when ``ctx.read_budget_remaining`` or
            ``ctx.budget_usd_remaining`` is spent (no call made; not permanent) or X says
            its usage cap or credits are used up (permanent); ``auth``, ``permission``,
            ``not_found``, ``invalid_request`` (permanent); ``rate_limit`` and ``transient``
            when nothing could be read.
        """
        budget = ctx.read_budget_remaining
        money = None if ctx.budget_usd_remaining is None else int(ctx.budget_usd_remaining * 1_000_000)
        if (budget is not None and budget <= 0) or (money is not None and money <= 0):
            if budget is not None and budget <= 0:
                cap = f" of {self.cfg.monthly_read_cap} posts" if self.cfg.monthly_read_cap else ""
                what, raise_ = f"monthly X read budget{cap}", "monthly_read_cap"
            else:
                usd = f" of ${self.cfg.monthly_budget_usd:,.2f}" if self.cfg.monthly_budget_usd else ""
                what, raise_ = f"monthly X budget{usd}", "monthly_budget_usd"
            raise ConnectorError(
                f"{what} used up for account {self.cfg.name!r}: reading stopped until the next calendar month "
                f"(raise {raise_} only if your X credits or plan allow more)",
                platform=PLATFORM, kind="budget", permanent=False)
        day = ctx.now.astimezone(timezone.utc).date().isoformat()
        billing = ctx.cursor.get("billing") if isinstance(ctx.cursor.get("billing"), Mapping) else {}
        seen = billing.get("seen") if billing.get("day") == day and isinstance(billing.get("seen"), list) else []
        run = _Run(budget=budget, money=money, billed_day=day, billed={str(k) for k in seen},
                   poll_cap=self.max_reads_per_poll)
        now = ctx.now
        self._exhausted_until = None
        deleted: list[str] = []
        uid, username, same = self._identity(ctx.cursor, run)
        cursor = dict(ctx.cursor) if same else {}
        mentions = _Window.load(cursor.get("mentions"))
        own = _Window.load(cursor.get("own_posts"))
        convs = _load_conversations(cursor.get("conversations"))
        checks = cursor.get("deletion_checks") if isinstance(cursor.get("deletion_checks"), Mapping) else {}
        checked_today = [str(i) for i in checks.get("ids", []) if _is_id(i)] if checks.get("day") == day else []
        try:
            owned = self._owned(cursor, uid, run)
            timeline = self._user_client() if owned else self._read_client()
            auth = {"user_auth": True} if owned else {}
            self._read_stream(run, "mentions", timeline.get_users_mentions, mentions, now, uid=uid, owned=owned,
                              **auth)
            self._read_stream(run, "own_posts", timeline.get_users_tweets, own, now, uid=uid, owned=owned,
                              exclude=["replies", "retweets"], **auth)
            for pid, t in run.posts.items():
                if pid not in convs:
                    try:
                        created = iso(parse_time(t["created_at"]))
                    except (KeyError, ValueError, TypeError):
                        continue
                    convs[pid] = {"created_at": created, "text": _full_text(t),
                                  "window": _Window(since_id=pid)}
            convs = self._prune(convs, now)
            self._search_conversations(run, convs, username, now)
            deleted = self._check_deletions(run, ctx.watch_ids, checked_today)
        except ConnectorError as exc:
            stop = exc.kind == "budget" and exc.permanent
            if not (exc.kind in ("rate_limit", "transient") or stop) or run.reads == 0:
                raise
            run.warnings.append(f"stopped part-way, kept what was read: {exc}")
            run.next_poll_after = 3600.0 if stop else exc.retry_after if exc.retry_after is not None else 60.0
        if run.money_hit and not (run.tweets or run.posts or deleted):  # nothing new could be paid for
            usd = f" of ${self.cfg.monthly_budget_usd:,.2f}" if self.cfg.monthly_budget_usd else ""
            raise ConnectorError(
                f"monthly X budget{usd} used up for account {self.cfg.name!r}: "
                f"${max(0, (run.money or 0) - run.cost) / 1e6:.3f} left, less than the smallest page can cost; "
                "reading stopped until the next calendar month (raise monthly_budget_usd only if your X credits "
                "allow more)", platform=PLATFORM, kind="budget", permanent=False)
        if self._exhausted_until is not None:
            wait = max(1.0, self._exhausted_until - self._clock().timestamp() + 1)
            run.next_poll_after = max(run.next_poll_after or 0.0, wait)
            run.warnings.append(f"X rate limit window used up on an endpoint; next poll in {wait:.0f} s")
        new_cursor = {
            "version": 1, "user_id": uid, "username": username,
            "mentions": mentions.dump(), "own_posts": own.dump(),
            "conversations": {pid: {"created_at": c["created_at"], "text": c["text"], **c["window"].dump()}
                              for pid, c in sorted(convs.items(), key=lambda kv: int(kv[0]))},
            "billing": {"day": day, "seen": sorted(run.billed)},
            "deletion_checks": {"day": day, "ids": checked_today},
        }
        if cursor.get("token_user_id"):
            new_cursor["token_user_id"] = cursor["token_user_id"]
        texts = {pid: c["text"] for pid, c in convs.items()}
        posts = [p for p in (self._post(t, username, run) for t in run.posts.values()) if p]
        texts.update({p.post_id: p.text for p in posts})
        comments = [c for c in (self._comment(t, texts, run) for t in run.tweets.values()) if c]
        return FetchResult(posts=posts, comments=comments, deleted=tuple(deleted), cursor=new_cursor,
                           calls=run.calls, reads=run.reads, warnings=tuple(run.warnings),
                           next_poll_after=run.next_poll_after, user_reads=run.user_reads,
                           cost_usd=run.cost / 1_000_000, quarantined=tuple(run.quarantined),
                           errors=tuple(run.errors))

    def _owned(self, cursor: dict[str, Any], uid: str, run: _Run) -> bool:
        """Whether mentions and the post timeline are read with the user-context tokens
        (owned reads): only when they are configured and belong to the school's account
        (``GET /2/users/me``, one user read, once; the answer is kept in the cursor as
        ``token_user_id``). Tokens of another account fall back to the bearer token, with
        a warning, since X would bill those reads at the full post price."""
        if not self.user_context:
            return False
        me_id = cursor.get("token_user_id")
        if not me_id:
            me = self._call(run, "me", self._user_client().get_me, user_auth=True).get("data") or {}
            run.bill([], users=[me] if isinstance(me, dict) else [])
            me_id = str(me.get("id") or "")
            cursor["token_user_id"] = me_id
        if me_id != uid:
            run.warnings.append(f"the user-context tokens belong to user {me_id}, not the school's account {uid}: "
                                "mentions and posts read with the bearer token at the full post price")
            return False
        return True

    def _check_deletions(self, run: _Run, watch: Sequence[str], checked_today: list[str]) -> list[str]:
        """Look up watched stored replies (``GET /2/tweets?ids=``, up to 100 ids a request,
        at most ``deletion_checks_per_poll`` ids a poll, those not yet checked today first,
        within budget) and return the ids X reports as deleted: a partial error whose
        ``type`` ends ``/problems/resource-not-found`` with ``resource_type`` ``tweet``.
        Other partial errors (a protected or suspended author: ``not-authorized-for-resource``)
        are not deletions. Adds the ids checked to ``checked_today`` (in place)."""
        limit = self.cfg.deletion_checks_per_poll
        ids = list(dict.fromkeys(str(i) for i in watch if _is_id(i)))
        if not ids or limit <= 0:
            return []
        done = set(checked_today)
        order = [i for i in ids if i not in done] + [i for i in ids if i in done]
        wanted = order[:limit]
        deleted: list[str] = []
        client = self._read_client()
        for start in range(0, len(wanted), LOOKUP_MAX_IDS):
            chunk = wanted[start:start + LOOKUP_MAX_IDS]
            fresh = [i for i in chunk if f"p:{i}" not in run.billed]
            if fresh:
                size = run.page_size("lookup")
                if size is None:
                    return deleted
                if size < len(fresh):
                    chunk = [i for i in chunk if f"p:{i}" in run.billed] + fresh[:size]
            resp = self._call(run, "lookup", client.get_tweets, chunk, tweet_fields=["id"])
            data = _dicts(resp.get("data"))
            run.reads += len(data)
            run.bill(data)
            for e in _dicts(resp.get("errors")):
                rid = str(e.get("resource_id") or e.get("value") or "")
                if rid in chunk and str(e.get("type", "")).endswith("/resource-not-found") \
                        and e.get("resource_type", "tweet") == "tweet":
                    deleted.append(rid)
                elif rid in chunk:
                    run.warnings.append(f"X post {rid}: {e.get('title') or 'error'} on {_ENDPOINTS['lookup'][0]} "
                                        f"({str(e.get('detail') or '')[:120]}); not treated as deleted")
            for i in chunk:
                if i not in done:
                    done.add(i)
                    checked_today.append(i)
        return deleted

    def _prune(self, convs: dict[str, dict[str, Any]], now: datetime) -> dict[str, dict[str, Any]]:
        """Keep the conversations recent search can still reach (and lookback_days covers)."""
        days = min(float(self.cfg.lookback_days), self.search_window_days)
        floor = now - timedelta(days=days) + timedelta(minutes=10)
        return {pid: c for pid, c in convs.items() if parse_time(c["created_at"]) >= floor}

    def _read_stream(self, run: _Run, kind: str, fn: Callable[..., Any], win: _Window, now: datetime,
                     uid: str | None = None, query: str | None = None, owned: bool = False,
                     **extra: Any) -> bool:
        """Read one stream's unread range newest first, page by page, within budget.

        Stores tweets in ``run.tweets`` (or ``run.posts`` for the school's own posts),
        updates ``win``; returns True when the range was read to its end.
        """
        params: dict[str, Any] = {"tweet_fields": list(TWEET_FIELDS), "expansions": list(EXPANSIONS),
                                  "user_fields": list(USER_FIELDS), "media_fields": list(MEDIA_FIELDS), **extra}
        if win.since_id:
            params["since_id"] = win.since_id
        else:
            params["start_time"] = now - timedelta(days=self.cfg.lookback_days)
        if win.until_id:
            params["until_id"] = win.until_id
        args = (query,) if query is not None else (uid,)
        token_name = "next_token" if kind == "search" else "pagination_token"
        newest = oldest = None
        token = None
        seen_tokens: set[str] = set()
        while True:
            size = run.page_size(kind, owned)
            if size is None:
                win.cut(newest, oldest)
                return False
            params["max_results"] = size
            if token:
                params[token_name] = token
            try:
                resp = self._call(run, kind, fn, *args, **params)
            except ConnectorError:
                win.cut(newest, oldest)
                raise
            data = resp.get("data") if isinstance(resp.get("data"), list) else []
            meta = resp.get("meta") if isinstance(resp.get("meta"), dict) else {}
            includes = resp.get("includes") if isinstance(resp.get("includes"), dict) else {}
            expanded_tweets = includes.get("tweets") if isinstance(includes.get("tweets"), list) else []
            run.reads += len(data) + len(expanded_tweets)
            run.bill(data, includes, owned=owned)
            ids = []
            for t in data:
                if not isinstance(t, dict) or not _is_id(t.get("id")):
                    run.warnings.append(f"{_ENDPOINTS[kind][0]}: quarantined an entry without a numeric id")
                    self._quarantine(run, t, "post" if kind == "own_posts" else "comment",
                                     f"X post without a numeric id on {_ENDPOINTS[kind][0]}")
                    continue
                tid = str(t["id"])
                ids.append(tid)
                (run.posts if kind == "own_posts" else run.tweets)[tid] = {**t, "_includes": _expanded(t, includes)}
            if ids:
                newest = _max_id(newest, *ids)
                oldest = min(ids + ([oldest] if oldest else []), key=int)
            token = meta.get("next_token") if isinstance(meta.get("next_token"), str) else None
            if not token or not data:
                win.finish(newest)
                return True
            if token in seen_tokens:
                # X sent a next_token it already sent in this read: following it would loop
                run.errors.append(f"X paging on {_ENDPOINTS[kind][0]} repeated next_token {token[:40]!r} after "
                                  f"{len(seen_tokens) + 1} pages; stopped this read (what was read is kept, the "
                                  "unread range is tried again next poll)")
                win.cut(newest, oldest)
                return False
            seen_tokens.add(token)

    def _search_conversations(self, run: _Run, convs: dict[str, dict[str, Any]], username: str,
                              now: datetime) -> None:
        """Recent search over the watched conversations, OR-combined into as few queries as
        fit in :data:`SEARCH_QUERY_MAX` characters; unfinished ranges first."""
        suffix = f" is:reply -@{username}"
        groups: dict[str | None, list[str]] = {}
        for pid in sorted(convs, key=int, reverse=True):
            groups.setdefault(convs[pid]["window"].until_id, []).append(pid)
        batches: list[list[str]] = []
        for _, pids in sorted(groups.items(), key=lambda kv: kv[0] is None):
            batch: list[str] = []
            for pid in pids:
                if batch and len(_conv_query(batch + [pid], suffix)) > SEARCH_QUERY_MAX:
                    batches.append(batch)
                    batch = []
                batch.append(pid)
            if batch:
                batches.append(batch)
        client = self._read_client()
        for batch in batches:
            wins = [convs[p]["window"] for p in batch]
            group = _Window(since_id=min((w.since_id or p for w, p in zip(wins, batch)), key=int),
                            until_id=wins[0].until_id,
                            pending_since_id=_max_id(*(w.pending_since_id for w in wins)))
            done = False
            try:
                done = self._read_stream(run, "search", client.search_recent_tweets, group, now,
                                         query=_conv_query(batch, suffix))
            finally:
                for w in wins:
                    w.follow(group)
            if not done:
                return

    # ------------------------------------------------------------------ mapping
    def _quarantine(self, run: _Run, t: Any, kind: str, reason: str) -> None:
        """Keep a post that could not be mapped, as X returned it, for the pipeline's
        quarantine."""
        conv = t.get("conversation_id") if isinstance(t, Mapping) else None
        tid = t.get("id") if isinstance(t, Mapping) else None
        raw = _raw(t) if isinstance(t, Mapping) else t
        run.quarantined.append(QuarantinedPayload(
            platform=PLATFORM, account=self.cfg.name, kind=kind,
            post_id=str(conv) if _is_id(conv) else (str(tid) if kind == "post" and _is_id(tid) else None),
            item_id=str(tid) if _is_id(tid) else None, reason=reason, raw=raw))

    def _post(self, t: Mapping[str, Any], username: str, run: _Run) -> Post | None:
        try:
            created = parse_time(t["created_at"])
        except (KeyError, ValueError, TypeError):
            run.warnings.append(f"X post {t.get('id')}: no valid created_at; quarantined")
            self._quarantine(run, t, "post", f"X post {t.get('id')}: missing or invalid created_at")
            return None
        raw = _raw(t)
        return Post(platform=PLATFORM, account=self.cfg.name, post_id=str(t["id"]), text=_full_text(t),
                    created_at=created, permalink=f"https://x.com/{username}/status/{t['id']}", raw=raw)

    def _comment(self, t: Mapping[str, Any], texts: Mapping[str, str], run: _Run) -> Comment | None:
        tid = str(t["id"])
        refs = t.get("referenced_tweets") if isinstance(t.get("referenced_tweets"), list) else []
        if any(isinstance(r, dict) and r.get("type") == "retweeted" for r in refs):
            return None  # a retweet repeats another post's words; the original is what counts
        author_id = t.get("author_id")
        try:
            created = parse_time(t["created_at"])
        except (KeyError, ValueError, TypeError):
            created = None
        if not _is_id(author_id) or created is None or not isinstance(t.get("text"), str):
            missing = ("author_id" if not _is_id(author_id) else "created_at" if created is None else "text")
            run.warnings.append(f"X post {tid}: missing or invalid {missing}; quarantined")
            self._quarantine(run, t, "comment", f"X post {tid}: missing or invalid {missing}")
            return None
        inc = t.get("_includes") or {}
        author = (inc.get("users") or [{}])[0]
        handle = author.get("username") if isinstance(author.get("username"), str) else None
        conversation = str(t["conversation_id"]) if _is_id(t.get("conversation_id")) else tid
        parent = next((str(r["id"]) for r in refs
                       if isinstance(r, dict) and r.get("type") == "replied_to" and _is_id(r.get("id"))), None)
        if parent == conversation:
            parent = None  # a direct reply to the school's post is a top-level comment
        attachments = tuple(_attachment(m) for m in inc.get("media") or [])
        keys = _media_keys(t)
        if len(attachments) < len(keys):  # media not expanded: still record that there was some
            attachments += tuple(Attachment(type="other") for _ in range(len(keys) - len(attachments)))
        return Comment(
            platform=PLATFORM, account=self.cfg.name, post_id=conversation, comment_id=tid, parent_id=parent,
            author_id=f"tw:{author_id}", author_name=str(author.get("name") or ""), text=_full_text(t),
            created_at=created,
            permalink=f"https://x.com/{handle}/status/{tid}" if handle else f"https://x.com/i/web/status/{tid}",
            attachments=attachments, raw=_raw(t), post_text=texts.get(conversation), author_handle=handle,
        )

    # ------------------------------------------------------------------ check and actions
    def check(self) -> list[CheckResult]:
        """Verify the bearer token (user lookup, no post read) and the user-context tokens
        when they are configured (``GET /2/users/me`` must be the school's account: needed
        to hide replies and for owned reads). Without user-context tokens, a warning says
        that mentions and the school's timeline are read with the bearer token at the
        full post price. Never raises: each failure is a ``CheckResult`` with ``ok=False``
        and one line."""
        name = f"x:{self.cfg.name}"
        results: list[CheckResult] = []
        try:
            user = self._lookup_user(None)
        except ConnectorError as exc:
            results.append(CheckResult(f"{name} bearer token", False, str(exc)))
            user = None
        else:
            ok = not (self.cfg.handle and user["username"].lower() != self.cfg.handle.lstrip("@").lower())
            detail = (f"bearer token accepted; @{user['username']} is user {user['id']}" if ok else
                      f"bearer token accepted, but user {user['id']} is @{user['username']}, not the configured "
                      f"handle @{self.cfg.handle.lstrip('@')}")  # type: ignore[union-attr]
            results.append(CheckResult(f"{name} bearer token", ok, detail))
        label = f"{name} user context ({'hide replies, ' if self.cfg.hide_enabled else ''}owned reads)"
        if not self.user_context:
            if self.cfg.hide_enabled:
                missing = [k for k in _USER_SECRETS if k not in self.cfg.secrets]
                results.append(CheckResult(label, False, f"hide_enabled needs the user-context secrets; missing: "
                                                         f"{', '.join(missing)}"))
            else:
                results.append(CheckResult(
                    label, True, "no user-context tokens (consumer_key, consumer_secret, access_token, "
                    "access_token_secret): mentions and the school's own posts are read with the bearer token, "
                    f"billed as post reads (${PRICE_POST_READ / 1e6:.3f} each) instead of owned reads "
                    f"(${PRICE_OWNED_READ / 1e6:.3f}); see the README, 'Credentials to create'", warning=True))
            return results
        try:
            me = self._call(None, "me", self._user_client().get_me, user_auth=True).get("data") or {}
        except ConnectorError as exc:
            results.append(CheckResult(label, False, str(exc)))
            return results
        school_id = user["id"] if user else self.cfg.user_id
        if school_id and str(me.get("id")) != school_id:
            results.append(CheckResult(
                label, False,
                f"the access token belongs to @{me.get('username')} (user {me.get('id')}), not the school's "
                f"account {school_id}: X only lets the account that started a conversation hide its replies, "
                "and only the school's own tokens make its mentions and posts owned reads"))
        else:
            results.append(CheckResult(label, True, f"user-context tokens accepted for @{me.get('username')}: "
                                                    "mentions and the school's posts are read as owned reads"))
        return results

    def hide(self, comment_id: str, hidden: bool = True) -> None:
        """Hide (or unhide) a reply to one of the school's posts: ``PUT /2/tweets/:id/hidden``
        with user-context credentials.

        :raises ConnectorError: ``refused`` when ``hide_enabled`` is off, the id is not an X
            post id, or X refuses (not a reply in the school's conversation); ``auth``,
            ``rate_limit``, ``transient`` as for reading.
        """
        verb = "hide" if hidden else "unhide"
        if not self.cfg.hide_enabled:
            raise ConnectorError(f"not allowed to {verb} X reply {comment_id}: hiding is off for account "
                                 f"{self.cfg.name!r} (set hide_enabled = true and the four user-context secrets)",
                                 platform=PLATFORM, kind="refused", permanent=True)
        if not str(comment_id).isdigit():
            raise ConnectorError(f"cannot {verb} {comment_id!r}: not an X post id", platform=PLATFORM,
                                 kind="refused", permanent=True)
        client = self._user_client()
        fn = client.hide_reply if hidden else client.unhide_reply
        resp = self._call(None, "hide", fn, str(comment_id), user_auth=True)
        if (resp.get("data") or {}).get("hidden") is not hidden:
            raise ConnectorError(f"X did not confirm {verb} of reply {comment_id} (answer: {resp.get('data')})",
                                 platform=PLATFORM, kind="refused", permanent=False)

    def block(self, author_id: str, *, handle: str | None = None) -> str:
        """X removed blocking from the X API v2 (no block endpoint at any access level; tweepy
        4.15 removed ``Client.block`` with it), so this always raises, telling a person how
        to block in the X app.

        :param author_id: ``tw:<id>`` or the bare X user id; ``handle`` the username if known.
        :raises ConnectorError: ``kind="refused"`` (permanent) whose message has the steps
            and the profile link.
        """
        uid = str(author_id).split(":", 1)[-1]
        link = f"https://x.com/{handle.lstrip('@')}" if handle else f"https://x.com/i/user/{uid}"
        who = f"@{handle.lstrip('@')}" if handle else f"user {uid}"
        school = f"@{self.cfg.handle.lstrip('@')}" if self.cfg.handle else "the school's account"
        raise ConnectorError(
            f"X does not allow blocking through its API (blocking was removed from the X API v2). To block {who}: "
            f"sign in to X as "
            f"{school}, open {link}, tap the ⋯ (More) button on the profile and choose Block",
            platform=PLATFORM, kind="refused", permanent=True)


# ---------------------------------------------------------------------- helpers
class _Stub429:
    """Stands in for a 429 response whose reset header tweepy could not parse."""

    status_code = 429
    reason = "Too Many Requests"

    def json(self) -> dict[str, Any]:
        return {"title": "Too Many Requests"}


def _is_id(v: Any) -> bool:
    return isinstance(v, (str, int)) and str(v).isdigit()


def _id_or_none(v: Any) -> str | None:
    return str(v) if _is_id(v) else None


def _max_id(*ids: str | None) -> str | None:
    real = [str(i) for i in ids if i is not None and _is_id(i)]
    return max(real, key=int) if real else None


def _status(exc: tweepy.HTTPException) -> int | None:
    return getattr(exc.response, "status_code", None)


def _problem_code(exc: tweepy.HTTPException) -> int | str | None:
    if exc.api_codes:
        return exc.api_codes[0]
    try:
        body = exc.response.json()
    except (ValueError, AttributeError):
        return None
    if isinstance(body, dict):
        return body.get("reason") or body.get("title")
    return None


def _conv_query(pids: list[str], suffix: str) -> str:
    clauses = " OR ".join(f"conversation_id:{p}" for p in pids)
    return (f"({clauses})" if len(pids) > 1 else clauses) + suffix


def _load_conversations(d: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(d, Mapping):
        return out
    for pid, c in d.items():
        if not _is_id(pid) or not isinstance(c, Mapping):
            continue
        try:
            created = iso(parse_time(str(c.get("created_at"))))
        except ValueError:
            continue
        win = _Window.load(c)
        if win.since_id is None:
            win.since_id = str(pid)
        out[str(pid)] = {"created_at": created, "text": str(c.get("text") or ""), "window": win}
    return out


def _expanded(t: Mapping[str, Any], includes: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The author and media objects of ``includes`` that tweet ``t`` refers to."""
    users = {str(u.get("id")): u for u in _dicts(includes.get("users"))}
    media = {m.get("media_key"): m for m in _dicts(includes.get("media"))}
    author = users.get(str(t.get("author_id")))
    return {"users": [author] if author else [], "media": [media[k] for k in _media_keys(t) if k in media]}


def _dicts(v: Any) -> list[dict[str, Any]]:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def _media_keys(t: Mapping[str, Any]) -> list[str]:
    att = t.get("attachments")
    keys = att.get("media_keys") if isinstance(att, dict) else None
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []


def _raw(t: Mapping[str, Any]) -> dict[str, Any]:
    """The evidence payload: the tweet JSON and its expanded author and media, in the shape
    of a single-post lookup (``GET /2/tweets/:id``) response."""
    data = {k: v for k, v in t.items() if k != "_includes"}
    inc = {k: v for k, v in (t.get("_includes") or {}).items() if v}
    return {"data": data, "includes": inc} if inc else {"data": data}


def _attachment(m: Mapping[str, Any]) -> Attachment:
    """A media object of ``includes.media`` as an :class:`Attachment`: a photo's ``url``; for
    a video or GIF the mp4 of the highest ``bit_rate`` among its ``variants`` (media field
    ``variants``), else its ``preview_image_url`` (a still)."""
    kind = m.get("type")
    url = m.get("url")
    if kind in ("video", "animated_gif"):
        mp4 = [v for v in _dicts(m.get("variants")) if v.get("content_type") == "video/mp4"
               and isinstance(v.get("url"), str)]
        if mp4:
            best = max(mp4, key=lambda v: v.get("bit_rate") if isinstance(v.get("bit_rate"), int) else -1)
            url = best["url"]
    url = url or m.get("preview_image_url")
    return Attachment(type=kind if kind in ("photo", "video", "animated_gif") else "other", url=url)


def _full_text(t: Mapping[str, Any]) -> str:
    """A post's whole text: ``note_tweet.text`` for a long post (over 280 characters, whose
    ``text`` X cuts), else ``text``."""
    note = t.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str) and note["text"]:
        return note["text"]
    return str(t.get("text", ""))


def _problem_type(exc: tweepy.HTTPException) -> str | None:
    """The last segment of the problem ``type`` of an error body (e.g. ``usage-capped``)."""
    try:
        body = exc.response.json()
    except (ValueError, AttributeError):
        return None
    if isinstance(body, dict) and isinstance(body.get("type"), str) and "/problems/" in body["type"]:
        return body["type"].rsplit("/", 1)[-1]
    return None


def _usage_capped(exc: tweepy.HTTPException) -> bool:
    """A 429 (or other error) that is X's spending stop, not a rate limit: problem type
    ``usage-capped``, title ``UsageCapExceeded``, or a detail about credits."""
    if _problem_type(exc) == "usage-capped":
        return True
    try:
        body = exc.response.json()
    except (ValueError, AttributeError):
        return False
    if not isinstance(body, dict):
        return False
    words = f"{body.get('title', '')} {body.get('detail', '')}".lower()
    return "usagecapexceeded" in words or "usage cap" in words or "credit" in words

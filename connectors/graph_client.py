"""A small Graph API client on httpx: auth, timeouts, retries, error mapping, usage headers.

Used by :class:`connectors.facebook.FacebookConnector` and
:class:`connectors.instagram.InstagramConnector` (the Instagram API with Facebook Login is
served by the same ``graph.facebook.com`` with the same errors and usage headers); nothing
here knows about posts or comments. :func:`graph_pages` is the one bounded ``paging.next``
walker both connectors use. Source: Meta Graph API (``https://graph.facebook.com/{version}/...``, version
pinned by config, default ``v23.0``), error codes from the Graph API "Handling Errors"
and "Rate Limiting" documentation.

Why httpx and not facebook-sdk: facebook-sdk 3.1.0 rejects every current Graph API
version, sets no timeout, loses the HTTP status of HTML error pages and puts the token in
exception text (see the README's dependency notes).

Secrets
-------
The Page access token travels in the ``Authorization: Bearer`` header, never in a URL we
build. ``appsecret_proof`` (HMAC-SHA256 of the token keyed with the app secret, hex) is a
query parameter, as the Graph API requires. ``paging.next`` URLs are followed exactly as
given (httpx 0.28 replaces a URL's query string when ``params`` is passed, so none is),
and only on the API root's scheme, host and port (the token goes with every request);
those URLs may carry ``access_token=``, so every URL that reaches an error message or a log
line goes through :func:`redact`, and httpx's own request log lines are redacted by a
filter installed on the ``httpx`` logger.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

import httpx

from connectors.base import ConnectorError

PLATFORM = "facebook"
DEFAULT_BASE_URL = "https://graph.facebook.com"

#: Graph error codes meaning "too many calls" (app, user, page, custom-level and Pages
#: business-use-case throttling). Retrying later helps.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001})
#: Rate-limit codes counted over the Page's 24-hour window (32: Page-level, 80001: Pages
#: Business Use Case); without a regain time from Graph, the retry waits an hour.
DAILY_WINDOW_CODES = frozenset({32, 80001})

#: Length of the rolling window of each usage header (Graph API "Rate Limiting"): the
#: Platform limit of ``x-app-usage`` is a rolling hour; Page access tokens fall under the
#: Business Use Case limits (``x-business-use-case-usage``, Pages: a rolling 24 hours),
#: as did the older Page-level ``x-page-usage``.
USAGE_WINDOW_SECONDS = {"x-app-usage": 3600.0, "x-page-usage": 86400.0, "x-business-use-case-usage": 86400.0}

#: Graph error 190 subcodes in words (Graph API "Handling Errors", authentication error
#: subcodes), for the reconnect alert.
AUTH_SUBCODE_WORDS = {
    458: "the app was removed by the person who generated the token",
    459: "Facebook has checkpointed the account of the person who generated the token: they must log in "
         "to facebook.com and follow the steps shown",
    460: "the password of the person who generated the token was changed",
    463: "the token has expired",
    464: "the person who generated the token has not confirmed their Facebook account",
    467: "the token is no longer valid: the person who generated it logged out of Facebook, or it was revoked",
    492: "the session is no longer valid: the role of the person who generated the token on the Page changed "
         "(for example they are no longer a Page admin or lost full control of the Page)",
}
#: Graph error codes meaning a permission is missing (10: "Application does not have
#: permission for this action", 200-299: permission errors).
PERMISSION_CODES = frozenset({10, *range(200, 300)})
#: Graph error codes the API itself calls temporary (1 unknown, 2 service, 341 limit).
TRANSIENT_CODES = frozenset({1, 2, 341})

#: Usage percentage (max over x-app-usage / x-business-use-case-usage values) at which
#: the client starts pausing between calls, and at which a poll stops early.
SLOW_AT_PCT = 75.0
STOP_AT_PCT = 95.0

#: Pages followed in one listing at most (50,000 items at 100 a page): a guard against
#: endless paging.
MAX_PAGES = 500
#: Empty pages in a row that still carry ``paging.next`` followed before a listing is given
#: up as incomplete (Graph returns ``{"data": [], "paging": {"next": ...}}`` when privacy
#: filtering empties a page, with more after it).
MAX_EMPTY_PAGES = 10

_log = logging.getLogger(__name__)

_SECRET_PARAM_RE = re.compile(r"(access_token|appsecret_proof|input_token|client_secret)=[^&\s\"'<>]*",
                              re.IGNORECASE)
_BEARER_RE = re.compile(r"(Bearer|OAuth)\s+[A-Za-z0-9._\-|%]{16,}")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Return ``text`` with secret query parameters (``access_token=``,
    ``appsecret_proof=``, ``input_token=``), ``Bearer <token>`` and each literal value of
    ``secrets`` replaced by ``[redacted]``. Pure; safe on any string."""
    out = _SECRET_PARAM_RE.sub(r"\1=[redacted]", text)
    out = _BEARER_RE.sub(r"\1 [redacted]", out)
    for s in secrets:
        if s and len(s) >= 4:
            out = out.replace(s, "[redacted]")
    return out


def scrub(value: Any, secrets: tuple[str, ...] = ()) -> Any:
    """Deep-copy a JSON-able value with :func:`redact` applied to every string that
    could hold a secret (used on raw payloads before they are kept as evidence)."""
    if isinstance(value, str):
        if "=" in value or "earer" in value or any(s and s in value for s in secrets):
            return redact(value, secrets)
        return value
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


def describe_url(method: str, url: str | httpx.URL) -> str:
    """``"GET /v23.0/1000/posts"``: method and path only (no host, no query), for messages."""
    try:
        path = urlsplit(str(url)).path or "/"
    except ValueError:
        path = "<unparseable URL>"
    return f"{method} {path}"


class _RedactHttpxLog(logging.Filter):
    """Redacts secrets from httpx's ``HTTP Request: GET <url> ...`` INFO lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(str(a)) if isinstance(a, (str, httpx.URL)) else a for a in args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_log_redaction() -> None:
    """Install (once) the redacting filter on the ``httpx`` and ``httpcore`` loggers."""
    for name in ("httpx", "httpcore"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, _RedactHttpxLog) for f in lg.filters):
            lg.addFilter(_RedactHttpxLog())


@dataclass(frozen=True)
class Usage:
    """Rate-limit usage read from one response's headers.

    :ivar pct: the highest percentage (0..100+) among ``call_count``, ``total_time`` and
        ``total_cputime`` of ``x-app-usage``, ``x-page-usage`` and every entry of
        ``x-business-use-case-usage``.
    :ivar source: which header and field gave ``pct``, e.g. ``"x-app-usage call_count"``.
    :ivar regain_seconds: ``estimated_time_to_regain_access`` (minutes in the header)
        converted to seconds; 0 when not throttled.
    :ivar window_seconds: the rolling window of the header that gave ``pct``
        (:data:`USAGE_WINDOW_SECONDS`: an hour for ``x-app-usage``, 24 hours for the
        Business Use Case and Page headers).
    """

    pct: float
    source: str
    regain_seconds: float = 0.0
    window_seconds: float = 3600.0

    def describe(self) -> str:
        """``"x-app-usage call_count 85%"``."""
        text = f"{self.source} {self.pct:.0f}%"
        if self.regain_seconds:
            text += f", access regained in {self.regain_seconds / 60:.0f} min"
        return text


def parse_usage(headers: Mapping[str, str]) -> Usage | None:
    """Read the Graph API usage headers (pure).

    ``x-app-usage`` / ``x-page-usage``: ``{"call_count": 28, "total_time": 25,
    "total_cputime": 25}`` (percent of the app's hourly allowance).
    ``x-business-use-case-usage``: ``{"<page-id>": [{"type": "pages", "call_count": 1,
    "total_cputime": 1, "total_time": 1, "estimated_time_to_regain_access": 0}]}``.
    Malformed header values are ignored. Returns None when no header is present.
    """
    best: Usage | None = None
    regain = 0.0

    def consider(obj: Any, header: str) -> None:
        nonlocal best, regain
        if not isinstance(obj, dict):
            return
        for fld in ("call_count", "total_time", "total_cputime"):
            v = obj.get(fld)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if best is None or v > best.pct:
                    best = Usage(float(v), f"{header} {fld}", window_seconds=USAGE_WINDOW_SECONDS[header])
        r = obj.get("estimated_time_to_regain_access")
        if isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0:
            regain = max(regain, float(r) * 60.0)

    for header in ("x-app-usage", "x-page-usage"):
        raw = headers.get(header)
        if raw:
            try:
                consider(json.loads(raw), header)
            except ValueError:
                pass
    raw = headers.get("x-business-use-case-usage")
    if raw:
        try:
            buc = json.loads(raw)
        except ValueError:
            buc = None
        if isinstance(buc, dict):
            for entries in buc.values():
                for entry in entries if isinstance(entries, list) else [entries]:
                    consider(entry, "x-business-use-case-usage")
    if best is None and not regain:
        return None
    if best is None:
        best = Usage(100.0, "x-business-use-case-usage estimated_time_to_regain_access",
                     window_seconds=USAGE_WINDOW_SECONDS["x-business-use-case-usage"])
    return Usage(best.pct, best.source, regain, best.window_seconds)


def pause_for(usage: Usage | None) -> float:
    """Seconds to wait between calls at this usage (pure): 0 below 75%, then 0.5 s per
    point above 74% (about 10 s at 94%); at or above 95% the caller stops instead."""
    if usage is None or usage.pct < SLOW_AT_PCT:
        return 0.0
    return min(15.0, 0.5 * (usage.pct - SLOW_AT_PCT + 1))


def backoff_after(usage: Usage | None) -> float | None:
    """Seconds the scheduler should wait before the next poll at this usage (pure), or
    None when usage is comfortable.

    Per point above 75%: the time one point of the header's rolling window takes to age
    out (``window_seconds / 100``: 864 s for the 24-hour Business Use Case window of a Page
    token), and at least 90 s (the hourly ``x-app-usage``); at least 60 s in all, and never
    less than Graph's ``estimated_time_to_regain_access``."""
    if usage is None:
        return None
    if usage.regain_seconds:
        return max(usage.regain_seconds, 60.0)
    if usage.pct < SLOW_AT_PCT:
        return None
    per_point = max(90.0, usage.window_seconds / 100.0)
    return max(60.0, per_point * (usage.pct - SLOW_AT_PCT))


def auth_subcode_words(subcode: Any) -> str | None:
    """What a Graph error 190 ``error_subcode`` means, in words (pure); None when unknown."""
    try:
        return AUTH_SUBCODE_WORDS.get(int(subcode))
    except (TypeError, ValueError):
        return None


#: Which permission a failed call most likely lacks, by what the call was doing.
PERMISSION_FOR_ACTION = {
    "read_page": "pages_read_engagement",
    "read_posts": "pages_read_engagement",
    "read_comments": "pages_read_user_content",
    "hide": "pages_manage_engagement",
    "block": "pages_manage_engagement",
    "debug_token": "pages_read_engagement",
    # Instagram API with Facebook Login (connectors.instagram)
    "ig_read_account": "instagram_basic",
    "ig_read_media": "instagram_basic",
    "ig_read_comments": "instagram_manage_comments",
    "ig_hide": "instagram_manage_comments",
}
_PERM_IN_MESSAGE_RE = re.compile(
    r"\b(pages_[a-z_]+|instagram_[a-z_]+|read_insights|business_management|public_profile)\b")


def error_from_graph(status: int, error: Mapping[str, Any], *, action: str, where: str,
                     headers: Mapping[str, str] | None = None,
                     secrets: tuple[str, ...] = (), platform: str = PLATFORM) -> ConnectorError:
    """Map a Graph API error object (``{"message", "type", "code", "error_subcode",
    "fbtrace_id", "is_transient"}``) to a :class:`ConnectorError` (pure).

    * 190: ``auth``, permanent ("reconnect the Page: generate a new Page access token"),
      with the subcode (460, 463, 467, 492 ...) in words (:data:`AUTH_SUBCODE_WORDS`).
    * 4, 17, 32, 613, 80001 (and HTTP 429): ``rate_limit`` with ``retry_after``
      (``Retry-After``, else Graph's regain time, else 15 min for 4/17, an hour for the
      24-hour codes 32/80001, 5 min otherwise).
    * 10, 200-299: ``permission``, permanent, naming the permission (from the message
      when Graph names one, else the one ``action`` needs).
    * 100 with subcode 33 (object missing or not visible): ``not_found``.
    * 1, 2, 341, ``is_transient`` or HTTP 5xx: ``transient``.
    * anything else: ``refused`` (the platform refused the request as made).

    :param action: what was being done (a key of :data:`PERMISSION_FOR_ACTION`).
    :param where: ``describe_url`` text for the message.
    :param platform: the :attr:`ConnectorError.platform` to report (``facebook``, or
        ``instagram`` for the Instagram professional account read through the same Graph API).
    """
    try:
        code = int(error.get("code"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        code = None
    sub = error.get("error_subcode")
    gmsg = redact(str(error.get("message") or "no message"), secrets)
    trace = error.get("fbtrace_id")
    detail = f"{gmsg} (Graph {code}" + (f"/{sub}" if sub else "") + (f", fbtrace_id {trace})" if trace else ")")
    if code == 190 or status == 401:
        words = auth_subcode_words(sub)
        why = f" because {words}" if words else ""
        return ConnectorError(
            f"Page access token refused on {where}{why}: {detail}; reconnect the Page: generate a "
            "new Page access token (Meta Business Suite / Graph API Explorer) and update the "
            "account's token; polling is paused until `school-monitor check` passes",
            platform=platform, kind="auth", permanent=True, status=status, code=code or 190)
    if code in RATE_LIMIT_CODES or status == 429:
        usage = parse_usage(headers or {})
        retry = None
        if headers and headers.get("retry-after", "").strip().isdigit():
            retry = float(headers["retry-after"])
        if retry is None and usage is not None and usage.regain_seconds:
            retry = usage.regain_seconds
        if retry is None:
            retry = 3600.0 if code in DAILY_WINDOW_CODES else 900.0 if code in (4, 17) else 300.0
        return ConnectorError(
            f"rate limited on {where}: {detail}; retry in {retry:.0f} s",
            platform=platform, kind="rate_limit", retry_after=retry, status=status, code=code)
    if code in PERMISSION_CODES:
        named = _PERM_IN_MESSAGE_RE.search(gmsg)
        perm = named.group(1) if named else PERMISSION_FOR_ACTION.get(action, "pages_read_engagement")
        return ConnectorError(
            f"missing permission {perm} on {where}: {detail}. Grant {perm} to the app and "
            "generate a new Page access token",
            platform=platform, kind="permission", permanent=True, status=status, code=code)
    if code == 100 and sub == 33:
        return ConnectorError(f"not found on {where}: {detail}", platform=platform,
                              kind="not_found", status=status, code=code)
    if code in TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
        return ConnectorError(f"temporary Graph API error on {where}: {detail}", platform=platform,
                              kind="transient", retry_after=60.0, status=status, code=code)
    return ConnectorError(f"Graph API refused {where}: {detail}", platform=platform,
                          kind="refused", status=status, code=code)


class GraphClient:
    """One Page's HTTP client for the Graph API.

    :param base_url: API root (``https://graph.facebook.com``; a loopback URL in tests).
    :param version: Graph API version, e.g. ``"v23.0"``.
    :param token: the Page access token (kept only in memory, sent as a Bearer header).
    :param app_secret: when given, ``appsecret_proof`` is added to every request.
    :param timeout: seconds for connect, read, write and pool waits of every call.
    :param transport: an ``httpx.BaseTransport`` (``httpx.MockTransport`` in tests).
    :param sleep: ``time.sleep`` or a test double; used for retry backoff and pacing.
    :param max_attempts: tries per call for transient failures (5xx, HTML pages,
        timeouts, network errors, malformed JSON); backoff 1 s, 2 s, 4 s ...
    :param platform: the platform named in every :class:`ConnectorError` (``facebook``;
        ``instagram`` for an Instagram professional account read with the same Graph API).
    :ivar calls: HTTP requests sent so far (retries included).
    :ivar usage: the :class:`Usage` of the latest response, or None when it had no
        usage headers.
    :ivar api_version: the ``facebook-api-version`` header of the latest response that had
        one (the version that served the call: Meta serves calls to an expired version
        with the oldest one available), or None. Logged (logger ``connectors.graph_client``)
        when first seen and whenever it changes.
    """

    def __init__(self, *, base_url: str, version: str, token: str, app_secret: str | None = None,
                 timeout: float = 20.0, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_attempts: int = 3,
                 backoff: float = 1.0, platform: str = PLATFORM):
        self.platform = platform
        self.root = base_url.rstrip("/") + "/" + version.strip("/")
        self._token = token
        self._secrets = tuple(s for s in (token, app_secret) if s)
        self._app_secret = app_secret
        self._proof = (hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
                       if app_secret else None)
        if self._proof:
            self._secrets += (self._proof,)
        self._sleep = sleep
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.version = version.strip("/")
        self.calls = 0
        self.usage: Usage | None = None
        self.api_version: str | None = None
        install_log_redaction()
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                     "User-Agent": "school-social-monitor"},
            follow_redirects=False,
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to redact from any text (token, app secret, proof)."""
        return self._secrets

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    # -- public calls -----------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None, *, action: str,
            token: str | None = None) -> dict:
        """``GET {root}/{path}`` with ``params``; returns the decoded JSON object.

        :param token: send this access token instead of the Page token (``debug_token``
            takes an app token ``{app-id}|{app-secret}``); ``appsecret_proof`` is then
            computed for it. It is redacted like the Page token.
        :raises ConnectorError: see :func:`error_from_graph`; ``transient`` after
            ``max_attempts`` tries for 5xx, HTML, timeouts and malformed JSON.
        """
        return self._call("GET", f"{self.root}/{path.lstrip('/')}", params=dict(params or {}), action=action,
                          token=token)

    def get_url(self, url: str, *, action: str) -> dict:
        """Follow a ``paging.next`` URL exactly as given (no ``params``: httpx 0.28 would
        replace its query string). ``appsecret_proof`` is appended only if missing.

        :raises ConnectorError: ``refused``, before anything is sent, when the URL is not on
            the API root's scheme, host and port (another host, plain http when the API is
            https): the token would go with it. The message names the URL's host only.
        """
        self._check_origin(url)
        if self._proof and "appsecret_proof=" not in url:
            url += ("&" if "?" in url else "?") + f"appsecret_proof={self._proof}"
        return self._call("GET", url, params=None, action=action)

    def post(self, path: str, data: Mapping[str, Any], *, action: str,
             params: Mapping[str, Any] | None = None) -> dict:
        """``POST {root}/{path}`` with form ``data`` and query ``params`` (Instagram's
        ``POST /{ig-comment-id}?hide=true``); returns the decoded JSON object."""
        return self._call("POST", f"{self.root}/{path.lstrip('/')}", params=dict(params or {}), data=dict(data),
                          action=action)

    # -- internals ----------------------------------------------------------------------
    def _check_origin(self, url: str) -> None:
        """Refuse a URL that is not on ``self.root``'s scheme, host and port."""
        root = httpx.URL(self.root)
        try:
            u = httpx.URL(url)
            where = (u.scheme, u.host, u.port)
        except (httpx.InvalidURL, ValueError, TypeError):
            u, where = None, None
        if where == (root.scheme, root.host, root.port):
            return
        if u is None:
            shown = "an unusable URL (unparseable)"
        else:
            host = (u.host or "no host") + (f":{u.port}" if u.port else "")
            shown = f"{u.scheme or 'no scheme'} URL on {host}"
        origin = f"{root.scheme}://{root.host}" + (f":{root.port}" if root.port else "")
        raise ConnectorError(f"refused to follow paging.next to {redact(shown, self._secrets)}: the Page token is "
                             f"only sent to {origin}", platform=self.platform, kind="refused")

    def _call(self, method: str, url: str, *, params: dict | None, action: str,
              data: dict | None = None, token: str | None = None) -> dict:
        where = describe_url(method, url)
        headers = None
        if token is not None and token != self._token:
            if token not in self._secrets:
                self._secrets += (token,)
            headers = {"Authorization": f"Bearer {token}"}
        if params is not None and self._proof:
            params["appsecret_proof"] = self._proof if headers is None else hmac.new(
                self._app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()  # type: ignore[union-attr]
        last: ConnectorError | None = None
        for attempt in range(1, self.max_attempts + 1):
            pause = pause_for(self.usage)
            if pause:
                self._sleep(pause)
            self.calls += 1
            try:
                if params is None:
                    resp = self._http.request(method, url, data=data, headers=headers)
                else:
                    resp = self._http.request(method, url, params=params, data=data, headers=headers)
            except httpx.TimeoutException as exc:
                last = ConnectorError(f"timed out ({type(exc).__name__}) on {where}", platform=self.platform,
                                      kind="transient", retry_after=60.0)
            except httpx.HTTPError as exc:
                # exc text may contain the URL (and a next URL's access_token): never use it.
                last = ConnectorError(f"network error ({type(exc).__name__}) on {where}", platform=self.platform,
                                      kind="transient", retry_after=60.0)
            except (httpx.InvalidURL, ValueError) as exc:
                raise ConnectorError(f"unusable URL ({type(exc).__name__}) for {where}", platform=self.platform,
                                     kind="refused") from None
            else:
                self.usage = parse_usage(resp.headers)  # the latest response is authoritative
                self._note_version(resp.headers.get("facebook-api-version"))
                result, err = self._decode(resp, where, action)
                if err is None:
                    return result
                if err.kind != "transient":
                    raise err
                last = err
            if attempt < self.max_attempts:
                self._sleep(self.backoff * 2 ** (attempt - 1))
        assert last is not None
        raise ConnectorError(f"{last.args[0]} (gave up after {self.max_attempts} tries)", platform=self.platform,
                             kind="transient", retry_after=last.retry_after or 60.0,
                             status=last.status, code=last.code)

    def _note_version(self, served: str | None) -> None:
        if not served or not isinstance(served, str):
            return
        served = served.strip()[:16]
        if served != self.api_version:
            self.api_version = served
            _log.log(logging.INFO if served == self.version else logging.WARNING,
                     "facebook-api-version %s (pinned %s)", served, self.version)

    def _decode(self, resp: httpx.Response, where: str, action: str) -> tuple[dict, ConnectorError | None]:
        status = resp.status_code
        ctype = resp.headers.get("content-type", "")
        try:
            body = resp.json()
        except (ValueError, RecursionError):  # not JSON, bad encoding, absurd nesting
            body = None
        if not isinstance(body, dict):
            looks_html = "html" in ctype or resp.content[:200].lstrip().lower().startswith((b"<!doctype", b"<html"))
            what = "an HTML page" if looks_html else ("a non-object JSON body" if body is not None
                                                        else "malformed JSON")
            kind = "transient" if status >= 500 or status < 400 or looks_html or status == 429 else "refused"
            if status == 429:
                return {}, error_from_graph(status, {"message": f"HTTP 429 with {what}"}, action=action,
                                            where=where, headers=resp.headers, secrets=self._secrets,
                                            platform=self.platform)
            return {}, ConnectorError(f"unexpected response on {where}: {what}", platform=self.platform, kind=kind,
                                      retry_after=60.0 if kind == "transient" else None, status=status)
        if "error" in body and isinstance(body["error"], dict):
            return {}, error_from_graph(status, body["error"], action=action, where=where,
                                        headers=resp.headers, secrets=self._secrets, platform=self.platform)
        if status >= 500:
            return {}, ConnectorError(f"server error on {where}", platform=self.platform, kind="transient",
                                      retry_after=60.0, status=status)
        if status >= 400:
            return {}, error_from_graph(status, {"message": f"HTTP {status} without a Graph error"},
                                        action=action, where=where, headers=resp.headers, secrets=self._secrets,
                                        platform=self.platform)
        return body, None


def graph_pages(client: "GraphClient", path: str, params: Mapping[str, Any], *, action: str,
                check: Callable[[], None] | None = None, summary_out: dict | None = None,
                max_pages: int = MAX_PAGES, max_empty_pages: int = MAX_EMPTY_PAGES) -> Iterator[list]:
    """Yield each page's ``data`` list of a Graph listing (``GET /{path}`` with ``params``),
    following ``paging.next`` exactly as given, past empty pages too (Graph may return
    ``{"data": [], "paging": {"next": ...}}`` with more after it). Graph's
    ``paging.cursors.after`` is already inside ``next``; no ``next`` means the last page.

    Stops when there is no ``next``. Loop guards, after which ``summary_out["looped"]`` is
    set True (the listing is incomplete): a ``next`` URL repeats, ``max_pages`` were read,
    ``max_empty_pages`` empty pages came in a row, or ``next`` is not a string. The first
    page's ``summary`` object, if any, is kept in ``summary_out["summary"]``.

    :param check: called before each further page (a connector's call budget; may raise).
    :raises ConnectorError: ``transient`` (platform ``client.platform``) when a page has no
        ``data`` list; others from :meth:`GraphClient.get` / :meth:`GraphClient.get_url`.
    """
    body = client.get(path, params, action=action)
    seen_next: set[str] = set()
    empty_run = 0
    while True:
        data = body.get("data")
        if not isinstance(data, list):
            raise ConnectorError(f"unexpected response on GET /{path}: no data list", platform=client.platform,
                                 kind="transient", retry_after=60.0)
        if summary_out is not None and isinstance(body.get("summary"), dict) and "summary" not in summary_out:
            summary_out["summary"] = body["summary"]
        yield data
        paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
        nxt = paging.get("next")
        if nxt is not None and not isinstance(nxt, str):
            if summary_out is not None:
                summary_out["looped"] = True  # unusable paging: treat the listing as incomplete
            return
        if not nxt:
            return
        empty_run = 0 if data else empty_run + 1
        if nxt in seen_next or len(seen_next) + 1 >= max_pages or empty_run >= max_empty_pages:
            if summary_out is not None:
                summary_out["looped"] = True
            return
        seen_next.add(nxt)
        if check is not None:
            check()
        body = client.get_url(nxt, action=action)

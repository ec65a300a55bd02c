"""The connector boundary: what every platform connector offers the pipeline.

Connectors turn platform payloads into :mod:`monitor.domain` types. Nothing from an SDK
(tweepy objects, raw httpx responses) crosses this boundary, and no secret does: a
:class:`ConnectorError` message never contains a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Protocol, Sequence

from monitor.domain import Account, Comment, Post, QuarantinedPayload


class ConnectorError(Exception):
    """The one error type at the connector boundary.

    :ivar platform: ``facebook``, ``twitter`` or ``instagram``.
    :ivar kind: ``auth`` (token invalid/expired: Graph 190, X 401), ``permission``
        (Graph 10/200, X 403 tier), ``rate_limit`` (Graph 4/17/32/613/80001, X 429),
        ``transient`` (5xx, HTML error page, timeout, malformed JSON), ``not_found``,
        ``budget`` (X monthly read cap or money budget reached; permanent when X itself
        stopped reading: usage cap, credits used up), ``invalid_request`` (the same request
        refused as invalid twice: permanent), ``refused`` (an action the platform refused).
    :ivar permanent: True when retrying cannot help until a person acts (auth,
        permission): the account is paused until ``school-monitor check`` passes.
    :ivar retry_after: seconds to wait before the next try, when known.
    :ivar status: HTTP status, when there was a response.
    :ivar code: platform error code (Graph ``error.code``, X ``errors[].code`` or title).
    """

    def __init__(self, message: str, *, platform: str, kind: str, permanent: bool = False,
                 retry_after: float | None = None, status: int | None = None,
                 code: int | str | None = None):
        super().__init__(message)
        self.platform = platform
        self.kind = kind
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status
        self.code = code

    def __str__(self) -> str:
        parts = [self.args[0]]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        return f"{self.platform}: " + "; ".join(str(p) for p in parts)


@dataclass(frozen=True)
class FetchContext:
    """What the pipeline gives a connector for one poll.

    :ivar cursor: the JSON-able cursor the connector returned last time ({} at first).
    :ivar now: the pipeline's clock (aware UTC).
    :ivar known_comments: for deletion detection, per post id, the comment ids the store
        holds as live (not deleted) for posts inside the look-back window; connectors
        that list a post's comments in full compare against it.
    :ivar read_budget_remaining: X only: posts that may still be read this month (None
        when no cap is configured).
    :ivar budget_usd_remaining: X only: US dollars that may still be spent this month at
        X's pay-per-use prices (None when no ``monthly_budget_usd`` is configured).
    :ivar watch_ids: X only: ids of stored replies that are still open for review or
        flagged and not known to be deleted, newest first: the connector looks some of them
        up each poll to notice deletions.
    """

    cursor: Mapping[str, Any]
    now: datetime
    known_comments: Mapping[str, frozenset[str]] = field(default_factory=dict)
    read_budget_remaining: int | None = None
    budget_usd_remaining: float | None = None
    watch_ids: Sequence[str] = ()


@dataclass(frozen=True)
class FetchResult:
    """One poll's yield.

    :ivar posts: school posts seen (new or updated).
    :ivar comments: comments and replies seen (new, unchanged or edited: the store sorts it out).
    :ivar deleted: ``comment_id``s that vanished from a post that is still visible.
    :ivar cursor: the new cursor, stored in the same transaction as the comments.
    :ivar calls: HTTP requests made.
    :ivar reads: posts read (X counts these against the monthly cap).
    :ivar user_reads: X only: user objects read (billed $0.010 each, once per UTC day).
    :ivar cost_usd: X only: the poll's cost at X's pay-per-use prices, each resource
        counted once per UTC day (US dollars).
    :ivar warnings: readable notes (e.g. "slowing down: x-app-usage call_count 85%").
    :ivar next_poll_after: seconds the connector asks the scheduler to wait (usage near a limit).
    :ivar quarantined: payloads the platform returned that could not be mapped; the
        pipeline stores them (with the comments, in one transaction) and alerts a person.
    :ivar errors: problems that cut the poll short but kept what was read (e.g. a paging
        token that repeats): logged at ERROR and recorded as the account's ``last_error``.
    """

    posts: Sequence[Post] = ()
    comments: Sequence[Comment] = ()
    deleted: Sequence[str] = ()
    cursor: Mapping[str, Any] = field(default_factory=dict)
    calls: int = 0
    reads: int = 0
    warnings: Sequence[str] = ()
    next_poll_after: float | None = None
    user_reads: int = 0
    cost_usd: float = 0.0
    quarantined: Sequence[QuarantinedPayload] = ()
    errors: Sequence[str] = ()


@dataclass(frozen=True)
class CheckResult:
    """One line of ``school-monitor check``: ``name`` (what was checked), ``ok``, ``detail``.

    ``warning`` (with ``ok`` True): not a failure, but not verified or due for attention
    (printed ``[warn]``, never ``[ok]``); it does not make ``check`` fail."""

    name: str
    ok: bool
    detail: str
    warning: bool = False


class Connector(Protocol):
    """A platform connector for one account. Built from an
    :class:`monitor.config.AccountConfig`; holds its own HTTP client with timeouts."""

    account: Account

    def fetch(self, ctx: FetchContext) -> FetchResult:
        """Poll the platform for new and changed comments.

        :raises ConnectorError: for every platform, HTTP or network failure.
        """
        ...

    def check(self) -> list[CheckResult]:
        """Verify credentials and permissions; one result per check. Never raises for a
        platform failure: it becomes a failed :class:`CheckResult`."""
        ...

    def hide(self, comment_id: str, hidden: bool = True) -> None:
        """Hide or unhide a comment or reply (only when ``hide_enabled``).

        :raises ConnectorError: ``kind="refused"`` when not enabled or the platform refuses.
        """
        ...

    def block(self, author_id: str) -> str:
        """Block an author from the account where the platform allows it; returns what
        was done. Where it cannot (X, Instagram), raises ``ConnectorError(kind="refused")`` whose
        message tells a person how to block in the app.
        """
        ...

    def close(self) -> None:
        """Release the HTTP client."""
        ...

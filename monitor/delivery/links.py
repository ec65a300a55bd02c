"""Signed links from an email to one item of the coordinator's console.

An alert email carries ``{[web] base_url}/item/{alert_id}?t={token}``. The token proves the
link was made by this monitor for this alert and when; it is *not* a login: the console
still asks the person to log in, and a link never performs an action by itself (issue 16,
item 4). A link expires after ``[web] link_days``.

The token is an :mod:`itsdangerous` timestamped signature (HMAC-SHA1 over the alert id and
the issue time, URL-safe base64, the library Flask signs its own cookies with), keyed by
the console's secret with the salt ``"console-item-link"`` so that a session cookie can
never be replayed as a link or the other way round. The issue time is passed in (``now``),
never read from the wall clock here.

The secret lives in its own file (:meth:`monitor.config.Config.web_secret_path`), created
with mode 0600 on first use: never in the config file, the database or a log.

Errors: :class:`LinkError` (the secret file cannot be read or created) and
:class:`BadLink` (a token that is malformed, forged, for another alert or expired).
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

#: Salt of link tokens (kept apart from session cookies signed with the same secret).
LINK_SALT = "console-item-link"
#: Bytes of randomness in a new secret (hex-encoded in the file: 64 characters).
SECRET_BYTES = 32


class LinkError(Exception):
    """The console's secret file cannot be read or created (the message names the file)."""


class BadLink(Exception):
    """A console link token is malformed, forged, for another alert, or expired.

    ``expired`` is True when the signature is good but the link is older than allowed (the
    console then says "this link has expired" and still offers the queue after login)."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def load_or_create_secret(path: str | os.PathLike) -> bytes:
    """The console's signing key from ``path``, creating the file (mode 0600, 64 hex
    characters of :func:`secrets.token_hex`) when it does not exist.

    :returns: the key as bytes (the file's stripped text, UTF-8).
    :raises LinkError: the file cannot be read or created, or holds fewer than 32 characters.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise LinkError(f"{p}: cannot create the console's secret file: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(SECRET_BYTES) + "\n")
    try:
        text = p.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise LinkError(f"{p}: cannot read the console's secret file: {exc.strerror}") from None
    if len(text) < 32:
        raise LinkError(f"{p}: the console's secret is too short ({len(text)} characters, need 32 or more)")
    return text.encode("utf-8")


class _Signer(TimestampSigner):
    """A :class:`itsdangerous.TimestampSigner` whose clock is the ``now`` given to it."""

    def __init__(self, secret: bytes, now: datetime):
        super().__init__(secret, salt=LINK_SALT)
        self._now = int(now.timestamp())

    def get_timestamp(self) -> int:  # noqa: D401 - itsdangerous hook
        return self._now


def item_token(secret: bytes, alert_id: int, now: datetime) -> str:
    """A token for a link to review item ``alert_id``, issued at ``now`` (aware datetime)."""
    return _Signer(secret, now).sign(str(int(alert_id))).decode("ascii")


def verify_item_token(secret: bytes, token: str, alert_id: int, *, now: datetime, max_age: timedelta) -> None:
    """Check that ``token`` was issued by :func:`item_token` for ``alert_id`` no longer than
    ``max_age`` before ``now``.

    :raises BadLink: malformed, forged, for another alert (message says which), or expired
        (``BadLink.expired`` is True).
    """
    signer = _Signer(secret, now)
    try:
        value = signer.unsign(token.encode("ascii"), max_age=int(max_age.total_seconds()))
    except SignatureExpired:
        raise BadLink("this link has expired", expired=True) from None
    except (BadSignature, UnicodeEncodeError, ValueError):
        raise BadLink("this link is not valid") from None
    if value.decode("ascii", "replace") != str(int(alert_id)):
        raise BadLink("this link is for another item")


def item_url(base_url: str, secret: bytes, alert_id: int, now: datetime) -> str:
    """The console address of review item ``alert_id`` with a signed token:
    ``{base_url}/item/{alert_id}?t={token}`` (``base_url`` without a trailing slash)."""
    return f"{base_url.rstrip('/')}/item/{int(alert_id)}?t={quote(item_token(secret, alert_id, now), safe='')}"

"""Email senders: SMTP (stdlib :mod:`smtplib`) and a mail folder of ``.eml`` files.

Both implement :class:`Sender`: ``send(msg, recipients)`` delivers one
:class:`email.message.EmailMessage` to the envelope ``recipients`` or raises
:class:`DeliveryError`. Senders hold no state between calls and never retry: retrying,
backoff and exactly-once bookkeeping are the outbox's job (:mod:`monitor.delivery.outbox`).

SMTP (RFC 5321) security modes, from ``[alerts.smtp] security``:

* ``starttls``: plain connection, then ``STARTTLS`` (RFC 3207) before anything else; the
  server must offer it.
* ``tls``: implicit TLS from the first byte (``SMTP_SSL``, RFC 8314, usually port 465).
* ``none``: no encryption, for a relay on the same host only.

TLS uses :func:`ssl.create_default_context` (certificate and host name verified), with
``ca_file`` added as the trust anchors when set. Authentication (``AUTH``) is attempted
when ``username`` is set, with the password read from its secret reference at send time
(never logged, never stored).
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Callable, Protocol, Sequence

from monitor.config import Config, SecretError, SmtpConfig
from monitor.files import write_private


class DeliveryError(Exception):
    """A message could not be delivered.

    :ivar permanent: True when retrying unchanged cannot help (authentication refused,
        recipients or sender refused with a 5xx reply, TLS verification failed, the
        password secret missing): the configuration or the message must change. The
        outbox still keeps the message and retries it at the longest backoff, so nothing
        is ever dropped.
    :ivar reason: a short machine-readable cause: ``connect``, ``tls``, ``auth``,
        ``secret``, ``refused``, ``protocol`` or ``io``.
    :ivar smtp_code: the SMTP reply code when the server gave one, else None.
    """

    def __init__(self, message: str, permanent: bool, *, reason: str = "protocol",
                 smtp_code: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.reason = reason
        self.smtp_code = smtp_code


class Sender(Protocol):
    """Something that delivers one email (SMTP, a mail folder, a test double).

    Senders of this module also take ``on_accepted`` (their class attribute
    ``reports_acceptance`` is True; use :func:`send_with_acceptance`): a callable run the
    moment the message is delivered (SMTP: the server's 250 reply to the end of ``DATA``),
    *before* the session is closed, so the outbox records ``sent`` without waiting for
    the ``QUIT`` round trip: a crash in that round trip no longer makes a duplicate. An
    exception raised by ``on_accepted`` propagates unchanged; a failure after acceptance
    (a refused ``QUIT``) does not undo the delivery and is not raised.
    """

    def send(self, msg: EmailMessage, recipients: list[str]) -> None:
        """Deliver ``msg`` to the envelope ``recipients`` (the ``To`` header is not read).

        :raises DeliveryError: when it was not delivered.
        """


def send_with_acceptance(sender: Sender, msg: EmailMessage, recipients: list[str],
                         on_accepted: Callable[[], None]) -> None:
    """``sender.send(msg, recipients)``, with ``on_accepted`` run as soon as the message is
    delivered: by the sender itself when it ``reports_acceptance`` (before it closes the
    session), else after ``send`` returns.

    :raises DeliveryError: when it was not delivered (``on_accepted`` has not run).
    """
    if getattr(sender, "reports_acceptance", False):
        sender.send(msg, recipients, on_accepted=on_accepted)  # type: ignore[call-arg]
    else:
        sender.send(msg, recipients)
        on_accepted()


def _reply_text(resp: bytes | str | None) -> str:
    """An SMTP reply text as one printable line (for error messages)."""
    if isinstance(resp, bytes):
        resp = resp.decode("utf-8", "replace")
    return " ".join(str(resp or "").split())[:200]


class SmtpSender:
    """Deliver through an SMTP server with :mod:`smtplib`.

    One connection per :meth:`send` (the outbox sends a handful of messages a minute;
    a held-open connection would only add idle-timeout failures).

    :param cfg: ``[alerts.smtp]`` (host, port, security, username, password, timeout, ca_file).
    :param environ: environment used to resolve the password secret (tests); defaults to
        :data:`os.environ`.
    """

    reports_acceptance = True

    def __init__(self, cfg: SmtpConfig, *, environ: dict[str, str] | None = None):
        self.cfg = cfg
        self.environ = environ

    @property
    def where(self) -> str:
        """``host:port`` for messages."""
        return f"{self.cfg.host}:{self.cfg.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying TLS context (system trust store, or ``ca_file`` when set)."""
        if self.cfg.ca_file:
            return ssl.create_default_context(cafile=self.cfg.ca_file)
        return ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        if cfg.security == "tls":
            return smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_seconds, context=self.ssl_context())
        return smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)

    def send(self, msg: EmailMessage, recipients: list[str],
             on_accepted: Callable[[], None] | None = None) -> None:
        """Connect, secure, authenticate, send ``msg`` to ``recipients``, run
        ``on_accepted`` (the server has replied 250 to the data), quit.

        Some recipients refused while others accepted counts as delivered (the server
        took responsibility for the rest); the refused ones are named in a
        :class:`DeliveryError` only when *all* are refused. Once the server has accepted
        the message, a failure while quitting is ignored (it was delivered).

        :raises DeliveryError: ``connect`` (refused, DNS, timeout: transient), ``tls``
            (handshake or certificate verification failed, STARTTLS not offered:
            permanent), ``auth`` (535 and friends: permanent), ``secret`` (password not
            readable: permanent), ``refused`` (5xx for sender, recipients or data:
            permanent; 4xx: transient), ``protocol`` (server hung up, other replies:
            transient).
        """
        if not recipients:
            raise DeliveryError("no recipients given", permanent=True, reason="refused")
        accepted = False

        def action(smtp: smtplib.SMTP) -> None:
            nonlocal accepted
            smtp.send_message(msg, to_addrs=list(recipients))
            accepted = True
            if on_accepted is not None:
                on_accepted()

        try:
            self._session(action)
        except DeliveryError:
            if accepted:
                return  # refused QUIT or a dropped line after the 250: the server has the message
            raise

    def check(self) -> str:
        """Connect, secure and authenticate as :meth:`send` would, send ``NOOP``, quit
        (``school-monitor check``).

        :returns: a one-line description, e.g. ``smtp.example.org:587 STARTTLS, authenticated as alerts``.
        :raises DeliveryError: as :meth:`send`.
        """
        self._session(lambda smtp: smtp.noop())
        mode = {"starttls": "STARTTLS", "tls": "implicit TLS", "none": "no TLS"}[self.cfg.security]
        auth = f", authenticated as {self.cfg.username}" if self.cfg.username else ""
        return f"{self.where} {mode}{auth}"

    def _session(self, action) -> None:
        """Open a connection, secure and log in, run ``action(smtp)``, quit; map every
        failure to :class:`DeliveryError`."""
        where = self.where
        try:
            smtp = self._connect()
        except ssl.SSLError as exc:
            raise DeliveryError(f"SMTP {where}: TLS failed: {exc}", permanent=True, reason="tls") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP {where}: cannot connect: {exc}", permanent=False, reason="connect") from None
        try:
            with smtp:
                self._secure_and_login(smtp)
                action(smtp)
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {code for code, _ in exc.recipients.values()}
            transient = all(400 <= c < 500 for c in codes)
            detail = "; ".join(f"{r}: {c} {_reply_text(t)}" for r, (c, t) in exc.recipients.items())
            raise DeliveryError(f"SMTP {where}: all recipients refused ({detail})", permanent=not transient,
                                reason="refused", smtp_code=min(codes) if codes else None) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            code = exc.smtp_code
            what = "sender refused" if isinstance(exc, smtplib.SMTPSenderRefused) else "message refused"
            raise DeliveryError(f"SMTP {where}: {what}: {code} {_reply_text(exc.smtp_error)}",
                                permanent=code >= 500, reason="refused", smtp_code=code) from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"SMTP {where}: TLS failed: {exc}", permanent=True, reason="tls") from None
        except (smtplib.SMTPException, OSError) as exc:
            code = getattr(exc, "smtp_code", None)
            permanent = bool(code and code >= 500)
            raise DeliveryError(f"SMTP {where}: {type(exc).__name__}: {exc}", permanent=permanent,
                                reason="protocol", smtp_code=code) from None

    def _secure_and_login(self, smtp: smtplib.SMTP) -> None:
        cfg = self.cfg
        where = self.where
        if cfg.security == "starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise DeliveryError(
                    f"SMTP {where}: server does not offer STARTTLS (alerts.smtp.security = 'starttls'; "
                    "use 'tls' for port 465, or 'none' only for a relay on this host)",
                    permanent=True, reason="tls")
            try:
                smtp.starttls(context=self.ssl_context())
            except ssl.SSLError as exc:
                raise DeliveryError(f"SMTP {where}: STARTTLS failed: {exc}", permanent=True, reason="tls") from None
            smtp.ehlo()
        if cfg.username:
            if cfg.password is None:
                raise DeliveryError(
                    "alerts.smtp.username is set but no password: set alerts.smtp.password_env, "
                    "password_file or password_credential", permanent=True, reason="secret")
            try:
                password = cfg.password.resolve(self.environ)
            except SecretError as exc:
                raise DeliveryError(str(exc), permanent=True, reason="secret") from None
            try:
                smtp.login(cfg.username, password)
            except smtplib.SMTPAuthenticationError as exc:
                raise DeliveryError(
                    f"SMTP {where}: authentication failed for user {cfg.username!r}: "
                    f"{exc.smtp_code} {_reply_text(exc.smtp_error)} (check alerts.smtp.username and the "
                    f"password in {cfg.password.describe()})",
                    permanent=True, reason="auth", smtp_code=exc.smtp_code) from None
            except smtplib.SMTPNotSupportedError:
                raise DeliveryError(
                    f"SMTP {where}: server offers no AUTH on this connection (alerts.smtp.username is "
                    "set; servers usually offer AUTH only after STARTTLS)", permanent=True, reason="auth") from None
            finally:
                del password


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def eml_filename(msg: EmailMessage) -> str:
    """The file name a message gets in a mail folder: its Message-ID made file-safe, so
    the same message written twice (a resend after a crash) replaces the first copy."""
    mid = str(msg.get("Message-ID", "")).strip().strip("<>")
    if not mid:
        raise ValueError("message has no Message-ID header (the outbox always sets one)")
    return _UNSAFE.sub("_", mid)[:180] + ".eml"


class MailDirSender:
    """Write each message as an ``.eml`` file (RFC 5322, CRLF line ends) into a folder.

    Used by ``replay --mail-dir`` and as a copy of everything sent when
    ``[alerts] mail_dir`` is set. Files are written atomically (temporary file, then
    rename) and named by Message-ID (:func:`eml_filename`).

    :param directory: the folder; created if missing.
    """

    reports_acceptance = True

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def send(self, msg: EmailMessage, recipients: list[str],
             on_accepted: Callable[[], None] | None = None) -> None:
        """Write ``msg`` as ``<Message-ID>.eml``, then run ``on_accepted``.

        :raises DeliveryError: ``io`` (transient) when the folder cannot be written.
        """
        try:
            write_private(self.directory / eml_filename(msg), msg.as_bytes(policy=SMTP_POLICY))
        except OSError as exc:
            raise DeliveryError(f"mail folder {self.directory}: cannot write: {exc.strerror}",
                                permanent=False, reason="io") from None
        if on_accepted is not None:
            on_accepted()


class TeeSender:
    """Deliver with ``primary`` and also keep a copy with each of ``copies`` (for
    ``[alerts] mail_dir``). The primary alone decides delivery: a copy that fails
    after the primary delivered must not make the outbox send the message again, so
    copy failures are ignored."""

    reports_acceptance = True

    def __init__(self, primary: Sender, copies: Sequence[Sender]):
        self.primary = primary
        self.copies = list(copies)

    def send(self, msg: EmailMessage, recipients: list[str],
             on_accepted: Callable[[], None] | None = None) -> None:
        """Send with the primary (errors propagate; ``on_accepted`` runs when the primary
        has delivered), then write the copies (their errors are ignored: the message was
        delivered)."""
        send_with_acceptance(self.primary, msg, recipients, on_accepted or (lambda: None))
        for copy in self.copies:
            try:
                copy.send(msg, recipients)
            except DeliveryError:
                pass


def sender_from_config(config: Config) -> Sender:
    """The sender the daemon uses: :class:`SmtpSender` on ``[alerts.smtp]``, plus a
    :class:`MailDirSender` copy when ``[alerts] mail_dir`` is set (resolved against the
    config file's folder)."""
    smtp = SmtpSender(config.alerts.smtp)
    if config.alerts.mail_dir:
        return TeeSender(smtp, [MailDirSender(config.resolve_path(config.alerts.mail_dir))])
    return smtp


__all__ = ["DeliveryError", "Sender", "SmtpSender", "MailDirSender", "TeeSender", "sender_from_config",
           "eml_filename", "send_with_acceptance"]

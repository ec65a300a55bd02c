"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it receives.

Used by ``school-monitor demo`` (messages written to ``DIR/mail/*.eml``) and by the tests
(messages kept in memory and parsed). aiosmtpd cannot bind port 0, so a free port is
picked first.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        self.sink._received(envelope.content, list(envelope.rcpt_tos), envelope.mail_from)
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server on loopback. Use as a context manager.

    :param mail_dir: when given, each message is also written there as ``NNN.eml``.
    :ivar messages: parsed messages received, in order (``email.message.EmailMessage``).
    :ivar envelopes: ``(mail_from, rcpt_tos)`` per message.
    :ivar host, port: where it listens.
    """

    def __init__(self, mail_dir: Path | None = None, host: str = "127.0.0.1", port: int | None = None,
                 **controller_kwargs: Any):
        self.mail_dir = Path(mail_dir) if mail_dir else None
        self.host = host
        self.port = port or free_port(host)
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname=host, port=self.port, **controller_kwargs)

    def _received(self, content: bytes, rcpt: list[str], mail_from: str) -> None:
        msg = email.message_from_bytes(content, policy=email.policy.default)
        with self._lock:
            self.messages.append(msg)  # type: ignore[arg-type]
            self.envelopes.append((mail_from, rcpt))
            n = len(self.messages)
        if self.mail_dir:
            self.mail_dir.mkdir(parents=True, exist_ok=True)
            (self.mail_dir / f"{n:03d}.eml").write_bytes(content)

    def start(self) -> "SmtpSink":
        """Start listening."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

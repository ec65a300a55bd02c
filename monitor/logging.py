"""Logging with structlog: JSON lines on stdout for journald, readable lines on a TTY.

Log events use stable keys (``account``, ``platform``, ``comment_id``, ``category``,
``alert_id``, ``error``) so a coordinator can ``journalctl -u school-monitor -o cat | jq``.

Secrets: every secret the program reads is registered with :func:`register_secret`
(``SecretRef.resolve`` does it), and a processor replaces any registered value found in
any logged string with ``[REDACTED]``: a token can't reach the journal even by accident.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, TextIO

import structlog

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_CONFIGURED = False


def register_secret(value: str) -> None:
    """Remember a secret value so that it is redacted from every log line.
    Values shorter than 6 characters are ignored (too likely to match ordinary text)."""
    if value and len(value) >= 6:
        with _LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` with ``[REDACTED]``."""
    for s in _SECRETS:
        if s in text:
            text = text.replace(s, "[REDACTED]")
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    return value


def _redact_processor(_logger: Any, _name: str, event_dict: dict) -> dict:
    if not _SECRETS:
        return event_dict
    return {k: _redact_value(v) for k, v in event_dict.items()}


class _StdStream:
    """Writes to ``sys.<name>`` as it is at write time (so a replaced or captured stream
    is honoured, and a closed one from an earlier capture is never used)."""

    def __init__(self, name: str):
        self.name = name

    def write(self, text: str) -> int:
        return getattr(sys, self.name).write(text)

    def flush(self) -> None:
        getattr(sys, self.name).flush()

    def isatty(self) -> bool:
        stream = getattr(sys, self.name)
        return bool(getattr(stream, "isatty", lambda: False)())


def configure(level: str = "INFO", stream: TextIO | str | None = None, json: bool | None = None) -> None:
    """Configure structlog (and the stdlib root logger) once for the process.

    :param level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``. The ``tweepy`` and
        ``httpx`` loggers are never set below INFO (tweepy prints the bearer token at DEBUG).
    :param stream: where to write: a file object, or ``"stdout"`` / ``"stderr"`` (default
        ``"stdout"``), looked up at each write.
    :param json: force JSON lines (True) or console lines (False); default: JSON unless
        ``stream`` is a TTY.
    """
    global _CONFIGURED
    out: Any = _StdStream(stream or "stdout") if stream is None or isinstance(stream, str) else stream
    if json is None:
        json = not (hasattr(out, "isatty") and out.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    lvl = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_StdlibRedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(lvl, logging.INFO))
    for name in ("tweepy", "httpx", "httpcore", "urllib3", "requests_oauthlib", "oauthlib"):
        logging.getLogger(name).setLevel(max(lvl, logging.INFO) if name != "httpx" else logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd (demo and tests): one line per SMTP verb
    _CONFIGURED = True


class _StdlibRedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = redact(record.getMessage())
            record.args = ()
        return True


def get_logger(**bound: Any) -> Any:
    """A structlog logger with ``bound`` key/values."""
    return structlog.get_logger(**bound) if bound else structlog.get_logger()

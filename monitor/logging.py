"""Logging with structlog: JSON lines on stdout for journald, readable lines on a TTY.

Log events use stable keys (``account``, ``platform``, ``comment_id``, ``category``,
``alert_id``, ``error``) so a coordinator can ``journalctl -u school-monitor -o cat | jq``.

Secrets: every secret the program reads is registered with :func:`register_secret`
(``SecretRef.resolve`` does it), and :func:`redact` replaces any registered value with
``[REDACTED]`` at every exit: in each logged value (a processor), in the whole rendered
line of every renderer (console or JSON), in the stdlib handler's lines (APScheduler,
tweepy, httpx) with their tracebacks, and in the tracebacks of exceptions nobody caught
(``sys.excepthook``, ``threading.excepthook``). Tracebacks are plain text without local
variables, whatever is installed: structlog's console renderer would otherwise use
``rich`` and print every frame's locals (a tweepy frame holds ``Authorization: Bearer
<token>``, cut or wrapped where substring redaction cannot find it).
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
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
    """Replace every registered secret in ``text`` with ``[REDACTED]`` (longest first, so
    a secret that contains another is replaced whole). Safe while another thread registers
    a secret (it works on a snapshot)."""
    for s in sorted(tuple(_SECRETS), key=len, reverse=True):
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


class _RedactedRenderer:
    """Wraps a structlog renderer: :func:`redact` over the whole rendered line, so that a
    secret inside any object's ``repr``, a traceback or anything else the renderer adds
    never reaches the stream. With ``terminal``, control characters (from a platform's
    error text, say) are shown as escapes (:func:`monitor.cli.util.visible`)."""

    def __init__(self, renderer: Any, terminal: bool = False):
        self.renderer = renderer
        self.terminal = terminal

    def __call__(self, logger: Any, name: str, event_dict: dict) -> str:
        line = redact(self.renderer(logger, name, event_dict))
        if self.terminal:
            from monitor.cli.util import visible

            line = visible(line, multiline=True)
        return line


class _RedactingFormatter(logging.Formatter):
    """The stdlib handler's formatter: the whole formatted record (message, arguments,
    traceback, stack) redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _print_exception(header: str, exc_type: type[BaseException] | None, exc: BaseException | None,
                     tb: Any) -> None:
    if exc_type is None:
        return
    stream = sys.stderr
    if stream is None:  # pythonw, a closed stderr: nowhere to write
        return
    text = header + "".join(traceback.format_exception(exc_type, exc, tb))
    try:
        stream.write(redact(text))
        stream.flush()
    except (OSError, ValueError):
        pass


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    """``sys.excepthook``: the default traceback (no locals), redacted."""
    _print_exception("", exc_type, exc, tb)


def _thread_excepthook(args: Any) -> None:
    """``threading.excepthook``: as the default one (``Exception in thread NAME:``), redacted."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else threading.get_ident()
    _print_exception(f"Exception in thread {name}:\n", args.exc_type, args.exc_value, args.exc_traceback)


def _install_excepthooks() -> None:
    """Redacting hooks for uncaught exceptions; a hook someone else installed (a test
    runner, a debugger) is left alone."""
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _excepthook
    if threading.excepthook is threading.__excepthook__:
        threading.excepthook = _thread_excepthook


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
        ``stream`` is a TTY. Either way, tracebacks are plain text without local variables
        (in JSON lines under ``"exception"``) and the whole line goes through :func:`redact`.

    Also installs redacting ``sys.excepthook`` / ``threading.excepthook`` (unless another
    hook than Python's default is already installed).
    """
    global _CONFIGURED
    out: Any = _StdStream(stream or "stdout") if stream is None or isinstance(stream, str) else stream
    if json is None:
        json = not (hasattr(out, "isatty") and out.isatty())
    # Never the default exception formatter: with rich installed it prints local variables.
    renderer: Any = (structlog.processors.JSONRenderer() if json else
                     structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback))
    lvl = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # exc_info becomes "exception": the plain traceback text (no locals), redacted
            # below like every value, and present in JSON lines too.
            structlog.processors.format_exc_info,
            _redact_processor,
            _RedactedRenderer(renderer, terminal=not json),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(_RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_StdlibRedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(lvl, logging.INFO))
    for name in ("tweepy", "httpx", "httpcore", "urllib3", "requests_oauthlib", "oauthlib"):
        logging.getLogger(name).setLevel(max(lvl, logging.INFO) if name != "httpx" else logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd (demo and tests): one line per SMTP verb
    _install_excepthooks()
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

"""Helpers shared by the CLI command modules.

Every command module (``monitor/cli/*.py``) exposes ``register(sub)`` which adds its
sub-commands to the ``school-monitor`` argparse sub-parsers; each command's handler is
``func(args) -> int`` (the exit status). Raising :class:`monitor.config.ConfigError`
makes the CLI print the problems and exit 2; raising :class:`CommandError` prints its
message and exits with its status (default 1).
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
from pathlib import Path
from typing import Any, TextIO

from monitor.config import Config, load_config

DEFAULT_CONFIG = "/etc/school-monitor/config.toml"


class CommandError(Exception):
    """A command failed in a way the user can fix; ``status`` is the exit code."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


# Characters that must never reach a terminal as they are: C0 and C1 controls and DEL
# (ESC starts CSI/OSC sequences that move the cursor, retitle the window or hide text; BEL,
# backspace, CR and NUL rewrite or hide what is shown), bidi embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069) and marks (U+200E, U+200F, U+061C), which reorder
# the words around them, the zero-width space and word joiner, the BOM, the line and
# paragraph separators, and lone surrogates (undecodable bytes). Zero-width joiners and
# emoji tag characters are kept: emoji (and flags such as England's) are built from them.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069"
                     "\ufeff\ud800-\udfff]")
_UNSAFE_KEEP_LINES = re.compile("(?!\r\n)[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f"
                                "\u2028-\u202e\u2060\u2066-\u2069\ufeff\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    cp = ord(match.group())
    return f"\\x{cp:02x}" if cp < 0x20 else f"\\u{cp:04x}"


def visible(value: Any, *, multiline: bool = False) -> str:
    """Text from a comment (or any outside source) made safe for a terminal: every
    control, bidi and invisible character listed above is shown as an escape instead of
    acting, ``\\x1b`` for ESC and the other C0 controls (NUL, BEL, backspace, CR ...),
    ``\\u202e`` for U+202E and the others (DEL is ``\\u007f``). Everything else (letters,
    emoji, right-to-left words) is kept as it is.

    :param multiline: keep LF, TAB and CR LF as they are (a comment body, a whole report
        or command output); otherwise they are escaped too (one-line fields: names, ids).

    JSON text stays valid JSON meaning the same data: JSON never holds a raw C0 control,
    and every other escape used here is a JSON escape.
    """
    text = "" if value is None else str(value)
    return (_UNSAFE_KEEP_LINES if multiline else _UNSAFE).sub(_escape, text)


class VisibleWriter:
    """A text stream wrapper whose ``write`` shows control characters visibly
    (:func:`visible` with ``multiline=True``): every terminal output of a command that
    prints comment text goes through one."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(visible(text, multiline=True))

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--config PATH`` (default ``$SCHOOL_MONITOR_CONFIG`` or
    ``/etc/school-monitor/config.toml``) and ``--db PATH`` (overrides ``[storage] path``)."""
    parser.add_argument("--config", "-c", metavar="PATH",
                        default=os.environ.get("SCHOOL_MONITOR_CONFIG", DEFAULT_CONFIG),
                        help="config file (default: $SCHOOL_MONITOR_CONFIG or %(default)s)")
    parser.add_argument("--db", metavar="PATH", default=None,
                        help="SQLite store (default: [storage] path in the config)")


def load_config_from_args(args: argparse.Namespace) -> Config:
    """Load the config named by ``args.config``.

    :raises monitor.config.ConfigError: file missing or invalid (the CLI exits 2).
    """
    from monitor.logging import get_logger

    log = get_logger()
    return load_config(args.config, warn=lambda msg: log.warning("config_permissions", detail=msg))


def db_path(args: argparse.Namespace, config: Config) -> Path:
    """``--db`` if given, else ``[storage] path`` resolved against the config's folder."""
    if getattr(args, "db", None):
        return Path(args.db)
    return config.resolve_path(config.storage.path)


def open_store(args: argparse.Namespace, config: Config, *, must_exist: bool = False):
    """Open (and migrate) the store for a command. Returns :class:`monitor.store.Store`.

    :param must_exist: refuse a store that does not exist instead of creating an empty one
        (the commands that read or act on evidence: a mistyped ``--db`` must not answer
        "nothing here" or "intact" from a new, empty file).
    :raises CommandError: (status 2) ``must_exist`` and there is no file at the path.
    """
    from monitor.store import Store

    path = db_path(args, config)
    if must_exist and not path.exists():
        where = "--db" if getattr(args, "db", None) else f"[storage] path in {config.source}"
        raise CommandError(f"no store at {path} (from {where}); this command never creates one: check the "
                           "path (the service creates the store at its first start)", status=2)
    return Store.open(path)


def add_actor_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--by NAME``: who is acting, for the audit log (default: the OS user)."""
    parser.add_argument("--by", metavar="NAME", default=None,
                        help="who is acting, recorded in the audit log (default: your OS user name)")


def actor(args: argparse.Namespace) -> str:
    """The person acting: ``--by`` or the OS user name."""
    by = getattr(args, "by", None)
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return f"uid:{os.getuid()}"

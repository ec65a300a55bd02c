"""Helpers shared by the CLI command modules.

Every command module (``monitor/cli_*.py``) exposes ``register(sub)`` which adds its
sub-commands to the ``school-monitor`` argparse sub-parsers; each command's handler is
``func(args) -> int`` (the exit status). Raising :class:`monitor.config.ConfigError`
makes the CLI print the problems and exit 2; raising :class:`CommandError` prints its
message and exits with its status (default 1).
"""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from monitor.config import Config, load_config

DEFAULT_CONFIG = "/etc/school-monitor/config.toml"


class CommandError(Exception):
    """A command failed in a way the user can fix; ``status`` is the exit code."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


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


def open_store(args: argparse.Namespace, config: Config):
    """Open (and migrate) the store for a command. Returns :class:`monitor.store.Store`."""
    from monitor.store import Store

    return Store.open(db_path(args, config))


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

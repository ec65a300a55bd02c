"""``school-monitor``: the command line.

Commands (each has ``--help``): ``run``, ``poll --once``, ``migrate``, ``check``, ``score``,
``replay``, ``report``, ``demo``, ``status``, ``review``, ``evidence``, ``calibration``,
``purge``, ``sar``, ``model``.

Exit codes: 0 success; 1 a command failed (a check failed, a platform refused); 2 the
config file is invalid (every problem is printed, naming the file and key) or the
command line is wrong.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from monitor.cli.util import CommandError, add_config_arg, db_path, load_config_from_args
from monitor.config import ConfigError
from monitor.logging import configure, get_logger

COMMAND_MODULES = ("score", "model", "report", "review", "status")


# ---------------------------------------------------------------------- run / poll
def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM/SIGINT."""
    from monitor.app import build_app
    from monitor.daemon import Daemon

    config = load_config_from_args(args)
    app = build_app(config, db_path(args, config))
    try:
        return Daemon(app).run()
    finally:
        app.close()


def cmd_poll(args: argparse.Namespace) -> int:
    """Poll accounts once, process, deliver the outbox, and print a line per account."""
    from monitor.app import build_app
    from monitor.logging import redact
    from monitor.store import StoreError

    if not args.once:
        raise CommandError("poll needs --once (use `school-monitor run` for the daemon)", status=2)
    config = load_config_from_args(args)
    app = build_app(config, db_path(args, config))
    try:
        accounts = [config.account(args.account)] if args.account else app.enabled_accounts()
        status = 0
        for acc in accounts:
            try:
                connector = app.connector(acc.name)
            except KeyError as exc:
                print(f"{acc.name}: not polled: {str(exc).strip(chr(39))}")
                status = 1
                continue
            try:
                out = app.pipeline.poll(acc, connector, force=True)
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - one line, and the outbox still runs below
                get_logger().exception("poll_failed_unexpectedly", account=acc.name, error=str(exc))
                print(f"{acc.name}: error: {type(exc).__name__}: {redact(str(exc))[:300]}")
                status = 1
                continue
            if out.stats:
                print(f"{acc.name}: {out.status}: fetched {out.stats.fetched}, new {out.stats.new}, "
                      f"changed {out.stats.changed}, deleted {out.stats.deleted}; "
                      + (f"quarantined {out.stats.quarantined}; " if out.stats.quarantined else "")
                      + f"assessed {out.processed}; alerts {len(out.alerts)}"
                      + (f"; error: {out.error}" if out.error else ""))
                status = 1 if out.error else status
            else:
                print(f"{acc.name}: {out.status}" + (f": {out.error}" if out.error else ""))
                status = 1 if out.status in ("failed", "paused") else status
        delivered = app.outbox.deliver()
        print(f"outbox: {delivered}")
        return status
    finally:
        app.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending schema migrations."""
    from monitor.store import Store

    config = load_config_from_args(args)
    store = Store.open(db_path(args, config), migrate=False)
    applied = store.migrate()
    print(f"{store.path}: " + (f"applied {', '.join(applied)}" if applied else "schema up to date"))
    store.close()
    return 0


def secret_file_warnings(config) -> list[str]:
    """One warning per ``*_file`` secret (account tokens and secrets, the SMTP password)
    whose file can be read by its group or by others: only its owner (the service user)
    should read it. Files that cannot be read at all are left to the account and SMTP
    checks. The messages name the key, the file and its mode, never the value."""
    import os
    import stat

    refs = [ref for a in config.accounts for ref in a.secrets.values()]
    if config.alerts.smtp.password is not None:
        refs.append(config.alerts.smtp.password)
    out = []
    for ref in refs:
        if ref is None or not ref.file:
            continue
        try:
            mode = stat.S_IMODE(os.stat(ref.file).st_mode)
        except OSError:
            continue
        if mode & 0o077:
            who = " and ".join(w for w, bits in (("its group", 0o070), ("others", 0o007)) if mode & bits)
            out.append(f"{ref.key}: {ref.file} is mode {mode:04o}, readable by {who}; "
                       f"chmod 0600 it (owned by the service user) or use {ref.key.rsplit('.', 1)[-1]}_credential")
    return out


def _writable_folder(path: Path) -> tuple[bool, str]:
    """Can the service create files in ``path`` (created on first use if missing)?
    Looks at the nearest existing folder; creates nothing."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return False, f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return False, f"{probe} is not writable by this user (the service writes under /var/lib/school-monitor)"
    return True, str(path) + ("" if path.exists() else f" (created on first use in {probe})")


def cmd_check(args: argparse.Namespace) -> int:
    """Check the config, the store, each account's connection and the SMTP server.

    Warns (``[warn]``, exit status unchanged) about token files others can read and about
    what a check could not verify for want of an optional setting. Creates no file: a
    store that does not exist yet is checked by its folder being writable. A check that
    was attempted and could not run is a failure (``[FAIL]``), never ``[ok]``.
    """
    from connectors import build_connector
    from monitor.store import Store

    failures = 0

    def line(ok: bool, name: str, detail: str) -> None:
        nonlocal failures
        failures += 0 if ok else 1
        print(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}")

    try:
        config = load_config_from_args(args)
    except ConfigError as exc:
        for p in exc.problems:
            line(False, "config", p)
        return 2
    line(True, "config", f"{config.source}: {len(config.accounts)} account(s), {len(config.staff)} staff")
    for warning in secret_file_warnings(config):
        print(f"[warn] secrets: {warning}")
    store = None
    store_path = db_path(args, config)
    if store_path.exists():
        try:
            store = Store.open(store_path)
            line(True, "store", str(store.path))
        except Exception as exc:  # noqa: BLE001 - reported as a failed check
            line(False, "store", str(exc))
    else:
        ok, detail = _writable_folder(store_path.parent)
        line(ok, "store", f"{store_path} does not exist yet: the service creates it at its first start; "
                          f"its folder: {detail}" if ok else f"{store_path} cannot be created: {detail}")
    ok, detail = _writable_folder(config.reports_dir(store_path))
    line(ok, "reports folder", detail)
    if config.alerts.mail_dir:
        ok, detail = _writable_folder(config.resolve_path(config.alerts.mail_dir))
        line(ok, "mail folder", detail)
    try:
        from monitor.app import build_engine_and_categoriser

        engine, _ = build_engine_and_categoriser(config)
        scorer = getattr(engine, "scorer", None)
        line(True, "classifier", f"{getattr(scorer, 'name', config.classifier.backend)} "
                                 f"{getattr(scorer, 'version', '')}".strip())
    except Exception as exc:  # noqa: BLE001
        line(False, "classifier", str(exc))
    from monitor.pipeline import system_clock

    for acc in config.accounts:
        if args.account and acc.name != args.account:
            continue
        if not acc.enabled:
            print(f"[skip] {acc.name}: disabled")
            continue
        try:
            connector = build_connector(acc, clock=system_clock)  # token expiry, Graph version end date
        except Exception as exc:  # noqa: BLE001
            line(False, acc.name, str(exc))
            continue
        try:
            results = connector.check()
        except Exception as exc:  # noqa: BLE001 - a check that could not run has failed
            line(False, acc.name, f"the check could not run: {type(exc).__name__}: {exc}")
            continue
        finally:
            connector.close()
        if not results:
            line(False, acc.name, "no check ran for this account")
        for r in results:
            if r.ok and r.warning:
                print(f"[warn] {acc.name}: {r.name}: {r.detail}")
            else:
                line(r.ok, f"{acc.name}: {r.name}", r.detail)
        if results and all(r.ok for r in results) and store is not None:
            from monitor.domain import Account

            now = system_clock()
            store.ensure_account(Account(acc.name, acc.platform, acc.external_id, acc.name), now)
            if store.unpause_account(acc.name):
                store.audit("school-monitor check", "account_resumed", acc.name, "check passed", now)
                print(f"[ok] {acc.name}: was paused; polling resumes")
    if config.alerts.enabled:
        from monitor.delivery.mailer import SmtpSender

        try:
            detail = SmtpSender(config.alerts.smtp).check()
            line(True, "smtp", detail or f"{config.alerts.smtp.host}:{config.alerts.smtp.port}")
        except Exception as exc:  # noqa: BLE001 - reported as a failed check
            line(False, "smtp", str(exc))
        roles = {r for rs in config.alerts.routes.values() for r in rs}
        missing = sorted(r for r in roles if not config.alerts.recipients.get(r))
        if not config.alerts.recipients.get("coordinator"):
            line(False, "recipients", "[alerts.recipients] coordinator has no address: alerts cannot be sent")
        elif missing:
            print(f"[note] recipients: no address for {', '.join(missing)}; those alerts go to the coordinator")
    if store is not None:
        store.close()
    return 1 if failures else 0


# ---------------------------------------------------------------------- replay / demo
def cmd_replay(args: argparse.Namespace) -> int:
    """Run the pipeline over a JSONL of past comments (no network)."""
    from monitor.replay import replay

    config = load_config_from_args(args)
    src = Path(args.file)
    if not src.is_file():
        raise CommandError(f"{src}: no such file" if not src.exists() else f"{src}: not a file", status=2)
    # Without --db the store is temporary: never the live store of [storage] path, and
    # never a file written next to the input.
    try:
        summary = replay(config, src, Path(args.db) if args.db else None,
                         alerts_out=Path(args.alerts_out) if args.alerts_out else None,
                         mail_dir=Path(args.mail_dir) if args.mail_dir else None)
    except OSError as exc:
        raise CommandError(f"{exc.filename or src}: {exc.strerror or exc}", status=2) from None
    print(json.dumps(summary, indent=2, sort_keys=True))
    if summary["db"] is None:
        print("(the store was temporary: give --db FILE to keep it, e.g. for `school-monitor report`)",
              file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole job on fake platforms on loopback and a real local SMTP server."""
    from monitor.demo import run_demo

    return run_demo(Path(args.out))


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="school-monitor",
        description="Watches a school's Facebook Page and X account, categorises comments against the "
                    "school's social media policy, keeps evidence, and emails alerts and a weekly report.")
    parser.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log level (default INFO; WARNING for demo, whose summary is the point)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="run the daemon (polls, alerts, weekly report) until stopped")
    add_config_arg(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("poll", help="poll accounts once, assess and deliver alerts")
    add_config_arg(p)
    p.add_argument("--once", action="store_true", help="poll once and exit (required)")
    p.add_argument("--account", help="only this account (its name in the config)")
    p.set_defaults(func=cmd_poll)

    p = sub.add_parser("migrate", help="create or upgrade the store's schema")
    add_config_arg(p)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("check", help="check the config, the store, each account and SMTP; resume paused accounts")
    add_config_arg(p)
    p.add_argument("--account", help="only this account")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("replay", help="run the pipeline over a JSONL of past comments, offline")
    p.add_argument("file", metavar="FILE.jsonl",
                   help="comments: id, platform, post, author_id, author_name, created_at, text, attachment")
    add_config_arg(p)
    p.add_argument("--alerts-out", metavar="FILE", help="write each alert as a JSON line here")
    p.add_argument("--mail-dir", metavar="DIR", help="write each alert as an .eml file here")
    p.set_defaults(func=cmd_replay)
    for action in p._actions:  # replay never fills the live store: --db or a temporary one
        if action.dest == "db":
            action.help = "SQLite store to fill and keep (default: a temporary store, deleted at the end)"

    p = sub.add_parser("demo", help="run the whole job on fake platforms on 127.0.0.1 (no accounts needed)")
    p.add_argument("--out", default="demo-out", metavar="DIR", help="output folder (default: %(default)s)")
    p.set_defaults(func=cmd_demo)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"monitor.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"monitor.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``school-monitor`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.log_level or ("WARNING" if args.command == "demo" else "INFO")
    configure(level, stream="stdout" if args.command == "run" else "stderr")
    log = get_logger()
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print("config error:", file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`status --json | head`): stop quietly. stdout is pointed at
        # /dev/null so that the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        import sqlite3

        from monitor.store import StoreError, _is_fault, _translate

        if isinstance(exc, sqlite3.DatabaseError) and _is_fault(exc):
            # a read outside the store's guarded cursor met a damaged or unusable file
            path = getattr(args, "db", None) or "(the configured store)"
            exc = _translate(exc, path)
        if isinstance(exc, StoreError):
            log.error("store_error", error=str(exc))
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``school-monitor report``: the weekly report on any store (also one made by ``replay``).

::

    school-monitor report [--week 2026-W42] [--format text|html|csv|png] [--out FILE] [--send]

Without ``--week`` the previous week (school time) is reported. The report is printed
(text, HTML with the chart embedded, CSV) or written to ``--out`` (also ``--format png``:
the report as one picture, for a README or a slide), mode 0600 (it names commenters).
Printed, control characters from the platforms are shown visibly (``\\x1b``). ``--send``
also emails it to the ``[alerts.routes] report`` roles through the outbox (stored first,
so an SMTP failure keeps it for the daemon to retry) and records it in ``reports``; it sends the
report only, never the alerts waiting in that store's outbox.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from monitor.cli.util import CommandError, add_config_arg, load_config_from_args, open_store, visible
from monitor.files import write_private


def system_clock() -> datetime:
    """The wall clock, aware UTC (the CLI is the only place the report reads it)."""
    return datetime.now(timezone.utc)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` command to the ``school-monitor`` sub-parsers."""
    p = sub.add_parser(
        "report", help="the weekly report (text, HTML, CSV or chart), optionally emailed",
        description="Tally the weekly report from the store: the eleven policy categories in the policy's "
                    "words (this week by platform, confirmed, last week, 4-week trend), escalations, repeat "
                    "commenters, block recommendations and items waiting for review. Weeks run Monday to "
                    "Sunday in the school's timezone.")
    add_config_arg(p)
    p.add_argument("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W42 (default: last week)")
    p.add_argument("--format", choices=("text", "html", "csv", "png"), default="text",
                   help="output format (default: %(default)s; png is a picture of the report, table and chart, "
                        "and needs --out)")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of printing")
    p.add_argument("--send", action="store_true",
                   help="also email it to the report recipients ([alerts.routes] report) now")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Build the report; print or write it; optionally send it. Returns the exit status.

    :raises CommandError: bad ``--week``, unwritable ``--out``, or a send that failed
        (the report then stays in the outbox).
    """
    from monitor.delivery.reports import (ReportJob, build_report, parse_week, render_csv, render_html,
                                 render_report_png, render_text)

    config = load_config_from_args(args)
    if args.week:
        try:
            parse_week(args.week)
        except ValueError as exc:
            raise CommandError(f"--week: {exc}", status=2) from None
    if args.format == "png" and not args.out:
        raise CommandError("--format png needs --out FILE (a PNG is not printed to a terminal)", status=2)
    store = open_store(args, config, must_exist=True)
    try:
        now = system_clock()
        report = build_report(store, config, args.week, now)
        if args.format == "text":
            data: str | bytes = render_text(report)
        elif args.format == "html":
            data = render_html(report)
        elif args.format == "csv":
            data = render_csv(report)
        else:
            data = render_report_png(report)
        if args.out:
            try:
                # 0600 and atomic, like every file that names commenters
                write_private(Path(args.out), data if isinstance(data, bytes) else data.encode("utf-8"))
            except OSError as exc:
                raise CommandError(f"--out {args.out}: cannot write: {exc.strerror}") from None
            print(f"report {report.week} written to {args.out}", file=sys.stderr)
        else:
            # names and ids from the platforms: control characters shown, never acting on the terminal
            text = data if isinstance(data, str) else ""
            sys.stdout.write(visible(text, multiline=True) if args.format == "text" or sys.stdout.isatty()
                             else text)
        if args.send:
            from monitor.delivery.mailer import sender_from_config
            from monitor.delivery.outbox import Outbox

            outbox = Outbox(config, store, sender_from_config(config), system_clock)
            job = ReportJob(config, store, outbox, system_clock)
            path = job.run(report.week, now=now, send=True, force_new_message=True)
            row = store.one("SELECT status, message_id FROM reports WHERE week = ?", [report.week])
            # only the report: alerts queued in this store (a trial replay's, say) are not sent
            stats = outbox.deliver(only=[row["message_id"]] if row and row["message_id"] else [])
            row = store.one("SELECT status, message_id FROM reports WHERE week = ?", [report.week])
            if not row or row["status"] != "sent":
                raise CommandError(
                    f"report {report.week} written to {path} but not sent yet ({stats}); it stays in the outbox "
                    "and the daemon retries it (see `school-monitor status`)")
            print(f"report {report.week} sent ({row['message_id']}); files in {path.parent}", file=sys.stderr)
    finally:
        store.close()
    return 0

"""``school-monitor status``: is the monitor working? One screen, or JSON for scripts.

Shows, per account, the last successful poll, the pause state and reason, the X reads of
the month against ``monthly_read_cap``; the outbox backlog (alerts and emails not yet
delivered, the oldest, the last delivery error); the last weekly report; recent poll
errors; the count of payloads kept in quarantine (comments or posts a platform returned
that could not be read). Data: :func:`monitor.health.status_report`.

Exit status (for Nagios/Icinga checks and cron):

* 0: every enabled account is polling;
* 1: an enabled account is paused (its credential was refused) or stale (no successful
  poll for ``[alerts] stale_after_hours``); an escalation has not been delivered
  ``[alerts] escalation_max_wait_minutes`` after it was raised; the store is damaged
  (``PRAGMA quick_check``; the message says what to restore from); or the store does not
  exist yet;
* 2: the config file is invalid (printed by the CLI, one line per problem).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import Any, Callable

from monitor.cli.util import CommandError, add_config_arg, db_path, load_config_from_args, visible


def register(sub: Any) -> None:
    """Add the ``status`` command to the ``school-monitor`` sub-parsers ``sub``
    (the object returned by :meth:`argparse.ArgumentParser.add_subparsers`)."""
    p = sub.add_parser(
        "status",
        help="show poll health, outbox backlog, last report, read budget, recent errors",
        description=__doc__.split("\n\n", 1)[0] + "\n\nExit status: 0 all accounts polling; 1 an "
        "account is paused or stale, an escalation is overdue, the store is damaged (or no store yet); "
        "2 config error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arg(p)
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=run_status)


def run_status(args: argparse.Namespace, now: Callable[[], datetime] | None = None) -> int:
    """Handler of ``school-monitor status``; returns the exit status (0 or 1).

    :raises monitor.config.ConfigError: invalid config (the CLI exits 2).
    :raises monitor.cli.util.CommandError: the store file does not exist (status 1).
    """
    from monitor.health import status_report
    from monitor.store import Store

    config = load_config_from_args(args)
    path = db_path(args, config)
    if not path.exists():
        raise CommandError(f"no store at {path} yet: start the service or run `school-monitor migrate`", 1)
    store = Store.open(path)
    try:
        report = status_report(config, store, (now or (lambda: datetime.now(timezone.utc)))())
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(format_status(report))
    return 0 if report["healthy"] else 1


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _one_line(text: Any, width: int = 100) -> str:
    s = " ".join(str(text).split()) if text is not None else "-"
    return s if len(s) <= width else s[: width - 1] + "…"


def format_status(report: dict[str, Any]) -> str:
    """The readable form of :func:`monitor.health.status_report`'s dict (plain text,
    fixed-width tables, no colour)."""
    out: list[str] = [f"School Social Monitor status at {report['generated_at']}", ""]
    store = report.get("store") or {}
    if store.get("quick_check", "ok") != "ok":
        out += [f"Store {store.get('path')}: DAMAGED", "", "Health: ATTENTION"]
        out += [f"  - {p}" for p in report["problems"]]
        return "\n".join(out)
    rows = []
    for a in report["accounts"]:
        if not a["in_config"]:
            state = "not in config"
        elif not a["enabled"]:
            state = "disabled"
        elif a["paused"]:
            state = "PAUSED"
        elif a["stale"]:
            state = "STALE"
        else:
            state = "ok"
        since = "-" if a["hours_since_success"] is None else f"{a['hours_since_success']:.1f} h ago"
        budget = "-"
        if a["platform"] == "twitter":
            cap = a["monthly_read_cap"]
            budget = f"{a['reads_this_month']}/{cap} ({a['read_budget_pct']}%)" if cap else f"{a['reads_this_month']}/no cap"
            money = a.get("monthly_budget_usd")
            cost = a.get("cost_usd_this_month") or 0.0
            budget += (f", ${cost:,.2f}/${money:,.2f} ({a['budget_usd_pct']}%)" if money else f", ${cost:,.2f}")
        rows.append([a["account"], a["platform"] or "-", state, a["last_success_at"] or "never", since,
                     str(a["consecutive_failures"]), budget])
    out.append("Accounts")
    out.append(_table(["account", "platform", "state", "last success", "age", "failures", "X reads this month"], rows)
               if rows else "(no accounts configured)")
    for a in report["accounts"]:
        if a["paused"]:
            out.append(f"  {a['account']} paused at {a['paused_at']}: {_one_line(a['paused_reason'])}")
        elif a["last_error"]:  # e.g. a poll cut short by a repeating paging token
            out.append(f"  {a['account']} last error at {a['last_error_at'] or '?'}: {_one_line(a['last_error'])}")
    ob = report["outbox"]
    out += ["", "Outbox",
            f"  alerts pending: {ob['alerts_pending']} (oldest {ob['oldest_pending_alert'] or '-'}); "
            f"by status: {', '.join(f'{k} {v}' for k, v in ob['alerts'].items()) or 'none'}",
            f"  emails not yet delivered: {ob['messages_unsent']} (oldest {ob['oldest_unsent_message'] or '-'}, "
            f"most attempts {ob['most_attempts']})"]
    if ob["last_delivery_error"]:
        out.append(f"  last delivery error: {_one_line(ob['last_delivery_error'])}")
    for e in ob.get("escalations_overdue", []):
        out.append(f"  ESCALATION NOT DELIVERED: alert {e['alert_id']} raised {e['created_at']}, waiting "
                   f"{e['waited_minutes']} min (limit {ob['escalation_max_wait_minutes']:g}): "
                   f"{_one_line(e['last_error'], 80)}")
    rep = report["last_report"]
    out += ["", "Weekly report",
            f"  {rep['week']}: {rep['status']}, generated {rep['generated_at']}, sent {rep['sent_at'] or '-'}"
            + (f", {rep['path']}" if rep.get("path") else "") if rep else "  none yet"]
    out += ["", "Recent poll errors"]
    if report["recent_errors"]:
        out += [f"  {e['at']}  {e['account']}: {_one_line(e['error'])}" for e in report["recent_errors"]]
    else:
        out.append("  none")
    q = report.get("quarantine") or {}
    out += ["", "Quarantine (payloads the platforms returned that could not be read; each was emailed)"]
    if q.get("total"):
        by = ", ".join(f"{k} {v}" for k, v in q["by_platform"].items())
        out.append(f"  {q['total']} kept ({by}); newest {q['newest']}")
        out += [f"  row {r['id']}: {r['platform']} {r['kind']} on post {visible(r['post_id'] or '?')}: "
                f"{visible(_one_line(r['reason']))}" for r in q.get("latest", [])]
    else:
        out.append("  none")
    out += ["", "Health: " + ("OK" if report["healthy"] else "ATTENTION")]
    out += [f"  - {p}" for p in report["problems"]]
    return "\n".join(out)

"""CLI commands of the coordinator's side: review queue, platform actions, calibration,
evidence, retention purge and subject access requests.

``register(sub)`` adds to the ``school-monitor`` sub-parsers::

    review [list] [--all] [--limit N] [--json]
    review show ID [--json]
    review ack ID [--note TEXT] [--by NAME]
    review resolve ID --verdict confirmed|false_positive|blocked|hidden|removed
                      [--keys KEY,KEY] [--note TEXT] [--amend] [--by NAME]
    review hide ID [--comment PLATFORM:ID] [--reason TEXT] [--yes] [--by NAME]
    review unhide ID [--comment PLATFORM:ID] [--reason TEXT] [--yes] [--by NAME]
    review block ID [--reason TEXT] [--yes] [--by NAME]
    calibration [--target-precision P] [--min-support N] [--json]
    evidence export (--author ID | --comment PLATFORM:ID | --since DATE) -o FILE [--by NAME]
    evidence verify FILE [--manifest-sha256 HEX] [--against-store]
    evidence check [--by NAME]
    purge [--dry-run] [--by NAME]
    sar --author ID -o FILE [--by NAME]

Every command takes ``--config PATH`` and ``--db PATH`` (after the command name). ``ID``
of the review commands is the number in the ``review`` list; hide/unhide/block also take
``PLATFORM:COMMENT_ID``. Platform actions do nothing without ``--yes`` (they print what
they would do). Handlers return the exit status: 0 done, 1 refused / problems found;
errors the user can fix raise :class:`monitor.cli.util.CommandError`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import textwrap
from datetime import date, datetime, timezone
from typing import Any, Callable, TextIO
from zoneinfo import ZoneInfo

from monitor.casework import calibration as calib
from monitor.casework import evidence, retention, review, sar
from monitor.cli.util import (CommandError, VisibleWriter, actor, add_actor_arg, add_config_arg,
                             load_config_from_args, open_store, visible)
from monitor.domain import POLICY_KEYS, parse_time

Clock = Callable[[], datetime]


def _system_clock() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _config_args_suppressed(p: argparse.ArgumentParser) -> None:
    """``--config``/``--db`` on a sub-command without defaults, so that values given to the
    parent command (``review --config X show 3``) are not overwritten."""
    p.add_argument("--config", "-c", metavar="PATH", default=argparse.SUPPRESS,
                   help="config file (default: $SCHOOL_MONITOR_CONFIG or /etc/school-monitor/config.toml)")
    p.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS,
                   help="SQLite store (default: [storage] path in the config)")


def _local(value: str | None, tz: ZoneInfo) -> str:
    if not value:
        return "-"
    return parse_time(value).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _one_line(text: str | None, width: int = 60) -> str:
    """Outside text on one line (whitespace collapsed, controls shown visibly), cut to ``width``."""
    s = visible(" ".join((text or "").split()))
    return s if len(s) <= width else s[: width - 1] + "…"


_v = visible  # a one-line field from outside (name, id, note, URL): controls and line breaks shown as escapes


def _json_out(obj: Any, out: TextIO) -> None:
    out.write(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n")


# --------------------------------------------------------------------------- review


def format_queue(items: list[review.ReviewItem], tz: ZoneInfo) -> str:
    """The review queue as a table (newest first)."""
    if not items:
        return "No open review items.\n"
    lines = [f"{'ID':>5}  {'KIND':<20} {'STATUS':<12} {'CREATED':<21} {'AUTHOR':<16} SUMMARY"]
    for it in items:
        lines.append(f"{it.id:>5}  {it.kind:<20} {it.review_status:<12} {_local(it.created_at, tz):<21} "
                     f"{_v(it.author_id or '-'):<16} {_one_line(it.summary, 70)}")
    return "\n".join(lines) + "\n"


def _comment_line(c: dict, tz: ZoneInfo, indent: str = "  ") -> str:
    text = c.get("text")
    shown = "[text purged]" if text is None else _one_line(text, 100)
    return f"{indent}{_local(c.get('created_at'), tz)}  {_v(c.get('author_name') or c.get('author_id'))}: {shown}"


def format_detail(d: review.ReviewDetail, tz: ZoneInfo) -> str:
    """``review show`` as readable text: item, comments in context, author history, audit."""
    it = d.item
    out = [f"Review item {it.id}: {it.kind}{' (urgent)' if it.urgent else ''}, {it.review_status}",
           f"  created {_local(it.created_at, tz)}; email {it.delivery}",
           f"  {_v(it.summary)}"]
    if it.acked_at:
        out.append(f"  acknowledged by {_v(it.acked_by)} at {_local(it.acked_at, tz)}")
    if it.resolved_at:
        out.append(f"  resolved by {_v(it.resolved_by)} at {_local(it.resolved_at, tz)}: {it.verdict}"
                   + (f" ({_v(it.note)})" if it.note else ""))
    if d.details.get("reason"):
        out.append(f"  reason: {_v(d.details['reason'])}")
    for v in d.comments:
        c = v.comment
        out += ["", f"Comment {c['platform']}:{_v(c['comment_id'])} (account {c['account']})"]
        if v.post:
            out.append(f"  on the school's post: {_one_line(v.post.get('text'), 100)}")
        if v.parent:
            out.append("  in reply to:")
            out.append(_comment_line(v.parent, tz, "    "))
        out.append(f"  by {_v(c['author_name'] or 'unnamed')} ({_v(c['author_id'])}) at {_local(c['created_at'], tz)}")
        text = c["text"]
        body = f"[text purged on {c['purged_at']}]" if text is None else visible(text, multiline=True)
        out.append(textwrap.indent(textwrap.fill(body, 92, replace_whitespace=False) if body else "(no text)",
                                   "  | "))
        for a in c["attachments"] or []:
            out.append(f"  attachment: {_v(a.get('type'))} {_v(a.get('url') or '')}".rstrip())
        out.append(f"  link: {_v(c['permalink'] or '-')}")
        state = []
        if c["deleted_at"]:
            state.append(f"deleted on the platform {_local(c['deleted_at'], tz)}")
        if c["is_hidden"]:
            state.append("hidden")
        if len(v.versions) > 1:
            state.append(f"edited ({len(v.versions)} versions)")
        if state:
            out.append("  " + "; ".join(state))
        if len(v.versions) > 1:
            for ver in v.versions:
                out.append(f"    v{ver['version']} seen {_local(ver['seen_at'], tz)}: "
                           f"{_one_line(ver['text'], 80) if ver['text'] is not None else '[purged]'}")
        out.append(f"  keys: {', '.join(v.keys) or 'none'}")
        if v.assessment:
            for e in v.assessment.get("evidence") or []:
                out.append(f"    {_v(e.get('key'))}: {_v(e.get('detail'))}")
            for r in v.assessment.get("review_reasons") or []:
                out.append(f"    review: {_v(r)}")
        if v.scores:
            s = v.scores[0]
            vals = ", ".join(f"{k} {float(x):.2f}" for k, x in sorted(s["values"].items()))
            out.append(f"  scores ({s['model']} {s['model_version']}, v{s['version']}): {vals}")
        for vd in v.verdicts:
            out.append(f"  verdict: {vd['verdict']} by {_v(vd['by'])} at {_local(vd['at'], tz)}"
                       + (f" ({_v(vd['note'])})" if vd["note"] else ""))
        if v.siblings or v.replies:
            out.append("  thread:")
            for s in sorted([*v.siblings, c], key=lambda x: (x["created_at"], x["comment_id"])):
                out.append(_comment_line(s, tz, "  ▶ " if s is c else "    ")
                           + ("  (this comment)" if s is c else ""))
            for r in v.replies:
                out.append(_comment_line(r, tz, "    ↳ "))
    if d.author:
        a = d.author
        name = _v((a.author or {}).get("name") or "unnamed")
        out += ["", f"Author {name} ({_v((a.author or {}).get('author_id', it.author_id))}): {a.comments} comment(s) "
                    f"stored, {len(a.flagged)} flagged, {len(a.strikes)} strike(s), "
                    f"{len(a.block_recommendations)} block recommendation(s)"]
        for s in a.strikes:
            out.append(f"  strike {s['key']} at {_local(s['at'], tz)} ({s['platform']}:{_v(s['comment_id'])})")
        for f in a.flagged[:10]:
            out.append(f"  flagged {f['platform']}:{_v(f['comment_id'])} {_local(f['created_at'], tz)} "
                       f"[{', '.join(f['keys']) or 'review'}]: "
                       f"{_one_line(f['text'], 70) if f['text'] is not None else '[purged]'}")
    if d.audit:
        out += ["", "Audit trail:"]
        for e in d.audit:
            out.append(f"  {_local(e['at'], tz)} {_v(e['actor'])} {e['action']}" + (f": {_v(e['reason'])}" if e["reason"] else ""))
    if it.review_status != "resolved":
        out += ["", f"Next: school-monitor review ack {it.id}  |  school-monitor review resolve {it.id} "
                    f"--verdict {'|'.join(review.VERDICTS)}"]
    return "\n".join(out) + "\n"


def _detail_json(d: review.ReviewDetail) -> dict:
    from dataclasses import asdict

    return asdict(d)


class _Commands:
    """The handlers, bound to an injectable clock and connector factory (tests)."""

    def __init__(self, connector_factory: Callable[[Any], Any] | None, clock: Clock | None,
                 out: TextIO | None = None):
        self.connector_factory = connector_factory
        self.clock = clock or _system_clock
        self._out = out

    @property
    def out(self) -> TextIO:
        """Where the command writes: every write shows control characters visibly
        (:class:`monitor.cli.util.VisibleWriter`), so no comment text, name or file name
        from a bundle acts on the terminal; JSON stays the same JSON."""
        import sys

        return VisibleWriter(self._out or sys.stdout)  # type: ignore[return-value]

    def _open(self, args: argparse.Namespace):
        config = load_config_from_args(args)
        return config, open_store(args, config, must_exist=True)

    @contextlib.contextmanager
    def _session(self, args: argparse.Namespace, *errors: type[Exception]):
        """``(config, store)`` for one command: the store is closed afterwards and any of
        ``errors`` becomes a :class:`CommandError` with its message."""
        config, store = self._open(args)
        try:
            yield config, store
        except errors as exc:
            raise CommandError(str(exc)) from None
        finally:
            store.close()

    # review ---------------------------------------------------------------
    def review_list(self, args: argparse.Namespace) -> int:
        with self._session(args) as (config, store):
            items = review.list_open(store, include_resolved=getattr(args, "all", False),
                                     limit=getattr(args, "limit", None))
        if getattr(args, "json", False):
            from dataclasses import asdict

            _json_out([asdict(i) for i in items], self.out)
        else:
            self.out.write(format_queue(items, config.school.tz))
        return 0

    def review_show(self, args: argparse.Namespace) -> int:
        with self._session(args, review.ReviewError) as (config, store):
            detail = review.show(store, args.id)
        if args.json:
            _json_out(_detail_json(detail), self.out)
        else:
            self.out.write(format_detail(detail, config.school.tz))
        return 0

    def review_ack(self, args: argparse.Namespace) -> int:
        with self._session(args, review.ReviewError) as (config, store):
            item = review.ack(store, args.id, actor=actor(args), now=self.clock(), note=args.note)
        self.out.write(f"Review item {item.id} acknowledged by {item.acked_by}"
                       f"{' (the escalation will not be repeated)' if item.kind == 'escalation' else ''}.\n")
        return 0

    def review_resolve(self, args: argparse.Namespace) -> int:
        keys = None
        if args.keys is not None:
            keys = [k.strip() for k in args.keys.split(",") if k.strip()]
        with self._session(args, review.ReviewError) as (config, store):
            item = review.resolve(store, args.id, args.verdict, actor=actor(args), now=self.clock(),
                                  note=args.note, keys=keys, amend=args.amend)
        self.out.write(f"Review item {item.id} {'amended' if args.amend else 'resolved'} by {item.resolved_by}: "
                       f"{item.verdict}.\n")
        return 0

    def review_action(self, args: argparse.Namespace) -> int:
        config, store = self._open(args)
        try:
            plan = review.plan_action(store, args.target, args.action, comment=getattr(args, "comment", None))
            if not args.yes:
                self.out.write(f"Would {plan.description}.\nNothing done: run again with --yes to do it.\n")
                if plan.platform in ("twitter", "instagram") and plan.action == "block":
                    name = "X" if plan.platform == "twitter" else "Instagram"
                    self.out.write(f"Note: {name} does not allow blocking through its API; the command will tell "
                                   "you how to block in the app.\n")
                return 0
            result = review.perform_action(store, config, plan, actor=actor(args), now=self.clock(),
                                           reason=args.reason, connector_factory=self.connector_factory)
        except review.ActionRefused as exc:
            raise CommandError(f"{exc}\n(recorded in the audit log)") from None
        except review.ReviewError as exc:
            raise CommandError(str(exc)) from None
        finally:
            store.close()
        self.out.write(f"Done: {result.message}.\n")
        if plan.alert_id is not None:
            verdict = {"hide": "hidden", "block": "blocked"}.get(plan.action)
            if verdict:
                self.out.write(f"To record it: school-monitor review resolve {plan.alert_id} --verdict {verdict}\n")
        return 0

    # calibration ----------------------------------------------------------
    def calibration(self, args: argparse.Namespace) -> int:
        with self._session(args) as (config, store):
            judgements = calib.load_judgements(store)
        try:
            report = calib.compute(judgements, config.policy.thresholds, target_precision=args.target_precision,
                                   min_support=args.min_support)
        except ValueError as exc:
            raise CommandError(str(exc), status=2) from None
        if args.json:
            _json_out(report.to_dict(), self.out)
        else:
            self.out.write(calib.format_text(report))
        return 0

    # evidence -------------------------------------------------------------
    def evidence_export(self, args: argparse.Namespace) -> int:
        ref = None
        if args.comment:
            try:
                ref = review.parse_comment_ref(args.comment)
            except review.ReviewError as exc:
                raise CommandError(f"--comment: {exc}", status=2) from None
        since = parse_since(args.since) if args.since else None
        if args.author:
            try:
                sar.check_author_id(args.author)
            except sar.SarError as exc:
                raise CommandError(f"--author: {exc}", status=2) from None
        with self._session(args, evidence.EvidenceError) as (config, store):
            path = evidence.export_bundle(store, config, author_id=args.author, comment_ref=ref, since=since,
                                          out_path=args.output, now=self.clock(), actor=actor(args))
        manifest = json.loads(_read_manifest(path))
        self.out.write(f"Wrote {path}: {manifest['comments']} comment(s), {len(manifest['files'])} file(s).\n"
                       f"manifest SHA-256: {evidence.manifest_sha256(path)}\n"
                       "Give this SHA-256 separately from the bundle; check with: school-monitor evidence verify "
                       f"{path} --manifest-sha256 <SHA-256>\n")
        if not manifest["store_chain"]["verified"]:
            self.out.write("WARNING: the store's hash chain has problems; run `school-monitor evidence check`.\n")
        return 0

    def evidence_verify(self, args: argparse.Namespace) -> int:
        store = None
        if args.against_store:
            config, store = self._open(args)
        try:
            problems = evidence.verify_bundle(args.bundle, store=store, expected_manifest_sha256=args.manifest_sha256)
        finally:
            if store is not None:
                store.close()
        if problems:
            self.out.write(f"{args.bundle}: {len(problems)} problem(s):\n")
            for p in problems:
                self.out.write(f"  - {p}\n")
            return 1
        self.out.write(f"{args.bundle}: intact (every file matches the manifest; every version's hashes and chain "
                       f"links recompute{'; every link is in the store' if store is not None else ''}).\n")
        return 0

    def evidence_check(self, args: argparse.Namespace) -> int:
        config, store = self._open(args)
        try:
            report = evidence.verify_chain(store)
            evidence.record_check(store, report, actor=actor(args), now=self.clock())
        finally:
            store.close()
        self.out.write(f"Checked {report.rows} chained record(s) ({report.versions} version(s), "
                       f"{report.purged_versions} purged) of {report.comments} comment(s) and {report.anchors} "
                       "recorded head(s).\n"
                       f"chain head: {report.head}\n")
        if report.ok:
            self.out.write("OK: the evidence chain is intact.\n")
            return 0
        self.out.write(f"BROKEN: {len(report.problems)} problem(s); first: {report.first_broken}\n")
        for p in report.problems[1:20]:
            self.out.write(f"  - {p}\n")
        return 1

    # data protection ------------------------------------------------------
    def purge(self, args: argparse.Namespace) -> int:
        config, store = self._open(args)
        try:
            report = retention.purge(store, config, self.clock(), dry_run=args.dry_run, actor=actor(args))
        finally:
            store.close()
        self.out.write(report.summary() + ".\n")
        if args.dry_run:
            self.out.write("Dry run: nothing was changed.\n")
        return 0

    def sar(self, args: argparse.Namespace) -> int:
        try:
            sar.check_author_id(args.author)
        except sar.SarError as exc:
            raise CommandError(str(exc), status=2) from None
        config, store = self._open(args)
        try:
            result = sar.export_sar(store, args.author, args.output, now=self.clock(), actor=actor(args),
                                    config=config)
        except sar.SarError as exc:
            raise CommandError(str(exc)) from None
        finally:
            store.close()
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()) if v)
        if result.found:
            self.out.write(f"Wrote {result.path}: {counts}.\n")
        else:
            self.out.write(f"Wrote {result.path}: the store holds nothing about {args.author} "
                           "(check the id: fb:<Facebook user id>, tw:<X user id> or ig:<Instagram user id>).\n")
        return 0


def _read_manifest(path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return zf.read(evidence.MANIFEST)


def parse_since(text: str) -> date | datetime:
    """``--since``: a date ``YYYY-MM-DD`` (midnight, school time) or an ISO 8601
    timestamp with offset.

    :raises CommandError: naming the value (exit 2).
    """
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parse_time(text)
    except ValueError:
        raise CommandError(f"--since: expected a date YYYY-MM-DD or a timestamp with offset, got {text!r}",
                           status=2) from None


def register(sub: "argparse._SubParsersAction", *, connector_factory: Callable[[Any], Any] | None = None,
             clock: Clock | None = None, out: TextIO | None = None) -> None:
    """Add ``review``, ``calibration``, ``evidence``, ``purge`` and ``sar`` to the CLI.

    :param connector_factory: builds a connector from an ``AccountConfig`` (default
        :func:`connectors.build_connector`); tests pass a fake.
    :param clock: returns aware UTC now (default: the system clock).
    :param out: where output goes (default ``sys.stdout``).
    """
    cmd = _Commands(connector_factory, clock, out)
    fmt = argparse.RawDescriptionHelpFormatter

    # review ---------------------------------------------------------------
    rv = sub.add_parser("review", help="the coordinator's review queue (list, show, ack, resolve, hide, block)",
                        formatter_class=fmt, description=(
                            "List open review items (escalations, block recommendations, needs_review), newest "
                            "first. Sub-commands act on one item; every action goes to the audit log."))
    add_config_arg(rv)
    rv.add_argument("--all", action="store_true", help="include resolved items")
    rv.add_argument("--limit", type=int, default=None, metavar="N", help="show at most N items")
    rv.add_argument("--json", action="store_true", help="JSON output")
    rv.set_defaults(func=cmd.review_list)
    rsub = rv.add_subparsers(dest="review_command", metavar="COMMAND")

    p = rsub.add_parser("list", help="list open items (the default)")
    _config_args_suppressed(p)
    p.add_argument("--all", action="store_true", default=argparse.SUPPRESS, help="include resolved items")
    p.add_argument("--limit", type=int, default=argparse.SUPPRESS, metavar="N", help="show at most N items")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON output")
    p.set_defaults(func=cmd.review_list)

    p = rsub.add_parser("show", help="one item: the comment in its thread, evidence, scores, author history")
    _config_args_suppressed(p)
    p.add_argument("id", metavar="ID", help="review item id (from `review`)")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON output")
    p.set_defaults(func=cmd.review_show)

    p = rsub.add_parser("ack", help="acknowledge an item (stops the repeat of an escalation)")
    _config_args_suppressed(p)
    add_actor_arg(p)
    p.add_argument("id", metavar="ID")
    p.add_argument("--note", metavar="TEXT", help="why / what you are doing (audit log)")
    p.set_defaults(func=cmd.review_ack)

    p = rsub.add_parser("resolve", help="resolve an item with a verdict", formatter_class=fmt, description=(
        "Verdicts: confirmed (the keys are right), false_positive (no breach), blocked / hidden / removed "
        "(confirmed and that was done). --keys replaces the automatic keys with the ones you confirm."))
    _config_args_suppressed(p)
    add_actor_arg(p)
    p.add_argument("id", metavar="ID")
    p.add_argument("--verdict", required=True, choices=review.VERDICTS)
    p.add_argument("--keys", metavar="KEY,KEY", default=None,
                   help=f"policy keys you confirm (one of: {', '.join(POLICY_KEYS)})")
    p.add_argument("--note", metavar="TEXT", help="why (audit log and verdict)")
    p.add_argument("--amend", action="store_true",
                   help="correct the verdict of a resolved item (needs --note; the earlier verdict stays in history)")
    p.set_defaults(func=cmd.review_resolve)

    for action, helptext in (("hide", "hide the comment on the platform (Facebook comment or X reply)"),
                             ("unhide", "unhide the comment on the platform"),
                             ("block", "block the author from the Facebook Page (X: tells you how in the app)")):
        p = rsub.add_parser(action, help=helptext, description=helptext + ". Nothing is done without --yes.")
        _config_args_suppressed(p)
        add_actor_arg(p)
        p.add_argument("target", metavar="ID", help="review item id, or PLATFORM:COMMENT_ID")
        if action != "block":
            p.add_argument("--comment", metavar="PLATFORM:ID", help="which comment, for an item about several")
        p.add_argument("--reason", metavar="TEXT", help="why (audit log)")
        p.add_argument("--yes", action="store_true", help="really do it")
        p.set_defaults(func=cmd.review_action, action=action)

    # calibration ----------------------------------------------------------
    p = sub.add_parser("calibration", help="precision of the automatic keys against verdicts; suggested thresholds",
                       formatter_class=fmt, description=calib.METHOD)
    add_config_arg(p)
    p.add_argument("--target-precision", type=float, default=0.8, metavar="P",
                   help="precision a suggested threshold must reach (default 0.8)")
    p.add_argument("--min-support", type=int, default=5, metavar="N",
                   help="fewest judged comments at or above a suggested threshold (default 5)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd.calibration)

    # evidence -------------------------------------------------------------
    ev = sub.add_parser("evidence", help="export and verify evidence bundles; check the store's hash chain")
    esub = ev.add_subparsers(dest="evidence_command", metavar="COMMAND", required=True)
    p = esub.add_parser("export", help="write an evidence bundle (zip) for a referral", formatter_class=fmt,
                        description="Select --comment (one comment), --author (all their comments, optionally "
                                    "--since), or --since alone (every flagged comment since DATE).")
    add_config_arg(p)
    add_actor_arg(p)
    p.add_argument("--author", metavar="ID", help="author id, fb:<id>, tw:<id> or ig:<id>")
    p.add_argument("--comment", metavar="PLATFORM:ID", help="one comment, e.g. facebook:123_456")
    p.add_argument("--since", metavar="DATE", help="YYYY-MM-DD (school time) or ISO timestamp")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the zip to write")
    p.set_defaults(func=cmd.evidence_export)
    p = esub.add_parser("verify", help="check a bundle: file hashes, content hashes, chain links")
    add_config_arg(p)
    p.add_argument("bundle", metavar="FILE")
    p.add_argument("--manifest-sha256", metavar="HEX", help="the manifest SHA-256 printed at export")
    p.add_argument("--against-store", action="store_true", help="also check each link is in the store")
    p.set_defaults(func=cmd.evidence_verify)
    p = esub.add_parser("check", help="verify the store's hash chain (exit 1 if broken)")
    add_config_arg(p)
    add_actor_arg(p)
    p.set_defaults(func=cmd.evidence_check)

    # data protection ------------------------------------------------------
    p = sub.add_parser("purge", help="apply the retention policy now (the daemon does it daily)",
                       formatter_class=fmt, description=(
                           "Deletes the text of comments with no policy key after [storage] retention_days and of "
                           "flagged evidence after [storage] evidence_years; keeps hashes and the audit log."))
    add_config_arg(p)
    add_actor_arg(p)
    p.add_argument("--dry-run", action="store_true", help="count only; change nothing")
    p.set_defaults(func=cmd.purge)

    p = sub.add_parser("sar", help="subject access request: export everything held about one commenter")
    add_config_arg(p)
    add_actor_arg(p)
    p.add_argument("--author", required=True, metavar="ID", help="author id, fb:<id>, tw:<id> or ig:<id>")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="JSON file (or .zip)")
    p.set_defaults(func=cmd.sar)

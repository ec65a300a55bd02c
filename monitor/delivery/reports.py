"""The weekly report for the senior team: what the policy asks them to monitor, counted.

The Libra policy asks the Headteacher and Senior Management Team to monitor the number of
comments in each of its eleven categories. The report gives, for one week (Monday 00:00
to the next Monday 00:00 in the school's timezone, named by ISO week ``2026-W42``):

* each category in the policy's own words: automatic count (``comment_keys``) split by
  platform, the count confirmed by the coordinator (``verdicts``), last week's count and
  the 4-week trend;
* comments read per platform, and how many carried a key;
* escalations raised that week and their review status, and older ones still open;
* repeat commenters (two or more keyed comments that week) and block recommendations;
* review items waiting for a person.

:func:`build_report` is pure tallying: SQL aggregates over indexed columns (no Python loop
over comment rows), so a report over a million stored comments takes well under 2 s.
Renderers turn a :class:`WeeklyReport` into text, HTML (with a matplotlib bar chart as a
PNG), CSV and an email (:func:`report_message`). :class:`ReportJob` sends it once per
week, on the configured day and hour, also after a restart.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
import re
import textwrap
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from monitor.delivery.alerts import PLATFORM_NAMES, from_header, header_text, role_addresses, safe_text, sender_domain
from monitor.config import DAY_NAMES, Config
from monitor.domain import PLATFORMS, POLICY_KEYS, iso, parse_time
from monitor.files import write_private
from monitor.delivery.mailer import DeliveryError

try:
    from monitor.logging import get_logger
except ImportError:  # pragma: no cover
    import structlog

    get_logger = structlog.get_logger

#: Verdicts (``review resolve --verdict``) that confirm a comment's keys: the coordinator
#: judged it a real case (and may have acted on it).
CONFIRMING_VERDICTS = ("confirmed", "blocked", "hidden", "removed")
#: Weeks in the trend (ending with the reported week).
TREND_WEEKS = 4
#: Rows listed in the escalation, repeat-commenter and block tables.
LIST_LIMIT = 25

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


# --------------------------------------------------------------------------- weeks


def parse_week(week: str) -> tuple[int, int]:
    """``"2026-W42"`` -> ``(2026, 42)``.

    :raises ValueError: naming the value when it is not an ISO week that exists.
    """
    m = _WEEK_RE.match(week.strip()) if isinstance(week, str) else None
    if not m:
        raise ValueError(f"not an ISO week like 2026-W42: {week!r}")
    year, num = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(year, num, 1)
    except ValueError:
        raise ValueError(f"ISO week {week!r} does not exist ({year} has no week {num})") from None
    return year, num


def week_of(dt: datetime, tz: ZoneInfo) -> str:
    """The ISO week (``2026-W42``) holding ``dt`` in timezone ``tz``."""
    y, w, _ = dt.astimezone(tz).isocalendar()
    return f"{y}-W{w:02d}"


def week_monday(week: str) -> date:
    """The Monday of an ISO week."""
    y, w = parse_week(week)
    return date.fromisocalendar(y, w, 1)


def shift_week(week: str, n: int) -> str:
    """The ISO week ``n`` weeks after ``week`` (negative: before)."""
    d = week_monday(week) + timedelta(weeks=n)
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def local_midnight(d: date, tz: ZoneInfo) -> datetime:
    """00:00 of day ``d`` in ``tz`` (aware)."""
    return datetime.combine(d, time(0, 0), tzinfo=tz)


def week_bounds(week: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` of an ISO week in ``tz`` as aware UTC datetimes: Monday 00:00 local
    to the next Monday 00:00 local (a week holding a clock change is 167 or 169 hours)."""
    monday = week_monday(week)
    start = local_midnight(monday, tz).astimezone(timezone.utc)
    end = local_midnight(monday + timedelta(days=7), tz).astimezone(timezone.utc)
    return start, end


def previous_week(now: datetime, tz: ZoneInfo) -> str:
    """The ISO week before the one holding ``now`` (in ``tz``)."""
    return shift_week(week_of(now, tz), -1)


def scheduled_at(week: str, config: Config) -> datetime:
    """When the report for ``week`` is due (aware UTC): the configured day, hour and
    minute (``[reports]``, school time) of the week after ``week``."""
    tz = config.school.tz
    r = config.reports
    day = week_monday(week) + timedelta(days=7 + DAY_NAMES.index(r.day))
    return datetime.combine(day, time(r.hour, r.minute), tzinfo=tz).astimezone(timezone.utc)


def due_week(now: datetime, config: Config) -> str:
    """The latest week whose report is due at ``now``: the previous week once this
    week's configured send time has passed, else the week before it."""
    prev = previous_week(now, config.school.tz)
    return prev if scheduled_at(prev, config) <= now else shift_week(prev, -1)


def has_index(db: Any, table: str, columns: tuple[str, ...]) -> bool:
    """True when ``table`` has an index whose leading columns are ``columns`` (the
    tallies pick the cheapest query the store's indexes allow)."""
    for idx in db.execute(f'PRAGMA index_list("{table}")').fetchall():
        name = str(idx[1]).replace('"', '""')
        cols = tuple(r[2] for r in db.execute(f'PRAGMA index_info("{name}")').fetchall())
        if cols[: len(columns)] == columns:
            return True
    return False


def _bound(dt: datetime) -> str:
    """A UTC bound for text comparison with stored ISO timestamps: no ``Z`` and no
    fraction, so ``...T23:00:00Z`` and ``...T23:00:00.5Z`` both sort at or after it."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class CategoryRow:
    """One policy key in the report.

    :ivar key: the policy key; ``words`` the policy's own words for it.
    :ivar by_platform: automatic count in the reported week per platform.
    :ivar confirmed_by_platform: confirmed count in the reported week per platform.
    :ivar trend: automatic totals for the trend weeks, oldest first (last = this week).
    :ivar confirmed_trend: confirmed totals for the same weeks.
    """

    key: str
    words: str
    by_platform: Mapping[str, int]
    confirmed_by_platform: Mapping[str, int]
    trend: tuple[int, ...]
    confirmed_trend: tuple[int, ...]

    @property
    def total(self) -> int:
        """Automatic count, reported week, all platforms."""
        return self.trend[-1]

    @property
    def confirmed(self) -> int:
        """Confirmed count, reported week, all platforms."""
        return self.confirmed_trend[-1]

    @property
    def last_week(self) -> int:
        """Automatic count the week before."""
        return self.trend[-2] if len(self.trend) > 1 else 0


@dataclass(frozen=True)
class WeeklyReport:
    """Everything the weekly report shows (pure data; see the renderers).

    :ivar week: ISO week reported (``2026-W42``); ``weeks`` the trend weeks, oldest first.
    :ivar start, end: the week in the school's timezone, ``[start, end)``, aware.
    :ivar generated_at: aware UTC.
    :ivar platforms: the platforms with a column (:func:`report_platforms`: Facebook and X,
        and Instagram when an Instagram account is configured or was polled).
    :ivar categories: eleven :class:`CategoryRow`, in the policy's order.
    :ivar comments: comments posted in the week per platform; ``keyed`` those with a key.
    :ivar escalations: escalations about comments posted in the week, newest first (dicts:
        ``id``, ``created_at`` (the comment's time), ``categories``, ``platform``, ``author_id``, ``author_name``,
        ``review_status``, ``verdict``), at most :data:`LIST_LIMIT`.
    :ivar escalation_status: review status -> count for the week's escalations.
    :ivar open_earlier: escalations from before the week still open.
    :ivar repeat_commenters: dicts ``author_id``, ``name``, ``platform``, ``comments``,
        ``keys`` (list), ``strikes`` (comments with a strike in the policy window).
    :ivar block_recommendations: dicts ``alert_id``, ``author_id``, ``name``,
        ``platform``, ``reason``, ``made_at``, ``review_status``, ``verdict``.
    :ivar waiting_review: open review items by kind when the report was made;
        ``oldest_waiting`` the oldest one's time (ISO) or None.
    """

    school: str
    timezone: str
    week: str
    weeks: tuple[str, ...]
    start: datetime
    end: datetime
    generated_at: datetime
    platforms: tuple[str, ...]
    categories: tuple[CategoryRow, ...]
    comments: Mapping[str, int]
    keyed: Mapping[str, int]
    escalations: tuple[Mapping[str, Any], ...] = ()
    escalation_status: Mapping[str, int] = field(default_factory=dict)
    escalations_total: int = 0
    open_earlier: int = 0
    repeat_commenters: tuple[Mapping[str, Any], ...] = ()
    block_recommendations: tuple[Mapping[str, Any], ...] = ()
    waiting_review: Mapping[str, int] = field(default_factory=dict)
    oldest_waiting: str | None = None
    window_days: int = 30

    def category(self, key: str) -> CategoryRow:
        """The row for a policy key.

        :raises KeyError: for an unknown key."""
        for row in self.categories:
            if row.key == key:
                return row
        raise KeyError(key)

    @property
    def last_sunday(self) -> date:
        """The week's last day (local)."""
        return (self.end - timedelta(days=1)).date()


# --------------------------------------------------------------------------- tallies

#: Platforms every report shows, even with nothing on them.
ALWAYS_REPORTED = ("facebook", "twitter")


def report_platforms(config: Config, store: Any) -> tuple[str, ...]:
    """The platforms a report has a column for, in :data:`~monitor.domain.PLATFORMS` order:
    Facebook and X always, Instagram (and any other) when the config has an account on it
    or the store has ever polled one (its ``accounts`` table)."""
    present = {a.platform for a in config.accounts}
    present |= {r[0] for r in store.db.execute("SELECT DISTINCT platform FROM accounts")}
    return tuple(p for p in PLATFORMS if p in ALWAYS_REPORTED or p in present)



def build_report(store: Any, config: Config, week: str | None, now: datetime) -> WeeklyReport:
    """Tally the report for ``week`` (default: the week before ``now``'s, in the school's
    timezone) from the store.

    :param store: a :class:`monitor.store.Store` (any store, also one made by replay).
    :param now: aware UTC; only sets the default week and ``generated_at``.
    :raises ValueError: when ``week`` is not an ISO week like ``2026-W42``.
    """
    tz = config.school.tz
    week = week or previous_week(now, tz)
    parse_week(week)
    weeks = tuple(shift_week(week, i) for i in range(-(TREND_WEEKS - 1), 1))
    edges = [week_bounds(w, tz)[0] for w in weeks] + [week_bounds(week, tz)[1]]
    b = [_bound(e) for e in edges]
    start_s, end_s = b[-2], b[-1]
    db = store.db
    bucket = "CASE " + " ".join(f"WHEN {{col}} >= '{b[i]}' THEN {i}" for i in range(TREND_WEEKS - 1, 0, -1)) + " ELSE 0 END"
    n = TREND_WEEKS
    platforms = report_platforms(config, store)

    auto: dict[tuple[str, str], list[int]] = {}
    if has_index(db, "comment_keys", ("key", "platform", "created_at")):
        # one index range count per (key, platform, week): no row is visited twice, no sort
        for key in POLICY_KEYS:
            for p in platforms:
                for i in range(n):
                    cnt = db.execute("SELECT COUNT(*) FROM comment_keys WHERE key = ? AND platform = ? "
                                     "AND created_at >= ? AND created_at < ?", [key, p, b[i], b[i + 1]]).fetchone()[0]
                    if cnt:
                        auto.setdefault((key, p), [0] * n)[i] = cnt
    else:
        for i in range(n):
            for key, platform, cnt in db.execute(
                    "SELECT key, platform, COUNT(*) FROM comment_keys WHERE created_at >= ? AND created_at < ? "
                    "GROUP BY key, platform", [b[i], b[i + 1]]):
                auto.setdefault((key, platform), [0] * n)[i] += cnt

    confirmed: dict[tuple[str, str], list[int]] = {}
    marks = ",".join("?" * len(CONFIRMING_VERDICTS))
    for w, key, platform, cnt in db.execute(
        f"""
        WITH latest AS (
            SELECT v.platform, v.comment_id, v.verdict, v.keys FROM verdicts v
            WHERE v.id = (SELECT MAX(v2.id) FROM verdicts v2
                          WHERE v2.platform = v.platform AND v2.comment_id = v.comment_id)
        ), conf AS (
            SELECT platform, comment_id,
                   CASE WHEN json_valid(keys) THEN keys ELSE '[]' END AS keys
            FROM latest WHERE verdict IN ({marks})
        )
        SELECT w, key, platform, COUNT(*) FROM (
            SELECT {bucket.format(col='ck.created_at')} AS w, ck.key AS key, ck.platform AS platform
            FROM conf JOIN comment_keys ck ON ck.platform = conf.platform AND ck.comment_id = conf.comment_id
            WHERE ck.created_at >= ? AND ck.created_at < ?
              AND (json_array_length(conf.keys) = 0
                   OR ck.key IN (SELECT value FROM json_each(conf.keys)))
            UNION ALL
            SELECT {bucket.format(col='c.created_at')} AS w, j.value AS key, conf.platform AS platform
            FROM conf JOIN comments c ON c.platform = conf.platform AND c.comment_id = conf.comment_id,
                 json_each(conf.keys) j
            WHERE c.created_at >= ? AND c.created_at < ?
              AND j.value NOT IN (SELECT ck2.key FROM comment_keys ck2
                                  WHERE ck2.platform = conf.platform AND ck2.comment_id = conf.comment_id)
        ) GROUP BY w, key, platform
        """, [*CONFIRMING_VERDICTS, b[0], b[-1], b[0], b[-1]]
    ):
        confirmed.setdefault((key, platform), [0] * n)[w] += cnt

    rows = []
    for key, words in POLICY_KEYS.items():
        trend = [sum(auto.get((key, p), [0] * n)[i] for p in platforms) for i in range(n)]
        ctrend = [sum(confirmed.get((key, p), [0] * n)[i] for p in platforms) for i in range(n)]
        rows.append(CategoryRow(
            key=key, words=words,
            by_platform={p: auto.get((key, p), [0] * n)[-1] for p in platforms},
            confirmed_by_platform={p: confirmed.get((key, p), [0] * n)[-1] for p in platforms},
            trend=tuple(trend), confirmed_trend=tuple(ctrend)))

    comments = {p: 0 for p in platforms}
    # ``comments`` is a view; its created_at is comment_state's (migration m006_evidence_chain)
    if has_index(db, "comment_state", ("platform", "created_at")):
        for p in platforms:
            comments[p] = db.execute("SELECT COUNT(*) FROM comments WHERE platform = ? AND created_at >= ? "
                                     "AND created_at < ?", [p, start_s, end_s]).fetchone()[0]
    else:
        for platform, cnt in db.execute(
                "SELECT platform, COUNT(*) FROM comments WHERE created_at >= ? AND created_at < ? GROUP BY platform",
                [start_s, end_s]):
            comments[platform] = cnt
    keyed = {p: 0 for p in platforms}
    for platform, cnt in db.execute(
            "SELECT platform, COUNT(DISTINCT comment_id) FROM comment_keys WHERE created_at >= ? AND created_at < ? "
            "GROUP BY platform", [start_s, end_s]):
        keyed[platform] = cnt

    # escalations belong to the week of the comment that caused them (the alert's own time
    # is when it was detected, which can be later: a poll after a weekend, a replay)
    esc = ("(SELECT id, created_at AS alerted_at, categories, platform, author_id, review_status, verdict, details, "
           "COALESCE(json_extract(details, '$.comment.created_at'), created_at) AS at "
           "FROM alerts WHERE kind = 'escalation')")
    esc_status: dict[str, int] = {}
    for status, cnt in db.execute(
            f"SELECT COALESCE(review_status, 'open'), COUNT(*) FROM {esc} WHERE at >= ? AND at < ? GROUP BY 1",
            [start_s, end_s]):
        esc_status[status] = cnt
    escalations = tuple(db.query(
        "SELECT id, at AS created_at, categories, platform, author_id, review_status, verdict, "
        "json_extract(details, '$.comment.author_name') AS author_name, "
        f"json_extract(details, '$.comment.permalink') AS permalink FROM {esc} "
        "WHERE at >= ? AND at < ? ORDER BY at DESC, id DESC LIMIT ?",
        [start_s, end_s, LIST_LIMIT]))
    open_earlier = int(db.execute(
        f"SELECT COUNT(*) FROM {esc} WHERE review_status = 'open' AND at < ?", [start_s]).fetchone()[0])

    window_start = _bound(edges[-1] - timedelta(days=config.policy.window_days))
    repeaters = []
    for r in db.query(
        """
        SELECT c.author_id AS author_id, MAX(c.author_name) AS name, MAX(c.platform) AS platform,
               COUNT(DISTINCT ck.comment_id) AS comments, group_concat(DISTINCT ck.key) AS keys,
               (SELECT COUNT(DISTINCT s.comment_id) FROM strikes s
                 WHERE s.author_id = c.author_id AND s.at >= ? AND s.at < ?) AS strikes
        FROM comment_keys ck JOIN comments c ON c.platform = ck.platform AND c.comment_id = ck.comment_id
        WHERE ck.created_at >= ? AND ck.created_at < ?
        GROUP BY c.author_id HAVING COUNT(DISTINCT ck.comment_id) >= 2
        ORDER BY comments DESC, strikes DESC, c.author_id LIMIT ?
        """, [window_start, end_s, start_s, end_s, LIST_LIMIT]):
        order = list(POLICY_KEYS)
        keys = sorted(set((r["keys"] or "").split(",")) - {""}, key=lambda k: order.index(k) if k in order else 99)
        repeaters.append({**r, "keys": keys})

    blocks = tuple(db.query(
        "SELECT br.alert_id AS alert_id, br.author_id AS author_id, COALESCE(au.name, '') AS name, "
        "au.platform AS platform, br.reason AS reason, br.made_at AS made_at, "
        "a.review_status AS review_status, a.verdict AS verdict "
        "FROM block_recommendations br LEFT JOIN authors au ON au.author_id = br.author_id "
        "LEFT JOIN alerts a ON a.id = br.alert_id "
        "WHERE br.made_at >= ? AND br.made_at < ? ORDER BY br.made_at DESC, br.id DESC LIMIT ?",
        [start_s, end_s, LIST_LIMIT]))

    waiting: dict[str, int] = {}
    oldest = None
    for kind, cnt, first in db.execute(
            "SELECT kind, COUNT(*), MIN(created_at) FROM alerts WHERE review_status = 'open' GROUP BY kind"):
        waiting[kind] = cnt
        oldest = first if oldest is None or first < oldest else oldest

    return WeeklyReport(
        school=config.school.name, timezone=config.school.timezone, week=week, weeks=weeks,
        start=edges[-2].astimezone(tz), end=edges[-1].astimezone(tz), generated_at=now.astimezone(timezone.utc),
        platforms=platforms, categories=tuple(rows), comments=comments, keyed=keyed,
        escalations=escalations, escalation_status=esc_status, escalations_total=sum(esc_status.values()),
        open_earlier=open_earlier, repeat_commenters=tuple(repeaters), block_recommendations=blocks,
        waiting_review=waiting, oldest_waiting=oldest, window_days=config.policy.window_days)


# --------------------------------------------------------------------------- renderers

_KIND_WORDS = {"escalation": "escalations", "needs_review": "comments needing a person to read them",
               "block_recommendation": "block recommendations"}


def _pname(p: str | None) -> str:
    return PLATFORM_NAMES.get(p or "", p or "?")


def _loc(value: str | None, tz: ZoneInfo) -> str:
    if not value:
        return ""
    try:
        dt = parse_time(value).astimezone(tz)
    except ValueError:
        return safe_text(value)
    return f"{dt:%a} {dt.day} {dt:%b}, {dt:%H:%M}"


def _period(report: WeeklyReport) -> str:
    s, e = report.start, report.last_sunday
    return f"Monday {s.day} {s:%B %Y} to Sunday {e.day} {e:%B %Y}"


def _cats(value: Any) -> list[str]:
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            return []
    return list(value or [])


def _status(row: Mapping[str, Any]) -> str:
    st = row.get("review_status") or "open"
    return f"{st} ({row['verdict']})" if row.get("verdict") else st


def render_text(report: WeeklyReport) -> str:
    """The plain-text report (also the email's text part)."""
    tz = ZoneInfo(report.timezone)
    pl = report.platforms
    lines = [f"{report.school}: social media report for {report.week}",
             f"{_period(report)} ({report.timezone})", ""]
    total = sum(report.comments.values())
    lines.append("Comments posted: " + ", ".join(f"{_pname(p)} {report.comments[p]}" for p in pl)
                 + f" (total {total}); with at least one policy key: {sum(report.keyed.values())}.")
    lines += ["", "Categories the policy asks us to monitor (automatic count; by platform; confirmed by the",
              f"coordinator; last week; trend over {', '.join(report.weeks)}):", ""]
    for r in report.categories:
        split = ", ".join(f"{_pname(p)} {r.by_platform[p]}" for p in pl)
        lines.append(f"{r.words}: {r.total}")
        lines.append(f"    {split}; confirmed {r.confirmed}; last week {r.last_week}; "
                     f"trend {' → '.join(str(x) for x in r.trend)}")
    lines += ["", f"Escalations this week: {report.escalations_total}"
              + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(report.escalation_status.items())) + ")"
                 if report.escalation_status else "")
              + (f"; still open from earlier weeks: {report.open_earlier}" if report.open_earlier else "")]
    for e in report.escalations:
        cats = ", ".join(POLICY_KEYS.get(k, k) for k in _cats(e["categories"]))
        lines.append(f"  #{e['id']} {_loc(e['created_at'], tz)} {_pname(e['platform'])}, "
                     f"{header_text(e.get('author_name') or e.get('author_id') or '', 60)}: {cats} [{_status(e)}]")
    lines += ["", f"Repeat commenters (two or more comments with a policy key this week): "
                  f"{len(report.repeat_commenters)}"]
    for r in report.repeat_commenters:
        lines.append(f"  {header_text(r['name'] or r['author_id'], 60)} ({r['author_id']}, {_pname(r['platform'])}): "
                     f"{r['comments']} comments; {', '.join(r['keys'])}; "
                     f"comments with a strike in {report.window_days} days: {r['strikes']}")
    lines += ["", f"Block recommendations this week: {len(report.block_recommendations)}"]
    for r in report.block_recommendations:
        lines.append(f"  {header_text(r['name'] or r['author_id'], 60)} ({r['author_id']}, {_pname(r['platform'])}): "
                     f"{safe_text(r['reason'])} [{_status(r)}]")
    waiting = sum(report.waiting_review.values())
    lines += ["", f"Waiting for review now: {waiting}"
              + (" (" + ", ".join(f"{_KIND_WORDS.get(k, k)} {v}" for k, v in sorted(report.waiting_review.items()))
                 + f"; oldest since {_loc(report.oldest_waiting, tz)})" if waiting else ""),
              "", "Counts are of comments posted in the week (school time). A comment can carry several "
              "categories. 'Confirmed' counts comments the coordinator has judged real.",
              f"Generated {_loc(iso(report.generated_at), tz)} by School Social Monitor."]
    return "\n".join(lines) + "\n"


def _draw_chart(ax: Any, report: WeeklyReport) -> None:
    """Draw the category bar chart on a matplotlib ``Axes``."""
    cats = list(report.categories)[::-1]
    labels = [textwrap.fill(c.words, 46) for c in cats]
    y = list(range(len(cats)))
    h = 0.38
    left = [0] * len(cats)
    colours = {"facebook": "#1f5fbf", "twitter": "#222222", "instagram": "#c13584"}
    for p in report.platforms:
        vals = [c.by_platform.get(p, 0) for c in cats]
        ax.barh([v + h / 2 for v in y], vals, height=h, left=left, color=colours.get(p, "#888"),
                label=f"{report.week} {_pname(p)}")
        left = [a + b for a, b in zip(left, vals)]
    ax.barh([v - h / 2 for v in y], [c.last_week for c in cats], height=h, color="#bbbbbb",
            label=f"{report.weeks[-2]} (last week)")
    top = max([1] + [max(c.total, c.last_week) for c in cats])
    ax.set_xlim(0, top * 1.12)
    for yi, c in zip(y, cats):
        if c.total:
            ax.text(c.total + top * 0.01, yi + h / 2, str(c.total), va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7.5)
    ax.set_xlabel("comments")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"{report.school}: comments per policy category, {report.week}", fontsize=11)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=3, fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight", pad_inches=0.15)
    return buf.getvalue()


def render_chart_png(report: WeeklyReport) -> bytes:
    """A horizontal bar chart (PNG bytes, about 1000x640 px) of the eleven categories:
    this week stacked by platform, last week beside it. matplotlib with the Agg canvas
    (no display, no pyplot global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6.4), dpi=100)
    FigureCanvasAgg(fig)
    _draw_chart(fig.add_subplot(1, 1, 1), report)
    fig.tight_layout()
    return _png(fig)


def render_report_png(report: WeeklyReport) -> bytes:
    """The report as one picture (PNG bytes, about 1100x1250 px): heading, the category
    table (the policy's words; by platform, total, confirmed, last week, trend), the
    escalation, block and review counts, and the chart. For a README or a slide; the
    email and HTML report carry the same content as text."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 12.5), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(3, 1, height_ratios=[0.9, 4.2, 6.4], hspace=0.08)
    head = fig.add_subplot(grid[0])
    head.axis("off")
    s, e = report.start, report.last_sunday
    head.text(0, 0.95, f"{report.school}: social media report {report.week}", fontsize=15, weight="bold",
              va="top")
    waiting = sum(report.waiting_review.values())
    head.text(0, 0.45, f"Monday {s.day} {s:%B %Y} to Sunday {e.day} {e:%B %Y} ({report.timezone}).  "
                       f"Comments posted: " + ", ".join(f"{_pname(p)} {report.comments[p]}" for p in report.platforms)
              + f"; with a policy key: {sum(report.keyed.values())}.", fontsize=9.5, va="top")
    head.text(0, 0.1, f"Escalations this week: {report.escalations_total} "
                      f"(open {report.escalation_status.get('open', 0)}); still open from earlier weeks: "
                      f"{report.open_earlier}.  Block recommendations: {len(report.block_recommendations)}.  "
                      f"Repeat commenters: {len(report.repeat_commenters)}.  Waiting for review: {waiting}.",
              fontsize=9.5, va="top")
    tab = fig.add_subplot(grid[1])
    tab.axis("off")
    cols = (["Category (the policy's words)"] + [_pname(p) for p in report.platforms]
            + ["This week", "Confirmed", "Last week", "4-week trend"])
    wrap = 60 - 8 * max(0, len(report.platforms) - 2)
    cells = [[textwrap.fill(r.words, wrap)] + [str(r.by_platform[p]) for p in report.platforms]
             + [str(r.total), str(r.confirmed), str(r.last_week), " → ".join(str(x) for x in r.trend)]
             for r in report.categories]
    widths = [0.5 - 0.075 * max(0, len(report.platforms) - 2)] + [0.075] * len(report.platforms) \
        + [0.08, 0.085, 0.085, 0.13]
    table = tab.table(cellText=cells, colLabels=cols, colWidths=widths, loc="upper center", cellLoc="right",
                      colLoc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.3)
    cells_by_pos = table.get_celld()
    for (row, col), cell in cells_by_pos.items():
        cell.set_edgecolor("#dddddd")
        if col == 0:
            cell.get_text().set_horizontalalignment("left")
            cell._loc = "left"  # matplotlib positions the text by the cell's own alignment
        if row == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#f0f0f0")
        elif col == len(report.platforms) + 1 and cell.get_text().get_text() != "0":
            cell.set_text_props(weight="bold")
        if "\n" in cells_by_pos[row, 0].get_text().get_text():
            cell.set_height(cell.get_height() * 1.8)
    _draw_chart(fig.add_subplot(grid[2]), report)
    return _png(fig)


def render_html(report: WeeklyReport, *, chart_src: str | None = None, chart_png: bytes | None = None) -> str:
    """The HTML report.

    :param chart_src: the ``<img src>`` of the chart: ``cid:...`` in the email, a file
        name next to the HTML file; None embeds the PNG as a ``data:`` URI (one
        self-contained file); ``""`` leaves the chart out.
    :param chart_png: the PNG when already rendered (saves rendering it twice).
    """
    tz = ZoneInfo(report.timezone)
    e = lambda v: html.escape(safe_text(v), quote=True)  # noqa: E731
    pl = report.platforms
    if chart_src is None:
        png = chart_png or render_chart_png(report)
        chart_src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    th = 'style="text-align:left;padding:4px 8px;border-bottom:2px solid #444"'
    thr = 'style="text-align:right;padding:4px 8px;border-bottom:2px solid #444"'
    td = 'style="padding:3px 8px;border-bottom:1px solid #ddd"'
    tdr = 'style="padding:3px 8px;border-bottom:1px solid #ddd;text-align:right"'
    out = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">',
           f"<title>{e(report.school)}: social media report {e(report.week)}</title></head>",
           '<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222;max-width:900px">',
           f'<h1 style="font-size:20px">{e(report.school)}: social media report for {e(report.week)}</h1>',
           f"<p>{e(_period(report))} ({e(report.timezone)}). Comments posted: "
           + ", ".join(f"{e(_pname(p))} {report.comments[p]}" for p in pl)
           + f" (total {sum(report.comments.values())}); with at least one policy key: "
             f"{sum(report.keyed.values())}.</p>"]
    if chart_src:
        out.append(f'<p><img src="{e(chart_src)}" alt="Bar chart of comments per policy category" '
                   'style="max-width:100%"></p>')
    out.append('<table style="border-collapse:collapse;font-size:13px">')
    out.append(f"<tr><th {th}>Category (the policy's words)</th>"
               + "".join(f"<th {thr}>{e(_pname(p))}</th>" for p in pl)
               + f"<th {thr}>This week</th><th {thr}>Confirmed</th><th {thr}>Last week</th>"
               + f"<th {thr}>Trend {e(report.weeks[0])} to {e(report.weeks[-1])}</th></tr>")
    for r in report.categories:
        strong = ' style="font-weight:bold"' if r.total else ""
        out.append(f"<tr><td {td}>{e(r.words)}</td>"
                   + "".join(f"<td {tdr}>{r.by_platform[p]}</td>" for p in pl)
                   + f"<td {tdr}><span{strong}>{r.total}</span></td><td {tdr}>{r.confirmed}</td>"
                   + f"<td {tdr}>{r.last_week}</td><td {tdr}>{' → '.join(str(x) for x in r.trend)}</td></tr>")
    out.append("</table>")

    out.append(f'<h2 style="font-size:16px">Escalations this week: {report.escalations_total}</h2>')
    if report.escalation_status:
        out.append("<p>" + e(", ".join(f"{k} {v}" for k, v in sorted(report.escalation_status.items()))) + "</p>")
    if report.open_earlier:
        out.append(f"<p><strong>Still open from earlier weeks: {report.open_earlier}</strong></p>")
    if report.escalations:
        out.append('<table style="border-collapse:collapse;font-size:13px">'
                   f"<tr><th {th}>Alert</th><th {th}>When</th><th {th}>Platform</th><th {th}>Author</th>"
                   f"<th {th}>Categories</th><th {th}>Status</th></tr>")
        for r in report.escalations:
            cats = ", ".join(POLICY_KEYS.get(k, k) for k in _cats(r["categories"]))
            out.append(f"<tr><td {td}>#{r['id']}</td><td {td}>{e(_loc(r['created_at'], tz))}</td>"
                       f"<td {td}>{e(_pname(r['platform']))}</td>"
                       f"<td {td}><bdi>{e(r.get('author_name') or r.get('author_id') or '')}</bdi></td>"
                       f"<td {td}>{e(cats)}</td><td {td}>{e(_status(r))}</td></tr>")
        out.append("</table>")

    out.append(f'<h2 style="font-size:16px">Repeat commenters: {len(report.repeat_commenters)}</h2>')
    if report.repeat_commenters:
        out.append("<p>Two or more comments with a policy key this week.</p>")
        out.append('<table style="border-collapse:collapse;font-size:13px">'
                   f"<tr><th {th}>Author</th><th {th}>Platform</th><th {thr}>Comments</th><th {th}>Categories</th>"
                   f"<th {thr}>With a strike ({report.window_days} days)</th></tr>")
        for r in report.repeat_commenters:
            out.append(f"<tr><td {td}><bdi>{e(r['name'] or '')}</bdi> ({e(r['author_id'])})</td>"
                       f"<td {td}>{e(_pname(r['platform']))}</td><td {tdr}>{r['comments']}</td>"
                       f"<td {td}>{e(', '.join(POLICY_KEYS.get(k, k) for k in r['keys']))}</td>"
                       f"<td {tdr}>{r['strikes']}</td></tr>")
        out.append("</table>")

    out.append(f'<h2 style="font-size:16px">Block recommendations: {len(report.block_recommendations)}</h2>')
    if report.block_recommendations:
        out.append('<table style="border-collapse:collapse;font-size:13px">'
                   f"<tr><th {th}>Author</th><th {th}>Platform</th><th {th}>Why</th><th {th}>Status</th></tr>")
        for r in report.block_recommendations:
            out.append(f"<tr><td {td}><bdi>{e(r['name'] or '')}</bdi> ({e(r['author_id'])})</td>"
                       f"<td {td}>{e(_pname(r['platform']))}</td><td {td}>{e(r['reason'])}</td>"
                       f"<td {td}>{e(_status(r))}</td></tr>")
        out.append("</table>")

    waiting = sum(report.waiting_review.values())
    out.append(f'<h2 style="font-size:16px">Waiting for review now: {waiting}</h2>')
    if waiting:
        out.append("<p>" + e(", ".join(f"{_KIND_WORDS.get(k, k)} {v}" for k, v in sorted(report.waiting_review.items()))
                             + f"; oldest since {_loc(report.oldest_waiting, tz)}.") + " Run "
                   "<code>school-monitor review</code> to see them.</p>")
    out.append('<p style="color:#666;font-size:12px">Counts are of comments posted in the week (school time). '
               "A comment can carry several categories. “Confirmed” counts comments the coordinator has judged "
               f"real. Generated {e(_loc(iso(report.generated_at), tz))} by School Social Monitor.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def csv_rows(report: WeeklyReport) -> list[list[Any]]:
    """The CSV table as rows (header first): one row per category, then ``total``.

    Columns: ``key``, ``category`` (the policy's words), one automatic count per
    platform (``facebook``, ``x``, ``instagram``), ``total``, ``confirmed``, ``last_week``, then one
    column per trend week (``2026-W39`` ... the reported week)."""
    pl = report.platforms
    head = ["key", "category"] + [("x" if p == "twitter" else p) for p in pl] + ["total", "confirmed", "last_week"]
    head += list(report.weeks)
    rows: list[list[Any]] = [head]
    for r in report.categories:
        rows.append([r.key, r.words] + [r.by_platform[p] for p in pl]
                    + [r.total, r.confirmed, r.last_week] + list(r.trend))
    sums = [sum(row[i] for row in rows[1:]) for i in range(2, len(head))]
    rows.append(["total", "all categories (a comment may count in several)"] + sums)
    return rows


def render_csv(report: WeeklyReport) -> str:
    """The CSV attachment (RFC 4180, CRLF line ends, UTF-8): see :func:`csv_rows`."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(csv_rows(report))
    return buf.getvalue()


def report_recipients(config: Config) -> list[str]:
    """Addresses for the weekly report: ``[alerts.routes] report`` roles (fallback to the
    coordinator per role), de-duplicated."""
    return role_addresses(config.alerts.routes.get("report", ("headteacher", "senior_team")), config)


def report_message(report: WeeklyReport, config: Config, *, chart_png: bytes | None = None) -> EmailMessage:
    """The report email: ``multipart/mixed`` holding ``multipart/alternative`` (text/plain,
    and ``multipart/related`` text/html with the chart PNG inline by ``Content-ID``) and
    the CSV as an attachment ``report-<week>.csv``. ``Subject``, ``From`` and
    ``Auto-Submitted`` are set; the outbox or the caller sets ``To``, ``Date`` and
    ``Message-ID``."""
    png = chart_png or render_chart_png(report)
    domain = sender_domain(config)
    cid = f"chart.{report.week}@{domain}"
    msg = EmailMessage()
    msg["Subject"] = header_text(f"[{report.school}] Weekly social media report {report.week} "
                                 f"({sum(r.total for r in report.categories)} keyed, "
                                 f"{report.escalations_total} escalations)")
    msg["From"] = from_header(config)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-School-Monitor-Report"] = report.week
    msg.set_content(render_text(report), subtype="plain", charset="utf-8")
    msg.add_alternative(render_html(report, chart_src=f"cid:{cid}"), subtype="html", charset="utf-8")
    html_part = msg.get_payload()[1]
    html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>",
                          filename=f"report-{report.week}.png", disposition="inline")
    msg.add_attachment(render_csv(report).encode("utf-8"), maintype="text", subtype="csv",
                       filename=f"report-{report.week}.csv")
    return msg


# --------------------------------------------------------------------------- files and job


def write_report_files(report: WeeklyReport, out_dir: str | os.PathLike, *, chart_png: bytes | None = None
                       ) -> dict[str, Path]:
    """Write ``report-<week>.{html,txt,csv,png}`` into ``out_dir`` (created; each file
    replaced atomically). The HTML file shows the PNG next to it.

    :returns: format -> path.
    :raises OSError: when the folder cannot be written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = chart_png or render_chart_png(report)
    stem = f"report-{report.week}"
    contents: dict[str, bytes] = {
        "png": png,
        "html": render_html(report, chart_src=f"{stem}.png").encode("utf-8"),
        "txt": render_text(report).encode("utf-8"),
        "csv": render_csv(report).encode("utf-8"),
    }
    paths = {}
    for ext, data in contents.items():
        paths[ext] = write_private(out / f"{stem}.{ext}", data)
    return paths


def monitored_since(store: Any, config: Config) -> datetime | None:
    """The earliest time the store's comments cover: its first successful poll (state
    ``first_poll_at:<account>``, ``poll_log``, or the first comment seen) less the first
    run's backfill (the longest ``lookback_days`` of the accounts, 30 without any). None
    before any poll or comment: nothing has been watched yet."""
    firsts = [store.scalar("SELECT MIN(value) FROM state WHERE key LIKE 'first_poll_at:%'"),
              store.scalar("SELECT MIN(started_at) FROM poll_log WHERE ok = 1"),
              store.scalar("SELECT MIN(first_seen) FROM comments")]
    found = [parse_time(f) for f in firsts if f]
    if not found:
        return None
    backfill = max((a.lookback_days for a in config.accounts), default=30)
    return min(found) - timedelta(days=backfill)


class ReportJob:
    """Writes and sends the weekly report once per week (the ``reports`` table remembers).

    :param config: ``[reports]`` (day, hour, minute, out_dir, send) and the school's timezone.
    :param store: the open :class:`monitor.store.Store`.
    :param outbox_or_sender: an :class:`monitor.delivery.outbox.Outbox` (the message is stored in
        the outbox with the ``reports`` row in one transaction, and delivered by the
        outbox with retries), or a :class:`monitor.delivery.mailer.Sender` (sent at once).
    :param clock: returns aware UTC now.

    The daemon runs :meth:`run_if_due` from an APScheduler ``CronTrigger`` at the
    configured day and hour and once at start, so a report missed while the daemon was
    down goes out on start. Only the latest due week is caught up.
    """

    def __init__(self, config: Config, store: Any, outbox_or_sender: Any, clock: Callable[[], datetime]):
        self.config = config
        self.store = store
        self.outbox_or_sender = outbox_or_sender
        self.clock = clock

    def run_if_due(self) -> str | None:
        """Generate, write and send the due week's report unless done already.

        :returns: the path of the HTML file written; ``""`` when the report was sent but
            its files could not be written (logged as ``report_files_failed``); None when
            nothing was due.
        """
        now = self.clock()
        week = due_week(now, self.config)
        row = self.store.one("SELECT status FROM reports WHERE week = ?", [week])
        if row and row["status"] in ("queued", "sent", "written"):
            return None
        since = monitored_since(self.store, self.config)
        if since is None or since >= week_bounds(week, self.config.school.tz)[1]:
            get_logger().info("weekly_report_skipped", week=week,
                              reason="the store has not watched that week (first run: no poll or comment "
                                     "covers it); no report is sent for a week that was not monitored")
            return None
        path = self.run(week, now=now, send=self.config.reports.send)
        return str(path) if path else ""

    def run(self, week: str, *, now: datetime | None = None, send: bool = True, force_new_message: bool = False
            ) -> Path | None:
        """Generate ``week``'s report, write its files, record it in ``reports`` and send
        it (when ``send``). ``force_new_message`` gives the email a new Message-ID (a
        deliberate resend from the CLI). Files that cannot be written (``[reports]
        out_dir`` read-only, disk full) are logged and do not stop the email.

        :returns: the HTML file's path, or None when the files could not be written.
        :raises ValueError: for a malformed week.
        """
        log = get_logger().bind(week=week)
        now = now or self.clock()
        report = build_report(self.store, self.config, week, now)
        png = render_chart_png(report)
        out_dir = self.config.reports_dir(getattr(self.store, "path", None))
        html_path: Path | None
        try:
            html_path = write_report_files(report, out_dir, chart_png=png)["html"]
        except OSError as exc:
            log.error("report_files_failed", out_dir=str(out_dir), error=str(exc.strerror or exc),
                      detail="the report is still emailed; check [reports] out_dir")
            html_path = None
        recipients = report_recipients(self.config) if send else []
        if send and not recipients:
            log.warning("report_no_recipients", detail="no address for the [alerts.routes] report roles nor for "
                        "the coordinator; the report was written but not sent")
        status, mid = "written", None
        if recipients:
            msg = report_message(report, self.config, chart_png=png)
            suffix = f".{now:%Y%m%dT%H%M%S}" if force_new_message else ""
            mid = f"<sm.report.{week}{suffix}@{sender_domain(self.config)}>"
            outbox = self.outbox_or_sender
            if hasattr(outbox, "enqueue_message"):
                msg["Message-ID"] = mid
                with self.store.transaction():
                    outbox.enqueue_message(msg, recipients, "report", report_week=week)
                    self._record(week, "queued", now, html_path, mid)
                log.info("weekly_report_queued", path=str(html_path or ""), message_id=mid,
                         recipients=len(recipients))
                return html_path
            msg["To"] = ", ".join(recipients)
            msg["Date"] = format_datetime(now)
            msg["Message-ID"] = mid
            try:
                outbox.send(msg, recipients)
                status = "sent"
            except DeliveryError as exc:
                log.error("weekly_report_send_failed", error=str(exc), reason=exc.reason,
                          detail="files are written; the report is sent on the next run")
                status = "generated"
        if html_path is None and status == "written":
            return None  # neither written nor sent: the next run tries again
        self._record(week, status, now, html_path, mid)
        log.info("weekly_report", status=status, path=str(html_path or ""))
        return html_path

    def _record(self, week: str, status: str, now: datetime, path: Path | None, mid: str | None) -> None:
        self.store.db.execute(
            "INSERT INTO reports(week, status, generated_at, sent_at, path, message_id) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(week) DO UPDATE SET status = excluded.status, generated_at = excluded.generated_at, "
            "sent_at = excluded.sent_at, path = excluded.path, message_id = excluded.message_id",
            [week, status, iso(now.replace(microsecond=0)), iso(now.replace(microsecond=0)) if status == "sent" else None,
             str(path) if path else None, mid])


__all__ = ["build_report", "WeeklyReport", "CategoryRow", "render_text", "render_html", "render_csv",
           "render_chart_png", "render_report_png", "report_message", "report_recipients", "write_report_files", "ReportJob",
           "parse_week", "week_of", "week_bounds", "shift_week", "previous_week", "due_week", "scheduled_at",
           "csv_rows", "CONFIRMING_VERDICTS"]

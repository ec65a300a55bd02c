"""``school-monitor demo``: the whole job on the embedded defaults, with no accounts.

Starts on 127.0.0.1 a fake Graph API server, a fake Instagram API (Facebook Login path) and
a fake X API v2 server (real HTTP servers answering with the recorded or documented
response shapes, filled with the bundled Brookfield Primary School comments of September
and October 2026) and a real SMTP server (aiosmtpd) that
writes each message to ``DIR/mail/``. It writes ``DIR/config.toml`` (tokens passed through
environment variables, as in production), then runs the daemon's own jobs for one full
cycle with the clock at Monday 12 October 2026 07:00 school time (just after the data):
poll each account (store, score, categorise, strikes, escalations sent at once), deliver
the outbox after the group wait, write and send the weekly report for the week before.
It prints a summary table (comments stored per platform: Facebook, X, Instagram) and exits 0.
"""

from __future__ import annotations

import os
import secrets
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.config import load_config
from monitor.demo_data import path as demo_path
from monitor.domain import PLATFORMS, POLICY_KEYS
from monitor.pipeline import SettableClock

DEMO_NOW_LOCAL = datetime(2026, 10, 12, 7, 0, tzinfo=ZoneInfo("Europe/London"))
FB_TOKEN_ENV = "SCHOOL_MONITOR_DEMO_FB_TOKEN"
X_TOKEN_ENV = "SCHOOL_MONITOR_DEMO_X_TOKEN"
#: The demo school's Instagram professional account (linked to Page 1000).
IG_USER_ID = "17841400000003000"


def demo_config_text(graph_url: str, x_url: str, smtp_port: int, out: Path, ig_url: str | None = None) -> str:
    """The demo's config file: the bundled roster plus accounts, alerts, reports, storage
    (the Instagram account only when ``ig_url`` is given)."""
    roster = demo_path("school.toml").read_text(encoding="utf-8")
    ig_account = "" if ig_url is None else f"""
[[accounts]]
name = "brookfield-instagram"
platform = "instagram"
ig_user_id = "{IG_USER_ID}"
base_url = "{ig_url}"
token_env = "{FB_TOKEN_ENV}"   # the linked Page's access token, as for the Page itself
poll_interval_minutes = 15
lookback_days = 45
"""
    return roster + f"""

# ---- written by `school-monitor demo`: fake platforms and SMTP on 127.0.0.1 ----
[[accounts]]
name = "brookfield-facebook"
platform = "facebook"
page_id = "1000"
base_url = "{graph_url}"
token_env = "{FB_TOKEN_ENV}"
poll_interval_minutes = 5
lookback_days = 45

[[accounts]]
name = "brookfield-x"
platform = "twitter"
user_id = "2000"
handle = "BrookfieldPS"
base_url = "{x_url}"
bearer_token_env = "{X_TOKEN_ENV}"
poll_interval_minutes = 15
lookback_days = 45
monthly_budget_usd = 25.00
{ig_account}
[classifier]
backend = "embedded"

[alerts]
sender = "school-monitor@brookfield.example"
group_wait_minutes = 5
# The demo shows every alert its two months of comments cause. A real first run emails only
# those of the last 48 hours (the default) and one summary listing the older ones.
backfill_alert_hours = 2000

[alerts.recipients]
coordinator = ["esafety@brookfield.example"]
headteacher = ["head@brookfield.example"]
safeguarding_lead = ["dsl@brookfield.example"]
senior_team = ["slt@brookfield.example"]

[alerts.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"

[reports]
day = "monday"
hour = 7
out_dir = "reports"

[storage]
path = "school-monitor.db"
"""


def run_demo(out: Path) -> int:
    """Run the demo into ``out`` (recreated). Returns the exit status (0)."""
    from monitor.app import build_app
    from monitor.daemon import Daemon
    from monitor.fakes.dataset import load_demo_posts
    from monitor.fakes.graph import FakeGraphServer
    from monitor.fakes.instagram import FakeInstagramServer, load_demo_instagram
    from monitor.fakes.x import FakeXServer
    from monitor.delivery.smtp_sink import SmtpSink

    if out.exists():
        shutil.rmtree(out)
    (out / "mail").mkdir(parents=True)
    fb_token = "demo-fb-" + secrets.token_hex(16)
    x_token = "demo-x-" + secrets.token_hex(16)
    os.environ[FB_TOKEN_ENV] = fb_token
    os.environ[X_TOKEN_ENV] = x_token

    posts = load_demo_posts()
    fb_posts = [p for p in posts if p.platform == "facebook"]
    x_posts = [p for p in posts if p.platform == "twitter"]
    clock = SettableClock(DEMO_NOW_LOCAL.astimezone(ZoneInfo("UTC")))

    with FakeGraphServer(fb_posts, page_id="1000", token=fb_token) as graph, \
            FakeXServer(x_posts, user_id="2000", username="BrookfieldPS", bearer_token=x_token) as xsrv, \
            FakeInstagramServer(load_demo_instagram(), ig_user_id=IG_USER_ID, username="brookfieldprimary",
                                page_id="1000", token=fb_token) as igsrv, \
            SmtpSink(out / "mail") as smtp:
        cfg_path = out / "config.toml"
        cfg_path.write_text(demo_config_text(graph.base_url, xsrv.base_url, smtp.port, out, ig_url=igsrv.base_url),
                            encoding="utf-8")
        os.chmod(cfg_path, 0o640)
        config = load_config(cfg_path)
        app = build_app(config, config.resolve_path(config.storage.path), clock=clock,
                        connector_kwargs=lambda acc: {"clock": clock})
        try:
            daemon = Daemon(app)
            for acc in app.enabled_accounts():
                daemon.poll_job(acc.name)
            clock.advance(minutes=config.alerts.group_wait_minutes + 1)
            daemon.outbox_job()
            daemon.report_job()
            clock.advance(minutes=1)
            daemon.outbox_job()
            print_summary(app, out, len(smtp.messages))
        finally:
            app.close()
    return 0


def print_summary(app, out: Path, emails: int) -> None:
    """Print the demo's summary table."""
    db = app.store.db
    per_platform = {r["platform"]: r["n"] for r in db.query(
        "SELECT platform, COUNT(*) AS n FROM comments GROUP BY platform")}
    per_key = {r["key"]: r["n"] for r in db.query("SELECT key, COUNT(*) AS n FROM comment_keys GROUP BY key")}
    kinds = {r["kind"]: r["n"] for r in db.query("SELECT kind, COUNT(*) AS n FROM alerts GROUP BY kind")}
    report = app.store.one("SELECT * FROM reports ORDER BY week DESC LIMIT 1")
    rows = [("Comments fetched and stored", "")]
    order = {p: i for i, p in enumerate(PLATFORMS)}
    rows += [(f"  {p}", str(n)) for p, n in sorted(per_platform.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))]
    rows += [("Flagged, per policy category", "")]
    rows += [(f"  {k}", str(per_key.get(k, 0))) for k in POLICY_KEYS]
    rows += [("Escalations", str(kinds.get("escalation", 0))),
             ("Block recommendations", str(kinds.get("block_recommendation", 0))),
             ("Needing review (language etc.)", str(kinds.get("needs_review", 0))),
             ("Emails delivered (SMTP on 127.0.0.1)", str(emails)),
             ("Mail folder", str(out / "mail")),
             ("Weekly report", str(report["path"]) if report and report.get("path") else "(none)"),
             ("Evidence store", str(app.store.path))]
    width = max(len(a) for a, _ in rows) + 2
    print("\nSchool Social Monitor demo: Brookfield Primary School, as of Monday 12 October 2026 07:00")
    print("-" * (width + 30))
    for a, b in rows:
        print(f"{a:<{width}}{b}")
    print("-" * (width + 30))

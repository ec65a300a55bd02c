"""Builders for the spine tests: a config pointing at loopback fakes."""

from __future__ import annotations

from pathlib import Path

from monitor.config import load_config
from monitor.demo_data import path as demo_path


def write_config(tmp: Path, *, graph_url: str | None = None, x_url: str | None = None, smtp_port: int = 1,
                 fb_env: str = "TEST_FB_TOKEN", x_env: str = "TEST_X_TOKEN", extra: str = "",
                 poll_minutes: float = 15, read_cap: int | None = None, lookback: int = 120,
                 backfill_alert_hours: float = 24 * 365) -> Path:
    """Write ``tmp/config.toml``: the demo roster, accounts at the given fakes, SMTP on loopback.
    ``backfill_alert_hours`` defaults to a year, so that the first poll of the demo's weeks of
    comments alerts each of them (as before the first-run backfill summary); the backfill
    tests set the real default, 48."""
    text = demo_path("school.toml").read_text(encoding="utf-8")
    if graph_url:
        text += f"""
[[accounts]]
name = "fb"
platform = "facebook"
page_id = "1000"
base_url = "{graph_url}"
token_env = "{fb_env}"
poll_interval_minutes = {poll_minutes}
lookback_days = {lookback}
timeout_seconds = 5
"""
    if x_url:
        text += f"""
[[accounts]]
name = "x"
platform = "twitter"
user_id = "2000"
handle = "BrookfieldPS"
base_url = "{x_url}"
bearer_token_env = "{x_env}"
poll_interval_minutes = {poll_minutes}
lookback_days = {lookback}
timeout_seconds = 5
""" + (f"monthly_read_cap = {read_cap}\n" if read_cap else "")
    text += f"""
[alerts]
sender = "monitor@school.example"
group_wait_minutes = 0
backfill_alert_hours = {backfill_alert_hours}
[alerts.recipients]
coordinator = ["esafety@school.example"]
headteacher = ["head@school.example"]
safeguarding_lead = ["dsl@school.example"]
senior_team = ["slt@school.example"]
[alerts.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout_seconds = 5
[storage]
path = "store.db"
[reports]
out_dir = "reports"
""" + extra
    p = tmp / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def load(tmp: Path, **kw):
    """Write and load the config."""
    return load_config(write_config(tmp, **kw))

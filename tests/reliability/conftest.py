"""Fixtures for the reliability tests: the fake platforms and an SMTP server on loopback,
filled with the bundled demo data moved to "now", and a config file pointing at them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

FB_TOKEN_ENV = "SM_RELIABILITY_FB_TOKEN"
X_TOKEN_ENV = "SM_RELIABILITY_X_TOKEN"
FB_TOKEN = "EAAGreliabilityPageToken000111222333"
X_TOKEN = "AAAAreliabilityBearerToken000111222333"




@dataclass
class Platforms:
    """The running fakes: ``graph`` (FakeGraphServer), ``x`` (FakeXServer), ``smtp``
    (SmtpSink), and ``config_path`` of a config using them (poll every ``poll_seconds``)."""

    graph: Any
    x: Any
    smtp: Any
    config_path: Path
    db_path: Path
    env: dict

    def served_comment_ids(self, include_school_replies: bool = False) -> dict[str, set[str]]:
        """Comment ids the fakes serve now, per platform: Facebook comments not deleted,
        and X replies, without those written by the school itself unless
        ``include_school_replies`` (the X connector may leave the school's own replies out:
        they are the school's posts, not comments on them)."""
        fb = {c.native_id for p in self.graph.posts for c in p.comments if not c.deleted}
        x = {t for t in self.x.reply_ids
             if include_school_replies or self.x.tweet(t).get("author_id") != self.x.user_id}
        return {"facebook": fb, "twitter": x}

    def reconfigure(self, *, smtp_port: int | None = None, **kw: Any) -> Path:
        """Rewrite the config (see :func:`write_config` for ``poll_seconds``, ``timeout``,
        ``only``, ``extra_alerts``); returns its path."""
        write_config(self.config_path, self.graph.base_url, self.x.base_url,
                     smtp_port if smtp_port is not None else self.smtp.port, **kw)
        return self.config_path

    def received_message_ids(self) -> list[str]:
        """Message-ID of every message the SMTP server accepted, in order (duplicates kept)."""
        return [str(m["Message-ID"]) for m in list(self.smtp.messages)]


def write_config(path: Path, graph_url: str, x_url: str, smtp_port: int, *, poll_seconds: float = 3.0,
                 extra_alerts: str = "", timeout: float = 3.0, only: str | None = None) -> None:
    """The demo's config (bundled roster, both accounts, routes) pointing at the fakes,
    with a fast poll interval, HTTP ``timeout`` seconds, no group wait, and the store next
    to it. ``only`` (``facebook`` or ``twitter``) disables the other account."""
    from monitor.demo import demo_config_text

    text = demo_config_text(graph_url, x_url, smtp_port, path.parent)
    text = text.replace('token_env = "SCHOOL_MONITOR_DEMO_FB_TOKEN"', f'token_env = "{FB_TOKEN_ENV}"')
    text = text.replace('bearer_token_env = "SCHOOL_MONITOR_DEMO_X_TOKEN"', f'bearer_token_env = "{X_TOKEN_ENV}"')
    assert FB_TOKEN_ENV in text and X_TOKEN_ENV in text, "the demo config changed shape"
    text = re.sub(r"poll_interval_minutes = \d+",
                  f"poll_interval_minutes = {poll_seconds / 60:.4f}\ntimeout_seconds = {timeout}", text)
    if only == "facebook":
        text = text.replace('name = "brookfield-x"', 'name = "brookfield-x"\nenabled = false')
    elif only == "twitter":
        text = text.replace('name = "brookfield-facebook"', 'name = "brookfield-facebook"\nenabled = false')
    text = text.replace("group_wait_minutes = 5", "group_wait_minutes = 0" + extra_alerts)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o640)


@pytest.fixture
def platforms(tmp_path, monkeypatch):
    """Start the fakes and SMTP on 127.0.0.1 (data rebased to now); yield :class:`Platforms`."""
    from monitor.fakes.dataset import load_demo_posts
    from monitor.fakes.graph import FakeGraphServer
    from monitor.fakes.x import FakeXServer
    from monitor.delivery.smtp_sink import SmtpSink

    now = datetime.now(timezone.utc)
    posts = load_demo_posts()
    monkeypatch.setenv(FB_TOKEN_ENV, FB_TOKEN)
    monkeypatch.setenv(X_TOKEN_ENV, X_TOKEN)
    with FakeGraphServer([p for p in posts if p.platform == "facebook"], page_id="1000", token=FB_TOKEN,
                         rebase_to=now) as graph, \
            FakeXServer([p for p in posts if p.platform == "twitter"], user_id="2000", username="BrookfieldPS",
                        bearer_token=X_TOKEN, rebase_to=now) as xsrv, \
            SmtpSink(None) as smtp:
        cfg = tmp_path / "config.toml"
        write_config(cfg, graph.base_url, xsrv.base_url, smtp.port)
        yield Platforms(graph, xsrv, smtp, cfg, tmp_path / "school-monitor.db",
                        {FB_TOKEN_ENV: FB_TOKEN, X_TOKEN_ENV: X_TOKEN})

"""Health that does not lie (issue 14, item 13): an account whose connector cannot start
(its token variable unset, a token file unreadable) is polled like any other, so it is
PAUSED with a reconnect email and ``status`` says so, on every platform; a passing
``check`` resumes it. Against the loopback fake Graph and X servers and a real SMTP
server."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from monitor.cli import main
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.graph import FakeGraphServer
from monitor.fakes.x import FakeXServer
from monitor.delivery.smtp_sink import SmtpSink

from ..spine.helpers import write_config

FB_TOKEN = "EAAB-unstarted-test-page-token-4321"
X_TOKEN = "AAAA-unstarted-test-bearer-token-4321"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("TEST_FB_TOKEN", FB_TOKEN)
    monkeypatch.setenv("TEST_X_TOKEN", X_TOKEN)
    return monkeypatch


def posts(platform: str, n: int):
    return [p for p in load_demo_posts() if p.platform == platform][:n]


def test_facebook_account_without_its_token_is_paused_with_a_reconnect_email(env, tmp_path, capsys):
    env.delenv("TEST_FB_TOKEN")
    now = datetime.now(timezone.utc)
    with FakeGraphServer(posts("facebook", 2), token=FB_TOKEN, rebase_to=now) as graph, SmtpSink() as smtp:
        cfg = write_config(tmp_path, graph_url=graph.base_url, smtp_port=smtp.port, lookback=45)
        assert main(["poll", "--once", "--config", str(cfg)]) == 1
        assert "fb: paused" in capsys.readouterr().out
        assert main(["status", "--config", str(cfg)]) == 1
        status = capsys.readouterr().out
        assert "PAUSED" in status and "TEST_FB_TOKEN" in status and "Health: ATTENTION" in status
        assert any("reconnect" in str(m["Subject"]) for m in smtp.messages)
        assert graph.request_count == 0

        env.setenv("TEST_FB_TOKEN", FB_TOKEN)  # the coordinator sets the secret, then checks
        assert main(["check", "--config", str(cfg)]) == 0
        assert main(["poll", "--once", "--config", str(cfg)]) == 0
        assert "fb: ok" in capsys.readouterr().out
        assert main(["status", "--config", str(cfg)]) == 0


def test_daemon_poll_job_pauses_every_account_that_cannot_start(env, tmp_path):
    from monitor.app import build_app
    from monitor.config import load_config
    from monitor.daemon import Daemon

    env.delenv("TEST_FB_TOKEN")
    env.delenv("TEST_X_TOKEN")
    now = datetime.now(timezone.utc)
    with FakeGraphServer(posts("facebook", 2), token=FB_TOKEN, rebase_to=now) as graph, \
            FakeXServer(posts("twitter", 2), bearer_token=X_TOKEN, rebase_to=now) as x:
        config = load_config(write_config(tmp_path, graph_url=graph.base_url, x_url=x.base_url, lookback=45))
        app = build_app(config, tmp_path / "store.db", connector_kwargs=lambda acc: {"sleep": lambda s: None})
        try:
            daemon = Daemon(app)
            for name in ("fb", "x"):
                daemon.poll_job(name)
                row = app.store.account_row(name)
                assert row["paused"] and "TEST_" in row["paused_reason"], row
            kinds = [r["kind"] for r in app.store.db.query("SELECT kind FROM alerts ORDER BY id")]
            assert kinds == ["reconnect", "reconnect"]
        finally:
            app.close()

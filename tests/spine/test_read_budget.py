"""The X read budget end to end: reads counted per calendar month in the store, a warning
at 80%, reading stopped at 100% with one alert, and no request made once it is spent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from monitor.app import build_app
from monitor.pipeline import SettableClock
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.x import FakeXServer

from .helpers import load

TOKEN = "AAAA-budget-test-bearer-token-1234"
NOW = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)


@pytest.fixture
def x_app(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_X_TOKEN", TOKEN)
    posts = [p for p in load_demo_posts() if p.platform == "twitter"]
    clock = SettableClock(NOW)
    with FakeXServer(posts, bearer_token=TOKEN, rebase_to=NOW) as x:
        config = load(tmp_path, x_url=x.base_url, read_cap=50, lookback=45)
        app = build_app(config, tmp_path / "store.db", clock=clock,
                        connector_kwargs=lambda acc: {"clock": clock, "sleep": lambda s: None})
        yield app, x, clock
        app.close()


def test_budget_warns_at_80_stops_at_100_and_makes_no_more_calls(x_app):
    app, x, clock = x_app
    acc = app.config.account("x")
    out = app.pipeline.poll(acc, app.connector("x"))
    assert out.status == "ok"
    reads = app.store.reads_this_month("x", NOW)
    assert 40 <= reads <= 50, reads  # never past the cap
    levels = sorted(r["dedupe_key"].rsplit(":", 1)[1] for r in app.store.db.query(
        "SELECT dedupe_key FROM alerts WHERE kind = 'read_budget'"))
    assert levels == (["100", "80"] if reads >= 50 else ["80"])
    # spend the rest, then nothing more is requested from X
    clock.now += timedelta(minutes=15)
    app.pipeline.poll(acc, app.connector("x"), force=True)
    assert app.store.reads_this_month("x", NOW) == 50
    before = x.request_count
    clock.now += timedelta(minutes=15)
    out = app.pipeline.poll(acc, app.connector("x"), force=True)
    assert out.status == "failed" and "budget" in (out.error or "").lower()
    assert x.request_count == before
    alerts = list(app.store.db.query("SELECT dedupe_key FROM alerts WHERE kind = 'read_budget'"))
    assert sorted(a["dedupe_key"] for a in alerts) == ["read_budget:x:2026-10:100", "read_budget:x:2026-10:80"]


def test_a_new_month_starts_a_new_budget(x_app):
    app, x, clock = x_app
    acc = app.config.account("x")
    app.store.add_reads("x", NOW, 50)
    assert app.pipeline.poll(acc, app.connector("x")).status == "failed"
    clock.now = datetime(2026, 11, 1, 0, 5, tzinfo=timezone.utc)
    out = app.pipeline.poll(acc, app.connector("x"), force=True)
    assert out.status == "ok" and app.store.reads_this_month("x", clock.now) > 0

"""X on pay-per-use, end to end (issue 15, items 9, 11, 13): the month's budget in US
dollars (warning at 80%, stop at 100%, the estimate equal to what the fake X server bills),
X's own usage cap pausing the account with one email, a repeated 400 pausing it with an
alert, and deletions of flagged replies recorded (and, with ``honour_x_deletions``, the
content purged) against a real store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from monitor.app import build_app
from monitor.config import ConfigError, load_config
from monitor.casework.evidence import verify_chain
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.x import FakeXServer
from monitor.pipeline import SettableClock

from .helpers import write_config

TOKEN = "AAAA-ppu-test-bearer-token-5678"
NOW = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)


def x_config(tmp_path, x_url: str, account_extra: str = "", storage_extra: str = ""):
    p = write_config(tmp_path, x_url=x_url, lookback=45)
    text = p.read_text(encoding="utf-8").replace('bearer_token_env = "TEST_X_TOKEN"\n',
                                                 'bearer_token_env = "TEST_X_TOKEN"\n' + account_extra)
    text = text.replace('[storage]\npath = "store.db"\n', '[storage]\npath = "store.db"\n' + storage_extra)
    p.write_text(text, encoding="utf-8")
    return load_config(p)


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_X_TOKEN", TOKEN)
    made = []

    def make(account_extra: str = "", storage_extra: str = "", **fake_kw):
        clock = SettableClock(NOW)
        posts = [p for p in load_demo_posts() if p.platform == "twitter"]
        x = FakeXServer(posts, bearer_token=TOKEN, rebase_to=NOW, clock=clock, **fake_kw).start()
        config = x_config(tmp_path, x.base_url, account_extra, storage_extra)
        app = build_app(config, tmp_path / "store.db", clock=clock,
                        connector_kwargs=lambda acc: {"clock": clock, "sleep": lambda s: None})
        made.append((app, x))
        return app, x, clock

    yield make
    for app, x in made:
        app.close()
        x.stop()


def budget_alerts(app) -> list[dict]:
    return [dict(r, details=json.loads(r["details"])) for r in app.store.db.query(
        "SELECT dedupe_key, summary, details FROM alerts WHERE kind = 'read_budget' ORDER BY id")]


def test_money_budget_warns_at_80_stops_at_100_and_matches_the_bill(make_app):
    app, x, clock = make_app("monthly_budget_usd = 0.50\n")
    acc = app.config.account("x")
    assert app.pipeline.poll(acc, app.connector("x")).status == "ok"
    usage = app.store.usage_this_month("x", NOW)
    assert 0.40 <= usage["cost_usd"] <= 0.50
    assert usage["cost_usd"] == pytest.approx(x.billed_micro_usd / 1e6)  # the estimate is what X bills
    assert usage["user_reads"] == x.billed["users"] > 0
    [warn] = budget_alerts(app)
    assert warn["dedupe_key"] == "read_budget:x:2026-10:80" and "$0.50" in warn["summary"]
    assert warn["details"]["budget_usd"] == 0.5 and warn["details"]["user_reads"] == usage["user_reads"]
    # what is left cannot pay for the smallest page: reading stops, one 100% alert, nothing billed
    # (only the free deletion check of replies already read today is made)
    before, billed = x.request_count, x.billed_micro_usd
    clock.now += timedelta(minutes=15)
    out = app.pipeline.poll(acc, app.connector("x"), force=True)
    assert out.status == "failed" and "budget" in (out.error or "")
    assert {r.path for r in x.requests[before:]} <= {"/2/tweets"} and x.billed_micro_usd == billed
    clock.now += timedelta(minutes=15)
    app.pipeline.poll(acc, app.connector("x"), force=True)
    assert [a["dedupe_key"] for a in budget_alerts(app)] == ["read_budget:x:2026-10:80", "read_budget:x:2026-10:100"]
    assert app.store.usage_this_month("x", NOW)["cost_usd"] <= 0.50


def test_x_usage_cap_pauses_the_account_with_one_email(make_app):
    app, x, clock = make_app(usage_cap_micro_usd=0)
    acc = app.config.account("x")
    out = app.pipeline.poll(acc, app.connector("x"))
    assert out.status == "paused" and x.request_count == 1  # not retried like a rate limit
    [stop] = budget_alerts(app)
    assert stop["details"]["x_said"] and "X stopped reading" in stop["summary"]
    clock.now += timedelta(hours=1)
    assert app.pipeline.poll(acc, app.connector("x"), force=True).status == "paused"
    assert x.request_count == 1 and len(budget_alerts(app)) == 1


def test_a_400_that_repeats_pauses_the_account_with_an_alert(make_app):
    app, x, clock = make_app()
    acc = app.config.account("x")
    body = {"errors": [{"parameters": {"id": ["2000"]}, "message": "The `id` query parameter value [2000] is not valid"}],
            "title": "Invalid Request", "type": "https://api.twitter.com/2/problems/invalid-request"}
    x.fail_next(2, 400, body=body, path="/mentions")
    first = app.pipeline.poll(acc, app.connector("x"))
    assert first.status == "failed"  # once may be a passing fault
    clock.now += timedelta(minutes=2)
    second = app.pipeline.poll(acc, app.connector("x"), force=True)
    assert second.status == "paused"
    [alert] = list(app.store.db.query("SELECT kind, details FROM alerts WHERE kind = 'permission'"))
    details = json.loads(alert["details"])
    assert details["error_kind"] == "invalid_request" and "refused again" in details["error"]


@pytest.mark.parametrize("honour", [False, True])
def test_deleted_flagged_replies_are_recorded_and_honoured_when_set(make_app, honour):
    app, x, clock = make_app(storage_extra=f"honour_x_deletions = {'true' if honour else 'false'}\n")
    acc = app.config.account("x")
    assert app.pipeline.poll(acc, app.connector("x")).status == "ok"
    flagged = [r["comment_id"] for r in app.store.db.query(
        "SELECT DISTINCT comment_id FROM comment_keys WHERE platform = 'twitter' ORDER BY comment_id")]
    plain = [r["comment_id"] for r in app.store.db.query(
        "SELECT comment_id FROM comments c WHERE platform = 'twitter' AND flagged = 0 AND NOT EXISTS "
        "(SELECT 1 FROM comment_keys k WHERE k.platform = c.platform AND k.comment_id = c.comment_id)")]
    assert flagged and plain
    gone, kept_unwatched = flagged[0], plain[0]
    x.delete_tweet(gone)
    x.delete_tweet(kept_unwatched)  # not flagged: not looked up (it costs money), so not noticed
    clock.now += timedelta(minutes=15)
    assert app.pipeline.poll(acc, app.connector("x"), force=True).status == "ok"
    lookups = [r for r in x.requests if r.path == "/2/tweets"]
    assert lookups and all(len(r.query["ids"].split(",")) <= 100 for r in lookups)
    row = app.store.one("SELECT deleted_at, text, purged_at FROM comments WHERE platform = 'twitter' "
                        "AND comment_id = ?", [gone])
    assert row["deleted_at"]
    other = app.store.one("SELECT deleted_at FROM comments WHERE platform = 'twitter' AND comment_id = ?",
                          [kept_unwatched])
    assert other["deleted_at"] is None
    if honour:
        assert row["text"] is None and row["purged_at"]
        assert app.store.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'retention.x_deletion'") == 1
    else:
        assert row["text"]  # the evidence is kept, the deletion recorded
    assert verify_chain(app.store).ok


@pytest.mark.parametrize("line, words", [
    ("monthly_budget_usd = -1\n", "accounts[0].monthly_budget_usd: expected a positive number"),
    ('monthly_budget_usd = "ten"\n', "accounts[0].monthly_budget_usd: expected"),
    ("monthly_budget_usd = 1000000\n", "over 100,000 looks like a mistake"),
    ("deletion_checks_per_poll = -5\n", "accounts[0].deletion_checks_per_poll"),
])
def test_bad_budget_settings_are_named(tmp_path, line, words):
    with pytest.raises(ConfigError) as ei:
        x_config(tmp_path, "http://127.0.0.1:9", line)
    assert words in str(ei.value)


def test_budget_settings_load(tmp_path):
    cfg = x_config(tmp_path, "http://127.0.0.1:9", "monthly_budget_usd = 12.5\ndeletion_checks_per_poll = 0\n",
                   "honour_x_deletions = true\n")
    acc = cfg.account("x")
    assert acc.monthly_budget_usd == 12.5 and acc.deletion_checks_per_poll == 0
    assert cfg.storage.honour_x_deletions is True
    assert load_config(write_config(tmp_path, x_url="http://127.0.0.1:9")).storage.honour_x_deletions is False


def test_a_store_migrated_to_m008_quarantine_gains_the_x_cost_columns_in_m009(tmp_path):
    """main's m008_quarantine and the pay-per-use columns (m009_x_read_cost) are distinct
    migrations, applied in order; reads counted before m009 are kept."""
    import sqlite3

    from sqlite_utils import Database

    from monitor.schema import migrations
    from monitor.store import Store

    names = [m.name for m in migrations._migrations]
    assert len(names) == len(set(names)) and names.index("m008_quarantine") + 1 == names.index("m009_x_read_cost")
    db = Database(sqlite3.connect(str(tmp_path / "old.db")))
    migrations.apply(db, stop_before="m009_x_read_cost")
    assert db["quarantine"].exists() and "cost_micro_usd" not in {c.name for c in db["read_usage"].columns}
    db.execute("INSERT INTO read_usage(account, month, reads) VALUES ('x', '2026-10', 40)")
    db.conn.commit()
    db.conn.close()
    store = Store.open(tmp_path / "old.db")
    try:
        store.add_reads("x", NOW, 2, user_reads=1, cost_usd=0.02)
        assert store.usage_this_month("x", NOW) == {"reads": 42, "user_reads": 1, "cost_usd": 0.02}
        assert store.db["quarantine"].exists()
    finally:
        store.close()

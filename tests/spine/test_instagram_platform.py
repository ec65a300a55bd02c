"""The platform ``instagram`` everywhere a platform is accepted (issue 15 item 15): config,
the store and the pipeline's pause on a refused token (with the reconnect email), alerts,
the weekly report, ``status`` and replay. Real SQLite, the real pipeline and the loopback
fake Instagram server; the scorer is never reached in these paths."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from connectors.instagram import InstagramConnector
from monitor.delivery.alerts import block_instructions, render_alert_message
from monitor.cli.status import format_status
from monitor.config import ConfigError, load_config, parse_config
from monitor.demo_data import path as demo_path
from monitor.domain import AUTHOR_PREFIX, PLATFORMS, Account, Assessment, Comment, Scores
from monitor.fakes.instagram import FakeInstagramServer, load_demo_instagram
from monitor.health import status_report
from monitor.pipeline import Pipeline, SettableClock, profile_url
from monitor.replay import row_to_comment
from monitor.delivery.reports import build_report, csv_rows
from monitor.store import Store

TOKEN = "fake-ig-spine-token-0c4e2a"
TOKEN_ENV = "SSM_TEST_SPINE_IG_TOKEN"
NOW = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)


def config_text(base_url: str = "https://graph.facebook.com", extra: str = "") -> str:
    return demo_path("school.toml").read_text(encoding="utf-8") + f"""
[[accounts]]
name = "brookfield-instagram"
platform = "instagram"
ig_user_id = "17841400000003000"
base_url = "{base_url}"
token_env = "{TOKEN_ENV}"
lookback_days = 45
{extra}
"""


def test_platform_list_and_author_prefix():
    assert "instagram" in PLATFORMS and AUTHOR_PREFIX["instagram"] == "ig"


def test_config_accepts_an_instagram_account_with_the_facebook_token_settings(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(config_text(extra='app_id = "4000"\napp_secret_env = "SSM_X"\nhide_enabled = true'), encoding="utf-8")
    cfg = load_config(p)
    [acc] = cfg.accounts
    assert (acc.platform, acc.ig_user_id, acc.external_id, acc.graph_version, acc.lookback_days) == (
        "instagram", "17841400000003000", "17841400000003000", "v23.0", 45)
    assert set(acc.secrets) == {"token", "app_secret"} and acc.hide_enabled
    assert "ig:17841400000003000" in cfg.school.own_accounts


@pytest.mark.parametrize("account,key,phrase", [
    ({"token_env": "X"}, "accounts[0].ig_user_id", "missing"),
    ({"token_env": "X", "ig_user_id": "@brookfieldprimary"}, "accounts[0].ig_user_id",
     "numeric Instagram professional account id"),
    ({"ig_user_id": "1784", "token": "abc"}, "accounts[0].token", "never written in the config file"),
    ({"token_env": "X", "ig_user_id": "1784", "graph_version": "23"}, "accounts[0].graph_version", "like 'v23.0'"),
    ({"token_env": "X", "ig_user_id": "1784", "block_enabled": True}, "accounts[0].block_enabled",
     "no block endpoint"),
])
def test_config_errors_name_the_instagram_key(account, key, phrase):
    data = {"school": {"name": "S"}, "accounts": [{"platform": "instagram", **account}]}
    with pytest.raises(ConfigError) as ei:
        parse_config(data, "c.toml")
    text = str(ei.value)
    assert key in text and phrase in text


@pytest.fixture
def ig_setup(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with FakeInstagramServer(load_demo_instagram(), token=TOKEN) as srv:
        p = tmp_path / "c.toml"
        p.write_text(config_text(srv.base_url), encoding="utf-8")
        cfg = load_config(p)
        store = Store.open(tmp_path / "s.db")
        try:
            yield cfg, store, srv
        finally:
            store.close()


def test_a_refused_token_pauses_the_instagram_account_with_one_reconnect_email(ig_setup):
    cfg, store, srv = ig_setup
    acc = cfg.accounts[0]
    clock = SettableClock(NOW)
    pipeline = Pipeline(cfg, store, engine=None, categoriser=None, clock=clock)  # type: ignore[arg-type]
    srv.fail_next(1, 400, graph_code=190, subcode=460)
    with InstagramConnector(acc, sleep=lambda s: None) as conn:
        out = pipeline.poll(acc, conn)
        assert out.status == "paused" and len(out.alerts) == 1
        clock.advance(minutes=15)
        again = pipeline.poll(acc, conn)
    assert again.status == "paused" and not again.alerts  # one email, not one per poll
    assert srv.request_count == 1  # a paused account is not polled
    row = store.account_row(acc.name)
    assert row["paused"] and row["platform"] == "instagram"
    alert = store.one("SELECT * FROM alerts WHERE id = ?", [out.alerts[0]])
    assert (alert["kind"], alert["platform"]) == ("reconnect", "instagram")
    mail = render_alert_message([alert], cfg, store)
    body = " ".join(mail.get_body(("plain",)).get_content().split())
    assert "Reconnect Instagram account brookfield-instagram" in mail["Subject"] + body
    assert "the password of the person who generated the token was changed" in body
    assert "README: 'Instagram'" in body and TOKEN not in body

    report = status_report(cfg, store, NOW + timedelta(minutes=20))
    [a] = report["accounts"]
    assert (a["account"], a["platform"], a["paused"]) == ("brookfield-instagram", "instagram", True)
    lines = format_status(report).splitlines()
    assert any(line.split()[:3] == ["brookfield-instagram", "instagram", "PAUSED"] for line in lines)


def test_a_successful_poll_stores_instagram_comments_and_status_shows_the_account(ig_setup):
    cfg, store, srv = ig_setup
    acc = cfg.accounts[0]
    with InstagramConnector(acc, sleep=lambda s: None) as conn:
        from connectors.base import FetchContext

        store.ensure_account(Account(acc.name, "instagram", acc.external_id, acc.name), NOW)
        r = conn.fetch(FetchContext(cursor=store.cursor(acc.name), now=NOW))
        stats = store.ingest(acc.name, r.posts, r.comments, r.deleted, r.cursor, NOW, platform="instagram",
                             reads=r.reads, calls=r.calls, started=NOW)
    assert stats.new == 36
    assert store.one("SELECT COUNT(*) AS n FROM comments WHERE platform = 'instagram'")["n"] == 36
    assert store.cursor(acc.name) == json.loads(json.dumps(r.cursor))
    row = store.one("SELECT * FROM comments WHERE platform = 'instagram' AND parent_id IS NOT NULL LIMIT 1")
    assert row["author_id"].startswith("ig:")
    [a] = status_report(cfg, store, NOW + timedelta(minutes=5))["accounts"]
    assert (a["platform"], a["paused"], a["stale"]) == ("instagram", False, False)


def _ig_comment(n: int, at: datetime, text: str = "Send them back where they came from") -> Comment:
    return Comment(platform="instagram", account="brookfield-instagram", post_id="17900000000000001",
                   comment_id=f"1780000000000{n:04d}", parent_id=None, author_id="ig:17841401000000110",
                   author_name="gaz_77", text=text, created_at=at,
                   permalink="https://www.instagram.com/p/bDUZ0dDgWlR/", post_text="School council",
                   author_handle="gaz_77", is_hidden=False)


def test_weekly_report_counts_instagram_beside_facebook_and_x(tmp_path):
    cfg = load_config(demo_path("school.toml"))
    store = Store.open(tmp_path / "r.db")
    try:
        # a school without Instagram gets no Instagram column
        assert build_report(store, cfg, "2026-W41", NOW).platforms == ("facebook", "twitter")
        store.ensure_account(Account("brookfield-instagram", "instagram", "17841400000003000", "ig"), NOW)
        at = datetime(2026, 10, 7, 18, 0, tzinfo=timezone.utc)  # week 2026-W41
        assert build_report(store, cfg, "2026-W41", NOW).platforms == ("facebook", "twitter", "instagram")
        c = _ig_comment(1, at)
        store.ingest("brookfield-instagram", [], [c], [], None, at, platform="instagram")
        a = Assessment(categories=("racist_homophobic",), evidence={}, escalate=False,
                       strikes=("racist_homophobic",), needs_review=False, review_reasons=())
        with store.transaction():
            store.save_assessment(c, 1, Scores({"identity_attack": 0.9}, "embedded", "test"), a, at)
        report = build_report(store, cfg, "2026-W41", NOW)
        assert report.comments["instagram"] == 1
        row = next(r for r in report.categories if r.key == "racist_homophobic")
        assert row.by_platform == {"facebook": 0, "twitter": 0, "instagram": 1}
        head, *rows = csv_rows(report)
        assert head[2:5] == ["facebook", "x", "instagram"]
        assert next(r for r in rows if r[0] == "racist_homophobic")[4] == 1
    finally:
        store.close()


def test_block_wording_is_a_recommendation_to_a_person_as_on_x():
    steps = block_instructions("instagram", "ig:17841401000000110", "gaz_77", 94)
    text = " ".join(steps)
    assert "https://www.instagram.com/gaz_77/" in text and "no block endpoint" in text
    assert "review hide 94" in text and "review block" not in text
    assert profile_url("instagram", "ig:17841401000000110", "gaz_77") == "https://www.instagram.com/gaz_77/"
    assert profile_url("instagram", "ig:17841401000000110", None) is None


def test_replay_reads_instagram_rows_with_the_ig_prefix_and_parents():
    rows = [json.loads(line) for line in demo_path("instagram.jsonl").read_text(encoding="utf-8").splitlines()]
    assert 30 <= len(rows) <= 40 and {r["platform"] for r in rows} == {"instagram"}
    reply = next(r for r in rows if r["parent_id"])
    comment, post = row_to_comment({**reply, "author_id": reply["author_id"].split(":", 1)[1]}, 7)
    assert comment.platform == post.platform == "instagram" and comment.author_id.startswith("ig:")
    assert comment.parent_id == reply["parent_id"]
    cats = {k for r in rows for k in r["categories"]}
    assert {"threat_violence", "allegation_staff", "racist_homophobic"} <= cats


def test_demo_config_has_the_instagram_account_on_the_pages_token(tmp_path):
    from monitor import demo

    p = tmp_path / "config.toml"
    p.write_text(demo.demo_config_text("http://127.0.0.1:1", "http://127.0.0.1:2", 25, tmp_path,
                                       ig_url="http://127.0.0.1:3"), encoding="utf-8")
    cfg = load_config(p)
    assert [a.platform for a in cfg.accounts] == ["facebook", "twitter", "instagram"]
    ig = cfg.account("brookfield-instagram")
    assert (ig.ig_user_id, ig.base_url) == (demo.IG_USER_ID, "http://127.0.0.1:3")
    assert ig.secrets["token"].env == cfg.account("brookfield-facebook").secrets["token"].env == demo.FB_TOKEN_ENV
    assert f"ig:{demo.IG_USER_ID}" in cfg.school.own_accounts
    media = load_demo_instagram()
    assert len(media) == 4 and sum(len(m.comments) for m in media) == 36

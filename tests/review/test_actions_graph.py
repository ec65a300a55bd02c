"""The review actions end to end with the real Facebook connector against the loopback fake
Graph API (a real HTTP server on 127.0.0.1 answering with recorded Graph shapes)."""

from __future__ import annotations

import argparse
import io
import json
from datetime import timedelta

import pytest
import review_storebuilder as sb

from monitor.cli import review as cli_review
from monitor.cli.util import CommandError
from monitor.fakes.graph import DEFAULT_SCOPES, FakeGraphServer

TOKEN = "fake-page-token-for-review-tests"


def _config(tmp_path, base_url):
    text = f"""
[school]
name = "Brookfield Primary School"
timezone = "Europe/London"
[[accounts]]
name = "school-fb"
platform = "facebook"
page_id = "1000"
token_env = "SSM_TEST_FB_TOKEN"
base_url = "{base_url}"
timeout_seconds = 5
hide_enabled = true
block_enabled = true
[storage]
path = "monitor.db"
"""
    (tmp_path / "config.toml").write_text(text)
    return tmp_path / "config.toml"


def _run(conf, *argv):
    out = io.StringIO()
    parser = argparse.ArgumentParser(prog="school-monitor")
    cli_review.register(parser.add_subparsers(dest="command"), clock=lambda: sb.T0 + timedelta(days=1), out=out)
    args = parser.parse_args([*argv, "--config", str(conf)])
    return args.func(args), out.getvalue()


@pytest.fixture
def graph(monkeypatch):
    monkeypatch.setenv("SSM_TEST_FB_TOKEN", TOKEN)
    servers = []

    def start(scopes=DEFAULT_SCOPES):
        srv = FakeGraphServer(token=TOKEN, scopes=scopes).start()
        servers.append(srv)
        return srv

    yield start
    for s in servers:
        s.stop()


def _seed(builder, srv):
    pid = srv.add_post("Sports day is on Friday!", created_at=sb.T0 - timedelta(hours=1))
    cid = srv.add_comment(pid, "useless cow, someone should slap her", author_id="1009", author_name="Sam",
                          created_at=sb.T0)
    aid = builder.add(sb.make_comment(cid, "useless cow, someone should slap her", post=pid, author="fb:1009",
                                      name="Sam"), ("offensive_staff", "threat_violence"))[0]
    return cid, aid


def test_hide_unhide_and_block_through_the_graph_api(graph, builder, tmp_path):
    srv = graph()
    conf = _config(tmp_path, srv.base_url)
    cid, aid = _seed(builder, srv)
    rc, out = _run(conf, "review", "hide", str(aid), "--yes", "--by", "jsmith")
    assert rc == 0 and srv.comment(cid).hidden is True
    rc, out = _run(conf, "review", "unhide", str(aid), "--yes", "--by", "jsmith")
    assert srv.comment(cid).hidden is False
    rc, out = _run(conf, "review", "block", str(aid), "--yes", "--by", "jsmith")
    assert rc == 0 and "blocked fb:1009 from Page 1000" in out
    assert srv.blocked == {"1009"}
    posts = [r for r in srv.requests if r.method == "POST"]
    assert len(posts) == 3
    actions = [r["action"] for r in builder.store.db.query("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["review.hide", "review.unhide", "review.block"]


def test_graph_permission_error_is_reported_and_audited_without_the_token(graph, builder, tmp_path):
    srv = graph(scopes=("pages_show_list", "pages_read_engagement", "pages_read_user_content"))
    conf = _config(tmp_path, srv.base_url)
    cid, aid = _seed(builder, srv)
    with pytest.raises(CommandError) as exc:
        _run(conf, "review", "hide", str(aid), "--yes", "--by", "jsmith")
    msg = str(exc.value)
    assert "hide refused" in msg and "pages_manage_engagement" in msg and "200" in msg
    assert TOKEN not in msg
    assert srv.comment(cid).hidden is False
    row = builder.store.one("SELECT action, details FROM audit_log")
    assert row["action"] == "review.hide_refused"
    d = json.loads(row["details"])
    assert d["code"] == 200 and d["status"] == 403
    dump = "\n".join(builder.store.db.iterdump())
    assert TOKEN not in dump


def test_block_on_x_with_the_real_connector_gives_the_in_app_steps(builder, tmp_path, monkeypatch):
    monkeypatch.setenv("SSM_TEST_X_BEARER", "bearer-for-review-tests-0123456789")
    (tmp_path / "config.toml").write_text("""
[school]
name = "Brookfield Primary School"
[[accounts]]
name = "school-x"
platform = "twitter"
user_id = "2000"
handle = "BrookfieldPS"
bearer_token_env = "SSM_TEST_X_BEARER"
base_url = "http://127.0.0.1:9"
[storage]
path = "monitor.db"
""")
    aid = builder.add(sb.make_comment("1460323737035677698", "racist abuse", platform="twitter", author="tw:77",
                                      post="1460323737035677000", handle="bps_troll"),
                      ("racist_homophobic",), block=True)[-1]
    with pytest.raises(CommandError) as exc:
        _run(tmp_path / "config.toml", "review", "block", str(aid), "--yes", "--by", "jsmith")
    msg = str(exc.value)
    assert "To block @bps_troll: sign in to X as @BrookfieldPS, open https://x.com/bps_troll" in msg
    assert builder.store.scalar("SELECT action FROM audit_log") == "review.block_refused"

"""The review actions on an Instagram comment with the real Instagram connector against the
loopback fake Instagram API (issue 15 item 15): hide and unhide go to ``POST
/{ig-comment-id}?hide=``; block is refused with the in-app steps, as on X."""

from __future__ import annotations

import argparse
import io
from dataclasses import replace
from datetime import timedelta

import pytest
import review_storebuilder as sb

from monitor.cli import review as cli_review
from monitor.cli.util import CommandError
from monitor.domain import Account
from monitor.fakes.instagram import FakeInstagramServer

TOKEN = "fake-ig-token-for-review-tests"


def _config(tmp_path, base_url):
    (tmp_path / "config.toml").write_text(f"""
[school]
name = "Brookfield Primary School"
timezone = "Europe/London"
[[accounts]]
name = "school-ig"
platform = "instagram"
ig_user_id = "17841400000003000"
token_env = "SSM_TEST_IG_REVIEW_TOKEN"
base_url = "{base_url}"
timeout_seconds = 5
hide_enabled = true
[storage]
path = "monitor.db"
""")
    return tmp_path / "config.toml"


def _run(conf, *argv):
    out = io.StringIO()
    parser = argparse.ArgumentParser(prog="school-monitor")
    cli_review.register(parser.add_subparsers(dest="command"), clock=lambda: sb.T0 + timedelta(days=1), out=out)
    args = parser.parse_args([*argv, "--config", str(conf)])
    return args.func(args), out.getvalue()


@pytest.fixture
def ig(monkeypatch):
    monkeypatch.setenv("SSM_TEST_IG_REVIEW_TOKEN", TOKEN)
    with FakeInstagramServer(token=TOKEN) as srv:
        yield srv


def _seed(builder, srv):
    mid = srv.add_media("Meet our new school council", created_at=sb.T0 - timedelta(hours=1))
    cid = srv.add_comment(mid, "Send them back where they came from", author_id="17841401000000110",
                          author_name="gaz_77", created_at=sb.T0)
    builder.store.ensure_account(Account("school-ig", "instagram", srv.ig_user_id, "school-ig"), sb.T0)
    c = replace(sb.make_comment(cid, "Send them back where they came from", author="ig:17841401000000110",
                                name="gaz_77", post=mid, platform="instagram", handle="gaz_77"),
                account="school-ig", permalink="https://www.instagram.com/p/abc/")
    ids = builder.add(c, ("racist_homophobic",), block=True)
    return cid, ids[-1]


def test_hide_and_unhide_an_instagram_comment(ig, builder, tmp_path):
    conf = _config(tmp_path, ig.base_url)
    cid, aid = _seed(builder, ig)
    rc, out = _run(conf, "review", "hide", f"instagram:{cid}", "--yes", "--by", "jsmith")
    assert rc == 0 and ig.comment(cid).hidden is True and f"hidden instagram comment {cid}" in out
    rc, out = _run(conf, "review", "unhide", f"instagram:{cid}", "--yes", "--by", "jsmith")
    assert ig.comment(cid).hidden is False
    posts = [r for r in ig.requests if r.method == "POST"]
    assert [r.params["hide"] for r in posts] == ["true", "false"]
    actions = [r["action"] for r in builder.store.db.query("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["review.hide", "review.unhide"]


def test_block_on_instagram_is_refused_with_the_in_app_steps(ig, builder, tmp_path):
    conf = _config(tmp_path, ig.base_url)
    _cid, aid = _seed(builder, ig)
    rc, out = _run(conf, "review", "block", str(aid))
    assert rc == 0 and "Instagram does not allow blocking through its API" in out
    with pytest.raises(CommandError) as exc:
        _run(conf, "review", "block", str(aid), "--yes", "--by", "jsmith")
    msg = str(exc.value)
    assert "no block endpoint" in msg and "https://www.instagram.com/gaz_77/" in msg and "Instagram app" in msg
    assert not [r for r in ig.requests if r.method == "POST"]
    assert builder.store.scalar("SELECT action FROM audit_log") == "review.block_refused"

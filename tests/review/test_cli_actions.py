"""The review CLI (register() on our own parser) and the platform actions, with a fake
connector injected through ``connector_factory`` (the connectors have their own tests)."""

from __future__ import annotations

import argparse
import io
import json
import shutil
from datetime import timedelta

import pytest
import review_storebuilder as sb

from connectors.base import ConnectorError
from monitor.cli import review as cli_review
from monitor.cli.util import CommandError
from monitor.store import Store

NOW = sb.T0 + timedelta(days=1)


class FakeConnector:
    """Records calls; refuses like the real connectors when told to."""

    def __init__(self, account_config, calls, refuse=None):
        self.cfg = account_config
        self.calls = calls
        self.refuse = refuse

    def hide(self, comment_id, hidden=True):
        if self.refuse:
            raise self.refuse
        if not self.cfg.hide_enabled:
            raise ConnectorError("hiding is not enabled for this account (set hide_enabled = true)",
                                 platform=self.cfg.platform, kind="refused")
        self.calls.append(("hide", self.cfg.name, comment_id, hidden))

    def block(self, author_id, *, handle=None):
        if self.cfg.platform == "twitter":
            raise ConnectorError(f"X does not allow blocking through the API: open https://x.com/{handle}, "
                                 "choose More then Block", platform="twitter", kind="refused")
        if self.refuse:
            raise self.refuse
        self.calls.append(("block", self.cfg.name, author_id))
        return f"blocked {author_id} from Page {self.cfg.page_id}"

    def close(self):
        self.calls.append(("close",))


@pytest.fixture
def env(tmp_path, builder):
    """A config file in tmp_path pointing at the builder's store, and a CLI runner."""
    shutil.copy(sb.CONFIG, tmp_path / "config.toml")
    calls: list = []
    state = {"refuse": None}

    def factory(acfg):
        return FakeConnector(acfg, calls, state["refuse"])

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        parser = argparse.ArgumentParser(prog="school-monitor")
        sub = parser.add_subparsers(dest="command", required=True)
        cli_review.register(sub, connector_factory=factory, clock=lambda: NOW, out=out)
        args = parser.parse_args([*argv[:1], *argv[1:], "--config", str(tmp_path / "config.toml")]
                                 if argv[0] != "review" else
                                 [*argv, "--config", str(tmp_path / "config.toml")])
        rc = args.func(args)
        return rc, out.getvalue()

    return dict(run=run, calls=calls, state=state, store=builder.store, builder=builder, tmp=tmp_path)


def _audit(store):
    return [(r["actor"], r["action"], r["target"]) for r in store.db.query("SELECT * FROM audit_log ORDER BY id")]


def test_cli_list_show_ack_resolve(env):
    b, run, s = env["builder"], env["run"], env["store"]
    aid = b.add(sb.make_comment("1000_1_1", "Mr Pryce grabbed my son's arm"), ("allegation_staff",))[0]
    rc, out = run("review")
    assert rc == 0 and f"{aid:>5}  escalation" in out and "allegation_staff" in out
    assert "2026-09-07 15:01 BST" in out  # school time
    rc, out = run("review", "show", str(aid))
    assert rc == 0 and "Mr Pryce grabbed my son's arm" in out and "Sports day is on Friday!" in out
    assert "keys: allegation_staff" in out and "Next: school-monitor review ack" in out
    rc, out = run("review", "show", str(aid), "--json")
    assert json.loads(out)["item"]["id"] == aid
    rc, out = run("review", "ack", str(aid), "--by", "jsmith", "--note", "calling")
    assert rc == 0 and "acknowledged by jsmith" in out and "will not be repeated" in out
    rc, out = run("review", "resolve", str(aid), "--verdict", "confirmed", "--keys", "allegation_staff", "--by",
                  "jsmith")
    assert rc == 0 and "resolved by jsmith: confirmed" in out
    rc, out = run("review")
    assert out == "No open review items.\n"
    rc, out = run("review", "list", "--all", "--json")
    assert [i["verdict"] for i in json.loads(out)] == ["confirmed"]
    with pytest.raises(CommandError, match="already resolved .* use --amend"):
        run("review", "resolve", str(aid), "--verdict", "false_positive", "--by", "x")
    with pytest.raises(CommandError, match="no review item 77"):
        run("review", "ack", "77", "--by", "x")
    rc, out = run("review", "resolve", str(aid), "--verdict", "removed", "--amend", "--note", "Facebook removed it",
                  "--by", "jsmith")
    assert rc == 0 and "amended by jsmith: removed" in out
    assert _audit(s) == [("jsmith", "review.ack", f"alert:{aid}"), ("jsmith", "review.resolve", f"alert:{aid}"),
                         ("jsmith", "review.amend", f"alert:{aid}")]


def test_review_by_defaults_to_the_os_user(env, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "coordinator1")
    aid = env["builder"].add(sb.make_comment("1000_1_1", "someone should torch the place"), ("threat_violence",))[0]
    env["run"]("review", "ack", str(aid))
    assert _audit(env["store"]) == [("coordinator1", "review.ack", f"alert:{aid}")]


def test_hide_without_yes_does_nothing(env):
    aid = env["builder"].add(sb.make_comment("1000_1_1", "useless cow"), ("offensive_staff", "threat_violence"))[0]
    rc, out = env["run"]("review", "hide", str(aid), "--by", "j")
    assert rc == 0
    assert "Would hide facebook comment 1000_1_1 by Pat Parent (fb:1001) on account 'school-fb'" in out
    assert "run again with --yes" in out
    assert env["calls"] == [] and _audit(env["store"]) == []


def test_hide_and_unhide_with_yes_call_the_connector_and_audit(env):
    s = env["store"]
    aid = env["builder"].add(sb.make_comment("1000_1_1", "useless cow"), ("offensive_staff", "threat_violence"))[0]
    rc, out = env["run"]("review", "hide", str(aid), "--yes", "--by", "j", "--reason", "abusive")
    assert rc == 0 and "Done: hidden facebook comment 1000_1_1" in out
    assert f"review resolve {aid} --verdict hidden" in out
    assert env["calls"] == [("hide", "school-fb", "1000_1_1", True), ("close",)]
    assert s.scalar("SELECT is_hidden FROM comments WHERE comment_id = '1000_1_1'") == 1
    rc, out = env["run"]("review", "unhide", "facebook:1000_1_1", "--yes", "--by", "j")
    assert env["calls"][-2] == ("hide", "school-fb", "1000_1_1", False)
    assert s.scalar("SELECT is_hidden FROM comments WHERE comment_id = '1000_1_1'") == 0
    assert _audit(s) == [("j", "review.hide", f"alert:{aid}"), ("j", "review.unhide", "facebook:1000_1_1")]
    entry = s.one("SELECT reason, details FROM audit_log ORDER BY id LIMIT 1")
    assert entry["reason"] == "abusive"
    assert json.loads(entry["details"])["comment"] == ["facebook", "1000_1_1"]


def test_platform_refusal_is_reported_non_zero_and_audited(env):
    s = env["store"]
    aid = env["builder"].add(sb.make_comment("1000_1_1", "useless cow"), ("offensive_staff", "threat_violence"))[0]
    env["state"]["refuse"] = ConnectorError("(#200) Permissions error: pages_manage_engagement is missing",
                                            platform="facebook", kind="permission", permanent=True, status=403,
                                            code=200)
    with pytest.raises(CommandError, match="hide refused: facebook: .*pages_manage_engagement.*HTTP 403; code 200"):
        env["run"]("review", "hide", str(aid), "--yes", "--by", "j")
    assert s.scalar("SELECT is_hidden FROM comments") is None
    [(actor, action, target)] = _audit(s)
    assert (actor, action, target) == ("j", "review.hide_refused", f"alert:{aid}")
    d = json.loads(s.scalar("SELECT details FROM audit_log"))
    assert (d["error_kind"], d["status"], d["code"]) == ("permission", 403, 200)


def test_hide_refused_when_not_enabled_for_the_account(env):
    b = env["builder"]
    c = sb.make_comment("2001", "feral little thugs", platform="twitter", author="tw:77", post="1999")
    b.add(c, ("offensive_pupil",), block=True)
    with pytest.raises(CommandError, match="hiding is not enabled"):
        env["run"]("review", "hide", "twitter:2001", "--yes", "--by", "j")
    assert _audit(env["store"])[-1][1] == "review.hide_refused"


def test_block_on_facebook_and_refused_on_x(env):
    b, s = env["builder"], env["store"]
    fb = b.add(sb.make_comment("1000_1_1", "racist slur here", author="fb:1009"), ("racist_homophobic",),
               block=True)[0]
    rc, out = env["run"]("review", "block", str(fb), "--by", "j")
    assert "Would block Pat Parent (fb:1009) from the facebook account 'school-fb'" in out and env["calls"] == []
    rc, out = env["run"]("review", "block", str(fb), "--yes", "--by", "j")
    assert rc == 0 and "blocked fb:1009 from Page 1000" in out
    assert ("block", "school-fb", "fb:1009") in env["calls"]
    x = b.add(sb.make_comment("2001", "racist slur", platform="twitter", author="tw:77", post="1999", handle="troll"),
              ("racist_homophobic",), block=True)[0]
    rc, out = env["run"]("review", "block", str(x), "--by", "j")
    assert "X does not allow blocking through its API" in out
    with pytest.raises(CommandError, match="X does not allow blocking through the API: open https://x.com/troll"):
        env["run"]("review", "block", str(x), "--yes", "--by", "j")
    assert [a[1] for a in _audit(s)] == ["review.block", "review.block_refused"]


def test_action_on_unknown_account_or_comment(env, tmp_path):
    b = env["builder"]
    c = sb.make_comment("1000_1_1", "useless cow")
    b.add(c, ("offensive_staff",))
    env["store"].db.execute("UPDATE comment_state SET account = 'old-page'")
    with pytest.raises(CommandError, match="account 'old-page' is not in"):
        env["run"]("review", "hide", "facebook:1000_1_1", "--yes", "--by", "j")
    with pytest.raises(CommandError, match="no stored comment facebook:9_9"):
        env["run"]("review", "hide", "facebook:9_9", "--yes", "--by", "j")
    with pytest.raises(CommandError, match="expected PLATFORM:COMMENT_ID"):
        env["run"]("review", "hide", "myspace:1", "--yes", "--by", "j")


def test_hide_needs_comment_for_item_about_several_comments(env):
    b = env["builder"]
    a = dict(author="fb:1009", name="Sam")
    b.add(sb.make_comment("1000_1_1", "useless cow", **a), ("offensive_staff",), alerts=False)
    aid = b.add(sb.make_comment("1000_1_2", "liar", at=sb.T0 + timedelta(hours=1), **a), ("defamatory_staff",),
                block=True)[0]
    with pytest.raises(CommandError, match="about 2 comments .* name one with --comment"):
        env["run"]("review", "hide", str(aid), "--yes", "--by", "j")
    rc, out = env["run"]("review", "hide", str(aid), "--comment", "facebook:1000_1_1", "--yes", "--by", "j")
    assert env["calls"][0] == ("hide", "school-fb", "1000_1_1", True)


def test_evidence_purge_sar_and_calibration_commands(env):
    b, run, tmp = env["builder"], env["run"], env["tmp"]
    aid = b.add(sb.make_comment("1000_1_1", "Mr Pryce grabbed my son", author="fb:1009"), ("allegation_staff",))[0]
    run("review", "resolve", str(aid), "--verdict", "confirmed", "--by", "j")
    rc, out = run("evidence", "export", "--author", "fb:1009", "-o", str(tmp / "b.zip"), "--by", "j")
    assert rc == 0 and "1 comment(s)" in out
    sha = out.split("manifest SHA-256: ")[1].split()[0]
    rc, out = run("evidence", "verify", str(tmp / "b.zip"), "--manifest-sha256", sha, "--against-store")
    assert rc == 0 and "intact" in out
    rc, out = run("evidence", "verify", str(tmp / "b.zip"), "--manifest-sha256", "0" * 64)
    assert rc == 1 and "expected SHA-256" in out
    rc, out = run("evidence", "check", "--by", "j")
    assert rc == 0 and "OK: the evidence chain is intact" in out
    with pytest.raises(CommandError, match="--author: author id '1009' must be platform-prefixed"):
        run("evidence", "export", "--author", "1009", "-o", str(tmp / "c.zip"))
    with pytest.raises(CommandError, match="--since: expected a date"):
        run("evidence", "export", "--since", "last week", "-o", str(tmp / "c.zip"))
    with pytest.raises(CommandError, match="choose what to export"):
        run("evidence", "export", "-o", str(tmp / "c.zip"))
    rc, out = run("purge", "--dry-run")
    assert rc == 0 and "would purge the text of 0 comment(s)" in out and "Dry run" in out
    rc, out = run("sar", "--author", "fb:1009", "-o", str(tmp / "sar.json"), "--by", "dpo")
    assert rc == 0 and "comments 1" in out
    assert json.loads((tmp / "sar.json").read_text())["subject"] == "fb:1009"
    rc, out = run("sar", "--author", "fb:424242", "-o", str(tmp / "none.json"), "--by", "dpo")
    assert "holds nothing about fb:424242" in out
    rc, out = run("calibration")
    assert rc == 0 and "Calibration on 1 judged comment(s)" in out and "allegation_staff" in out
    rc, out = run("calibration", "--json")
    assert json.loads(out)["judged"] == 1
    with pytest.raises(CommandError, match="target precision"):
        run("calibration", "--target-precision", "1.5")
    # exports, checks and SARs are audited
    actions = [a[1] for a in _audit(env["store"])]
    assert actions == ["review.resolve", "evidence.export", "evidence.check", "sar.export", "sar.export"]


def test_evidence_check_exits_1_on_a_tampered_store(env):
    b, run = env["builder"], env["run"]
    b.add(sb.make_comment("1000_1_1", "Mr Pryce grabbed my son"), ("allegation_staff",))
    env["store"].db.execute("UPDATE comment_versions SET text = 'Mr Pryce helped my son'")
    rc, out = run("evidence", "check", "--by", "j")
    assert rc == 1 and "BROKEN" in out and "comment facebook:1000_1_1#v1: text edited" in out


def test_every_command_has_help(env, capsys):
    parser = argparse.ArgumentParser(prog="school-monitor")
    sub = parser.add_subparsers(dest="command")
    cli_review.register(sub)
    for argv in (["review"], ["review", "show"], ["review", "resolve"], ["review", "hide"], ["review", "block"],
                 ["calibration"], ["evidence", "export"], ["evidence", "verify"], ["evidence", "check"], ["purge"],
                 ["sar"]):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([*argv, "--help"])
        assert exc.value.code == 0
    assert "--verdict" in capsys.readouterr().out


def test_store_reopened_by_cli_sees_changes(env):
    aid = env["builder"].add(sb.make_comment("1000_1_1", "threat"), ("threat_violence",))[0]
    env["run"]("review", "ack", str(aid), "--by", "j")
    other = Store.open(env["tmp"] / "monitor.db")
    try:
        assert other.scalar("SELECT review_status FROM alerts WHERE id = ?", [aid]) == "acknowledged"
    finally:
        other.close()

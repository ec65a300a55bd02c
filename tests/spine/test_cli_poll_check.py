"""`poll --once` and `check` from the command line against the loopback fake platforms and
a real SMTP server: comments stored exactly once, clear check verdicts, paused accounts
resumed by a passing check."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from monitor.cli import main
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.graph import FakeGraphServer
from monitor.fakes.x import FakeXServer
from monitor.delivery.smtp_sink import SmtpSink
from monitor.store import Store

from .helpers import write_config

FB_TOKEN = "EAAB-cli-test-page-token-123456"
#: check judges token and Graph version dates on this day, not the wall clock
CHECK_DAY = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
X_TOKEN = "AAAA-cli-test-bearer-token-123456"


@pytest.fixture
def platforms(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_FB_TOKEN", FB_TOKEN)
    monkeypatch.setenv("TEST_X_TOKEN", X_TOKEN)
    now = datetime.now(timezone.utc)
    posts = load_demo_posts()
    fb = [p for p in posts if p.platform == "facebook"][:6]
    xp = [p for p in posts if p.platform == "twitter"][:4]
    with FakeGraphServer(fb, token=FB_TOKEN, rebase_to=now) as graph, \
            FakeXServer(xp, bearer_token=X_TOKEN, rebase_to=now) as x, SmtpSink() as smtp:
        cfg = write_config(tmp_path, graph_url=graph.base_url, x_url=x.base_url, smtp_port=smtp.port,
                           lookback=45, read_cap=10000)
        yield cfg, graph, x, smtp


@pytest.fixture
def check_day(monkeypatch):
    monkeypatch.setattr("monitor.pipeline.system_clock", lambda: CHECK_DAY)


def test_poll_once_stores_each_comment_exactly_once(platforms, tmp_path, capsys):
    cfg, graph, x, smtp = platforms
    assert main(["poll", "--once", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "fb: ok: fetched" in out and "x: ok: fetched" in out
    store = Store.open(tmp_path / "store.db")
    first = store.scalar("SELECT COUNT(*) FROM comments")
    served_fb = sum(len(p.comments) for p in graph.posts)
    assert store.scalar("SELECT COUNT(*) FROM comments WHERE platform = 'facebook'") == served_fb
    assert store.scalar("SELECT COUNT(*) FROM comments WHERE platform = 'twitter'") > 0
    assert store.scalar("SELECT COUNT(*) FROM comments WHERE status = 'new'") == 0
    alerts = store.scalar("SELECT COUNT(*) FROM alerts")
    store.close()
    assert main(["poll", "--once", "--config", str(cfg)]) == 0
    assert "new 0" in capsys.readouterr().out
    store = Store.open(tmp_path / "store.db")
    assert store.scalar("SELECT COUNT(*) FROM comments") == first
    assert store.scalar("SELECT COUNT(*) FROM comment_versions") == first
    assert store.scalar("SELECT COUNT(*) FROM alerts") == alerts
    store.close()
    message_ids = [m["Message-ID"] for m in smtp.messages]
    assert len(message_ids) == len(set(message_ids)) > 0


def test_check_gives_one_verdict_per_line_and_fails_on_a_refused_token(platforms, tmp_path, capsys, check_day):
    cfg, graph, x, smtp = platforms
    assert main(["check", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "[ok] config" in out and "[ok] store" in out and "[ok] classifier" in out
    assert "[ok] fb: fb token" in out and "[ok] smtp" in out
    assert any(line.startswith("[ok] x:") for line in out.splitlines())
    graph.token = "another-token"  # the Page token was revoked
    assert main(["check", "--config", str(cfg), "--account", "fb"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] fb:" in out and FB_TOKEN not in out


def test_paused_account_resumes_when_check_passes(platforms, tmp_path, capsys, check_day):
    cfg, graph, x, smtp = platforms
    graph.token = "another-token"
    assert main(["poll", "--once", "--config", str(cfg), "--account", "fb"]) == 1
    assert "fb: paused" in capsys.readouterr().out
    store = Store.open(tmp_path / "store.db")
    assert store.account_row("fb")["paused"] == 1
    assert store.scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'reconnect'") == 1
    store.close()
    graph.token = FB_TOKEN  # a new token was put in place
    assert main(["check", "--config", str(cfg), "--account", "fb"]) == 0
    assert "was paused; polling resumes" in capsys.readouterr().out
    store = Store.open(tmp_path / "store.db")
    assert store.account_row("fb")["paused"] == 0
    assert store.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'account_resumed'") == 1
    store.close()
    assert main(["poll", "--once", "--config", str(cfg), "--account", "fb"]) == 0


def test_check_warns_when_a_token_file_is_readable_by_group_or_others(platforms, tmp_path, capsys):
    """Issue 14, item 4: a ``*_file`` credential readable by anyone but its owner gets a
    warning naming the key, the file and its mode (never the token); the check still passes."""
    cfg, graph, x, smtp = platforms
    token_file = tmp_path / "secrets" / "facebook-token"
    token_file.parent.mkdir()
    token_file.write_text(FB_TOKEN + "\n")
    token_file.chmod(0o640)
    text = cfg.read_text()
    assert 'token_env = "TEST_FB_TOKEN"' in text
    cfg.write_text(text.replace('token_env = "TEST_FB_TOKEN"', f'token_file = "{token_file}"'))
    assert main(["check", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "[ok] fb: fb token" in out, "the token file was not used"
    (line,) = [line for line in out.splitlines() if line.startswith("[warn] secrets:")]
    assert line.startswith("[warn] secrets: accounts[0].token: ") and str(token_file) in line
    assert "mode 0640, readable by its group" in line and "chmod 0600" in line
    assert FB_TOKEN not in out


@pytest.mark.parametrize("mode, who", [(0o644, "its group and others"), (0o640, "its group"), (0o604, "others"),
                                       (0o600, None), (0o400, None)])
def test_secret_file_warnings_by_mode(tmp_path, mode, who):
    from monitor.cli import secret_file_warnings
    from monitor.config import parse_config

    token, password = tmp_path / "token", tmp_path / "smtp-password"
    for f in (token, password):
        f.write_text("s3cret-value-123456")
    token.chmod(mode)
    password.chmod(0o600)
    cfg = parse_config({"school": {"name": "S"},
                        "accounts": [{"name": "fb", "platform": "facebook", "page_id": "1000",
                                      "token_file": str(token)},
                                     {"name": "x", "platform": "twitter", "user_id": "2000",
                                      "bearer_token_env": "UNSET_ENV"}],
                        "alerts": {"sender": "m@s.test", "recipients": {"coordinator": ["c@s.test"]},
                                   "smtp": {"host": "127.0.0.1", "username": "m",
                                            "password_file": str(password)}}}, source="t.toml")
    warnings = secret_file_warnings(cfg)
    if who is None:
        assert warnings == []
    else:
        assert warnings == [f"accounts[0].token: {token} is mode {mode:04o}, readable by {who}; chmod 0600 it "
                            "(owned by the service user) or use token_credential"]
    password.chmod(0o660)
    assert any(w.startswith("alerts.smtp.password: ") and "password_credential" in w
               for w in secret_file_warnings(cfg))


@pytest.mark.parametrize("subcode,words", [
    (460, "the password of the person who generated the token was changed"),
    (492, "the role of the person who generated the token on the Page changed"),
])
def test_reconnect_email_gives_the_190_subcode_in_words(platforms, tmp_path, capsys, subcode, words):
    cfg, graph, x, smtp = platforms
    graph.fail_next(1, 400, graph_code=190, subcode=subcode,
                    message="Error validating access token: the session has been invalidated.")
    assert main(["poll", "--once", "--config", str(cfg), "--account", "fb"]) == 1
    assert "fb: paused" in capsys.readouterr().out
    [mail] = [m for m in smtp.messages if "reconnect" in m["Subject"].lower()]
    body = mail.get_body(("plain",)).get_content()
    assert words in " ".join(body.split()) and f"Graph 190/{subcode}" in body and FB_TOKEN not in body


def test_check_prints_warn_not_ok_for_what_it_could_not_verify(platforms, capsys, check_day):
    cfg, graph, x, smtp = platforms
    assert main(["check", "--config", str(cfg), "--account", "fb"]) == 0  # a warning is not a failure
    out = capsys.readouterr().out
    assert "[warn] fb: fb permissions: not verified: the token's expiry" in out
    assert "[ok] fb: fb permissions" not in out and "[ok] fb: fb graph version: Graph API v23.0" in out

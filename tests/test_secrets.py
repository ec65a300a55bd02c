"""Secrets never leak (issue 9, part 5).

* the store file (and its WAL and shared-memory files) is created 0600;
* a world-readable config that names a secret file gets a warning;
* a full demo cycle with known tokens: every log line (the process's stdout and stderr,
  through the real structlog configuration), every alert, every email, every report file
  and the whole database (every row of every table, and the raw file bytes) are searched
  for the tokens, which must not appear anywhere;
* the same for a poll that fails with the platform's auth, server and HTML errors, where
  error text is stored and logged.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timezone
from pathlib import Path

import pytest

from monitor.config import SecretRef, SecretError, load_config
from monitor.domain import Account
from monitor.store import Store

FB_TOKEN = "EAAGtestPageToken0123456789abcdefSECRETfb"
X_TOKEN = "AAAAAAAAAAAAAAAAAAAAAtestBearer0123456789SECRETx"
HEX = "0123456789abcdef0123456789abcdef"


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_store_file_and_its_wal_are_created_0600(tmp_path):
    old = os.umask(0o022)
    try:
        s = Store.open(tmp_path / "sub" / "m.db")
        s.ensure_account(Account("fb", "facebook", "1000"), datetime(2026, 1, 1, tzinfo=timezone.utc))
        files = [tmp_path / "sub" / n for n in ("m.db", "m.db-wal", "m.db-shm")]
        for f in files:
            assert f.exists(), f
            assert _mode(f) == 0o600, (f, oct(_mode(f)))
        s.close()
    finally:
        os.umask(old)


def test_existing_store_mode_is_not_widened(tmp_path):
    s = Store.open(tmp_path / "m.db")
    s.close()
    s = Store.open(tmp_path / "m.db")
    s.close()
    assert _mode(tmp_path / "m.db") == 0o600


CONFIG_WITH_FILE = """
[school]
name = "S"
[[accounts]]
name = "fb"
platform = "facebook"
page_id = "1000"
token_file = "{secret}"
"""


@pytest.mark.parametrize("mode, warned", [(0o644, True), (0o604, True), (0o640, False), (0o600, False)])
def test_world_readable_config_naming_a_secret_file_warns(tmp_path, mode, warned):
    secret = tmp_path / "token"
    secret.write_text(FB_TOKEN)
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG_WITH_FILE.format(secret=secret))
    os.chmod(cfg, mode)
    warnings: list[str] = []
    load_config(cfg, warn=warnings.append)
    assert bool(warnings) is warned
    if warned:
        assert str(cfg) in warnings[0] and "0640" in warnings[0]
        assert FB_TOKEN not in warnings[0]


def test_world_readable_config_with_env_secrets_only_does_not_warn(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG_WITH_FILE.replace('token_file = "{secret}"', 'token_env = "FB"'))
    os.chmod(cfg, 0o644)
    warnings: list[str] = []
    load_config(cfg, warn=warnings.append)
    assert warnings == []


def test_world_readable_config_warning_reaches_the_cli_log(tmp_path):
    from monitor import cli
    secret = tmp_path / "token"
    secret.write_text(FB_TOKEN)
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG_WITH_FILE.format(secret=secret))
    os.chmod(cfg, 0o644)
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        cli.main(["migrate", "--config", str(cfg), "--db", str(tmp_path / "m.db")])
    assert "config_permissions" in err.getvalue() and "world-readable" in err.getvalue()
    assert FB_TOKEN not in err.getvalue()


def test_secret_errors_name_the_source_never_the_value(tmp_path):
    ref = SecretRef(key="accounts[0].token", file=str(tmp_path / "missing"))
    with pytest.raises(SecretError, match=r"accounts\[0\].token: cannot read file"):
        ref.resolve()
    ref = SecretRef(key="accounts[0].token", credential="facebook-token")
    with pytest.raises(SecretError, match="CREDENTIALS_DIRECTORY is not set"):
        ref.resolve({})
    (tmp_path / "facebook-token").write_text(FB_TOKEN + "\n")
    assert ref.resolve({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == FB_TOKEN


# ------------------------------------------------------------------ whole-system scans


def _needles(*tokens: str) -> list[str]:
    out = []
    for t in tokens:
        out += [t, t[len(t) // 3: 2 * len(t) // 3]]  # the token and a middle third of it
    return out


def dump_database(path: Path) -> str:
    """Every row of every table of the store as text (and the raw bytes of the files)."""
    import sqlite3

    conn = sqlite3.connect(str(path))
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    parts = []
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for row in conn.execute(f'SELECT * FROM "{name}"'):
            parts.append(f"{name}: " + " | ".join(
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row))
    conn.close()
    for suffix in ("", "-wal"):
        f = Path(str(path) + suffix)
        if f.exists():
            parts.append(f.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def assert_no_secret(where: str, text: str, tokens: list[str]) -> None:
    for needle in tokens:
        assert needle not in text, f"a secret ({needle[:6]}...) appears in {where}"


def test_full_demo_cycle_leaks_no_token(tmp_path, monkeypatch):
    import structlog

    from monitor import demo
    from monitor import logging as mlog

    # Known tokens instead of the demo's random ones: the demo draws the Facebook token,
    # then the X token, first; later draws (Message-IDs ...) stay random.
    real_token_hex = demo.secrets.token_hex
    known = [HEX[:16] + "fbfbfbfbfbfbfbfb", HEX[16:] + "xxxxxxxxxxxxxxxx"]
    draws: list[int] = []

    def token_hex(n=None):
        draws.append(1)
        return known[len(draws) - 1] if len(draws) <= 2 else real_token_hex(n)

    monkeypatch.setattr(demo.secrets, "token_hex", token_hex)
    fb_token = "demo-fb-" + known[0]
    x_token = "demo-x-" + known[1]
    tokens = _needles(fb_token, x_token)

    out_dir = tmp_path / "demo"
    buf = io.StringIO()
    mlog.configure("DEBUG", stream=buf, json=True)
    try:
        stdout, stderr = io.StringIO(), io.StringIO()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            with structlog.testing.capture_logs() as events:
                assert demo.run_demo(out_dir) == 0
            # a second cycle through the real renderer (JSON lines, as journald gets them)
            draws.clear()
            assert demo.run_demo(tmp_path / "demo2") == 0
    finally:
        mlog.configure("INFO", stream=sys.stderr)
    assert os.environ[demo.FB_TOKEN_ENV] == fb_token, "the test did not control the demo's tokens"
    assert events, "no log events captured"
    assert_no_secret("log events (before redaction)", repr(events), tokens)
    assert_no_secret("log output", buf.getvalue() + stdout.getvalue() + stderr.getvalue(), tokens)
    for d in (out_dir, tmp_path / "demo2"):
        files = [p for p in d.rglob("*") if p.is_file()]
        assert any(p.suffix == ".eml" for p in files), "the demo sent no email"
        for p in files:
            if p.name.startswith("school-monitor.db"):
                continue
            assert_no_secret(str(p.relative_to(tmp_path)), p.read_bytes().decode("latin-1"), tokens)
        db = d / "school-monitor.db"
        dump = dump_database(db)
        assert "alerts:" in dump and "comments:" in dump
        assert_no_secret(f"database {db.name}", dump, tokens)


def test_failing_polls_store_and_log_errors_without_the_token(tmp_path, monkeypatch):
    import structlog

    from connectors import build_connector
    from monitor.config import parse_config
    from monitor.fakes.graph import FakeGraphServer
    from monitor.pipeline import Pipeline

    class NoScoring:
        def score(self, texts):  # pragma: no cover - no comments reach it
            raise AssertionError("nothing to score")

    monkeypatch.setenv("SM_TEST_FB_TOKEN", FB_TOKEN)
    store = Store.open(tmp_path / "m.db")
    faults = ({"status": 500, "graph_code": 1}, {"status": 502, "html": True},
              {"status": 200, "body": '{"data": [ broken'}, {"status": 400, "graph_code": 10},
              {"status": 400, "graph_code": 190})
    with structlog.testing.capture_logs() as events:
        for fault in faults:
            with FakeGraphServer([], page_id="1000", token=FB_TOKEN) as graph:
                cfg = parse_config({
                    "school": {"name": "S"},
                    "accounts": [{"name": "fb", "platform": "facebook", "page_id": "1000",
                                  "base_url": graph.base_url, "token_env": "SM_TEST_FB_TOKEN",
                                  "timeout_seconds": 2}],
                }, source="t.toml")
                acc = cfg.accounts[0]
                pipe = Pipeline(cfg, store, NoScoring(), categoriser=None)
                connector = build_connector(acc, sleep=lambda s: None)
                graph.fail_next(10, **fault)
                outcome = pipe.poll(acc, connector, force=True)
                assert outcome.status in ("failed", "paused"), (fault, outcome)
                connector.close()
                store.unpause_account("fb")
    store.close()
    tokens = _needles(FB_TOKEN)
    dump = dump_database(tmp_path / "m.db")
    assert dump.count("poll_log:") == len(faults), "the failures were not all recorded"
    assert "190" in dump and "502" in dump
    assert_no_secret("database after failed polls", dump, tokens)
    assert_no_secret("log events of failed polls", repr(events), tokens)

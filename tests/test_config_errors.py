"""A broken config gives one clear error per problem, naming the file and the key, and
the CLI exits 2 (issue 9, part 4; issue 2, part 3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config

BROKEN = """
[school]
name = "Test School"
timezone = "Europe/Lundon"
own_accounts = ["facebook:1000"]

[[staff]]
title = "Mrs"

[[accounts]]
name = "fb"
platform = "facebook"
token = "EAAB-inline-token"
poll_interval_minutes = -5

[[accounts]]
name = "fb"
platform = "myspace"

[policy]
strike_keys = ["complaint_school", "rudeness"]
window_days = "thirty"

[policy.thresholds]
toxicity = 1.5

[alerts.recipients]
coordinator = ["not-an-address"]

[reports]
day = "funday"
hour = 25

[colours]
x = 1
"""

#: (key named in the message, words the message must contain)
EXPECTED = [
    ("school.timezone", "Europe/Lundon"),
    ("school.own_accounts", "facebook:1000"),
    ("staff[0].name", "missing"),
    ("accounts[0].token", "never written in the config"),
    ("accounts[0].poll_interval_minutes", "-5"),
    ("accounts[0].page_id", "missing"),
    ("accounts[1].platform", "myspace"),
    ("accounts[1].name", "duplicate"),
    ("policy.strike_keys", "rudeness"),
    ("policy.strike_keys", "never counts as a strike"),
    ("policy.window_days", "thirty"),
    ("policy.thresholds.toxicity", "1.5"),
    ("alerts.recipients.coordinator", "not-an-address"),
    ("reports.day", "funday"),
    ("reports.hour", "25"),
    ("colours", "unknown section"),
]


@pytest.fixture
def broken(tmp_path) -> Path:
    p = tmp_path / "broken.toml"
    p.write_text(BROKEN, encoding="utf-8")
    return p


def test_every_problem_reported_once_with_file_and_key(broken):
    with pytest.raises(ConfigError) as info:
        load_config(broken)
    problems = info.value.problems
    for key, words in EXPECTED:
        hits = [p for p in problems if p.startswith(f"{broken}: {key}: ") and words in p]
        assert len(hits) == 1, (key, words, problems)
    assert len(problems) == len(set(problems)), "a problem is repeated"
    # Nothing but the listed problems (one per problem, no cascades).
    assert len(problems) == len(EXPECTED), problems
    assert "EAAB-inline-token" not in str(info.value), "an inline secret is echoed back"


def test_each_problem_says_what_was_expected(broken):
    with pytest.raises(ConfigError) as info:
        load_config(broken)
    text = str(info.value)
    assert "expected e.g. Europe/London" in text
    assert "expected one of facebook, twitter" in text
    assert "expected 0..23" in text
    assert "expected a probability" in text


@pytest.mark.parametrize("content, words", [
    (b"[school\nname = 1", "not valid TOML"),
    (b"\xff\xfe[school]", "not UTF-8"),
])
def test_unparsable_file_names_file_and_position(tmp_path, content, words):
    p = tmp_path / "c.toml"
    p.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    (problem,) = info.value.problems
    assert problem.startswith(str(p)) and words in problem
    if words == "not valid TOML":
        assert "line 1" in problem


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")


def test_missing_school_table_and_secret_source(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[[accounts]]\nname = "x"\nplatform = "twitter"\nhandle = "s"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    problems = info.value.problems
    assert any(": school: missing" in q for q in problems)
    assert any("accounts[0].bearer_token: missing: set bearer_token_env" in q for q in problems)


def test_two_sources_for_one_secret(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[school]\nname = "S"\n[[accounts]]\nname = "fb"\nplatform = "facebook"\npage_id = "1"\n'
                 'token_env = "A"\ntoken_file = "/run/t"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"accounts\[0\].token: give only one of token_env, token_file"):
        load_config(p)


# ------------------------------------------------------------------ the CLI exits 2


def test_cli_exits_2_and_prints_every_problem(broken, capsys):
    from monitor import cli
    assert cli.main(["status", "--config", str(broken)]) == 2
    err = capsys.readouterr().err
    for key, _ in EXPECTED:
        assert f"{broken}: {key}: " in err


def test_console_script_exits_2(broken, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SCHOOL_MONITOR_CONFIG"}
    proc = subprocess.run([sys.executable, "-m", "monitor.cli", "migrate", "--config", str(broken),
                           "--db", str(tmp_path / "m.db")],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "config error" in proc.stderr and "reports.hour" in proc.stderr
    assert not (tmp_path / "m.db").exists(), "a store was created from a broken config"

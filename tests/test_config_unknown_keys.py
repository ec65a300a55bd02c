"""Unknown keys in any config section are an error naming the file, the section and the
key, with the closest known key ("did you mean"), all problems at once (issue 14, item 16).
Before, ``retention_day``, ``pth``, ``hide_enabeld`` and ``poll_intervall_minutes`` were
silently ignored and the defaults stayed in force."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import _KNOWN_KEYS, ConfigError, load_config, parse_config

TYPOS = """
[school]
name = "Test School"
timezon = "Europe/London"

[[staff]]
name = "Helen Ashworth"
titel = "Mrs"

[[accounts]]
name = "fb"
platform = "facebook"
page_id = "1000"
token_env = "FB"
hide_enabeld = true
poll_intervall_minutes = 5

[[accounts]]
name = "x"
platform = "twitter"
handle = "School"
bearer_token_env = "X"
monthly_read_capp = 100

[classifier]
bakend = "embedded"

[policy]
windows_days = 30

[alerts]
group_wait_minute = 5

[alerts.smtp]
hots = "smtp.school.example"

[reports]
out_dirr = "reports"

[storage]
pth = "store.db"
retention_day = 30
"""

#: (key named, the suggestion it must carry)
EXPECTED = [
    ("school.timezon", "timezone"),
    ("staff[0].titel", "title"),
    ("accounts[0].hide_enabeld", "hide_enabled"),
    ("accounts[0].poll_intervall_minutes", "poll_interval_minutes"),
    ("accounts[1].monthly_read_capp", "monthly_read_cap"),
    ("classifier.bakend", "backend"),
    ("policy.windows_days", "window_days"),
    ("alerts.group_wait_minute", "group_wait_minutes"),
    ("alerts.smtp.hots", "host"),
    ("reports.out_dirr", "out_dir"),
    ("storage.pth", "path"),
    ("storage.retention_day", "retention_days"),
]


def test_every_unknown_key_is_named_with_did_you_mean(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text(TYPOS, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    problems = info.value.problems
    for key, near in EXPECTED:
        hits = [q for q in problems if q.startswith(f"{p}: {key}: unknown ") and f"did you mean {near!r}?" in q]
        assert len(hits) == 1, (key, near, problems)
    assert len(problems) == len(EXPECTED), problems  # all at once, nothing else


def test_a_key_of_the_other_platform_is_unknown_for_this_account():
    data = {"school": {"name": "S"},
            "accounts": [{"name": "x", "platform": "twitter", "handle": "S", "bearer_token_env": "X",
                          "page_id": "1"}]}
    with pytest.raises(ConfigError) as info:
        parse_config(data, "c.toml")
    (problem,) = info.value.problems
    assert problem.startswith("c.toml: accounts[0].page_id: unknown key for a twitter account")


def test_far_from_any_key_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        parse_config({"school": {"name": "S"}, "storage": {"zzz": 1}}, "c.toml")
    (problem,) = info.value.problems
    assert "storage.zzz: unknown key (known keys: " in problem and "retention_days" in problem


def test_the_example_config_and_the_demo_roster_use_only_known_keys():
    root = Path(__file__).resolve().parents[1]
    load_config(root / "config.example.toml")
    load_config(root / "monitor" / "demo_data" / "school.toml")


def test_inline_secret_is_reported_once_not_also_as_unknown():
    data = {"school": {"name": "S"},
            "accounts": [{"name": "fb", "platform": "facebook", "page_id": "1", "token": "EAAB",
                          "token_env": "FB"}],
            "alerts": {"smtp": {"password": "hunter2"}}}
    with pytest.raises(ConfigError) as info:
        parse_config(data, "c.toml")
    assert len(info.value.problems) == 2, info.value.problems
    assert all("never written in the config" in q for q in info.value.problems)


def test_every_documented_key_is_known():
    """config.example.toml documents every key, commented ones included: each is accepted."""
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "config.example.toml").read_text(encoding="utf-8")
    section = None
    known = {k for keys in _KNOWN_KEYS.values() for k in keys}
    for line in text.splitlines():
        m = re.match(r"^\s*#?\s*\[{1,2}([a-z_.]+)\]{1,2}", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^#?\s?([a-z_0-9]+)\s*=", line)
        if m and section not in (None, "policy.thresholds", "policy.lexicon", "alerts.recipients",
                                 "alerts.routes"):
            assert m.group(1) in known or m.group(1).endswith(("_env", "_file", "_credential")), \
                (section, m.group(1))

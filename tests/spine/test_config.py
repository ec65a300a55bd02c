"""Config loading: typed values, defaults, and one clear error per problem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.config import ConfigError, SecretError, SecretRef, load_config, parse_config
from monitor.demo_data import path as demo_path

ROOT = Path(__file__).resolve().parents[2]


def test_roster_only_file_is_a_valid_config():
    cfg = load_config(demo_path("school.toml"))
    assert cfg.school.name == "Brookfield Primary School"
    assert cfg.school.own_accounts == ("fb:1000", "tw:2000", "ig:17841400000003000")
    assert [s.name for s in cfg.staff][:2] == ["Helen Ashworth", "Daniel Okafor"]
    assert cfg.staff[0].title == "Mrs" and cfg.staff[0].role == "headteacher"
    assert cfg.accounts == ()
    assert cfg.classifier.backend == "embedded"
    assert cfg.policy.window_days == 30 and cfg.policy.strikes_to_block == 3


def test_example_config_documents_and_loads_every_section():
    cfg = load_config(ROOT / "config.example.toml")
    fb, x, ig = cfg.accounts
    assert fb.platform == "facebook" and fb.page_id == "1000" and fb.graph_version == "v23.0"
    assert ig.platform == "instagram" and ig.ig_user_id == "17841400000003000"
    assert ig.secrets["token"].credential == "facebook-token" and not ig.block_enabled
    assert fb.secrets["token"].credential == "facebook-token"
    assert x.platform == "twitter" and x.monthly_budget_usd == 10.0 and x.monthly_read_cap is None
    assert x.secrets["access_token"].credential == "x-access-token" and x.deletion_checks_per_poll == 100
    assert cfg.storage.honour_x_deletions is False
    assert cfg.alerts.smtp.security == "starttls"
    assert cfg.alerts.recipients["coordinator"] == ("esafety@school.example",)
    assert cfg.reports.day == "monday" and cfg.reports.hour == 7
    assert cfg.storage.retention_days == 90 and cfg.storage.evidence_years == 6


def test_every_problem_is_reported_with_file_and_key():
    data = {
        "school": {"name": "X", "timezone": "Mars/Olympus", "own_accounts": ["1000"]},
        "accounts": [{"platform": "facebook", "token": "EAAB-secret"}, {"platform": "myspace"}],
        "policy": {"strike_keys": ["complaint_school"], "thresholds": {"threat": 1.5, "toxic": 0.2}},
        "reports": {"day": "funday", "hour": 25},
        "alerts": {"recipients": {"coordinator": ["not-an-address"]}},
        "nonsense": {},
    }
    with pytest.raises(ConfigError) as e:
        parse_config(data, "school.toml")
    problems = e.value.problems
    text = "\n".join(problems)
    for key in ("school.timezone", "school.own_accounts", "accounts[0].token", "accounts[0].page_id",
                "accounts[1].platform", "policy.strike_keys", "policy.thresholds.threat",
                "policy.thresholds.toxic", "reports.day", "reports.hour", "alerts.recipients.coordinator",
                "nonsense"):
        assert f"school.toml: {key}" in text, key
    assert "EAAB-secret" not in text  # an inline secret is refused without being echoed
    assert all(p.startswith("school.toml: ") for p in problems)


def test_toml_syntax_error_names_file_and_line(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[school]\nname = "X\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(p) in str(e.value) and "line" in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")


def test_secret_refs_resolve_from_env_file_and_credentials(tmp_path):
    f = tmp_path / "tok"
    f.write_text("from-file-123\n")
    (tmp_path / "cred").write_text("from-cred-456")
    assert SecretRef("k", env="TOK").resolve({"TOK": "from-env-789"}) == "from-env-789"
    assert SecretRef("k", file=str(f)).resolve({}) == "from-file-123"
    assert SecretRef("k", credential="cred").resolve({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-cred-456"
    with pytest.raises(SecretError, match="accounts\\[0\\].token: environment variable NOPE is unset"):
        SecretRef("accounts[0].token", env="NOPE").resolve({})
    with pytest.raises(SecretError, match="CREDENTIALS_DIRECTORY is not set"):
        SecretRef("k", credential="x").resolve({})


def test_world_readable_config_naming_secret_file_warns(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[school]\nname="X"\n[[accounts]]\nplatform="facebook"\npage_id="1"\ntoken_file="/run/t"\n')
    os.chmod(p, 0o644)
    warnings: list[str] = []
    load_config(p, warn=warnings.append)
    assert warnings and "world-readable" in warnings[0]
    os.chmod(p, 0o640)
    warnings.clear()
    load_config(p, warn=warnings.append)
    assert warnings == []

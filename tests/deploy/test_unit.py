"""The systemd unit (deploy/school-monitor.service) parses and carries the hardening.

The directive checks always run (pure parsing); ``systemd-analyze verify`` and ``security``
run where systemd-analyze is installed and are skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "school-monitor.service"


def _load_checker():
    spec = importlib.util.spec_from_file_location("check_unit", ROOT / "deploy" / "check_unit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_unit = _load_checker()


@pytest.fixture(scope="module")
def unit() -> dict:
    return check_unit.parse_unit(UNIT.read_text(encoding="utf-8"))


def test_unit_has_every_required_directive(unit):
    assert check_unit.check_directives(unit) == []


@pytest.mark.parametrize("key, value", [
    ("Type", "notify"),
    ("Restart", "on-failure"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("NoNewPrivileges", "yes"),
    ("CapabilityBoundingSet", ""),
    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ("StateDirectory", "school-monitor"),
])
def test_hardening_directive_values(unit, key, value):
    assert unit["Service"][key][-1] == value


def test_watchdog_and_syscall_filter(unit):
    service = unit["Service"]
    assert int(service["WatchdogSec"][-1]) > 0
    assert service["SystemCallFilter"][0] == "@system-service"
    assert service["User"][-1] == "school-monitor"


def test_secrets_come_from_credentials_named_in_config_style(unit):
    names = [v.split(":", 1)[0] for v in unit["Service"]["LoadCredential"]]
    assert {"facebook-token", "x-bearer-token", "smtp-password"} <= set(names)
    for v in unit["Service"]["LoadCredential"]:
        assert v.split(":", 1)[1].startswith("/etc/school-monitor/credentials/")
    assert "Environment" not in unit["Service"] or not any(
        "TOKEN" in e.upper() or "PASSWORD" in e.upper() for e in unit["Service"]["Environment"])


def test_checker_catches_a_weakened_unit():
    text = UNIT.read_text(encoding="utf-8")
    weak = text.replace("ProtectSystem=strict", "ProtectSystem=full").replace("Type=notify", "Type=simple")
    weak = "\n".join(ln for ln in weak.splitlines() if not ln.startswith("PrivateTmp="))
    problems = check_unit.check_directives(check_unit.parse_unit(weak))
    assert any("ProtectSystem" in p for p in problems)
    assert any("Type" in p for p in problems)
    assert any("PrivateTmp= missing" in p for p in problems)


def test_parser_accumulates_repeated_keys_and_continuations():
    parsed = check_unit.parse_unit("[Service]\n# c\nA=1\nA=2\nB=x \\\n  y\nC=\n")
    assert parsed["Service"]["A"] == ["1", "2"]
    assert parsed["Service"]["B"] == ["x y"]
    assert parsed["Service"]["C"] == [""]
    with pytest.raises(ValueError, match="line 1"):
        check_unit.parse_unit("A=1\n")


needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze not installed")


@needs_systemd
def test_systemd_analyze_verify_is_clean():
    assert check_unit.systemd_verify(UNIT, stub_exec=True) == []


@needs_systemd
def test_systemd_analyze_verify_reports_a_bad_value(tmp_path):
    bad = tmp_path / "school-monitor.service"
    bad.write_text(UNIT.read_text(encoding="utf-8").replace("ProtectHome=yes", "ProtectHome=perhaps"))
    warnings = check_unit.systemd_verify(bad, stub_exec=True)
    assert warnings and any("ProtectHome" in w or "protect home" in w for w in warnings)


@needs_systemd
def test_systemd_analyze_security_exposure_is_low():
    exposure = check_unit.systemd_exposure(UNIT, stub_exec=True)
    if exposure is None:
        pytest.skip("systemd-analyze security --offline not supported by this systemd")
    assert exposure <= check_unit.MAX_EXPOSURE


def test_install_guide_covers_the_setup():
    guide = (ROOT / "deploy" / "INSTALL.md").read_text(encoding="utf-8")
    for needle in ("/opt/school-monitor/venv", "/etc/school-monitor/config.toml", "0640",
                   "systemctl enable --now school-monitor", "journalctl -u school-monitor",
                   "LoadCredential", "school-monitor status"):
        assert needle in guide, needle

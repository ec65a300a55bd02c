"""The command line: every command has --help; a broken config exits 2 naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from monitor.cli import build_parser, main

COMMANDS = ["run", "poll", "migrate", "check", "score", "replay", "report", "demo", "status", "review",
            "evidence", "calibration", "purge", "sar", "model"]


def test_every_command_is_registered_and_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    missing = [c for c in COMMANDS if c not in sub.choices]
    assert not missing, f"commands not registered: {missing}"
    for name in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        assert "usage: school-monitor" in capsys.readouterr().out


def test_broken_config_exits_2_and_names_file_and_key(tmp_path, capsys):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[school]\nname = "X"\ntimezone = "Nowhere/Land"\n[storage]\nretention_days = "ninety"\n')
    assert main(["migrate", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}: school.timezone" in err and f"{cfg}: storage.retention_days" in err


def test_migrate_creates_the_store(tmp_path, capsys):
    from monitor.demo_data import path

    db = tmp_path / "s.db"
    assert main(["migrate", "--config", str(path("school.toml")), "--db", str(db)]) == 0
    assert "applied m001_core" in capsys.readouterr().out
    assert main(["migrate", "--config", str(path("school.toml")), "--db", str(db)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_console_script_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "replay" in out.stdout

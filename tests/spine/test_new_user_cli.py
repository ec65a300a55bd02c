"""What a new user trips over on the command line (issue 14, item 17): a mistyped ``--db``
is refused instead of answered from a new empty store; ``replay`` without ``--db`` writes
no store next to the input (nor into the live one); a missing input file is a one-line
error; ``status --json | head`` ends without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.demo_data import path as demo_path

ROOT = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("argv", [
    ["review"],
    ["review", "list"],
    ["report", "--week", "2026-W41"],
    ["evidence", "check"],
    ["evidence", "export", "--author", "fb:1001", "-o", "bundle.zip"],
    ["sar", "--author", "fb:1001", "-o", "sar.zip"],
    ["purge", "--dry-run"],
    ["purge"],
    ["calibration"],
])
def test_commands_on_evidence_refuse_a_store_that_does_not_exist(tmp_path, capsys, argv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "tiral.db"  # a typo of trial.db
    cmd, rest = argv[0], argv[1:]
    sub = [rest[0]] if cmd in ("review", "evidence") and rest else []
    full = [cmd, *sub, "--config", str(demo_path("school.toml")), "--db", str(missing), *rest[len(sub):]]
    assert main(full) == 2
    err = capsys.readouterr().err
    assert f"no store at {missing}" in err and "Traceback" not in err
    assert _tree(tmp_path) == set(), "a file was created"


def test_replay_without_db_keeps_no_store_beside_the_input_nor_in_the_live_one(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    src = data / "past.jsonl"
    src.write_text(demo_path("comments.jsonl").read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    conf = data / "school.toml"  # the roster next to the input, as a school keeps them
    live = tmp_path / "live" / "school-monitor.db"
    conf.write_text(demo_path("school.toml").read_text(encoding="utf-8") + f'\n[storage]\npath = "{live}"\n',
                    encoding="utf-8")
    assert main(["replay", str(src), "--config", str(conf), "--alerts-out", str(tmp_path / "alerts.jsonl")]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["comments_read"] == 1 and summary["db"] is None
    assert "--db" in out.err
    assert _tree(data) == {"past.jsonl", "school.toml"}
    assert not live.exists() and not live.parent.exists()


def test_replay_of_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nope.jsonl"), "--config", str(demo_path("school.toml"))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path / 'nope.jsonl'}: no such file"]


def test_status_json_into_a_closed_pipe_ends_without_a_traceback(tmp_path):
    db = tmp_path / "store.db"
    assert main(["migrate", "--config", str(demo_path("school.toml")), "--db", str(db)]) == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "status", "--json", "--config",
                             str(demo_path("school.toml")), "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    proc.stdout.close()  # `| head` that has already gone
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err

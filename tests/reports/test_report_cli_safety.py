"""``school-monitor report`` on the terminal and on disk (issue 14, items 3 and 4).

* Printed, the report shows control characters from the platforms (here an author id
  with ESC sequences and a name with a bidi override) visibly, never as they are.
* ``--out`` writes the file 0600 (it names commenters), whatever the umask, atomically
  (a failed write leaves no partial file), and an existing wider file is narrowed.
"""

from __future__ import annotations

import os
import re
import stat
import textwrap
from datetime import datetime, timezone

import pytest

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]")


@pytest.fixture
def restore_logging():
    import logging

    import structlog

    saved, handlers = structlog.get_config(), logging.getLogger().handlers[:]
    yield
    structlog.configure(**saved)
    logging.getLogger().handlers[:] = handlers


def _config(tmp_path) -> str:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent("""
        [school]
        name = "Brookfield Primary School"
        timezone = "Europe/London"
        [storage]
        path = "monitor.db"
    """))
    return str(path)


HOSTILE_ID = "fb:11\x1b]0;owned\x0704\x1b[2J"


def _hostile_week(builder) -> None:
    """A repeat commenter (two comments with a policy key) whose id and name hold controls."""
    for hour in (12, 13):
        c = builder.comment("you useless cow", at=datetime(2026, 10, 21, hour, tzinfo=timezone.utc),
                            author_id=HOSTILE_ID, author_name="Dawn\u202e Hadley\x08\x08")
        builder.assess(c, ("offensive_staff",))


def test_printed_report_shows_control_characters_visibly(tmp_path, store, builder, capsys, restore_logging):
    from monitor.cli import main

    _hostile_week(builder)
    assert main(["report", "--config", _config(tmp_path), "--db", str(tmp_path / "monitor.db"),
                 "--week", "2026-W43"]) == 0
    out = capsys.readouterr().out
    assert "Repeat commenters" in out
    assert "fb:11\\x1b]0;owned\\x0704\\x1b[2J" in out
    assert not RAW.search(out), repr(RAW.search(out).group())


@pytest.mark.parametrize("fmt, name", [("text", "r.txt"), ("csv", "r.csv"), ("html", "r.html"), ("png", "r.png")])
def test_report_out_is_written_0600(tmp_path, store, builder, capsys, restore_logging, fmt, name):
    from monitor.cli import main

    _hostile_week(builder)
    out = tmp_path / "reports" / name
    old = os.umask(0o022)
    try:
        assert main(["report", "--config", _config(tmp_path), "--db", str(tmp_path / "monitor.db"),
                     "--week", "2026-W43", "--format", fmt, "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_size > 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, oct(out.stat().st_mode)
    assert [p.name for p in out.parent.iterdir()] == [name], "a temporary file was left behind"
    if fmt == "csv":
        assert b"\r\n" in out.read_bytes(), "the CSV keeps its CRLF line ends"


def test_report_out_narrows_an_existing_world_readable_file(tmp_path, store, builder, capsys, restore_logging):
    from monitor.cli import main

    out = tmp_path / "r.txt"
    out.write_text("old")
    out.chmod(0o644)
    assert main(["report", "--config", _config(tmp_path), "--db", str(tmp_path / "monitor.db"),
                 "--week", "2026-W43", "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text() != "old"

"""A read-only or full disk gives a clear error and no partial write (issue 9, part 3).

Read-only: a store opened read-only (SQLite ``mode=ro``, what a read-only filesystem or a
file the service user cannot write amounts to), and, where this machine allows mounts
(root with CAP_SYS_ADMIN), a real tmpfs remounted read-only under ``school-monitor poll``.
Full: SQLite's ``PRAGMA max_page_count`` makes the database "full" at a chosen size, and,
where mounts are allowed, a real 1 MB tmpfs fills up. In every case the poll fails with a
:class:`monitor.store.StoreError` (or the CLI's exit status 1) whose message names the
file and says "read-only" or "disk is full"; the store's content is byte-for-byte the
same as before (no comment, cursor or poll-log row of the failed poll); and once the
disk is writable again the next poll stores everything exactly once.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlite_utils import Database

from monitor.config import parse_config
from monitor.domain import Account
from monitor.store import Store, StoreError


TOKEN = "disk-test-page-token-0123456789"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


class NoAlertsEngine:
    """A scorer that finds nothing (these tests are about storage, not scoring)."""

    def score(self, texts):
        from monitor.domain import Scores

        return [Scores({}, "none", "0") for _ in texts]


class NoCategories:
    def assess(self, comment, scores):
        from monitor.domain import Assessment

        return Assessment()


def dump(path: Path) -> list:
    """Every row of every table (the observable content of the store)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = []
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            out.append((name, sorted(map(repr, conn.execute(f'SELECT * FROM "{name}"')))))
        return out
    finally:
        conn.close()


@pytest.fixture
def page(monkeypatch):
    """A fake Page with one post and 40 comments; yields (server, account config)."""
    from monitor.fakes.graph import FakeGraphServer

    monkeypatch.setenv("SM_DISK_TOKEN", TOKEN)
    with FakeGraphServer([], token=TOKEN) as graph:
        pid = graph.add_post("Harvest festival", NOW - timedelta(hours=6))
        for i in range(40):
            graph.add_comment(pid, f"Comment {i} " + "lovely day " * 40, author_id=str(1100 + i),
                              created_at=NOW - timedelta(hours=5, minutes=-i))
        cfg = parse_config({"school": {"name": "S"}, "accounts": [{
            "name": "fb", "platform": "facebook", "page_id": "1000", "base_url": graph.base_url,
            "token_env": "SM_DISK_TOKEN", "timeout_seconds": 3}]}, source="t.toml")
        yield graph, cfg


def poll(store: Store, cfg, n_expected: int | None = None):
    from connectors import build_connector
    from monitor.pipeline import Pipeline

    connector = build_connector(cfg.accounts[0], sleep=lambda _: None)
    try:
        return Pipeline(cfg, store, NoAlertsEngine(), NoCategories(), clock=lambda: NOW).poll(
            cfg.accounts[0], connector, force=True)
    finally:
        connector.close()


def seeded_store(path: Path, graph, cfg) -> None:
    """A store holding a first poll's comments; then 10 more comments appear upstream."""
    s = Store.open(path)
    assert poll(s, cfg).status == "ok"
    s.close()
    pid = graph.posts[-1].native_id
    for i in range(10):
        graph.add_comment(pid, f"Later comment {i} " + "x" * 3000, author_id=str(1300 + i),
                          created_at=NOW - timedelta(minutes=30 - i))


# ------------------------------------------------------------------ read-only

def test_read_only_store_fails_whole_with_a_clear_error(tmp_path, page):
    graph, cfg = page
    path = tmp_path / "m.db"
    seeded_store(path, graph, cfg)
    before = dump(path)
    ro = Store(Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)), path)
    with pytest.raises(StoreError) as info:
        poll(ro, cfg)
    ro.close()
    msg = str(info.value)
    assert str(path) in msg and "read-only" in msg and "nothing was written" in msg
    assert dump(path) == before
    # Writable again: the next poll stores the 10 new comments, once.
    s = Store.open(path)
    assert poll(s, cfg).status == "ok"
    assert s.scalar("SELECT COUNT(*) FROM comments") == 50
    assert s.scalar("SELECT COUNT(*) FROM comment_versions") == 50
    s.close()


def test_store_in_a_place_that_cannot_be_created_names_the_file(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(StoreError) as info:
        Store.open(blocker / "m.db")
    assert str(blocker / "m.db") in str(info.value)


# ------------------------------------------------------------------ full


def test_full_database_fails_whole_with_a_clear_error(tmp_path, page):
    graph, cfg = page
    path = tmp_path / "m.db"
    seeded_store(path, graph, cfg)
    before = dump(path)
    s = Store.open(path)
    pages = s.scalar("PRAGMA page_count")
    s.db.execute(f"PRAGMA max_page_count = {pages + 2}")  # room for a few KB only
    with pytest.raises(StoreError) as info:
        poll(s, cfg)
    msg = str(info.value)
    assert str(path) in msg and "disk is full" in msg and "nothing was written" in msg
    s.close()
    assert dump(path) == before
    s = Store.open(path)  # space again (a new connection has no page limit)
    assert poll(s, cfg).status == "ok"
    assert s.scalar("SELECT COUNT(*) FROM comments") == 50
    assert s.scalar("SELECT COUNT(*) FROM comment_versions") == 50
    s.close()


# ------------------------------------------------------------------ real filesystems (root only)


@contextmanager
def tmpfs(where: Path, size: str):
    """Mount a tmpfs of ``size`` at ``where``; skip the test when mounting is not allowed."""
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", f"sm-{uuid.uuid4().hex[:6]}",
                           str(where)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_read_only_filesystem_under_the_cli(tmp_path, page):
    graph, cfg = page
    with tmpfs(tmp_path / "mnt", "16m") as mnt:
        path = mnt / "m.db"
        seeded_store(path, graph, cfg)
        before = dump(path)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        conf = tmp_path / "config.toml"
        conf.write_text(f"""
[school]
name = "S"
[[accounts]]
name = "fb"
platform = "facebook"
page_id = "1000"
base_url = "{cfg.accounts[0].base_url}"
token_env = "SM_DISK_TOKEN"
[alerts]
enabled = false
""")
        proc = subprocess.run([sys.executable, "-m", "monitor.cli", "poll", "--once", "--config", str(conf),
                               "--db", str(path)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "SM_DISK_TOKEN": TOKEN})
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "read-only" in proc.stderr and str(path) in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        assert dump(path) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_full_filesystem(tmp_path, page):
    graph, cfg = page
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        path = mnt / "m.db"
        s = Store.open(path)
        s.ensure_account(Account("fb", "facebook", "1000"), NOW)
        filler = mnt / "filler"
        free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
        filler.write_bytes(b"\0" * max(0, free - 64 * 1024))  # leave 64 KB
        before = dump(path)
        with pytest.raises(StoreError) as info:
            poll(s, cfg)  # 40 comments of ~500 bytes, raw JSON and versions: more than 64 KB
        s.close()
        msg = str(info.value)
        assert str(path) in msg and ("disk is full" in msg or "disk I/O" in msg), msg
        assert dump(path) == before
        filler.unlink()
        s = Store.open(path)
        assert poll(s, cfg).status == "ok"
        assert s.scalar("SELECT COUNT(*) FROM comments") == 40
        s.close()

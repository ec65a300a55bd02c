"""Store faults under the real command line (issue 14, item 12).

* A daemon started on a **read-only store** used to retry every poll interval for ever:
  it now exits 1 after a bounded time (``monitor.daemon.STORE_GIVE_UP_SECONDS``,
  shortened here), so systemd restarts it. The store is made read-only for real: a
  tmpfs remounted read-only (as root), or file modes (as another user).
* A **damaged page** used to give raw ``sqlite3.DatabaseError`` tracebacks from
  ``poll --once`` and ``evidence check`` while ``status`` said OK: every command now
  names the file, says it is damaged and what to restore from (the install guide's
  backup section), exit status 1, no traceback; ``status`` runs ``PRAGMA quick_check``
  and the daemon refuses to start on it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.store import Store, StoreCorrupt

TOKEN = "store-fault-page-token-0123456789"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def page(monkeypatch):
    """A fake Page with one post and 30 comments on 127.0.0.1; yields the server."""
    from monitor.fakes.graph import FakeGraphServer

    monkeypatch.setenv("SM_FAULT_TOKEN", TOKEN)
    with FakeGraphServer([], token=TOKEN) as graph:
        pid = graph.add_post("Harvest festival", NOW - timedelta(hours=6))
        for i in range(30):
            graph.add_comment(pid, f"Comment {i} " + "lovely day " * 30, author_id=str(1100 + i),
                              created_at=NOW - timedelta(hours=5, minutes=-i))
        yield graph


def write_config(folder: Path, graph) -> Path:
    conf = folder / "config.toml"
    conf.write_text(f"""
[school]
name = "S"
[[accounts]]
name = "fb"
platform = "facebook"
page_id = "1000"
base_url = "{graph.base_url}"
token_env = "SM_FAULT_TOKEN"
poll_interval_minutes = 0.05
[alerts]
enabled = false
""")
    return conf


def cli(*args: str, timeout: float = 120, code: str | None = None) -> subprocess.CompletedProcess:
    """``school-monitor ARGS`` in a new process (``code`` runs first, e.g. to shorten a bound)."""
    prog = (code or "") + "\nfrom monitor.cli import main\nraise SystemExit(main(%r))" % (list(args),)
    return subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "SM_FAULT_TOKEN": TOKEN}, start_new_session=True)


def seeded(folder: Path, graph) -> tuple[Path, Path]:
    """A config and a store that holds one poll's comments (closed cleanly: no -wal left)."""
    conf = write_config(folder, graph)
    db = folder / "m.db"
    proc = cli("poll", "--once", "--config", str(conf), "--db", str(db))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s = Store.open(db)
    assert s.scalar("SELECT COUNT(*) FROM comments") == 30
    s.close()
    return conf, db


# ------------------------------------------------------------------ read-only


@contextmanager
def read_only(folder: Path):
    """Make ``folder`` (holding the store with its -wal and -shm files) read-only for the
    process about to run: remount its tmpfs read-only as root, else drop write modes."""
    if os.geteuid() == 0:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        try:
            yield
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)
    else:
        modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, m in modes.items():
                p.chmod(m)


@contextmanager
def store_folder(tmp_path: Path):
    """A folder for the store: a small tmpfs as root (so it can be remounted read-only)."""
    where = tmp_path / "state"
    where.mkdir()
    if os.geteuid() != 0:
        yield where
        return
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m,mode=0755", f"sm-{uuid.uuid4().hex[:6]}",
                           str(where)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"root but cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_daemon_on_a_read_only_store_exits_non_zero_in_bounded_time(tmp_path, page):
    with store_folder(tmp_path) as state:
        conf, db = seeded(state, page)
        # What a running service leaves behind: the store with its -wal and -shm files
        # (SQLite opens such a store read-only without complaint; every write then fails).
        holder = sqlite3.connect(db)
        holder.execute("INSERT INTO state(key, value) VALUES ('held', 'open')")
        holder.commit()
        copies = state / "copy"
        copies.mkdir()
        for suffix in ("", "-wal", "-shm"):
            shutil.copy(f"{db}{suffix}", copies / f"m.db{suffix}")
        holder.close()
        ro_db = copies / "m.db"
        with read_only(state):
            started = time.monotonic()
            proc = cli("run", "--config", str(conf), "--db", str(ro_db), timeout=90,
                       code="import monitor.daemon as d; d.STORE_GIVE_UP_SECONDS = 6; d.STORE_PROBE_SECONDS = 1")
            took = time.monotonic() - started
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out[-3000:]
        assert took < 60, took
        assert '"event": "store_unwritable"' in out and "read-only" in out
        assert '"event": "daemon_giving_up"' in out and '"level": "critical"' in out
        assert "Traceback" not in out


# ------------------------------------------------------------------ damaged


def damage(db: Path) -> None:
    """Overwrite every page of the tables the commands read with noise (a disk that lost
    those sectors); the schema and the migrations table stay readable, so the store opens."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [r[0] for r in conn.execute(
        "SELECT pageno FROM dbstat WHERE name IN ('accounts', 'comments', 'comment_versions', 'alerts', "
        "'poll_log', 'state')")]
    conn.close()
    assert pages
    with open(db, "r+b") as f:
        for n in pages:
            f.seek((n - 1) * page_size)
            f.write(os.urandom(page_size))


def assert_plain_damage_message(proc: subprocess.CompletedProcess, db: Path) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out and "sqlite3.DatabaseError" not in out, out[-3000:]
    assert f"store {db}" in out and "is damaged" in out, out[-3000:]
    assert "restore the latest backup" in out and "Upgrades and backups" in out


def test_damaged_store_gives_plain_words_never_a_traceback(tmp_path, page):
    conf, db = seeded(tmp_path, page)
    damage(db)
    s = Store.open(db)
    problems = s.quick_check()
    s.close()
    assert problems and "ok" not in problems
    for args in (["poll", "--once"], ["evidence", "check"]):
        assert_plain_damage_message(cli(*args, "--config", str(conf), "--db", str(db)), db)

    status = cli("status", "--config", str(conf), "--db", str(db))
    assert_plain_damage_message(status, db)
    assert "DAMAGED" in status.stdout and "Health: ATTENTION" in status.stdout

    run = cli("run", "--config", str(conf), "--db", str(db), timeout=60)
    assert_plain_damage_message(run, db)
    assert '"event": "store_damaged"' in run.stdout and '"level": "critical"' in run.stdout


def test_queries_on_store_db_report_damage_as_store_corrupt(tmp_path, page):
    _, db = seeded(tmp_path, page)
    damage(db)
    s = Store.open(db)
    try:
        with pytest.raises(StoreCorrupt, match="is damaged"):
            list(s.db.query("SELECT * FROM comment_versions"))
        with pytest.raises(StoreCorrupt, match="is damaged"):
            s.db.execute("SELECT COUNT(*) FROM comments WHERE text LIKE '%x%'").fetchall()
        # errors about a statement are not damage
        with pytest.raises(sqlite3.OperationalError):
            s.db.execute("SELECT * FROM no_such_table")
    finally:
        s.close()


def test_the_give_up_clock_runs_only_while_writes_fail(tmp_path):
    """Transient faults (a full disk freed, a remount) do not add up to a give-up."""
    from monitor.app import App
    from monitor.config import parse_config
    from monitor.daemon import Daemon
    from monitor.store import StoreDatabase, StoreError

    path = tmp_path / "m.db"
    Store.open(path).close()
    writable = Store.open(path)
    ro_db = StoreDatabase(sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False))
    ro_db.store_path = path
    read_only_store = Store(ro_db, path)
    t = [0.0]
    app = App(config=parse_config({"school": {"name": "S"}}), store=read_only_store, pipeline=None,
              clock=lambda: NOW)
    daemon = Daemon(app, store_give_up_seconds=100, monotonic=lambda: t[0])
    try:
        with pytest.raises(StoreError, match="read-only"):
            read_only_store.probe_write(NOW)
        daemon.store_failed(StoreError("poll could not write"), "poll")
        t[0] = 99
        daemon.store_probe_job()
        assert not daemon.stopping
        app.store = writable                                    # writable again
        t[0] = 150
        daemon.store_probe_job()
        assert daemon._store_failing_since is None and not daemon.stopping
        app.store = read_only_store
        t[0] = 200
        daemon.store_failed(StoreError("again"), "outbox")      # a new fault: a new clock
        t[0] = 299
        daemon.store_probe_job()
        assert not daemon.stopping
        t[0] = 300
        daemon.store_probe_job()
        assert daemon.stopping and daemon.exit_code == 1
    finally:
        writable.close()
        read_only_store.close()

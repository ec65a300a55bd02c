"""The evidence store on a real SQLite file: idempotent ingest, versions, hash chain,
deletion marks, outbox dedupe, append-only audit log, clear errors."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from datetime import datetime, timedelta, timezone

import pytest

from monitor.domain import Account, Alert, Assessment, Attachment, Comment, Evidence, Post, Scores
from monitor import chain
from monitor.store import GENESIS, Store, StoreError

T0 = datetime(2026, 9, 8, 9, 0, tzinfo=timezone.utc)


def comment(cid="c1", text="hello", author="fb:1", **kw):
    return Comment(platform="facebook", account="fb", post_id="p1", comment_id=cid, parent_id=None,
                   author_id=author, author_name="Ann Example", text=text, created_at=T0,
                   raw={"id": cid, "message": text}, **kw)


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "evidence.db")
    s.ensure_account(Account("fb", "facebook", "1000"), T0)
    yield s
    s.close()


def test_file_is_created_0600_in_wal_mode(tmp_path):
    s = Store.open(tmp_path / "new.db")
    assert stat.S_IMODE(os.stat(tmp_path / "new.db").st_mode) == 0o600
    assert s.scalar("PRAGMA journal_mode") == "wal"
    assert {"comment_state", "comment_versions", "evidence_chain", "alerts", "audit_log", "messages"} <= set(
        s.db.table_names())
    assert "comments" in s.db.view_names()  # the text is kept once: in comment_versions
    s.close()


def test_same_data_twice_adds_no_rows(store):
    post = Post("facebook", "fb", "p1", "Welcome back!", T0)
    first = store.ingest("fb", [post], [comment()], [], {"since": 1}, T0)
    second = store.ingest("fb", [post], [comment()], [], {"since": 2}, T0 + timedelta(minutes=5))
    assert (first.new, second.new, second.unchanged) == (1, 0, 1)
    assert store.scalar("SELECT COUNT(*) FROM comments") == 1
    assert store.scalar("SELECT COUNT(*) FROM comment_versions") == 1
    assert store.cursor("fb") == {"since": 2}
    assert len(store.pending_comments()) == 1


def test_edit_keeps_every_version_and_the_chain_links(store):
    store.ingest("fb", [], [comment(text="first words")], [], {}, T0)
    store.ingest("fb", [], [comment(text="second words")], [], {}, T0 + timedelta(hours=1))
    rows = list(store.db.query("SELECT * FROM comment_versions ORDER BY id"))
    assert [r["text"] for r in rows] == ["first words", "second words"]
    assert [r["version"] for r in rows] == [1, 2]
    links = list(store.db.query("SELECT * FROM evidence_chain ORDER BY id"))
    assert [(e["kind"], e["version"]) for e in links] == [("version", 1), ("version", 2)]
    prev = GENESIS
    for r, e in zip(rows, links):
        record = chain.version_record(r, post_id="p1", parent_id=None, author_id="fb:1",
                                      author_hash=chain.author_sha256("Ann Example", None))
        assert e["chain"] == chain.link(prev, "version", chain.record_sha256(record))
        prev = e["chain"]
    current = store.get_comment("facebook", "c1")
    assert current.text == "second words"
    assert store.one("SELECT version, status FROM comments") == {"version": 2, "status": "new"}


def test_deleted_upstream_is_marked_not_removed(store):
    store.ingest("fb", [], [comment()], [], {}, T0)
    stats = store.ingest("fb", [], [], ["c1"], {}, T0 + timedelta(hours=2))
    assert stats.deleted == 1
    row = store.one("SELECT text, deleted_at FROM comments")
    assert row["text"] == "hello" and row["deleted_at"] == "2026-09-08T11:00:00Z"


def test_attachments_and_raw_round_trip(store):
    c = comment(attachments=(Attachment("photo", "https://example/p.jpg"),), author_handle=None)
    store.ingest("fb", [], [c], [], {}, T0)
    back = store.get_comment("facebook", "c1")
    assert back.attachments == (Attachment("photo", "https://example/p.jpg"),)
    assert back.raw == {"id": "c1", "message": "hello"}
    assert back.created_at == T0


def test_assessment_keys_strikes_and_alert_dedupe(store):
    c = comment(text="nasty")
    store.ingest("fb", [], [c], [], {}, T0)
    a = Assessment(categories=("offensive_staff",),
                   evidence={"offensive_staff": (Evidence("offensive_staff", "lexicon", "insult word"),)},
                   strikes=("offensive_staff",))
    s = Scores({"insult": 0.9}, "embedded", "1")
    with store.transaction():
        new = store.save_assessment(c, 1, s, a, T0)
    assert [x.key for x in new] == ["offensive_staff"]
    assert store.pending_comments() == []
    assert [r.key for r in store.author_strikes("fb:1")] == ["offensive_staff"]
    assert store.scalar("SELECT flagged FROM comments") == 1
    alert = Alert(kind="escalation", dedupe_key="escalation:facebook:c1", created_at=T0,
                  comment_refs=(("facebook", "c1"),), summary="line one\r\nInjected: header")
    first = store.enqueue_alert(alert)
    assert first is not None and store.enqueue_alert(alert) is None
    row = store.one("SELECT * FROM alerts")
    assert row["review_status"] == "open" and "\n" not in row["summary"] and "\r" not in row["summary"]
    assert json.loads(row["comment_refs"]) == [["facebook", "c1"]]


def test_audit_log_is_append_only(store):
    store.audit("coordinator", "ack", "alert:1", "seen", T0)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM audit_log")
    assert store.scalar("SELECT actor FROM audit_log") == "coordinator"


def test_failed_transaction_writes_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.ingest("fb", [], [comment()], [], {"since": 9}, T0)
            raise RuntimeError("crash between steps")
    assert store.scalar("SELECT COUNT(*) FROM comments") == 0
    assert store.cursor("fb") == {}


def test_read_only_store_gives_a_clear_error(tmp_path):
    path = tmp_path / "ro.db"
    Store.open(path).close()
    os.chmod(path, 0o400)
    if os.geteuid() == 0:  # root ignores file modes: use SQLite's read-only mode instead
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        from sqlite_utils import Database

        ro = Store(Database(conn), path)
    else:
        ro = Store.open(path)
    with pytest.raises(StoreError, match="read-only"):
        ro.ingest("x", [], [comment()], [], {}, T0)
    assert ro.scalar("SELECT COUNT(*) FROM comments") == 0


def test_not_a_database(tmp_path):
    p = tmp_path / "junk.db"
    p.write_text("this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a SQLite database"):
        Store.open(p)


def test_reads_are_counted_per_month(store):
    store.ingest("fb", [], [], [], {}, datetime(2026, 9, 30, 23, tzinfo=timezone.utc), reads=40)
    store.ingest("fb", [], [], [], {}, datetime(2026, 10, 1, 1, tzinfo=timezone.utc), reads=5)
    assert store.reads_this_month("fb", datetime(2026, 9, 15, tzinfo=timezone.utc)) == 40
    assert store.reads_this_month("fb", datetime(2026, 10, 15, tzinfo=timezone.utc)) == 5

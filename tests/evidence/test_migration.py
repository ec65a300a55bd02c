"""Migration m006_evidence_chain: a store made before it (text in ``comments`` and in
``comment_versions``, a chain over text and payload only) is migrated through the store's
migrations registry: every row is hashed into the new chain, the text is kept once, the
old chain is checked one last time, and ``evidence check`` passes and then catches edits."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from monitor.casework import evidence
from monitor.chain import GENESIS
from monitor.domain import Attachment, Comment
from monitor.schema import legacy_chain_hash, migrations
from monitor.store import Store
from sqlite_utils import Database

T = "2026-09-07T14:00:00Z"


def _content(cid: str, text: str, author: str, parent: str | None = None, attachments=()) -> str:
    from datetime import datetime, timezone

    return Comment("facebook", "", "1000_1", cid, parent, author, "", text, datetime(1970, 1, 1, tzinfo=timezone.utc),
                   attachments=tuple(Attachment(*a) for a in attachments)).content_sha256()


def _old_store(path, *, break_old_chain: bool = False) -> None:
    """A store as the monitor wrote it before m006 (rows written with plain SQL)."""
    db = Database(sqlite3.connect(str(path)))
    migrations.apply(db, stop_before="m006_evidence_chain")
    ex = db.execute
    comments = [  # cid, author, name, versions (text, seen), deleted_at, purged_at
        ("1000_1_1", "fb:1009", "Sam Troll", [("Mr Pryce grabbed my son", T), ("Mr Pryce pushed my son",
                                                                                 "2026-09-07T15:00:00Z")], None, None),
        ("1000_1_2", "fb:1002", "Jo", [("Lovely day", "2026-09-07T14:05:00Z")], "2026-09-08T10:00:00Z", None),
        ("1000_1_3", "fb:1003", "", [(None, "2026-09-07T14:09:00Z")], None, "2026-12-07T03:00:00Z"),
    ]
    prev = GENESIS
    for cid, author, name, versions, deleted_at, purged_at in comments:
        for n, (text, seen) in enumerate(versions, 1):
            raw = None if text is None else json.dumps({"id": cid, "message": text}, sort_keys=True)
            sha = _content(cid, text or "purged", author)
            rsha = hashlib.sha256((raw or "{}").encode()).hexdigest()
            link = legacy_chain_hash(prev, "facebook", cid, n, sha, rsha, seen)
            if break_old_chain and cid == "1000_1_2":
                link = "f" * 64
            ex("INSERT INTO comment_versions(platform, comment_id, version, text, attachments, raw, sha256, "
               "raw_sha256, seen_at, prev_chain, chain) VALUES ('facebook', ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?)",
               [cid, n, text, raw, sha, rsha, seen, prev, link])
            prev = link
        text, seen = versions[-1]
        ex("INSERT INTO comments(platform, comment_id, account, post_id, author_id, author_name, text, created_at, "
           "permalink, attachments, raw, post_text, sha256, version, first_seen, last_seen, deleted_at, status, "
           "flagged, purged_at) VALUES ('facebook', ?, 'school-fb', '1000_1', ?, ?, ?, ?, ?, '[]', ?, "
           "'Sports day is on Friday!', ?, ?, ?, ?, ?, 'assessed', ?, ?)",
           [cid, author, name, text, T, f"https://www.facebook.com/1000_1?comment_id={cid}",
            None if text is None else json.dumps({"id": cid, "message": text}, sort_keys=True),
            _content(cid, text or "purged", author), len(versions), versions[0][1], seen, deleted_at,
            int(cid == "1000_1_1"), purged_at])
    ex("INSERT INTO scores(platform, comment_id, version, model, model_version, \"values\", language, readable, "
       "scored_at) VALUES ('facebook', '1000_1_1', 1, 'embedded', 't-1', '{\"toxicity\":0.9}', 'en', 1, ?)", [T])
    ex("INSERT INTO assessments(platform, comment_id, version, categories, evidence, escalate, strikes, "
       "needs_review, review_reasons, counted, assessed_at) VALUES ('facebook', '1000_1_1', 1, "
       "'[\"allegation_staff\",\"offensive_staff\"]', '[]', 1, '[\"offensive_staff\"]', 0, '[]', 1, ?)", [T])
    ex("INSERT INTO comment_keys VALUES ('facebook', '1000_1_1', 'allegation_staff', 'school-fb', ?, 1)", [T])
    ex("INSERT INTO comment_keys VALUES ('facebook', '1000_1_1', 'offensive_staff', 'school-fb', ?, 1)", [T])
    ex("INSERT INTO strikes VALUES ('facebook', '1000_1_1', 'offensive_staff', 'fb:1009', ?, ?)", [T, T])
    ex("INSERT INTO verdicts(platform, comment_id, alert_id, verdict, keys, by, at, note) VALUES "
       "('facebook', '1000_1_1', NULL, 'confirmed', '[\"allegation_staff\"]', 'jsmith', ?, 'LADO')", [T])
    # a check recorded by the old code: its head points into the old chain
    ex("INSERT INTO audit_log(at, actor, action, target, reason, details) VALUES (?, 'j', 'evidence.check', "
       "'comment_versions', 'chain verified', ?)", [T, json.dumps({"ok": True, "head": prev, "head_id": 4})])
    db.conn.commit()
    db.close()


def test_an_old_store_migrates_and_verifies(tmp_path):
    _old_store(tmp_path / "old.db")
    store = Store.open(tmp_path / "old.db")
    assert "m006_evidence_chain" not in [m.name for m in migrations.pending(store.db)]
    report = evidence.verify_chain(store)
    assert report.ok, report.problems
    assert (report.versions, report.comments, report.purged_versions) == (4, 3, 1)
    # the text is kept once: comments is a view over the latest version
    assert "comments" in store.db.view_names() and "comment_state" in store.db.table_names()
    assert "text" not in store.db["comment_state"].columns_dict
    row = store.one("SELECT * FROM comments WHERE comment_id = '1000_1_1'")
    assert (row["text"], row["author_name"], row["version"]) == ("Mr Pryce pushed my son", "Sam Troll", 2)
    assert store.one("SELECT deleted_at FROM comments WHERE comment_id = '1000_1_2'")["deleted_at"] == \
        "2026-09-08T10:00:00Z"
    kinds = [k for (k,) in store.db.execute("SELECT kind FROM evidence_chain ORDER BY id")]
    assert kinds == ["version"] * 4 + ["deleted", "assessment", "verdict", "purged"]
    audit = store.one("SELECT * FROM audit_log WHERE action = 'evidence.migrate'")
    d = json.loads(audit["details"])
    assert (d["old_chain_rows"], d["old_chain_broken_rows"], d["entries"]) == (4, 0, 8)
    assert d["head"] == report.head and report.anchors == 1  # the old check's head is not an anchor now
    # edits after the migration are caught and named
    store.db.execute("UPDATE comment_versions SET author_name = 'Someone' WHERE comment_id = '1000_1_1' "
                     "AND version = 2")
    store.db.execute("UPDATE comment_state SET created_at = '2026-01-01T00:00:00Z' WHERE comment_id = '1000_1_2'")
    problems = evidence.verify_chain(store).problems
    assert {(p.ref.split("#")[0], p.field) for p in problems} >= {("facebook:1000_1_1", "author_name"),
                                                                  ("facebook:1000_1_2", "created_at")}
    store.close()


def test_the_migration_records_a_broken_old_chain(tmp_path):
    """An old chain that was already broken is reported in the migration's audit entry
    (the new chain starts from the rows as they are)."""
    _old_store(tmp_path / "old.db", break_old_chain=True)
    store = Store.open(tmp_path / "old.db")
    d = json.loads(store.scalar("SELECT details FROM audit_log WHERE action = 'evidence.migrate'"))
    assert d["old_chain_broken_rows"] == 1  # the row whose link was rewritten
    assert evidence.verify_chain(store).ok
    store.close()


def test_a_new_store_has_no_migration_audit_entry(tmp_path):
    store = Store.open(tmp_path / "new.db")
    assert store.scalar("SELECT COUNT(*) FROM audit_log") == 0
    with pytest.raises(sqlite3.OperationalError, match="view"):
        store.db.execute("INSERT INTO comments(platform, comment_id) VALUES ('facebook', '1')")
    store.close()

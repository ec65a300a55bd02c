"""The store's hash chain detects edited, removed and reordered rows."""

from __future__ import annotations

from datetime import timedelta

import sqlite3

import pytest
import review_storebuilder as sb

from monitor.casework import evidence
from monitor.domain import Attachment
from monitor.store import GENESIS


@pytest.fixture
def filled(builder):
    b = builder
    b.add(sb.make_comment("1000_1_1", "Mr Pryce grabbed my son", attachments=(("photo", "https://x/1.jpg"),)),
          ("allegation_staff",))
    b.add(sb.make_comment("1000_1_2", "Lovely day", at=sb.T0 + timedelta(minutes=5), author="fb:1002"), ())
    b.ingest(sb.make_comment("1000_1_1", "Mr Pryce pushed my son", attachments=(("photo", "https://x/1.jpg"),)),
             now=sb.T0 + timedelta(hours=1))
    b.add(sb.make_comment("1000_1_3", "feral thugs", at=sb.T0 + timedelta(minutes=9), author="fb:1003"),
          ("offensive_pupil",))
    return b.store


def test_intact_store_verifies(filled):
    r = evidence.verify_chain(filled)
    assert r.ok, r.problems
    # 4 versions and the 3 assessments, in one chain
    assert (r.rows, r.versions, r.comments, r.purged_versions) == (7, 4, 3, 0)
    assert [k for (k,) in filled.db.execute("SELECT kind FROM evidence_chain ORDER BY id")] == [
        "version", "assessment", "version", "assessment", "version", "version", "assessment"]
    assert r.head == filled.scalar("SELECT chain FROM evidence_chain ORDER BY id DESC LIMIT 1")
    assert r.first_broken is None


def test_empty_store_verifies(builder):
    r = evidence.verify_chain(builder.store)
    assert r.ok and r.rows == 0 and r.head == GENESIS


def test_content_sha_matches_the_domain_definition():
    c = sb.make_comment("1", "héllo 👋", parent="0", attachments=(("photo", "u"),))
    assert evidence.content_sha256("facebook", "1", c.post_id, "0", c.author_id, "héllo 👋",
                                   [{"type": "photo", "url": "u"}]) == c.content_sha256()
    assert c.attachments == (Attachment("photo", "u"),)


@pytest.mark.parametrize("sql, field", [
    ("UPDATE comment_versions SET text = 'Mr Pryce helped my son' WHERE id = 1", "text"),
    ("UPDATE comment_versions SET raw = '{\"id\":\"forged\"}' WHERE id = 2", "raw"),
    ("UPDATE comment_versions SET seen_at = '2026-09-01T00:00:00Z' WHERE id = 2", "seen_at"),
    ("UPDATE comment_versions SET sha256 = 'ab' || substr(sha256, 3) WHERE id = 2", "sha256"),
    ("UPDATE comment_versions SET attachments = '[]' WHERE id = 1", "attachments"),
])
def test_an_edited_version_row_is_detected(filled, sql, field):
    filled.db.execute(sql)
    r = evidence.verify_chain(filled)
    assert not r.ok
    assert r.first_broken.table == "comment_versions"
    assert r.first_broken.field == field
    assert f"{field} edited" in str(r.first_broken)
    row_id = int(sql.split("WHERE id = ")[1])
    cid = filled.scalar("SELECT comment_id FROM comment_versions WHERE id = ?", [row_id])
    assert f"facebook:{cid}#v1" in str(r.first_broken)


def test_recomputed_link_after_an_edit_breaks_the_next_row(filled):
    """A forger who edits a version and recomputes its hashes, digest and link still breaks
    the chain at the next row."""
    from monitor import chain

    forged_text = "Mr Pryce helped my son"
    sha = evidence.content_sha256("facebook", "1000_1_1", "1000_1", None, "fb:1001", forged_text,
                                  [{"type": "photo", "url": "https://x/1.jpg"}])
    filled.db.execute("UPDATE comment_versions SET text = ?, sha256 = ? WHERE id = 1", [forged_text, sha])
    v = filled.one("SELECT * FROM comment_versions WHERE id = 1")
    record = chain.version_record(v, post_id="1000_1", parent_id=None, author_id="fb:1001",
                                  author_hash=chain.author_sha256(v["author_name"], v["author_handle"]))
    digest = chain.digest(chain.version_digest_values(record, v), chain.VERSION_FIELDS + chain.VERSION_PURGEABLE)
    filled.db.execute("UPDATE comment_versions SET digest = ? WHERE id = 1", [digest])
    filled.db.execute("UPDATE evidence_chain SET chain = ? WHERE id = 1",
                      [chain.link(GENESIS, "version", chain.record_sha256(record))])
    r = evidence.verify_chain(filled)
    assert r.first_broken.row_id == 2  # the assessment of v1 names the version it assessed: it fails too
    assert all(p.row_id != 1 for p in r.problems)


def test_removed_or_reordered_rows_are_detected(filled):
    filled.db.execute("DELETE FROM evidence_chain WHERE id = 2")
    r = evidence.verify_chain(filled)
    assert r.first_broken.row_id == 3 and "removed, inserted or reordered" in r.first_broken.problem
    assert any(p.table == "assessments" and "1000_1_1#v1" in p.ref and p.field == "assessment" for p in r.problems)


def test_a_removed_version_row_is_detected(filled):
    filled.db.execute("DELETE FROM comment_versions WHERE id = 2")
    r = evidence.verify_chain(filled)
    assert r.first_broken.ref == "facebook:1000_1_2#v1" and "removed from comment_versions" in r.first_broken.problem


def test_the_comments_view_refuses_edits_and_the_current_text_is_checked(filled):
    """``comments`` is a view over the latest version (the text is stored once): an edit
    must go to comment_versions, where the chain catches it."""
    with pytest.raises(sqlite3.OperationalError, match="view"):
        filled.db.execute("UPDATE comments SET text = 'nothing to see' WHERE comment_id = '1000_1_3'")
    filled.db.execute("UPDATE comment_versions SET text = 'nothing to see' WHERE comment_id = '1000_1_3'")
    r = evidence.verify_chain(filled)
    assert [(p.table, p.ref, p.field) for p in r.problems] == [("comment_versions", "facebook:1000_1_3#v1", "text")]
    assert filled.scalar("SELECT text FROM comments WHERE comment_id = '1000_1_3'") == "nothing to see"


def test_text_blanked_without_purge_is_detected(filled):
    filled.db.execute("UPDATE comment_versions SET text = NULL WHERE id = 4")
    r = evidence.verify_chain(filled)
    assert "never purged" in r.first_broken.problem and r.first_broken.field == "text"


def test_truncated_tail_is_caught_by_a_recorded_anchor(filled):
    """Removing the newest rows leaves a consistent shorter chain; the head recorded by an
    earlier check (audit log) catches it."""
    evidence.record_check(filled, evidence.verify_chain(filled), actor="j", now=sb.T0)
    filled.db.execute("DELETE FROM evidence_chain WHERE id >= 6")
    for table in ("comment_versions", "comment_state", "assessments", "scores", "comment_keys", "strikes"):
        filled.db.execute(f"DELETE FROM {table} WHERE comment_id = '1000_1_3'")
    r = evidence.verify_chain(filled)
    assert r.anchors == 1
    assert [p.table for p in r.problems] == ["audit_log"]
    assert "no longer in the chain" in r.problems[0].problem

"""The store's hash chain detects edited, removed and reordered rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import review_storebuilder as sb

from monitor import evidence
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
    assert (r.rows, r.comments, r.purged_versions) == (4, 3, 0)
    assert r.head == filled.scalar("SELECT chain FROM comment_versions ORDER BY id DESC LIMIT 1")
    assert r.first_broken is None


def test_empty_store_verifies(builder):
    r = evidence.verify_chain(builder.store)
    assert r.ok and r.rows == 0 and r.head == GENESIS


def test_content_sha_matches_the_domain_definition():
    c = sb.make_comment("1", "héllo 👋", parent="0", attachments=(("photo", "u"),))
    assert evidence.content_sha256("facebook", "1", c.post_id, "0", c.author_id, "héllo 👋",
                                   [{"type": "photo", "url": "u"}]) == c.content_sha256()
    assert c.attachments == (Attachment("photo", "u"),)


@pytest.mark.parametrize("sql, expected", [
    ("UPDATE comment_versions SET text = 'Mr Pryce helped my son' WHERE id = 1", "content was edited"),
    ("UPDATE comment_versions SET raw = '{\"id\":\"forged\"}' WHERE id = 2", "payload was edited"),
    ("UPDATE comment_versions SET seen_at = '2026-09-01T00:00:00Z' WHERE id = 2", "the row was edited"),
    ("UPDATE comment_versions SET sha256 = 'ab' || substr(sha256, 3) WHERE id = 2", "the row was edited"),
    ("UPDATE comment_versions SET attachments = '[]' WHERE id = 1", "content was edited"),
])
def test_an_edited_version_row_is_detected(filled, sql, expected):
    filled.db.execute(sql)
    r = evidence.verify_chain(filled)
    assert not r.ok
    assert r.first_broken.table == "comment_versions"
    assert expected in r.first_broken.problem
    row_id = int(sql.split("WHERE id = ")[1])
    assert r.first_broken.row_id == row_id


def test_recomputed_link_after_an_edit_breaks_the_next_row(filled):
    """A forger who edits a version and recomputes its hash and link still breaks the chain."""
    from monitor.store import chain_hash

    v = filled.one("SELECT * FROM comment_versions WHERE id = 1")
    forged_text = "Mr Pryce helped my son"
    sha = evidence.content_sha256("facebook", "1000_1_1", "1000_1", None, "fb:1001", forged_text,
                                  [{"type": "photo", "url": "https://x/1.jpg"}])
    link = chain_hash(v["prev_chain"], "facebook", "1000_1_1", 1, sha, v["raw_sha256"], v["seen_at"])
    filled.db.execute("UPDATE comment_versions SET text = ?, sha256 = ?, chain = ? WHERE id = 1",
                      [forged_text, sha, link])
    r = evidence.verify_chain(filled)
    assert r.first_broken.row_id == 2
    assert "previous row's chain" in r.first_broken.problem


def test_removed_or_reordered_rows_are_detected(filled):
    filled.db.execute("DELETE FROM comment_versions WHERE id = 2")
    r = evidence.verify_chain(filled)
    assert r.first_broken.row_id == 3 and "removed, inserted or reordered" in r.first_broken.problem
    assert any(p.table == "comments" and "1000_1_2" in p.ref for p in r.problems)


def test_edited_current_comment_text_is_detected(filled):
    filled.db.execute("UPDATE comments SET text = 'nothing to see' WHERE comment_id = '1000_1_3'")
    r = evidence.verify_chain(filled)
    assert [(p.table, p.ref) for p in r.problems] == [("comments", "facebook:1000_1_3")]
    assert "current text" in r.problems[0].problem


def test_text_blanked_without_purge_is_detected(filled):
    filled.db.execute("UPDATE comment_versions SET text = NULL WHERE id = 4")
    r = evidence.verify_chain(filled)
    assert "never purged" in r.first_broken.problem


def test_truncated_tail_is_caught_by_a_recorded_anchor(filled):
    """Removing the newest rows leaves a consistent shorter chain; the head recorded by an
    earlier check (audit log) catches it."""
    evidence.record_check(filled, evidence.verify_chain(filled), actor="j", now=sb.T0)
    filled.db.execute("DELETE FROM comment_versions WHERE id = 4")
    filled.db.execute("DELETE FROM comments WHERE comment_id = '1000_1_3'")
    r = evidence.verify_chain(filled)
    assert r.anchors == 1
    assert [p.table for p in r.problems] == ["audit_log"]
    assert "no longer in the chain" in r.problems[0].problem

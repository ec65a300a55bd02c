"""Subject access request: the export holds every row about the author, and nobody else's."""

from __future__ import annotations

import json
import stat
import zipfile
from datetime import timedelta

import pytest
import review_storebuilder as sb

from monitor.casework import review, sar
from monitor.domain import StrikeDecision, StrikeRecord

NOW = sb.T0 + timedelta(days=3)
WHO = dict(author="fb:1009", name="Sam Troll")


@pytest.fixture
def store(builder):
    b, s = builder, builder.store
    b.add(sb.make_comment("1000_1_1", "useless cow", **WHO), ("offensive_staff",), alerts=False)
    b.ingest(sb.make_comment("1000_1_1", "useless cow!!", **WHO), now=sb.T0 + timedelta(hours=1))
    b.assess(sb.make_comment("1000_1_1", "useless cow!!", **WHO), ("offensive_staff",), alerts=False)
    b.add(sb.make_comment("1000_1_2", "she's a fraud", at=sb.T0 + timedelta(days=1), **WHO), ("defamatory_staff",),
          alerts=False)
    c3 = sb.make_comment("1000_1_3", "I'll be waiting at the gates", at=sb.T0 + timedelta(days=2), **WHO)
    ids = b.add(c3, ("threat_violence",), block=True)
    esc, blk = ids
    s.record_block_recommendation(StrikeDecision("fb:1009", True, (
        StrikeRecord("facebook", "1000_1_3", "threat_violence", c3.created_at),), "one-strike key threat_violence",
        c3.created_at), NOW, blk)
    s.audit("school-monitor", "block_recommended", "fb:1009", "one-strike key threat_violence", NOW,
            {"alert_id": blk})
    b.add(sb.make_comment("1000_1_4", "lovely day", at=sb.T0 + timedelta(days=2, hours=1), **WHO), ())
    review.ack(s, esc, actor="jsmith", now=NOW)
    review.resolve(s, blk, "blocked", actor="jsmith", now=NOW, note="blocked on the Page")
    b.message_for([esc], "Escalation: threat_violence", "I'll be waiting at the gates".encode())
    # someone else, who must not appear
    other = b.add(sb.make_comment("1000_1_8", "Mr Pryce hit my son", author="fb:2222", name="Other Parent",
                                  parent="1000_1_3"), ("allegation_staff",))[0]
    review.ack(s, other, actor="jsmith", now=NOW)
    b.message_for([other], "Escalation: allegation_staff", b"Mr Pryce hit my son")
    return s


def test_sar_export_is_complete_for_the_author(store, cfg, tmp_path):
    res = sar.export_sar(store, "fb:1009", tmp_path / "sar.json", now=NOW, actor="dpo", config=cfg)
    assert res.found
    assert stat.S_IMODE(res.path.stat().st_mode) == 0o600
    doc = json.loads(res.path.read_text())
    assert doc["subject"] == "fb:1009" and doc["controller"] == "Brookfield Primary School"
    assert "public task" in doc["about_this_data"] and "redact" in doc["note_for_the_dpo"]

    mine = "(SELECT platform, comment_id FROM comments WHERE author_id = 'fb:1009')"

    def count(sql):
        return store.scalar(sql)

    # every table, counted directly in the store
    assert doc["author"]["name"] == "Sam Troll"
    assert len(doc["comments"]) == count("SELECT COUNT(*) FROM comments WHERE author_id = 'fb:1009'") == 4
    assert doc["counts"]["comment_versions"] == count(
        f"SELECT COUNT(*) FROM comment_versions WHERE (platform, comment_id) IN {mine}") == 5
    assert doc["counts"]["scores"] == count(f"SELECT COUNT(*) FROM scores WHERE (platform, comment_id) IN {mine}")
    assert sum(1 for c in doc["comments"] if c["assessment"]) == count(
        f"SELECT COUNT(DISTINCT comment_id) FROM assessments WHERE (platform, comment_id) IN {mine}")
    assert sum(len(c["keys"]) for c in doc["comments"]) == count(
        f"SELECT COUNT(*) FROM comment_keys WHERE (platform, comment_id) IN {mine}")
    assert len(doc["strikes"]) == count("SELECT COUNT(*) FROM strikes WHERE author_id = 'fb:1009'") == 3
    assert len(doc["block_recommendations"]) == 1
    assert {a["kind"] for a in doc["alerts"]} == {"escalation", "block_recommendation"}
    assert len(doc["verdicts"]) == count(f"SELECT COUNT(*) FROM verdicts WHERE (platform, comment_id) IN {mine}") == 3
    assert [m["subject"] for m in doc["messages"]] == ["Escalation: threat_violence"]
    assert doc["messages"][0]["body"] == "I'll be waiting at the gates"
    assert {(e["action"], e["target"]) for e in doc["audit_log"]} == {
        ("block_recommended", "fb:1009"), ("review.ack", f"alert:{doc['alerts'][0]['id']}"),
        ("review.resolve", f"alert:{doc['alerts'][1]['id']}")}
    # the edit history and raw payloads are there
    c1 = doc["comments"][0]
    assert [v["text"] for v in c1["versions"]] == ["useless cow", "useless cow!!"]
    assert c1["versions"][0]["raw"]["from"] == {"id": "1009", "name": "Sam Troll"}
    # nobody else's data
    text = res.path.read_text()
    assert "Other Parent" not in text and "fb:2222" not in text and "hit my son" not in text
    # and the export itself is audited
    e = store.one("SELECT * FROM audit_log WHERE action = 'sar.export'")
    assert (e["actor"], e["target"]) == ("dpo", "fb:1009")
    assert json.loads(e["details"])["counts"]["comments"] == 4


def test_sar_zip_and_unknown_author(store, cfg, tmp_path):
    res = sar.export_sar(store, "fb:1009", tmp_path / "sar.zip", now=NOW, actor="dpo", config=cfg)
    with zipfile.ZipFile(res.path) as zf:
        assert json.loads(zf.read("subject-access-request.json"))["counts"]["comments"] == 4
    res = sar.export_sar(store, "tw:999", tmp_path / "none.json", now=NOW, actor="dpo", config=cfg)
    assert not res.found
    doc = json.loads(res.path.read_text())
    assert doc["found"] is False and doc["comments"] == [] and doc["author"] is None


def test_sar_rejects_unprefixed_author_id(store, tmp_path):
    with pytest.raises(sar.SarError, match="must be platform-prefixed: fb:<Facebook user id>"):
        sar.export_sar(store, "1009", tmp_path / "x.json", now=NOW, actor="dpo")
    assert not (tmp_path / "x.json").exists()

"""The review queue's state changes, verdicts and the audit log."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest
import review_storebuilder as sb

from monitor.casework import review
from monitor.domain import Alert


def _audit(store):
    return [dict(r) for r in store.db.query("SELECT * FROM audit_log ORDER BY id")]


def test_list_open_newest_first_and_only_review_kinds(builder):
    s = builder.store
    a1 = builder.add(sb.make_comment("1000_1_1", "Mr Pryce grabbed my son", at=sb.T0), ("allegation_staff",))[0]
    a2 = builder.add(sb.make_comment("1000_1_2", "Ce professeur est nul", at=sb.T0 + timedelta(hours=1)),
                     needs_review=True)[0]
    a3 = builder.add(sb.make_comment("1000_1_3", "feral little thugs", author="fb:1002",
                                     at=sb.T0 + timedelta(hours=2)), ("offensive_pupil",), block=True)[0]
    s.enqueue_alert(Alert("reconnect", "reconnect:school-fb:x", sb.T0 + timedelta(hours=3),
                          details={"account": "school-fb"}))
    items = review.list_open(s)
    assert [i.id for i in items] == [a3, a2, a1]
    assert [i.kind for i in items] == ["block_recommendation", "needs_review", "escalation"]
    assert items[2].comment_refs == (("facebook", "1000_1_1"),)
    assert all(i.review_status == "open" for i in items)


def test_ack_then_resolve_records_state_verdict_and_audit(builder):
    s = builder.store
    c = sb.make_comment("1000_1_1", "Mr Pryce grabbed my son and left a bruise")
    aid = builder.add(c, ("allegation_staff", "threat_violence"))[0]
    now = sb.T0 + timedelta(hours=1)

    item = review.ack(s, aid, actor="jsmith", now=now, note="phoning the head")
    assert (item.review_status, item.acked_by, item.acked_at) == ("acknowledged", "jsmith", "2026-09-07T15:00:00Z")
    # the outbox repeats an escalation only while review_status == 'open'
    assert s.scalar("SELECT review_status FROM alerts WHERE id = ?", [aid]) != "open"
    assert review.list_open(s)[0].review_status == "acknowledged"

    item = review.resolve(s, aid, "confirmed", actor="jsmith", now=now + timedelta(minutes=5), note="LADO informed")
    assert (item.review_status, item.verdict, item.resolved_by, item.note) == \
        ("resolved", "confirmed", "jsmith", "LADO informed")
    assert review.list_open(s) == []
    assert [i.id for i in review.list_open(s, include_resolved=True)] == [aid]
    v = s.one("SELECT * FROM verdicts")
    assert (v["platform"], v["comment_id"], v["alert_id"], v["verdict"], v["by"]) == \
        ("facebook", "1000_1_1", aid, "confirmed", "jsmith")
    assert json.loads(v["keys"]) == ["allegation_staff", "threat_violence"]

    log = _audit(s)
    assert [(e["actor"], e["action"], e["target"], e["reason"]) for e in log] == [
        ("jsmith", "review.ack", f"alert:{aid}", "phoning the head"),
        ("jsmith", "review.resolve", f"alert:{aid}", "LADO informed"),
    ]
    assert log[0]["at"] == "2026-09-07T15:00:00Z"
    details = json.loads(log[1]["details"])
    assert details["verdict"] == "confirmed" and details["previous"] == "acknowledged"
    assert "grabbed" not in log[1]["details"]  # the audit log never copies comment text


def test_invalid_transitions_give_clear_errors(builder):
    s = builder.store
    aid = builder.add(sb.make_comment("1000_1_1", "I'll be waiting at the gates for him"), ("threat_violence",))[0]
    review.ack(s, aid, actor="a", now=sb.T0)
    with pytest.raises(review.ReviewError, match="already acknowledged by a"):
        review.ack(s, aid, actor="b", now=sb.T0)
    review.resolve(s, aid, "false_positive", actor="a", now=sb.T0)
    with pytest.raises(review.ReviewError, match="already resolved"):
        review.resolve(s, aid, "confirmed", actor="b", now=sb.T0)
    with pytest.raises(review.ReviewError, match="already resolved .* cannot be acknowledged"):
        review.ack(s, aid, actor="b", now=sb.T0)
    with pytest.raises(review.ReviewError, match="no review item 999"):
        review.ack(s, 999, actor="a", now=sb.T0)
    with pytest.raises(review.ReviewError, match="must be a number"):
        review.show(s, "abc")
    rid = s.enqueue_alert(Alert("reconnect", "reconnect:school-fb:t", sb.T0, details={}))
    with pytest.raises(review.ReviewError, match="reconnect alert, not a review item"):
        review.ack(s, rid, actor="a", now=sb.T0)
    # failed transitions change nothing and write no audit entries
    assert s.scalar("SELECT COUNT(*) FROM verdicts") == 1
    assert [e["action"] for e in _audit(s)] == ["review.ack", "review.resolve"]


def test_resolve_validates_verdict_and_keys(builder):
    s = builder.store
    aid = builder.add(sb.make_comment("1000_1_1", "Y6 kids are feral, Mrs Rao is useless"),
                      ("offensive_pupil", "offensive_staff", "threat_violence"))[0]
    with pytest.raises(review.ReviewError, match="unknown verdict 'maybe'"):
        review.resolve(s, aid, "maybe", actor="a", now=sb.T0)
    with pytest.raises(review.ReviewError, match="unknown policy key.*offensive_school"):
        review.resolve(s, aid, "confirmed", actor="a", now=sb.T0, keys=["offensive_school"])
    with pytest.raises(review.ReviewError, match="false_positive confirms none"):
        review.resolve(s, aid, "false_positive", actor="a", now=sb.T0, keys=["offensive_staff"])
    assert review.get_item(s, aid).review_status == "open"
    review.resolve(s, aid, "hidden", actor="a", now=sb.T0, keys=["offensive_staff", "offensive_pupil"])
    v = s.one("SELECT verdict, keys FROM verdicts")
    assert v["verdict"] == "hidden"
    assert json.loads(v["keys"]) == ["offensive_staff", "offensive_pupil"]  # policy order


def test_block_recommendation_verdict_covers_every_strike_comment(builder):
    s = builder.store
    a = dict(author="fb:1009", name="Sam Troll")
    builder.add(sb.make_comment("1000_1_1", "useless cow", **a), ("offensive_staff",), alerts=False)
    builder.add(sb.make_comment("1000_1_2", "she's a disgrace", at=sb.T0 + timedelta(days=1), **a),
                ("offensive_staff",), alerts=False)
    aid = builder.add(sb.make_comment("1000_1_3", "fraud", at=sb.T0 + timedelta(days=2), **a),
                      ("defamatory_staff",), block=True)[0]
    item = review.get_item(s, aid)
    assert len(item.comment_refs) == 3
    with pytest.raises(review.ReviewError, match="covers 3 comments"):
        review.resolve(s, aid, "blocked", actor="a", now=sb.T0, keys=["offensive_staff"])
    review.resolve(s, aid, "blocked", actor="a", now=sb.T0)
    rows = list(s.db.query("SELECT comment_id, verdict, keys FROM verdicts ORDER BY comment_id"))
    assert [(r["comment_id"], r["verdict"], json.loads(r["keys"])) for r in rows] == [
        ("1000_1_1", "blocked", ["offensive_staff"]), ("1000_1_2", "blocked", ["offensive_staff"]),
        ("1000_1_3", "blocked", ["defamatory_staff"])]


def test_show_gives_thread_context_evidence_scores_and_author_history(builder):
    s = builder.store
    a = dict(author="fb:1009", name="Sam Troll")
    builder.add(sb.make_comment("1000_1_0", "Lovely photos!", author="fb:1005", name="Jo"), ())
    builder.add(sb.make_comment("1000_1_5", "Agreed", author="fb:1006", name="Kim", parent="1000_1_0",
                                at=sb.T0 + timedelta(minutes=1)), ())
    builder.add(sb.make_comment("1000_1_1", "useless cow", at=sb.T0 - timedelta(days=3), **a), ("offensive_staff",))
    aid = builder.add(sb.make_comment("1000_1_6", "the head is fiddling the PTA money", parent="1000_1_0",
                                      at=sb.T0 + timedelta(minutes=2), **a),
                      ("defamatory_staff", "allegation_staff"), scores={"toxicity": 0.7, "insult": 0.4})[0]
    review.ack(s, aid, actor="jsmith", now=sb.T0 + timedelta(hours=1))
    d = review.show(s, aid)
    assert d.item.id == aid and d.item.kind == "escalation"
    [v] = d.comments
    assert v.comment["text"] == "the head is fiddling the PTA money"
    assert v.post["text"] == "Sports day is on Friday!"
    assert v.parent["comment_id"] == "1000_1_0"
    assert [x["comment_id"] for x in v.siblings] == ["1000_1_5"]
    assert v.keys == ["allegation_staff", "defamatory_staff"]
    assert v.scores[0]["values"] == {"toxicity": 0.7, "insult": 0.4}
    assert {e["key"] for e in v.assessment["evidence"]} == {"allegation_staff", "defamatory_staff"}
    assert len(v.versions) == 1
    assert d.author.author["name"] == "Sam Troll"
    assert d.author.comments == 2
    assert [(x["comment_id"], x["key"]) for x in d.author.strikes] == [("1000_1_1", "offensive_staff"),
                                                                         ("1000_1_6", "defamatory_staff")]
    assert [f["comment_id"] for f in d.author.flagged] == ["1000_1_6", "1000_1_1"]
    assert [e["action"] for e in d.audit] == ["review.ack"]


def test_show_includes_edit_history(builder):
    s = builder.store
    c1 = sb.make_comment("1000_1_1", "Mr Okafor hit him")
    aid = builder.add(c1, ("allegation_staff",))[0]
    c2 = sb.make_comment("1000_1_1", "Mr Okafor pushed him (edited)")
    builder.ingest(c2, now=sb.T0 + timedelta(hours=2))
    [v] = review.show(s, aid).comments
    assert [x["text"] for x in v.versions] == ["Mr Okafor hit him", "Mr Okafor pushed him (edited)"]
    assert v.comment["version"] == 2


def test_audit_log_has_no_update_or_delete_path(builder):
    s = builder.store
    aid = builder.add(sb.make_comment("1000_1_1", "I'll be waiting at the gates"), ("threat_violence",))[0]
    review.ack(s, aid, actor="a", now=sb.T0)
    before = _audit(s)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        s.db.execute("UPDATE audit_log SET actor = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        s.db.execute("DELETE FROM audit_log")
    review.resolve(s, aid, "confirmed", actor="b", now=sb.T0)
    after = _audit(s)
    assert after[: len(before)] == before  # earlier entries untouched; actions only append
    assert len(after) == len(before) + 1


def test_review_modules_never_write_audit_log_except_through_store_audit():
    import inspect
    import re

    from monitor.casework import calibration, evidence, retention, sar
    from monitor.cli import review as cli_review

    for mod in (review, evidence, retention, sar, calibration, cli_review):
        src = inspect.getsource(mod)
        assert not re.search(r"(UPDATE|DELETE FROM|INSERT INTO|REPLACE INTO)\s+audit_log", src, re.I), mod.__name__


def test_amend_corrects_a_verdict_keeping_history(builder):
    s = builder.store
    aid = builder.add(sb.make_comment("1000_1_1", "I could kill for a coffee"), ("threat_violence",))[0]
    review.resolve(s, aid, "confirmed", actor="a", now=sb.T0)
    with pytest.raises(review.ReviewError, match="needs a --note"):
        review.resolve(s, aid, "false_positive", actor="a", now=sb.T0, amend=True)
    item = review.resolve(s, aid, "false_positive", actor="b", now=sb.T0 + timedelta(hours=1), amend=True,
                          note="an idiom, not a threat")
    assert (item.verdict, item.resolved_by, item.note) == ("false_positive", "b", "an idiom, not a threat")
    assert [r["verdict"] for r in s.db.query("SELECT verdict FROM verdicts ORDER BY id")] == \
        ["confirmed", "false_positive"]
    last = _audit(s)[-1]
    assert (last["action"], last["actor"]) == ("review.amend", "b")
    assert json.loads(last["details"])["previous_verdict"] == "confirmed"
    other = builder.add(sb.make_comment("1000_1_2", "threat", at=sb.T0 + timedelta(minutes=1)),
                        ("threat_violence",))[0]
    with pytest.raises(review.ReviewError, match="is open, not resolved"):
        review.resolve(s, other, "confirmed", actor="a", now=sb.T0, amend=True, note="x")

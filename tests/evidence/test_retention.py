"""Retention: comments with no key are purged after retention_days, flagged evidence is kept
for evidence_years, open review items are never purged, the chain still verifies."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import review_storebuilder as sb

from monitor.casework import evidence, retention, review

T0 = sb.T0


@pytest.fixture
def store(builder):
    b = builder
    old = T0 - timedelta(days=120)
    b.add(sb.make_comment("1000_1_1", "Lovely sports day!", author="fb:1001", name="Pat", at=old), ())
    b.ingest(sb.make_comment("1000_1_1", "Lovely sports day!! (edited)", author="fb:1001", name="Pat", at=old),
             now=old + timedelta(hours=1))
    b.assess(sb.make_comment("1000_1_1", "Lovely sports day!! (edited)", author="fb:1001", name="Pat", at=old), ())
    b.add(sb.make_comment("1000_1_2", "useless cow", author="fb:1002", name="Sam", at=old), ("offensive_staff",),
          alerts=False)
    b.add(sb.make_comment("1000_1_3", "Ce prof est nul", author="fb:1003", name="Lou", at=old), needs_review=True)
    review_id = b.add(sb.make_comment("1000_1_4", "I'll be waiting at the gates", author="fb:1004", name="Max",
                                      at=old), ("threat_violence",))[0]
    review.resolve(b.store, review_id, "confirmed", actor="j", now=old + timedelta(days=1))
    b.add(sb.make_comment("1000_1_5", "Thanks Mrs Rao", author="fb:1005", name="Kim", at=T0 - timedelta(days=10)), ())
    b.ingest(sb.make_comment("1000_1_6", "not yet scored", author="fb:1006", name="Ned", at=old))
    return b.store


def _text(store, cid):
    return store.scalar("SELECT text FROM comments WHERE comment_id = ?", [cid])


def test_purge_removes_unflagged_text_after_retention_days_and_keeps_evidence(store, cfg):
    r = retention.purge(store, cfg, T0, actor="school-monitor")
    assert (r.unflagged_comments, r.evidence_comments, r.versions) == (1, 0, 2)
    # the unflagged, assessed, 120-day-old comment is purged: text, payload, versions, name
    row = store.one("SELECT * FROM comments WHERE comment_id = '1000_1_1'")
    assert (row["text"], row["raw"], row["author_name"], row["purged_at"]) == (None, None, "", "2026-09-07T14:00:00Z")
    assert row["sha256"]  # the hash stays
    versions = list(store.db.query("SELECT text, raw, sha256 FROM comment_versions WHERE comment_id = '1000_1_1'"))
    assert [(v["text"], v["raw"]) for v in versions] == [(None, None), (None, None)]
    assert all(v["sha256"] for v in versions)
    assert store.one("SELECT name, handle FROM authors WHERE author_id = 'fb:1001'") == {"name": "", "handle": None}
    # flagged evidence (a key, needs_review, a confirmed escalation), recent and unscored comments are kept
    assert _text(store, "1000_1_2") == "useless cow"
    assert _text(store, "1000_1_3") == "Ce prof est nul"
    assert _text(store, "1000_1_4") == "I'll be waiting at the gates"
    assert _text(store, "1000_1_5") == "Thanks Mrs Rao"
    assert _text(store, "1000_1_6") == "not yet scored"
    assert store.one("SELECT name FROM authors WHERE author_id = 'fb:1002'")["name"] == "Sam"
    # the chain still verifies after a purge
    report = evidence.verify_chain(store)
    assert report.ok, report.problems
    assert report.purged_versions == 2
    # the purge is audited with its counts, and recorded in state
    e = store.one("SELECT * FROM audit_log WHERE action = 'retention.purge'")
    d = json.loads(e["details"])
    assert e["actor"] == "school-monitor"
    assert (d["unflagged_comments"], d["evidence_comments"], d["versions"]) == (1, 0, 2)
    assert d["retention_days"] == 90 and d["evidence_years"] == 6
    assert store.get_state("last_purge_at") == "2026-09-07T14:00:00Z"
    assert r.audit_id == e["id"]


def test_purge_is_idempotent(store, cfg):
    retention.purge(store, cfg, T0)
    r = retention.purge(store, cfg, T0 + timedelta(hours=1))
    assert (r.unflagged_comments, r.evidence_comments, r.versions) == (0, 0, 0)


def test_dry_run_counts_and_changes_nothing(store, cfg):
    before = store.scalar("SELECT COUNT(*) FROM audit_log")
    r = retention.purge(store, cfg, T0, dry_run=True)
    assert (r.dry_run, r.unflagged_comments, r.versions, r.audit_id) == (True, 1, 2, None)
    assert "would purge the text of 1 comment(s)" in r.summary()
    assert _text(store, "1000_1_1") == "Lovely sports day!! (edited)"
    assert store.scalar("SELECT COUNT(*) FROM audit_log") == before


def test_evidence_is_purged_after_evidence_years_except_open_review_items(store, cfg, builder):
    b = builder
    aid = b.add(sb.make_comment("1000_1_7", "Mr Pryce hit him", author="fb:1007", name="Al",
                                at=T0 - timedelta(days=130)), ("allegation_staff",))[0]  # stays open
    b.message_for([aid], "Escalation: allegation_staff", b"Mr Pryce hit him")
    resolved = store.one("SELECT id FROM alerts WHERE comment_refs LIKE '%1000_1_4%'")["id"]
    b.message_for([resolved], "Escalation: threat_violence", b"I'll be waiting at the gates")
    later = datetime(2032, 9, 8, tzinfo=timezone.utc)  # 6 years on
    r = retention.purge(store, cfg, later)
    assert r.evidence_comments == 2  # 1000_1_2 (a key, no alert) and 1000_1_4 (resolved escalation)
    assert r.kept_open_review == 2  # 1000_1_3 (needs_review still open) and 1000_1_7 (open escalation)
    assert r.unflagged_comments == 3  # 1000_1_1, 1000_1_5, and the never-scored 1000_1_6
    for cid in ("1000_1_2", "1000_1_4", "1000_1_5", "1000_1_6"):
        assert _text(store, cid) is None
    assert _text(store, "1000_1_3") == "Ce prof est nul"
    assert _text(store, "1000_1_7") == "Mr Pryce hit him"
    # evidence details that may quote the text are redacted; keys, strikes and verdicts stay
    ev = json.loads(store.scalar("SELECT evidence FROM assessments WHERE comment_id = '1000_1_4'"))
    assert ev == [{"key": "threat_violence", "kind": "pattern", "detail": "[purged]"}]
    assert store.scalar("SELECT COUNT(*) FROM comment_keys WHERE comment_id = '1000_1_4'") == 1
    assert store.scalar("SELECT COUNT(*) FROM strikes WHERE comment_id = '1000_1_4'") == 1
    assert store.scalar("SELECT verdict FROM verdicts WHERE comment_id = '1000_1_4'") == "confirmed"
    a = store.one("SELECT details, summary FROM alerts WHERE id = ?", [resolved])
    assert "gates" not in a["details"] and a["summary"].startswith("[purged]")
    assert r.alerts_redacted == 1  # the resolved escalation (the open items keep their details)
    assert r.messages_redacted == 1
    assert store.scalar("SELECT body FROM messages WHERE alert_ids = ?", [json.dumps([resolved])]) is None
    assert store.scalar("SELECT body FROM messages WHERE alert_ids = ?", [json.dumps([aid])]) == b"Mr Pryce hit him"
    assert evidence.verify_chain(store).ok
    # the audit log is kept: earlier entries are all still there
    assert store.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'review.resolve'") == 1


def test_flagged_evidence_kept_just_before_evidence_years(store, cfg):
    r = retention.purge(store, cfg, datetime(2032, 5, 1, tzinfo=timezone.utc))  # old = 2026-05-10: < 6 years
    assert r.evidence_comments == 0
    assert _text(store, "1000_1_2") == "useless cow"


def test_config_periods_are_used(store):
    cfg = sb.config(retention_days=5)
    r = retention.purge(store, cfg, T0)
    assert r.unflagged_comments == 2  # now also the 10-day-old comment
    assert _text(store, "1000_1_5") is None


def test_years_before_handles_29_february():
    assert retention.years_before(datetime(2028, 2, 29, tzinfo=timezone.utc), 6) == \
        datetime(2022, 2, 28, tzinfo=timezone.utc)


def test_a_purged_comment_still_exports_and_verifies(store, cfg, tmp_path):
    import zipfile

    retention.purge(store, cfg, T0)
    path = evidence.export_bundle(store, cfg, comment_ref=("facebook", "1000_1_1"), out_path=tmp_path / "p.zip",
                                  now=T0, actor="j")
    assert evidence.verify_bundle(path, store=store) == []
    with zipfile.ZipFile(path) as zf:
        [rec] = json.loads(zf.read("comments.json"))
        html = zf.read("summary.html").decode()
        assert not [n for n in zf.namelist() if n.startswith("raw/")]
    assert rec["text"] is None and rec["purged_at_utc"] == "2026-09-07T14:00:00Z"
    assert [v["text"] for v in rec["versions"]] == [None, None] and all(v["sha256"] for v in rec["versions"])
    assert "text purged under the retention policy" in html


def test_purged_text_is_gone_from_the_database_files(builder, cfg, tmp_path):
    marker = "zebra-quokka-marker-6b1d"
    old = T0 - timedelta(days=100)
    for i in range(30):  # enough rows to span several pages
        builder.add(sb.make_comment(f"1000_1_{i}", f"{marker} {i} " + "x" * 300, at=old), ())
    builder.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files = [tmp_path / "monitor.db", tmp_path / "monitor.db-wal"]
    assert marker.encode() in b"".join(f.read_bytes() for f in files if f.exists())
    r = retention.purge(builder.store, cfg, T0)
    assert r.unflagged_comments == 30
    assert marker.encode() not in b"".join(f.read_bytes() for f in files if f.exists())


def test_poll_history_older_than_30_days_is_trimmed(store, cfg):
    store.db.execute("DELETE FROM poll_log")  # the builder's own polls: start from a known history
    for days, ok in ((45, 1), (31, 0), (29, 1), (1, 1)):
        at = (T0 - timedelta(days=days)).isoformat().replace("+00:00", "Z")
        store.db.execute("INSERT INTO poll_log(account, started_at, finished_at, ok) VALUES ('fb', ?, ?, ?)",
                         [at, at, ok])
    dry = retention.purge(store, cfg, T0, dry_run=True)
    assert dry.poll_log_rows == 2 and store.scalar("SELECT COUNT(*) FROM poll_log") == 4
    report = retention.purge(store, cfg, T0)
    assert report.poll_log_rows == 2
    left = [r["finished_at"][:10] for r in store.db.query("SELECT finished_at FROM poll_log ORDER BY id")]
    assert left == [(T0 - timedelta(days=d)).date().isoformat() for d in (29, 1)]
    assert "2 poll log row(s)" in report.summary()


def _report_fields(r):
    return {k: v for k, v in r.to_dict().items() if k not in ("dry_run", "audit_id")}


@pytest.mark.parametrize("when", [T0, datetime(2032, 9, 8, tzinfo=timezone.utc)])
def test_dry_run_reports_exactly_what_the_purge_then_does(store, cfg, builder, when):
    """Issue 14, item 19: the dry run said 0 author names (and 0 alerts, 0 emails) and the run
    then purged 39. One plan (retention.plan_purge) serves both."""
    b = builder
    resolved = store.one("SELECT id FROM alerts WHERE comment_refs LIKE '%1000_1_4%'")["id"]
    b.message_for([resolved], "Escalation: threat_violence", b"I'll be waiting at the gates")
    dry = retention.purge(store, cfg, when, dry_run=True)
    assert retention.purge(store, cfg, when, dry_run=True) == dry  # changes nothing
    names_before = store.scalar("SELECT COUNT(*) FROM authors WHERE name != ''")
    real = retention.purge(store, cfg, when)
    assert _report_fields(dry) == _report_fields(real)
    assert dry.authors_pseudonymised >= 1  # fb:1001 (and at the later date more)
    assert names_before - store.scalar("SELECT COUNT(*) FROM authors WHERE name != ''") == real.authors_pseudonymised
    if when.year == 2032:
        assert (dry.alerts_redacted, dry.messages_redacted) == (1, 1)
    assert retention.purge(store, cfg, when, dry_run=True).unflagged_comments == 0  # nothing left to do

"""Issue 14, item 2: every field a bundle, an alert or a report shows is covered by the
evidence chain (alerts are checked against it). Each test edits one field with a plain sqlite3 connection (as anyone with
the file could), then ``school-monitor evidence check`` must fail naming the comment and
the field, and a new bundle export of that comment must not verify."""

from __future__ import annotations

import argparse
import io
import shutil
import sqlite3
from datetime import timedelta

import pytest
import review_storebuilder as sb

from monitor.cli import review as cli_review

from monitor.casework import evidence, review

NOW = sb.T0 + timedelta(days=2)
CID = "1000_1_1"
REF = f"facebook:{CID}"


@pytest.fixture
def env(builder, tmp_path):
    """A store holding comment 1000_1_1 in every state a bundle shows: a reply, edited
    (two versions), assessed with keys and a strike, scored, deleted on the platform,
    hidden by the coordinator, with a verdict."""
    b = builder
    b.add(sb.make_comment("1000_1_0", "Great photos", author="fb:1002", name="Jo"), ())
    troll = dict(author="fb:1009", name="Sam Troll", parent="1000_1_0", handle="samt")
    aid = b.add(sb.make_comment(CID, "Mr Pryce grabbed my son, useless cow",
                                attachments=(("photo", "https://cdn.example/p.jpg"),), **troll),
                ("allegation_staff", "offensive_staff"))[0]
    c2 = sb.make_comment(CID, "Mr Pryce pushed my son, useless cow", attachments=(("photo", "https://cdn.example/p.jpg"),),
                         **troll)
    b.ingest(c2, now=sb.T0 + timedelta(hours=3))
    b.assess(c2, ("allegation_staff", "offensive_staff"), alerts=False, now=sb.T0 + timedelta(hours=3, minutes=1))
    b.ingest(sb.make_comment("1000_1_9", "unrelated", author="fb:1003", at=sb.T0 + timedelta(hours=4)),
             deleted=(CID,), now=sb.T0 + timedelta(hours=5))
    review.resolve(b.store, aid, "confirmed", actor="jsmith", now=sb.T0 + timedelta(hours=6), note="LADO")
    with b.store.transaction():
        b.store.set_hidden("facebook", CID, True, sb.T0 + timedelta(hours=7), "jsmith")
    shutil.copy(sb.CONFIG, tmp_path / "config.toml")

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        parser = argparse.ArgumentParser(prog="school-monitor")
        sub = parser.add_subparsers(dest="command", required=True)
        cli_review.register(sub, clock=lambda: NOW, out=out)
        args = parser.parse_args([*argv, "--config", str(tmp_path / "config.toml")])
        return args.func(args), out.getvalue()

    return dict(store=b.store, path=b.store.path, run=run, tmp=tmp_path)


def tamper(path, sql: str) -> None:
    """Edit the store with a plain sqlite3 connection (not the program's own code)."""
    con = sqlite3.connect(str(path))
    try:
        assert con.execute(sql).rowcount >= 1, f"the edit changed nothing: {sql}"
        con.commit()
    finally:
        con.close()


def test_the_untouched_store_and_its_bundle_verify(env, cfg):
    rc, out = env["run"]("evidence", "check", "--by", "j")
    assert rc == 0 and "OK: the evidence chain is intact" in out, out
    path = evidence.export_bundle(env["store"], cfg, comment_ref=("facebook", CID), out_path=env["tmp"] / "b.zip",
                                  now=NOW, actor="j")
    assert evidence.verify_bundle(path, store=env["store"]) == []


V2 = f"comment_id = '{CID}' AND version = 2"
V1 = f"comment_id = '{CID}' AND version = 1"
STATE = f"comment_state SET {{}} WHERE comment_id = '{CID}'"
ASSESSED = f"comment_id = '{CID}' AND version = 2"

# (what is edited, the SQL, the field `evidence check` must name)
EDITS = [
    ("created_at (version)", f"UPDATE comment_versions SET created_at = '2026-09-01T08:00:00Z' WHERE {V2}",
     "created_at"),
    ("created_at (state)", "UPDATE " + STATE.format("created_at = '2026-09-01T08:00:00Z'"), "created_at"),
    ("author_name", f"UPDATE comment_versions SET author_name = 'Someone Else' WHERE {V2}", "author_name"),
    ("author_handle", f"UPDATE comment_versions SET author_handle = 'other' WHERE {V2}", "author_handle"),
    ("permalink", f"UPDATE comment_versions SET permalink = 'https://www.facebook.com/1000_1?comment_id=9' "
                  f"WHERE {V2}", "permalink"),
    ("post_text", f"UPDATE comment_versions SET post_text = 'Cake sale on Monday' WHERE {V2}", "post_text"),
    ("text", f"UPDATE comment_versions SET text = 'Mr Pryce helped my son' WHERE {V2}", "text"),
    ("text of the first version", f"UPDATE comment_versions SET text = 'Mr Pryce helped my son' WHERE {V1}", "text"),
    ("attachments", f"UPDATE comment_versions SET attachments = '[]' WHERE {V2}", "attachments"),
    ("raw payload", f"UPDATE comment_versions SET raw = '{{\"id\":\"{CID}\"}}' WHERE {V2}", "raw"),
    ("seen_at", f"UPDATE comment_versions SET seen_at = '2026-09-07T14:30:00Z' WHERE {V2}", "seen_at"),
    ("account (version)", f"UPDATE comment_versions SET account = 'old-page' WHERE {V2}", "account"),
    ("account (state)", "UPDATE " + STATE.format("account = 'old-page'"), "account"),
    ("first_seen", "UPDATE " + STATE.format("first_seen = '2026-09-01T08:00:00Z'"), "first_seen"),
    ("deleted_at cleared", "UPDATE " + STATE.format("deleted_at = NULL"), "deleted_at"),
    ("deleted_at moved", "UPDATE " + STATE.format("deleted_at = '2026-09-10T08:00:00Z'"), "deleted_at"),
    ("deleted_at in its event", f"UPDATE evidence_chain SET at = '2026-09-10T08:00:00Z' WHERE kind = 'deleted' "
                                f"AND comment_id = '{CID}'", "deleted_at"),
    ("is_hidden", "UPDATE " + STATE.format("is_hidden = 0"), "is_hidden"),
    ("purged_at", "UPDATE " + STATE.format("purged_at = '2026-09-10T08:00:00Z'"), "purged_at"),
    ("version shown", "UPDATE " + STATE.format("version = 1"), "version"),
    ("author_id", "UPDATE " + STATE.format("author_id = 'fb:1002'"), "author_id"),
    ("parent_id", "UPDATE " + STATE.format("parent_id = NULL"), "parent_id"),
    ("post_id", "UPDATE " + STATE.format("post_id = '1000_2'"), "post_id"),
    ("a key removed", f"DELETE FROM comment_keys WHERE comment_id = '{CID}' AND key = 'allegation_staff'", "keys"),
    ("a key added", f"INSERT INTO comment_keys(platform, comment_id, key, account, created_at, first_version) "
                    f"VALUES ('facebook', '{CID}', 'threat_violence', 'school-fb', '2026-09-07T14:00:00Z', 1)", "keys"),
    ("a key renamed", f"UPDATE comment_keys SET key = 'complaint_school' WHERE comment_id = '{CID}' "
                      "AND key = 'allegation_staff'", "keys"),
    ("a key's week", f"UPDATE comment_keys SET created_at = '2026-08-01T08:00:00Z' WHERE comment_id = '{CID}'",
     "keys"),
    ("a strike removed", f"DELETE FROM strikes WHERE comment_id = '{CID}'", "strikes"),
    ("assessment categories", f"UPDATE assessments SET categories = '[]' WHERE {ASSESSED}", "assessment.categories"),
    ("assessment evidence", f"UPDATE assessments SET evidence = '[]' WHERE {ASSESSED}", "assessment.evidence"),
    ("assessment escalate", f"UPDATE assessments SET escalate = 0 WHERE {ASSESSED}", "assessment.escalate"),
    ("assessment strikes", f"UPDATE assessments SET strikes = '[]' WHERE {ASSESSED}", "assessment.strikes"),
    ("assessment of v1", f"UPDATE assessments SET needs_review = 1 WHERE comment_id = '{CID}' AND version = 1",
     "assessment.needs_review"),
    ("assessment time", f"UPDATE assessments SET assessed_at = '2026-09-01T08:00:00Z' WHERE {ASSESSED}",
     "assessment.assessed_at"),
    ("scores", f"UPDATE scores SET \"values\" = '{{\"toxicity\":0.01}}' WHERE {ASSESSED}", "assessment.score_values"),
    ("an assessment removed", f"DELETE FROM assessments WHERE {ASSESSED}", "assessment"),
    ("verdict", f"UPDATE verdicts SET verdict = 'false_positive' WHERE comment_id = '{CID}'", "verdict.verdict"),
    ("verdict note", f"UPDATE verdicts SET note = 'nothing' WHERE comment_id = '{CID}'", "verdict.note"),
    ("verdict removed", f"DELETE FROM verdicts WHERE comment_id = '{CID}'", "verdict"),
    # what alerts (emails, the review queue, the weekly report's escalation list) show
    ("alert text", "UPDATE alerts SET details = json_set(details, '$.comment.text', 'Mr Pryce helped my son') "
                   "WHERE kind = 'escalation'", "alert.text"),
    ("alert author", "UPDATE alerts SET details = json_set(details, '$.comment.author_id', 'fb:1002') "
                     "WHERE kind = 'escalation'", "alert.author_id"),
    ("alert assessment", "UPDATE alerts SET details = json_set(details, '$.assessment.categories', "
                         "json('[\"complaint_school\"]')) WHERE kind = 'escalation'", "alert.assessment"),
    ("alert categories", "UPDATE alerts SET categories = '[\"threat_violence\"]' WHERE kind = 'escalation'",
     "alert.categories"),
]


@pytest.mark.parametrize("sql, field", [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_an_edited_field_is_named_by_evidence_check_and_breaks_the_bundle(env, cfg, sql, field):
    tamper(env["path"], sql)
    rc, out = env["run"]("evidence", "check", "--by", "j")
    assert rc == 1 and "BROKEN" in out, out
    named = [line for line in out.splitlines() if REF in line and f"{field} edited" in line
             or REF in line and field in ("assessment", "verdict") and f"{field} " in line]
    assert named, f"no line names {REF} and {field}:\n{out}"
    report = evidence.verify_chain(env["store"])
    assert any(p.ref and p.ref.startswith(REF) and p.field == field for p in report.problems), report.problems
    path = evidence.export_bundle(env["store"], cfg, comment_ref=("facebook", CID), out_path=env["tmp"] / "b.zip",
                                  now=NOW, actor="j")
    problems = evidence.verify_bundle(path)
    assert problems, "a bundle of the tampered comment verified"


def test_a_legitimate_purge_still_verifies_and_its_event_is_chained(env, cfg):
    """The retention purge empties the versions and redacts the evidence of the flagged
    comment, recording both in the chain: the check and a new bundle still verify, and an
    edit of the purge record is named."""
    from datetime import datetime, timezone

    from monitor.casework import retention

    store = env["store"]
    later = datetime(2032, 9, 8, tzinfo=timezone.utc)  # past evidence_years
    report = retention.purge(store, cfg, later)
    assert report.evidence_comments >= 1
    assert store.scalar("SELECT text FROM comments WHERE comment_id = ?", [CID]) is None
    kinds = [k for (k,) in store.db.execute("SELECT kind FROM evidence_chain WHERE comment_id = ? ORDER BY id", [CID])]
    assert kinds[-3:] == ["redaction", "redaction", "purged"]
    rc, out = env["run"]("evidence", "check", "--by", "j")
    assert rc == 0 and "OK" in out, out
    path = evidence.export_bundle(store, cfg, comment_ref=("facebook", CID), out_path=env["tmp"] / "p.zip", now=later,
                                  actor="j")
    assert evidence.verify_bundle(path, store=store) == []
    tamper(env["path"], f"UPDATE evidence_chain SET details = '{{\"author_sha256\":{{}}}}' WHERE kind = 'purged' "
                        f"AND comment_id = '{CID}'")
    rc, out = env["run"]("evidence", "check", "--by", "j")
    assert rc == 1 and f"comment {REF}: purged_at edited" in out, out

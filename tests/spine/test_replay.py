"""replay over the bundled demo comments: the same pipeline, offline, at each comment's time."""

from __future__ import annotations

import email
import email.policy
import json

from monitor.cli import main
from monitor.demo_data import path as demo_path


def test_replay_writes_escalations_block_recommendations_and_emails(tmp_path, capsys):
    alerts_out, mail = tmp_path / "alerts.jsonl", tmp_path / "mail"
    rc = main(["replay", str(demo_path("comments.jsonl")), "--config", str(demo_path("school.toml")),
               "--db", str(tmp_path / "replay.db"), "--alerts-out", str(alerts_out), "--mail-dir", str(mail)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["comments_read"] == 260 and summary["skipped_lines"] == []
    lines = [json.loads(x) for x in alerts_out.read_text().splitlines()]
    assert {x["kind"] for x in lines} >= {"escalation", "block_recommendation", "needs_review"}
    for x in lines:
        assert set(x) == {"kind", "comment_ids", "author_id", "categories", "created_at"}
    labelled = {json.loads(x)["id"]: json.loads(x) for x in demo_path("comments.jsonl").read_text().splitlines()}
    escalated = {cid for x in lines if x["kind"] == "escalation" for cid in x["comment_ids"]}
    should = {i for i, r in labelled.items() if r["escalate"]}
    assert len(escalated & should) >= 0.95 * len(should)
    emls = sorted(mail.glob("*.eml"))
    assert len(emls) == len(lines)
    msg = email.message_from_bytes(emls[0].read_bytes(), policy=email.policy.default)
    assert msg["To"] and msg["Date"] and msg["Message-ID"] and msg["Subject"]
    # a second replay of the same file into the same store adds nothing and alerts nothing
    rc = main(["replay", str(demo_path("comments.jsonl")), "--config", str(demo_path("school.toml")),
               "--db", str(tmp_path / "replay.db"), "--alerts-out", str(tmp_path / "again.jsonl")])
    assert rc == 0 and (tmp_path / "again.jsonl").read_text() == ""


def test_replay_reports_bad_lines_by_number_and_goes_on(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    good = {"id": "X1", "platform": "facebook", "post": "Sports day", "author_id": "fb:9", "author_name": "A",
            "created_at": "2026-10-01T10:00:00+01:00", "text": "Lovely day", "attachment": None}
    src.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({**good, "id": "X2", "created_at": "yesterday"})
                   + "\n" + json.dumps({**good, "id": "X3", "platform": "myspace"}) + "\n")
    rc = main(["replay", str(src), "--config", str(demo_path("school.toml")), "--db", str(tmp_path / "r.db")])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["comments_read"] == 1
    skipped = "\n".join(summary["skipped_lines"])
    assert "line 2: not JSON" in skipped and "line 3 (comment X2)" in skipped and "line 4 (comment X3)" in skipped


def test_replay_gives_a_reply_its_parent_as_thread_context(tmp_path):
    """A reply's "he" is resolved to the staff member named in the comment it replies to
    (``parent_id``): the pipeline reads the parent from the store. The allegation threshold
    is set near 0 so that the test is about the thread, not the model's judgement."""
    import sqlite3

    conf = tmp_path / "school.toml"
    conf.write_text(demo_path("school.toml").read_text(encoding="utf-8")
                    + "\n[policy.thresholds]\nallegation = 0.001\n", encoding="utf-8")
    base = {"platform": "facebook", "post": "Sports day", "attachment": None}
    rows = [
        {**base, "id": "T1", "author_id": "fb:71", "author_name": "A", "created_at": "2026-10-01T10:00:00+01:00",
         "text": "Mr Okafor shouted at my daughter in front of everyone"},
        {**base, "id": "T2", "author_id": "fb:72", "author_name": "B", "created_at": "2026-10-01T10:05:00+01:00",
         "text": "he did exactly the same to my son", "parent_id": "T1"},
        {**base, "id": "T3", "author_id": "fb:73", "author_name": "C", "created_at": "2026-10-01T10:06:00+01:00",
         "text": "he did exactly the same to my son"},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    db = tmp_path / "r.db"
    assert main(["replay", str(src), "--config", str(conf), "--db", str(db)]) == 0
    con = sqlite3.connect(db)
    got = {cid: (json.loads(cats), ev) for cid, cats, ev in
           con.execute("SELECT comment_id, categories, evidence FROM assessments")}
    assert "allegation_staff" in got["T2"][0]
    assert "named in the comment it replies to" in got["T2"][1]
    assert "allegation_staff" not in got["T3"][0]   # no thread: nobody to resolve "he" to

"""Property: any comment text and author name renders into a safe, parseable email."""

from __future__ import annotations

import json
from email import message_from_bytes, policy

from alerts_support import make_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.delivery.alerts import render_alert_message

HOSTILE = st.sampled_from(["\r\n", "\r", "\n", "\x00", "\u202e", "\u2066", "<script>", "</blockquote>", "&amp;",
                           "Bcc: x@y.z", "=?utf-8?b?", "😀", "\udcff", "\ufeff", "\t", '"><img src=x>'])
TEXT = st.lists(st.one_of(st.text(max_size=30), HOSTILE), max_size=12).map("".join)


def row(text: str, name: str, kind: str) -> dict:
    comment = {"platform": "facebook", "account": "fb", "post_id": "1_2", "post_text": name, "comment_id": "2_3",
               "parent_id": None, "author_id": "fb:9", "author_name": name, "author_handle": None, "text": text,
               "created_at": "2026-10-20T09:00:00Z", "permalink": "https://www.facebook.com/2_3",
               "attachments": [{"type": "photo", "url": text[:20]}]}
    assessment = {"categories": ["threat_violence"], "escalate": True, "strikes": [], "needs_review": False,
                  "review_reasons": [text[:40]], "counted": True,
                  "evidence": [{"key": "threat_violence", "kind": "pattern", "detail": f'matched "{text[:30]}"'}]}
    details = {"comment": comment, "assessment": assessment, "scores": {"threat": 0.9}, "language": None}
    if kind == "block_recommendation":
        details.update(author={"author_id": "fb:9", "name": name, "handle": None, "platform": "facebook",
                               "profile_url": None},
                       reason=text[:50], strikes=[{"platform": "facebook", "comment_id": "2_3", "key": "threat_violence",
                                                   "at": "2026-10-20T09:00:00Z", "text": text, "permalink": None}],
                       window_days=30, threshold=3)
    return {"id": 7, "kind": kind, "platform": "facebook", "post_id": "1_2", "account": "fb", "author_id": "fb:9",
            "comment_refs": json.dumps([["facebook", "2_3"]]), "categories": json.dumps(["threat_violence"]),
            "summary": text, "details": json.dumps(details, ensure_ascii=False), "created_at": "2026-10-20T09:00:00Z",
            "dedupe_key": "k"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT, name=TEXT, kind=st.sampled_from(["escalation", "needs_review", "block_recommendation"]))
def test_any_text_renders_safely(tmp_path, text, name, kind):
    cfg = make_config(tmp_path)
    msg = render_alert_message([row(text, name, kind)], cfg)
    msg["Message-ID"] = "<t@x>"
    raw = msg.as_bytes(policy=policy.SMTP)
    parsed = message_from_bytes(raw, policy=policy.default)
    head = raw.split(b"\r\n\r\n", 1)[0]
    header_names = [line.split(b":", 1)[0] for line in head.split(b"\r\n") if line and line[:1] not in b" \t"]
    assert sorted(header_names) == sorted([b"Subject", b"From", b"Auto-Submitted", b"X-School-Monitor-Alerts",
                                           b"Content-Type", b"MIME-Version", b"Message-ID"])
    subject = str(parsed["Subject"])
    assert not set(subject) & {"\r", "\n", "\x00", "\u202e"} and len(subject.strip()) <= 140
    page = parsed.get_body(("html",)).get_content()
    assert "<script>" not in page and "<img" not in page and "\x00" not in page
    assert page.count("<blockquote") == page.count("</blockquote>")

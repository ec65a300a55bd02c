"""Alert emails: content, routing, and safety of hostile comment text."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy

from alerts_support import T0, make_config

from monitor.delivery.alerts import (
    alert_to_json,
    header_text,
    recipients_for,
    render_alert_message,
    safe_text,
)
from monitor.domain import Attachment


def rows(store, *ids):
    return [store.one("SELECT * FROM alerts WHERE id = ?", [i]) for i in ids]


def subject(msg) -> str:
    """The Subject as a reader sees it (Python's parser keeps the space of a fold that
    comes straight after "Subject:"; mail clients drop it)."""
    return str(msg["Subject"]).strip()


def parts(msg):
    """(plain text, html) of a rendered message, after a round trip through bytes."""
    parsed = message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)
    return parsed, parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content()


def test_escalation_email_says_what_why_who_where_when_and_what_to_do(tmp_path, store, builder):
    cfg = make_config(tmp_path)
    aid = builder.escalation("I'll be waiting at the gates for Mr Pryce", keys=("threat_violence",),
                             author_name="Dawn Hadley")
    msg, text, page = parts(render_alert_message(rows(store, aid), cfg, store))

    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert subject(msg) == ("[Brookfield Primary School] ESCALATION: comments which threaten violence, "
                              "Facebook comment by Dawn Hadley")
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-School-Monitor-Alerts"] == str(aid)
    for body in (text, page):
        assert "comments which threaten violence" in body            # the policy's words
        assert "threat_violence" in body
        assert "Dawn Hadley" in body and "fb:1104" in body
        assert "https://www.facebook.com/1104" in body               # profile
        assert "comment_id=1000_9001" in body                        # permalink
        assert "Sports day is moved to Friday" in body               # the school's post
        assert "Tue 20 Oct 2026, 10:00 BST" in body                  # 09:00 UTC in Europe/London
        assert "safeguarding lead" in body and "police" in body      # the action table
        assert f"school-monitor review ack {aid}" in body
        assert f"school-monitor review resolve {aid} --verdict" in body
        assert "score 0.91, threshold 0.50" in body                  # evidence with scores
        assert "repeated every 4 hours" in body
        assert "school-monitor evidence export --comment facebook:1000_9001 -o" in body
    assert "> I'll be waiting at the gates for Mr Pryce" in text     # quoted exactly
    assert "This author's record here: 0 other comment(s)" in text  # with the store given
    assert "I&#x27;ll be waiting at the gates for Mr Pryce" in page


def test_escalation_states_the_authors_record(tmp_path, store, builder):
    cfg = make_config(tmp_path)
    builder.block(at=T0 - timedelta(days=40))                 # outside the 30-day window
    builder.block(at=T0 - timedelta(days=2))
    aid = builder.escalation(at=T0)
    builder.block(at=T0 + timedelta(days=1))                  # after the alert: not in its record
    _, text, _ = parts(render_alert_message(rows(store, aid), cfg, store))
    assert ("This author's record here: 2 other comment(s) with a policy key or awaiting review; "
            "1 comment(s) with a strike in the last 30 days.") in text
    _, without_store, _ = parts(render_alert_message(rows(store, aid), cfg))
    assert "This author's record" not in without_store


def test_allegation_staff_action_names_lado_and_headteacher(tmp_path, store, builder):
    cfg = make_config(tmp_path)
    aid = builder.escalation("Mr Pryce grabbed my son's arm", keys=("allegation_staff",))
    _, text, _ = parts(render_alert_message(rows(store, aid), cfg))
    assert "allegations made about school staff: Escalate at once to the Headteacher" in text
    assert "LADO" in text


def test_block_recommendation_facebook_has_strike_history_and_how_to_block(tmp_path, store, builder):
    cfg = make_config(tmp_path)
    aid = builder.block()
    msg, text, page = parts(render_alert_message(rows(store, aid), cfg))
    assert subject(msg) == "[Brookfield Primary School] Block recommended: Dawn Hadley on Facebook"
    assert "Strikes in the last 30 days" in text
    assert "negative or offensive comments made about pupils [offensive_pupil], Facebook comment 1000_9001" in text
    assert "> you lot are feral little thugs" in text
    assert "blocked list" in text
    assert f"school-monitor review block {aid} --yes" in text
    assert "one is enough to recommend blocking" in text


def test_block_recommendation_on_x_links_profile_and_says_api_cannot_block(tmp_path, store, builder):
    cfg = make_config(tmp_path)
    aid = builder.block(platform="twitter", author_id="tw:88001")
    _, text, page = parts(render_alert_message(rows(store, aid), cfg))
    assert "https://x.com/i/user/88001" in text
    assert "Blocking through the X API is not available" in text
    assert 'href="https://x.com/i/user/88001"' in page


def test_grouped_message_holds_every_alert(tmp_path, store, builder):
    cfg = make_config(tmp_path)
    a, b = builder.needs_review(), builder.block()
    msg, text, _ = parts(render_alert_message(rows(store, a, b), cfg))
    assert subject(msg) == "[Brookfield Primary School] 2 alerts on a Facebook post"
    assert f"(alert {a})" in text and f"(alert {b})" in text
    assert "language tr is not read by the scorer" in text
    assert "> Çok kötü bir okul" in text


def test_reconnect_alert_tells_how_to_resume(tmp_path, store, builder):
    cfg = make_config(tmp_path)
    aid = builder.account_alert("reconnect")
    msg, text, _ = parts(render_alert_message(rows(store, aid), cfg))
    assert subject(msg) == "[Brookfield Primary School] ACTION NEEDED: reconnect Facebook account brookfield-fb"
    assert "code 190" in text and "school-monitor check" in text


def test_hostile_comment_text_renders_safely(tmp_path, store, builder):
    cfg = make_config(tmp_path)
    hostile_name = "Evil\r\nBcc: victim@example.com\r\nX-Injected: yes <b>bold</b>\u202e"
    hostile_text = ("<script>alert('x')</script><img src=x onerror=alert(1)>\r\n"
                    "line two\x00with NUL \u202eRTL override \u05e9\u05dc\u05d5\u05dd 🤬🔥\r"
                    + "A" * 20000)
    aid = builder.escalation(hostile_text, author_name=hostile_name,
                             attachments=(Attachment("photo", "javascript:alert(1)"),))
    raw = render_alert_message(rows(store, aid), cfg).as_bytes(policy=policy.SMTP)
    msg = message_from_bytes(raw, policy=policy.default)

    # headers: no injected header, subject one line, capped
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert not re.search(r"^(Bcc|X-Injected):", head, re.M)
    subject = str(msg["Subject"])
    assert "\r" not in subject and "\n" not in subject and "\u202e" not in subject
    assert len(subject) <= 140
    assert "Evil Bcc: victim@example.com" in subject  # shown as text, harmless

    text = msg.get_body(("plain",)).get_content()
    page = msg.get_body(("html",)).get_content()
    # HTML escaped: no live tag or handler from the comment
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert 'href="javascript:' not in page
    # NUL replaced, CR normalised, emoji and Hebrew kept, RTL override isolated
    assert "\x00" not in text and "\x00" not in page
    assert "\r" not in text.replace("\r\n", "\n")
    assert "🤬🔥" in text and "🤬🔥" in page
    assert "\u05e9\u05dc\u05d5\u05dd" in text
    override_line = next(line for line in text.splitlines() if "RTL override" in line)
    assert override_line.startswith("> \u2068") and override_line.endswith("\u2069")
    author_line = next(line for line in text.splitlines() if line.startswith("Author: "))
    assert author_line.endswith("\u2069") and "Bcc: victim@example.com" in author_line  # one line
    assert "<bdi>" in page
    # very long text is cut, with a note; the email stays small
    assert "more characters not shown" in text
    assert len(raw) < 60_000


def test_header_text_and_safe_text():
    assert header_text("a\r\nb\tc\x00d\u202e") == "a b c d"
    assert header_text("x" * 500, 20) == "x" * 19 + "…"
    assert safe_text("a\r\nb\rc\x07") == "a\nb\nc\ufffd"
    assert safe_text("bad \udcff byte") == "bad ? byte"


def test_routing_per_category_with_fallback_and_dedupe(tmp_path, store, builder):
    cfg = make_config(tmp_path)
    esc = builder.escalation(keys=("threat_violence", "allegation_staff"))
    nr = builder.needs_review()
    assert recipients_for(rows(store, esc), cfg) == ["dsl@school.test", "coord@school.test", "head@school.test"]
    assert recipients_for(rows(store, nr), cfg) == ["coord@school.test"]
    # a role with no address falls back to the coordinator, without duplicates
    only_coord = make_config(tmp_path, recipients={"coordinator": ("Coord@School.test",),
                                                   "headteacher": ()})
    assert recipients_for(rows(store, esc), only_coord) == ["Coord@School.test"]
    # a school routing a strike key to the headteacher gets it on needs_review of that key too
    routed = replace(cfg, alerts=replace(cfg.alerts, routes={**cfg.alerts.routes,
                                                             "needs_review": ("coordinator",),
                                                             "racist_homophobic": ("headteacher",)}))
    row = dict(rows(store, nr)[0], categories='["racist_homophobic"]')
    assert recipients_for([row], routed) == ["coord@school.test", "head@school.test"]
    # nobody configured: empty (the outbox keeps the alert pending)
    assert recipients_for(rows(store, esc), make_config(tmp_path, recipients={})) == []


def test_alert_to_json_uses_native_comment_ids(store, builder):
    aid = builder.escalation(keys=("threat_violence",))
    out = alert_to_json(rows(store, aid)[0])
    assert out == {"kind": "escalation", "comment_ids": ["1000_9001"], "author_id": "fb:1104",
                   "categories": ["threat_violence"], "created_at": "2026-10-20T09:00:00Z"}

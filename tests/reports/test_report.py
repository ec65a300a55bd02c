"""Weekly report tallies (against the store's own counts) and renderings."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from email import message_from_bytes, policy

import pytest
from alerts_support import make_config

from monitor.domain import POLICY_KEYS
from monitor.delivery.reports import build_report, csv_rows, render_csv, render_html, render_text, report_message

NOW = datetime(2026, 10, 26, 7, 30, tzinfo=timezone.utc)   # Monday after the clocks went back


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def keyed(builder, keys, at, platform="facebook", author_id=None, name="Dawn Hadley", strikes=()):
    c = builder.comment(f"comment with {','.join(keys)}", at=at, platform=platform, author_id=author_id,
                        author_name=name)
    builder.assess(c, tuple(keys), strikes=tuple(strikes))
    return c


def verdict(store, c, verdict, keys, at):
    store.db.execute("INSERT INTO verdicts(platform, comment_id, verdict, keys, by, at) VALUES (?, ?, ?, ?, ?, ?)",
                     [c.platform, c.comment_id, verdict, keys, "coordinator", at])


@pytest.fixture
def filled(store, builder):
    """Week 2026-W43 (19-25 Oct, the clocks go back on the 25th) and the weeks around it."""
    b = builder
    first = keyed(b, ["allegation_staff"], utc(2026, 10, 18, 23, 30))            # Mon 00:30 BST: W43
    keyed(b, ["allegation_staff", "defamatory_staff"], utc(2026, 10, 21, 12))
    last = keyed(b, ["allegation_staff"], utc(2026, 10, 25, 23, 30))             # Sun 23:30 GMT: W43
    x1 = keyed(b, ["allegation_staff"], utc(2026, 10, 22, 9), platform="twitter", author_id="tw:88001",
               name="Gaz")
    keyed(b, ["complaint_school"], utc(2026, 10, 22, 10), platform="twitter", author_id="tw:88002")
    keyed(b, ["complaint_school"], utc(2026, 10, 23, 10), platform="twitter", author_id="tw:88002")
    keyed(b, ["offensive_pupil"], utc(2026, 10, 24, 10), author_id="fb:2001", name="<b>Evil</b> \u202eeman",
          strikes=("offensive_pupil",))
    keyed(b, ["offensive_pupil"], utc(2026, 10, 24, 11), author_id="fb:2001", name="<b>Evil</b> \u202eeman",
          strikes=("offensive_pupil",))
    b.comment("a kind comment", at=utc(2026, 10, 22, 8))                          # read, no key
    keyed(b, ["allegation_staff"], utc(2026, 10, 18, 22, 59))                     # Sun 23:59 BST: W42
    keyed(b, ["threat_violence"], utc(2026, 10, 5, 12))                           # W41
    keyed(b, ["threat_violence"], utc(2026, 9, 30, 12))                           # W40
    keyed(b, ["allegation_staff"], utc(2026, 10, 26, 0, 0, 30))                   # W44: not counted
    # verdicts: the latest one per comment counts; a confirming verdict may add a missed key
    verdict(store, first, "confirmed", '["allegation_staff"]', "2026-10-19T10:00:00Z")
    verdict(store, last, "confirmed", '["allegation_staff"]', "2026-10-26T06:00:00Z")
    verdict(store, last, "false_positive", '["allegation_staff"]', "2026-10-26T07:00:00Z")
    verdict(store, x1, "blocked", '["allegation_staff", "threat_violence"]', "2026-10-23T10:00:00Z")
    # review items: escalations in the week with their states, one still open from before
    e1 = b.escalation(at=utc(2026, 10, 20, 9))
    b.escalation(at=utc(2026, 10, 21, 9))
    b.escalation(at=utc(2026, 10, 1, 9))
    store.db.execute("UPDATE alerts SET review_status = 'resolved', verdict = 'confirmed' WHERE id = ?", [e1])
    b.block(at=utc(2026, 10, 24, 11), author_id="fb:2001", author_name="<b>Evil</b> \u202eeman")
    b.needs_review(at=utc(2026, 10, 25, 9))
    return store


def sql_count(store, key, platform, start, end):
    return store.scalar("SELECT COUNT(*) FROM comment_keys WHERE key = ? AND platform = ? AND created_at >= ? "
                        "AND created_at < ?", [key, platform, start, end])


def test_counts_equal_the_stores_per_category_platform_and_week(tmp_path, filled):
    cfg = make_config(tmp_path)
    r = build_report(filled, cfg, None, NOW)
    assert r.week == "2026-W43" and r.weeks == ("2026-W40", "2026-W41", "2026-W42", "2026-W43")
    for row in r.categories:
        for p in ("facebook", "twitter"):
            assert row.by_platform[p] == sql_count(filled, row.key, p, "2026-10-18T23:00:00Z",
                                                   "2026-10-26T00:00:00Z"), (row.key, p)
    assert [row.key for row in r.categories] == list(POLICY_KEYS)
    staff = r.category("allegation_staff")
    assert staff.by_platform == {"facebook": 3, "twitter": 1} and staff.total == 4
    assert staff.last_week == 1 and staff.trend == (0, 0, 1, 4)
    assert r.category("threat_violence").trend == (2, 1, 0, 2)   # escalation fixtures carry the key
    assert r.category("complaint_school").by_platform == {"facebook": 0, "twitter": 2}
    # confirmed: first (confirmed), x1 (blocked); last was confirmed then judged a false positive
    assert staff.confirmed == 2 and staff.confirmed_by_platform == {"facebook": 1, "twitter": 1}
    assert r.category("threat_violence").confirmed == 1                 # a key the coordinator added
    assert r.comments == {"facebook": 10, "twitter": 3}                 # incl. one with no key, one to review
    assert r.keyed == {"facebook": 8, "twitter": 3}


def test_escalations_repeaters_blocks_and_waiting(tmp_path, filled):
    r = build_report(filled, make_config(tmp_path), "2026-W43", NOW)
    assert r.escalations_total == 2 and r.escalation_status == {"open": 1, "resolved": 1}
    assert r.open_earlier == 1
    assert [e["review_status"] for e in r.escalations] == ["open", "resolved"]        # newest first
    rep = {x["author_id"]: x for x in r.repeat_commenters}
    assert rep["fb:2001"]["comments"] == 3 and rep["fb:2001"]["keys"] == ["offensive_pupil"]
    assert rep["fb:2001"]["strikes"] == 3
    assert rep["tw:88002"]["keys"] == ["complaint_school"] and rep["tw:88002"]["strikes"] == 0
    assert [b["author_id"] for b in r.block_recommendations] == ["fb:2001"]
    assert r.block_recommendations[0]["reason"] == "one-strike key offensive_pupil"
    assert r.waiting_review == {"escalation": 2, "block_recommendation": 1, "needs_review": 1}


def test_text_uses_the_policys_words(tmp_path, filled):
    text = render_text(build_report(filled, make_config(tmp_path), "2026-W43", NOW))
    assert "allegations made about school staff: 4\n" in text
    assert "    Facebook 3, X 1; confirmed 2; last week 1; trend 0 → 0 → 1 → 4" in text
    assert "complaints made about the school: 2\n" in text
    assert "Monday 19 October 2026 to Sunday 25 October 2026 (Europe/London)" in text
    assert "Escalations this week: 2 (open 1, resolved 1); still open from earlier weeks: 1" in text
    assert "Block recommendations this week: 1" in text
    assert "Waiting for review now: 4" in text


def test_csv_counts_equal_the_store(tmp_path, filled):
    report = build_report(filled, make_config(tmp_path), "2026-W43", NOW)
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert [r["key"] for r in rows] == list(POLICY_KEYS) + ["total"]
    for r in rows[:-1]:
        assert int(r["facebook"]) == sql_count(filled, r["key"], "facebook", "2026-10-18T23", "2026-10-26T00")
        assert int(r["x"]) == sql_count(filled, r["key"], "twitter", "2026-10-18T23", "2026-10-26T00")
        assert int(r["total"]) == int(r["facebook"]) + int(r["x"]) == int(r["2026-W43"])
    assert rows[0]["category"] == "allegations made about school staff"
    assert int(rows[-1]["total"]) == filled.scalar(
        "SELECT COUNT(*) FROM comment_keys WHERE created_at >= '2026-10-18T23' AND created_at < '2026-10-26T00'")
    assert csv_rows(report)[0][-4:] == ["2026-W40", "2026-W41", "2026-W42", "2026-W43"]


def test_html_escapes_names_and_embeds_the_chart(tmp_path, filled):
    page = render_html(build_report(filled, make_config(tmp_path), "2026-W43", NOW))
    assert "<b>Evil</b>" not in page and "&lt;b&gt;Evil&lt;/b&gt;" in page
    assert '<img src="data:image/png;base64,iVBORw0KGgo' in page
    assert "allegations made about school staff</td>" in page


def test_report_message_has_text_html_inline_chart_and_csv(tmp_path, filled):
    cfg = make_config(tmp_path)
    report = build_report(filled, cfg, "2026-W43", NOW)
    raw = report_message(report, cfg).as_bytes(policy=policy.SMTP)
    msg = message_from_bytes(raw, policy=policy.default)
    types = [p.get_content_type() for p in msg.walk()]
    assert types == ["multipart/mixed", "multipart/alternative", "text/plain", "multipart/related", "text/html",
                     "image/png", "text/csv"]
    assert str(msg["Subject"]).strip() == ("[Brookfield Primary School] Weekly social media report 2026-W43 "
                                           "(12 keyed, 2 escalations)")
    png = next(p for p in msg.walk() if p.get_content_type() == "image/png")
    assert png.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    html_part = msg.get_body(("html",)).get_content()
    assert f'src="cid:{png["Content-ID"].strip("<>")}"' in html_part
    att = next(msg.iter_attachments())
    assert att.get_filename() == "report-2026-W43.csv"
    content = att.get_content()
    rows = list(csv.DictReader(io.StringIO(content if isinstance(content, str) else content.decode("utf-8"))))
    assert {r["key"]: int(r["total"]) for r in rows}["allegation_staff"] == 4
    assert int(rows[-1]["total"]) == 12
    assert "allegations made about school staff: 4" in msg.get_body(("plain",)).get_content()


def test_an_empty_store_gives_a_report_of_zeros(tmp_path, store):
    report = build_report(store, make_config(tmp_path), None, NOW)
    assert report.week == "2026-W43"
    assert all(r.total == 0 and r.trend == (0, 0, 0, 0) for r in report.categories)
    assert "racist or homophobic comments: 0" in render_text(report)
    assert report_message(report, make_config(tmp_path))["Subject"]


def test_bad_week_is_refused(tmp_path, store):
    with pytest.raises(ValueError, match="2026-W60"):
        build_report(store, make_config(tmp_path), "2026-W60", NOW)


def test_same_tallies_with_and_without_the_covering_indexes(tmp_path, filled):
    """The schema adds two covering indexes (migration m004); the tallies must not depend on them."""
    cfg = make_config(tmp_path)
    with_indexes = build_report(filled, cfg, "2026-W43", NOW)
    filled.db.execute("DROP INDEX comment_keys_key_platform_created")
    filled.db.execute("DROP INDEX comments_platform_created")
    without = build_report(filled, cfg, "2026-W43", NOW)
    assert without.categories == with_indexes.categories and without.comments == with_indexes.comments
    assert with_indexes.category("allegation_staff").trend == (0, 0, 1, 4)


def test_an_escalation_detected_after_the_week_counts_in_the_comments_week(tmp_path, store, builder):
    aid = builder.escalation(at=utc(2026, 10, 25, 20))                  # Sunday evening
    store.db.execute("UPDATE alerts SET created_at = '2026-10-26T06:55:00Z' WHERE id = ?", [aid])  # Monday poll
    r = build_report(store, make_config(tmp_path), "2026-W43", NOW)
    assert r.escalations_total == 1 and r.escalations[0]["id"] == aid
    assert r.escalations[0]["created_at"] == "2026-10-25T20:00:00Z"
    assert build_report(store, make_config(tmp_path), "2026-W44", NOW).escalations_total == 0


def test_report_picture_is_a_png_with_table_and_chart(tmp_path, filled):
    import struct

    from monitor.delivery.reports import render_chart_png, render_report_png

    report = build_report(filled, make_config(tmp_path), "2026-W43", NOW)
    png, chart = render_report_png(report), render_chart_png(report)
    assert png[:8] == chart[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    chart_height = struct.unpack(">II", chart[16:24])[1]
    assert width >= 1000 and height > chart_height * 1.4          # the table sits above the chart

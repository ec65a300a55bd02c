"""Comment text never acts on the coordinator's terminal (issue 14, item 3).

A comment (and its author's name, the school's post, the edit history) holding ESC, an OSC
sequence, BEL, backspace, NUL, CR, DEL, a C1 CSI and bidi overrides/isolates goes through
``review list``, ``review show`` (text and ``--json``), the weekly report printed to the
terminal and ``score``'s JSON lines: no such character is written as it is; each is shown
as an escape (``\\x1b``, ``\\u202e``), and the JSON still decodes to the exact text.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
from dataclasses import replace
from datetime import timedelta

import pytest
import review_storebuilder as sb

from monitor.cli import review as cli_review
from monitor.cli.util import visible

HOSTILE = ("Lovely \x1b[2J\x1b]0;owned\x07 day\x08\x08\x08 NUL\x00 CR\rfake DEL\x7f C1\x9b31m "
           "\u202eevil\u202c \u2066iso\u2069 \u200fmark end")
NAME = "Pat\x1b[31m Parent\u202e"
#: every character that must not reach the terminal as it is (LF is fine; TAB too)
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]")


def test_visible_shows_every_control_and_bidi_character():
    assert visible("a\x1bb") == "a\\x1bb"
    assert visible("\x1b]0;title\x07") == "\\x1b]0;title\\x07"
    assert visible("x\x08\x00\r") == "x\\x08\\x00\\x0d"
    assert visible("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") == \
        "\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069"
    assert visible("\x7f\x9b") == "\\u007f\\u009b"
    assert visible("line\nnext\ttab") == "line\\x0anext\\x09tab"
    assert visible("line\nnext\ttab\r\n", multiline=True) == "line\nnext\ttab\r\n"
    kept = "Zoë 👩‍👧 مرحبا 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    assert visible(kept) == kept


@pytest.mark.parametrize("text", [HOSTILE, "\ud800 lone surrogate", "plain"])
def test_visible_json_is_still_the_same_json(text):
    raw = json.dumps({"text": text, "n": [1, "\x1b"]}, ensure_ascii=False, indent=2)
    shown = visible(raw, multiline=True)
    assert not RAW.search(shown)
    assert json.loads(shown) == json.loads(raw)


@pytest.fixture
def run(tmp_path, builder):
    shutil.copy(sb.CONFIG, tmp_path / "config.toml")

    def run(*argv: str) -> str:
        out = io.StringIO()
        parser = argparse.ArgumentParser(prog="school-monitor")
        sub = parser.add_subparsers(dest="command", required=True)
        cli_review.register(sub, connector_factory=None, clock=lambda: sb.T0 + timedelta(days=1), out=out)
        args = parser.parse_args([*argv, "--config", str(tmp_path / "config.toml")])
        assert args.func(args) == 0
        return out.getvalue()

    return run


def _hostile_item(builder) -> int:
    from monitor.domain import Post

    c = sb.make_comment("1000_1_9", HOSTILE, name=NAME)
    post = Post("facebook", sb.FB.key, "1000_1", "Sports day\x1b[8m hidden\u202e", sb.T0 - timedelta(hours=1),
                permalink="https://www.facebook.com/1000_1", raw={"id": "1000_1"})
    builder.store.ingest(sb.FB.key, [post], [c], [], {}, sb.T0)
    edited = replace(c, text=HOSTILE + " (edited\x07)")
    builder.store.ingest(sb.FB.key, [post], [edited], [], {}, sb.T0 + timedelta(minutes=30))
    return builder.assess(edited, ("threat_violence",), now=sb.T0 + timedelta(hours=1))[0]


def test_review_show_and_list_write_no_control_character(builder, run):
    aid = _hostile_item(builder)
    out = run("review", "show", str(aid))
    assert not RAW.search(out), repr(RAW.search(out).group())
    assert "Lovely \\x1b[2J\\x1b]0;owned\\x07 day\\x08\\x08\\x08 NUL\\x00 CR\\x0dfake DEL\\u007f C1\\u009b31m" in out
    assert "\\u202eevil\\u202c \\u2066iso\\u2069 \\u200fmark end" in out
    assert "Pat\\x1b[31m Parent\\u202e" in out, "the author's name"
    assert "Sports day\\x1b[8m hidden\\u202e" in out, "the school's post"
    assert "(edited\\x07)" in out, "the edit history"
    listing = run("review", "list")
    assert str(aid) in listing and not RAW.search(listing)


def test_review_list_writes_no_control_character(builder, run):
    from monitor.domain import Alert

    c = sb.make_comment("1000_1_8", "hello", author="fb:10\x1b[8m01")
    builder.ingest(c)
    builder.store.enqueue_alert(Alert("needs_review", "needs_review:x", sb.T0, comment_refs=(c.ref,),
                                      categories=(), platform="facebook", account=c.account, post_id=c.post_id,
                                      author_id=c.author_id, summary="Needs review \x1b]0;owned\x07\u202eevil"))
    listing = run("review", "list")
    assert "Needs review \\x1b]0;owned\\x07\\u202eevil" in listing
    assert "fb:10\\x1b[8m01" in listing
    assert not RAW.search(listing)


def test_review_show_json_escapes_and_keeps_the_exact_text(builder, run):
    aid = _hostile_item(builder)
    out = run("review", "show", str(aid), "--json")
    assert not RAW.search(out)
    data = json.loads(out)
    (c,) = data["comments"]
    assert c["comment"]["text"] == HOSTILE + " (edited\x07)"
    assert c["comment"]["author_name"] == NAME

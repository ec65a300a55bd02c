"""``score`` and ``model`` commands, called through their own register() on a parser."""

from __future__ import annotations

import argparse
import json

import pytest

from monitor.cli import model as cli_model, score as cli_score
from monitor.cli.util import CommandError
from monitor.demo_data import path as demo_path

FIELDS = {"id", "scores", "language", "needs_review", "categories", "escalate", "evidence"}


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    cli_score.register(sub)
    cli_model.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def config() -> str:
    return str(demo_path("school.toml"))


def test_jsonl_scored_with_bad_rows_reported_by_line(tmp_path, config, capsys):
    src = tmp_path / "in.jsonl"
    rows = [
        {"id": "c1", "text": "Mrs Ashworth is a useless lying cow and should be sacked", "author_id": "fb:9",
         "created_at": "2026-09-07T15:58:26+01:00"},
        "{not json",
        {"id": "c2"},
        {"id": "c3", "text": "Thank you for a lovely trip!", "platform": "twitter", "attachment": "photo"},
        {"id": "c4", "text": "Czy będzie tłumacz na zebraniu? Moja żona słabo mówi po angielsku."},
        {"id": "c5", "text": "hello", "created_at": "yesterday"},
        {"text": "no id here"},
        {"id": "c6", "text": "hi", "platform": "myspace"},
    ]
    src.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n",
                   encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run(["score", str(src), "--config", config, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    for n, why in [(2, "not valid JSON"), (3, "comment c2: no text"), (6, "created_at"), (7, "no id"),
                   (8, "unknown platform 'myspace'")]:
        assert f"line {n}: " in err and why in err
    assert "3 comments scored, 5 bad rows skipped" in err
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == ["c1", "c3", "c4"]
    for x in lines:
        assert FIELDS <= set(x)
        assert all(0 <= v <= 1 for v in x["scores"].values())
    c1, c3, c4 = lines
    assert c1["scores"]["toxicity"] > c3["scores"]["toxicity"]
    assert (c4["language"], c4["needs_review"]) == ("pl", True)
    assert c3["needs_review"] is False and c3["language"] == "en"


def test_categories_come_from_the_policy_categoriser(tmp_path, config, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "t1", "text": "I'll be waiting for Mr Pryce in the car park. He'll get what's coming."})
                   + "\n", encoding="utf-8")
    assert run(["score", str(src), "--config", config]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert "threat_violence" in rec["categories"]
    assert rec["escalate"] is True
    assert rec["evidence"] and all(e["key"] in rec["categories"] for e in rec["evidence"])


def test_csv_with_named_columns(tmp_path, config, capsys):
    src = tmp_path / "in.csv"
    src.write_text('ref,body,who\nr1,"you are a stupid idiot, go away",fb:1\nr2,,fb:2\nr3,"Lovely photos, thanks!",fb:3\n',
                   encoding="utf-8")
    assert run(["score", str(src), "--config", config, "--text-column", "body", "--id-column", "ref"]) == 0
    cap = capsys.readouterr()
    recs = [json.loads(x) for x in cap.out.splitlines()]
    assert [r["id"] for r in recs] == ["r1", "r3"]
    assert recs[0]["scores"]["toxicity"] > 0.5 > recs[1]["scores"]["toxicity"]
    assert "line 3: comment r2: no text" in cap.err


def test_csv_missing_column_is_a_clear_error(tmp_path, config):
    src = tmp_path / "in.csv"
    src.write_text("id,message\n1,hello\n", encoding="utf-8")
    with pytest.raises(CommandError, match="no column 'text'.*columns are: id, message"):
        run(["score", str(src), "--config", config])


def test_missing_input_file(tmp_path, config):
    with pytest.raises(CommandError, match="cannot read"):
        run(["score", str(tmp_path / "nope.jsonl"), "--config", config])


def test_streams_in_batches(tmp_path):
    """Rows are scored and written batch by batch, never all held at once."""
    from monitor.domain import Scores

    class Engine:
        def __init__(self):
            self.calls = []

        def score(self, texts):
            self.calls.append(len(texts))
            return [Scores({"toxicity": 0.1}, "fake", "1", "en", True) for _ in texts]

    written_before = []

    class Out:
        def __init__(self):
            self.lines = 0

        def write(self, s):
            self.lines += s.count("\n")

        def flush(self):
            written_before.append(self.lines)

    engine, out = Engine(), Out()
    rows = ((i + 1, {"id": str(i), "text": f"comment {i}"}) for i in range(1000))
    written, skipped = cli_score.score_stream(rows, engine, None, out, out, batch_size=256)
    assert (written, skipped) == (1000, 0)
    assert engine.calls == [256, 256, 256, 232]
    assert written_before[:2] == [256, 512]


def test_comment_from_row_defaults_and_attachments():
    cid, c = cli_score.comment_from_row({"id": 7, "text": "hi", "attachment": "Photo", "post": "Sports day!"})
    assert cid == "7" and c.platform == "facebook" and c.author_id == ""
    assert [a.type for a in c.attachments] == ["photo"] and c.attachments[0].is_image_or_video
    assert c.post_text == "Sports day!" and c.created_at.tzinfo is not None
    _, c = cli_score.comment_from_row({"id": "x", "text": "hi", "attachment": [{"type": "video", "url": "u"}]})
    assert c.attachments[0].url == "u"


def test_model_info_and_verify(config, capsys):
    assert run(["model", "info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["embedded"]["version"].startswith("2.0.0+sha256:")
    assert info["embedded"]["labels"][-2:] == ["complaint", "allegation"]
    assert "ur" in info["language_detection"]["languages"]
    assert run(["model", "verify", "--config", config]) == 0
    assert capsys.readouterr().out.startswith("[ok] embedded ")


def test_model_verify_fails_clearly_for_detoxify_without_checkpoint(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('[school]\nname = "X"\n[classifier]\nbackend = "detoxify"\n', encoding="utf-8")
    with pytest.raises(CommandError, match="checkpoint is required"):
        run(["model", "verify", "--config", str(conf)])


def test_a_failing_row_in_the_categoriser_is_skipped_not_fatal(tmp_path):
    class Categoriser:
        def assess(self, comment, scores):
            if "boom" in comment.text:
                raise RuntimeError("bad pattern")
            from monitor.domain import Assessment

            return Assessment()

    class Engine:
        def score(self, texts):
            from monitor.domain import Scores

            return [Scores({"toxicity": 0.2}, "fake", "1", "en", True) for _ in texts]

    import io

    out, err = io.StringIO(), io.StringIO()
    rows = iter([(1, {"id": "a", "text": "fine"}), (2, {"id": "b", "text": "boom"}), (3, {"id": "c", "text": "ok"})])
    assert cli_score.score_stream(rows, Engine(), Categoriser(), out, err) == (2, 1)
    assert "line 2: comment b: categoriser failed (RuntimeError: bad pattern)" in err.getvalue()
    assert [json.loads(x)["id"] for x in out.getvalue().splitlines()] == ["a", "c"]


def test_progress_only_on_a_terminal():
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    quiet = io.StringIO()
    p = cli_score._Progress(quiet, 1000)
    p.update(10, 500, final=True)
    assert quiet.getvalue() == ""
    tty = Tty()
    p = cli_score._Progress(tty, 1000)
    p.update(10, 500, final=True)
    assert "50%" in tty.getvalue() and "10 comments" in tty.getvalue()


def test_output_and_errors_show_control_characters_visibly(tmp_path, config, capsys):
    """Issue 14, item 3: ids and quoted text from the input never act on a terminal; the
    JSON lines still decode to the exact values."""
    import re

    raw = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]")
    src = tmp_path / "in.jsonl"
    cid = "c1\x1b]0;owned\x07\u202e"
    rows = [{"id": cid, "text": "Mrs Ashworth is a useless \x9b31m lying cow \u202e"},
            {"id": "c2\x1b[2J"}]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert run(["score", str(src), "--config", config]) == 0
    cap = capsys.readouterr()
    assert not raw.search(cap.out) and not raw.search(cap.err), (cap.out, cap.err)
    (line,) = [json.loads(x) for x in cap.out.splitlines()]
    assert line["id"] == cid
    assert "comment c2\\x1b[2J: no text" in cap.err

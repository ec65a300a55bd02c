"""Lexicon loading, the TOML format, masking and school extensions."""

from __future__ import annotations

import re

import pytest

from classifiers.policy.lexicon import LexiconError, Lexicon, load_lexicon, normalise, shipped_files, word_regex


def test_normalise_keeps_offsets():
    for text in ("Doamna ȚIPĂ’s", "İstanbul ‘quote’ “x”", "Mrs Wiśniewska"):
        assert len(normalise(text)) == len(text)
    assert normalise("Doamna de la cantină a țipat") == "doamna de la cantina a tipat"
    assert normalise("can’t") == "can't"


def test_words_match_whole_words_plurals_and_optional_apostrophes():
    rx = re.compile(word_regex("can't be bothered"))
    assert rx.search("they cant be bothered")
    assert rx.search("they can't  be bothered")
    rx = re.compile(word_regex("prat"))
    assert rx.search("smug prats") and not rx.search("pratt") and not rx.search("sprat")


def test_masking_only_where_asked():
    assert re.search(word_regex("paki", masked=True), "called a p*ki")
    assert re.search(word_regex("faggot", masked=True), "some f****t")
    assert not re.search(word_regex("forging", masked=False), "f***ing unreal")


def test_shipped_lexicons_load_and_cover_every_section_used():
    lex = load_lexicon()
    assert len(shipped_files()) >= 5
    for name in ("insult", "threat", "idiom", "slur", "staff_act", "pupil_act", "complaint", "staff_role"):
        assert lex[name].entries, name
    assert "headteacher" in lex.role_sections()


def test_extra_file_and_inline_table(tmp_path):
    f = tmp_path / "local.toml"
    f.write_text('[insult]\nwords = ["gowk"]\n[role_headteacher]\nwords = ["the gaffer"]\n', encoding="utf-8")
    lex = load_lexicon([str(f)], {"threat": ["gonna do him"]})
    assert lex["insult"].search("a right gowk")
    assert lex.role_sections()["headteacher"].search("the gaffer said")
    assert lex["threat"].search("i'm gonna do him")


def test_bad_lexicons_name_the_problem(tmp_path):
    with pytest.raises(LexiconError, match=r"unknown lexicon section \[insluts\]"):
        Lexicon().add({"insluts": ["x"]}, "local.toml")
    with pytest.raises(LexiconError, match=r"local.toml: \[threat\]\.patterns .*bad regular expression"):
        Lexicon().add({"threat": {"patterns": ["(unclosed"]}}, "local.toml")
    with pytest.raises(LexiconError, match=r"list of non-empty strings"):
        Lexicon().add({"insult": {"words": [1]}}, "local.toml")
    with pytest.raises(LexiconError, match="cannot read lexicon file"):
        load_lexicon([str(tmp_path / "missing.toml")])
    bad = tmp_path / "bad.toml"
    bad.write_text("[insult\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="not valid TOML"):
        load_lexicon([str(bad)])


def test_a_bad_school_lexicon_is_a_config_error(tmp_path):
    """The CLI turns ConfigError into exit status 2; a bad lexicon must be one too."""
    from monitor.config import ConfigError

    from classifiers.policy import Categoriser

    from .conftest import make_config

    cfg = make_config({"policy": {"lexicon": {"thraet": ["x"]}}})
    with pytest.raises(ConfigError, match=r"\[policy.lexicon\]: unknown lexicon section \[thraet\]"):
        Categoriser(cfg)

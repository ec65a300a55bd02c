"""Other spellings (``[spelling]``): text-speak and dialect forms of common words make every
words entry and pattern match them, in the shipped lexicons and in a school's own."""

from __future__ import annotations

import re

import pytest

from classifiers.policy.lexicon import Lexicon, LexiconError, expand_spellings, load_lexicon, word_regex

from .conftest import Assessor, make_config

SP = {"should": ["shud"], "through": ["thru"], "you": ["u", "yow"], "i'll": ["ar'll"]}


@pytest.mark.parametrize(("source", "expected"), [
    (r"\b(should|could)\s+throw\s+through\b", r"\b((?:should|shud)|could)\s+throw\s+(?:through|thru)\b"),
    (r"(\w+ )?through", r"(\w+ )?(?:through|thru)"),
    (r"\b(i'?ll|ill) find you\b", r"\b((?:i'?ll|ar'?ll)|ill) find (?:you|u|yow)\b"),
])
def test_whole_words_take_their_spellings(source, expected):
    assert expand_spellings(source, SP) == expected
    re.compile(expand_spellings(source, SP))


@pytest.mark.parametrize("source", [
    r"\bshoulder\b",        # part of a longer word
    r"[should]",            # inside a character class
    r"\bshould?\b",         # a quantifier on its last letter
    r"\byou\w+",            # runs on into more letters
])
def test_parts_of_words_classes_and_quantified_words_are_left(source):
    assert expand_spellings(source, SP) == source


def test_words_entries_take_spellings_token_by_token():
    rx = re.compile(word_regex("you should go", spellings=SP))
    assert rx.search("u shud go") and rx.search("yow should go") and rx.search("you should go")
    assert not rx.search("you shoulder go")


def test_shipped_spellings_reach_shipped_patterns():
    lex = load_lexicon()
    assert "shud" in lex.spellings["should"]
    assert any(rx.search("sumone shud chuck a rocket thru the windo") for _, rx in lex["threat"].entries)


def test_a_school_adds_its_own_spellings():
    plain = Assessor(make_config())
    local = Assessor(make_config(extra={"policy": {"lexicon": {"spelling": {"batter": ["battah"]}}}}))
    text = "i'll battah him when i see him"
    assert "threat_violence" not in plain.keys(text)
    assert "threat_violence" in local.keys(text)


@pytest.mark.parametrize("table", [
    {"should": "shud"},                 # not a list
    {"should": ["shu d"]},              # a spelling with a space
    {"should go": ["shud"]},            # a key with a space
])
def test_bad_spelling_tables_are_refused_by_name(table):
    lex = Lexicon()
    with pytest.raises(LexiconError, match=r"school.toml: \[spelling\]"):
        lex.add_spellings({"spelling": table}, "school.toml")

"""Normalisation before classifying (classifiers.normalise.fold): invisible characters,
look-alikes, masked and spelled-apart letters are folded, ordinary text is left alone, and
every folded character points back into the original text."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from classifiers.normalise import fold


@pytest.mark.parametrize("raw, folded", [
    ("n\u200bigg\u200der", "nigger"),                 # zero-width space and joiner inside a slur
    ("p\u202eaki", "paki"),                             # a bidi override
    ("\u0420\u0430ki", "Paki"),                        # Cyrillic Er and a
    ("\U0001d422\U0001d41d\U0001d422\U0001d428\U0001d42d", "idiot"),  # mathematical bold letters
    ("ｆａｇ", "fag"),                                   # full-width forms
    ("n1gg@ go home", "nigga go home"),                # digits and @ for letters
    ("sk00l is sh1t", "skool is shit"),
    ("b!tch", "bitch"),
    ("f.a.g", "fag"),                                  # dotted letters
    ("k-i-l-l him", "kill him"),
    ("i will k i l l you", "i will kill you"),         # spaced letters (four or more)
    ("z\u0301\u0301a\u0300lgo", "zalgo"),              # stacked combining marks
])
def test_masking_is_folded(raw, folded):
    assert fold(raw).text == folded


@pytest.mark.parametrize("text", [
    "Thank you Miss Kowalczyk!",
    "We paid £5 in 2026, is that right?",
    "Year 6 did 4 laps and 10 lengths",
    "pick up at 3pm, 10am start, yr4 and Y5s, covid19, gr8, 1-0",
    "a b c",                       # three spaced letters are not joined
    "co-op and e-mail",
    "Great job!!!",
    "Zażółć gęślą jaźń",           # Polish letters are letters, not look-alikes
    "😂😂 lol",
])
def test_ordinary_text_is_unchanged(text):
    assert fold(text).text == text


def test_offsets_point_into_the_original():
    raw = "you \u200bn1gg@ and f.a.g"
    f = fold(raw)
    start = f.text.index("nigga")
    assert f.original_of(start, start + 5) == "n1gg@"
    start = f.text.index("fag")
    assert f.original_of(start, start + 3) == "f.a.g"
    assert f.span(0, 0) == (0, 0)


@given(st.text(max_size=80))
def test_offsets_are_monotone_and_in_range(text):
    f = fold(text)
    assert len(f.offsets) == len(f.text)
    assert all(0 <= o < len(text) for o in f.offsets)
    assert list(f.offsets) == sorted(f.offsets)

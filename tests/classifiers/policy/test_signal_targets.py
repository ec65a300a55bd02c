"""Keys = signals x targets: the model's signals say what a comment does, the roster and the
thread say whom it is about, and the policy's conventions combine them. Pure logic: the
scores are given, so each test shows what the signal adds (the same text with a low signal
gets no such key)."""

from __future__ import annotations

import dataclasses

import pytest

from classifiers.policy import Categoriser

from .conftest import comment, make_config, scores


@pytest.fixture(scope="module")
def cat():
    return Categoriser(make_config(extra={"policy": {"escalation_review": False}}))


def assess(cat, text, parent_text=None, attachment=None, **values):
    c = comment(text, attachment=attachment)
    if parent_text is not None:
        c = dataclasses.replace(c, parent_id="c0", parent_text=parent_text)
    return cat.assess(c, scores(**values))


# Written for these tests, in words the shipped word lists do not hold.
VAGUE_STAFF = "Mr Hope did something to my daughter last week that I cannot even put into words"
VAGUE_PUPIL = "that boy in year 4 keeps doing it to the little ones at break and nobody stops him"
VAGUE_NOBODY = "something went on at that place last week that I cannot even put into words"


def test_an_allegation_signal_about_named_staff_is_an_allegation_about_staff(cat):
    a = assess(cat, VAGUE_STAFF, allegation=0.9)
    assert "allegation_staff" in a.categories and a.escalate
    ev = a.evidence["allegation_staff"]
    score = next(e for e in ev if e.kind == "score")
    assert (score.label, score.score, score.threshold) == ("allegation", 0.9, 0.5)
    assert "allegation 0.90" in score.detail
    assert any(e.kind == "target" and "Adam Hope" in e.detail for e in ev)


def test_a_low_allegation_signal_adds_no_key(cat):
    a = assess(cat, VAGUE_STAFF, allegation=0.1)
    assert "allegation_staff" not in a.categories and not a.escalate


def test_the_threshold_comes_from_the_config():
    strict = Categoriser(make_config(extra={"policy": {"escalation_review": False,
                                                       "thresholds": {"allegation": 0.95}}}))
    a = strict.assess(comment(VAGUE_STAFF), scores(allegation=0.9))
    assert "allegation_staff" not in a.categories
    assert a.needs_review  # 0.9 still reaches the safety net (0.3)


def test_an_allegation_signal_about_a_pupil_is_an_allegation_about_a_pupil(cat):
    a = assess(cat, VAGUE_PUPIL, allegation=0.8)
    assert "allegation_pupil" in a.categories and "allegation_staff" not in a.categories and a.escalate


def test_an_allegation_with_no_target_goes_to_a_person(cat):
    a = assess(cat, VAGUE_NOBODY, allegation=0.8)
    assert not {"allegation_staff", "allegation_pupil"} & set(a.categories)
    assert a.needs_review and any(r.startswith("possible allegation: allegation 0.80") for r in a.review_reasons)


def test_the_thread_resolves_he_to_the_staff_member_named_in_the_parent(cat):
    reply = "he did exactly the same to my son last year"
    alone = assess(cat, reply, allegation=0.8)
    assert "allegation_staff" not in alone.categories and alone.needs_review
    threaded = assess(cat, reply, parent_text="Mr Hope shouted at my daughter until she cried", allegation=0.8)
    assert "allegation_staff" in threaded.categories
    assert any("named in the comment it replies to" in e.detail for e in threaded.evidence["allegation_staff"])


def test_a_threat_signal_is_a_threat_and_idioms_need_a_surer_model(cat):
    a = assess(cat, "someone wants to sort that place out properly, with a match", threat=0.7)
    assert "threat_violence" in a.categories and a.escalate
    idiom = assess(cat, "honestly I could murder a brew after that parents evening", threat=0.6)
    assert "threat_violence" not in idiom.categories


def test_a_probable_threat_below_its_threshold_goes_to_a_person(cat):
    a = assess(cat, "someone wants to sort that place out properly", threat=0.4)
    assert "threat_violence" not in a.categories and not a.escalate
    assert a.needs_review and any(r.startswith("possible escalation: threat 0.40") for r in a.review_reasons)
    quiet = assess(cat, "someone wants to sort that place out properly", threat=0.1)
    assert not quiet.needs_review


def test_a_complaint_signal_is_a_complaint_about_the_school_or_named_staff_and_never_a_strike(cat):
    school = assess(cat, "the new pickup arrangements are not working for anyone", complaint=0.9)
    assert "complaint_school" in school.categories and school.strikes == ()
    staff = assess(cat, "Mrs Crosby has still not got back to me about the trip", complaint=0.9)
    assert "complaint_staff" in staff.categories and "complaint_school" not in staff.categories
    assert staff.strikes == ()


def test_an_insult_signal_at_staff_is_offensive_and_drops_the_complaint(cat):
    a = assess(cat, "Mrs Crosby has still not got back to me about the trip", complaint=0.9, insult=0.9)
    assert "offensive_staff" in a.categories
    assert "complaint_staff" not in a.categories and "complaint_school" not in a.categories  # convention 1


def test_an_insult_signal_at_a_pupil_is_offensive_pupil(cat):
    a = assess(cat, "that boy in year 4 is something else", insult=0.9)
    assert "offensive_pupil" in a.categories and "offensive_pupil" in a.strikes


def test_a_slur_hidden_with_a_zero_width_space_is_found_and_its_span_is_in_the_original(cat):
    text = "go back home you p\u200baki"
    a = assess(cat, text)
    assert "racist_homophobic" in a.categories
    span = next(e.span for e in a.evidence["racist_homophobic"] if e.span)
    assert text[span[0]:span[1]] == "p\u200baki"


def test_an_insult_signal_at_another_parent_is_no_key(cat):
    # convention 4: insults aimed at other parents carry no key
    a = assess(cat, "@Dave Smith your lad is in year 4 and you are a total waste of space", insult=0.95)
    assert not {"offensive_staff", "offensive_pupil"} & set(a.categories)


def test_words_quoted_to_report_them_get_no_signal_key(cat):
    # convention 7: quoting in order to report is not the author's own abuse or threat
    text = "I have reported the comment that said 'Mr Hope should be hurt' to the school"
    a = assess(cat, text, threat=0.9, insult=0.9)
    assert "threat_violence" not in a.categories and "offensive_staff" not in a.categories


def test_the_schools_own_accounts_are_never_counted_whatever_the_signals(cat):
    c = comment("Mr Hope will be waiting at the gates with the certificates", author="fb:1")
    a = cat.assess(c, scores(threat=0.99, allegation=0.99, insult=0.99))
    assert not a.counted and a.categories == () and not a.escalate


@pytest.mark.parametrize("kind", ["photo", "sticker", "video"])
def test_a_picture_or_sticker_with_no_words_goes_to_a_person_never_clean(cat, kind):
    a = assess(cat, "", attachment=kind)
    assert a.needs_review and any(r.startswith(f"{kind} with no words") for r in a.review_reasons)
    emoji_only = assess(cat, "😂😂", attachment=kind)
    assert emoji_only.needs_review
    assert not assess(cat, "lovely photo of the choir", attachment=kind).needs_review
    assert not assess(cat, "").needs_review

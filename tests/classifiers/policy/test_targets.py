"""Roster, role, pupil and school matching (targets), on three different rosters."""

from __future__ import annotations

import pytest

from classifiers.policy import TargetMatcher, load_lexicon

from .conftest import make_config


def matcher(config):
    return TargetMatcher(config, load_lexicon())


def staff_names(m: TargetMatcher, text: str) -> list[tuple[str, str]]:
    """(surface, roster name) for each staff mention naming a roster member."""
    return [(x.surface, x.staff[0].name) for x in m.find(text) if x.kind == "staff" and x.staff]


@pytest.fixture(scope="module")
def oak():
    return matcher(make_config())


@pytest.mark.parametrize("text,surface,how", [
    ("Kirsty Crosby is lovely", "Kirsty Crosby", "full name"),
    ("Mrs Crosby is lovely", "Mrs Crosby", "title + surname"),
    ("Miss Crosby is lovely", "Miss Crosby", "title + surname"),  # wrong title still her
    ("well done Mrs C!", "Mrs C", "title + initial"),
    ("ask crosby about it", "crosby", "surname"),
    ("Crosby's decision again", "Crosby's", "surname"),
    ("thanks Kirsty x", "Kirsty", "first name"),
    ("Mrs Crosbey never replies", "Crosbey", None),  # one-letter typo after a title
])
def test_roster_forms(oak, text, surface, how):
    found = [x for x in oak.find(text) if x.kind == "staff"]
    assert found, text
    assert found[0].surface == surface
    assert found[0].staff[0].name == "Kirsty Crosby"
    if how:
        assert found[0].how == how


def test_typo_in_a_long_name_matches_one_edit_only():
    m = matcher(make_config(staff=[{"name": "Amy Kowalczyk", "title": "Miss", "role": "class_teacher"}]))
    assert staff_names(m, "Kowalcyzk was great") == [("Kowalcyzk", "Amy Kowalczyk")]  # transposition
    assert staff_names(m, "the Kowalski kid") == []  # a different (pupil's) surname


def test_common_word_surname_needs_a_title_or_subject_position(oak):
    assert staff_names(oak, "Hope you're all well") == []
    assert staff_names(oak, "we hope the trip goes ahead") == []
    assert staff_names(oak, "Mr Hope was brilliant") == [("Mr Hope", "Adam Hope")]
    assert staff_names(oak, "Hope is a useless teacher") == [("Hope", "Adam Hope")]
    assert staff_names(oak, "Hope's class again") == [("Hope's", "Adam Hope")]


def test_first_name_needs_a_capital(oak):
    assert staff_names(oak, "adam and eve") == []


def test_nicknames_from_config():
    m = matcher(make_config(staff=[{"name": "Margaret Thistlewood", "title": "Mrs", "role": "office_manager",
                                    "nicknames": ["Maggie T"]}]))
    assert staff_names(m, "maggie t was rude") == [("maggie t", "Margaret Thistlewood")]


def test_roles_name_the_roster_holder(oak):
    found = [x for x in oak.find("the head needs to answer") if x.kind == "staff"]
    assert found and found[0].staff[0].name == "Kirsty Crosby" and found[0].how == "role"
    for text in ("his teacher said", "the TA told him", "the dinner ladies", "ring the office",
                 "SLT decided", "the governors", "the caretaker", "the lady in the office"):
        assert any(x.kind == "staff" for x in oak.find(text)), text


@pytest.mark.parametrize("text", ["he hit his head on the climbing frame", "head lice letter again",
                                  "we head to the park after"])
def test_head_as_body_part_or_verb_is_not_staff(oak, text):
    assert not any(x.kind == "staff" for x in oak.find(text))


@pytest.mark.parametrize("text,kind", [
    ("my son loves it", "own_child"), ("our little one", "own_child"), ("Year 6 were great", "pupil"),
    ("that kid in pic 3", "pupil"), ("the Taylor boy again", "pupil"), ("some of the Y6 boys", "pupil"),
    ("this school is a joke", "school"), ("Oakwood never listens", "school"), ("the trust decided", "school"),
    ("St Mark's lot were rough", "other_school"),
])
def test_pupils_school_other_school(oak, text, kind):
    assert kind in {x.kind for x in oak.find(text)}, text


def test_reply_to_another_parent():
    m = matcher(make_config())
    kinds = [(x.kind, x.how) for x in m.find("@Dean Smith you are vile")]
    assert ("parent", "reply to") in kinds


def test_school_own_saint_name_is_not_another_school():
    m = matcher(make_config().__class__(**{**make_config().__dict__, "school": make_config().school.__class__(
        name="St Aidan's Church of England Academy", aliases=("St Aidan's",))}))
    kinds = {x.kind for x in m.find("typical St Aidan's, no notice again")}
    assert "school" in kinds and "other_school" not in kinds


def test_another_roster_unchanged(school_b, school_c):
    """The same code on two other rosters: names come only from the config."""
    mb, mc = school_b.cat.targets, school_c.cat.targets
    assert staff_names(mb, "Ms O'Connell's class") == [("Ms O'Connell's", "Siobhan O'Connell")]
    assert staff_names(mb, "Brzezinksa grabbed her") == [("Brzezinksa", "Zofia Brzezinska")]
    assert staff_names(mb, "Young and enthusiastic staff") == []
    assert staff_names(mb, "Bell is a clown") == [("Bell", "Thomas Bell")]
    assert staff_names(mc, "Mrs Marsden locked him in") == [("Mrs Marsden", "Jennifer Marsden")]
    # a demo-school name means nothing at another school
    assert staff_names(mc, "Mrs Ashworth is lovely") == []
    assert any(x.kind == "school" for x in mc.find("Meadowbank Learning Trust is a disgrace"))

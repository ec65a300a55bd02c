"""General allegation mechanisms: acts in any tense and voice, the doer of a passive,
acts that at school only staff do (staff implied), acts that are by default other
pupils' (pupils implied), the object of an earlier verb is not the doer, and
common-word surnames ("Mr Brown" yes, "brown shoes" no). Texts written for these tests."""

from __future__ import annotations

import pytest

from .conftest import Assessor, make_config

STAFF = [
    {"name": "Kirsty Crosby", "title": "Mrs", "role": "headteacher"},
    {"name": "David Brown", "title": "Mr", "role": "class_teacher"},
    {"name": "Karen Hall", "title": "Mrs", "role": "deputy_headteacher"},
]


@pytest.fixture(scope="module")
def oak():
    return Assessor(make_config(staff=STAFF))


@pytest.mark.parametrize("text", [
    "my son was shoved into a wall by Mr Brown on Tuesday",          # passive, doer after "by"
    "my daughter got screamed at by the deputy head until she cried",
    "Mrs Hall shouted in my sons face so close he could feel it",    # prepositional act
    "Mr Brown threw a board rubber at a kid in year 8",
    "Mrs Hall put a year 8 girl in isolation and wouldnt let her go to the toilet",  # girl is the object
    "My son was restrained 6 times last term and nobody told me",    # care act: staff implied
    "my boy was locked in a room on his own all afternoon",
    "The coach left my daughter behind at the museum",
    "TA in my daughters class called her thick in front of everyone",
])
def test_allegations_about_staff(oak, text):
    assert "allegation_staff" in oak.keys(text)


@pytest.mark.parametrize("text", [
    "my son was pushed over by a boy in year 5",                     # passive by a pupil
    "Thank you Mrs Hall for sorting out the bullying so quickly",    # the act is being dealt with
    "the letter about restraint came home today, any questions ask the office",  # a noun, no act
    "It was strapped to the roof of the car all the way to Wales",   # done to no child
])
def test_not_allegations_about_staff(oak, text):
    assert "allegation_staff" not in oak.keys(text)


def test_peer_act_implies_pupils(oak):
    keys = oak.keys("my daughter has been bullied for two years")
    assert "allegation_pupil" in keys and "allegation_staff" not in keys


def test_hedged_second_hand_is_allegation_not_defamatory(oak):
    keys = oak.keys("I've been told Mr Brown grabbed a year 7 boy by the collar")
    assert "allegation_staff" in keys and "defamatory_staff" not in keys


@pytest.mark.parametrize("text,staff", [
    ("the brown shoes rule is daft, black trainers are fine", False),
    ("Mr Brown slapped a kid in PE", True),
    ("The hall was freezing at the open evening", False),
])
def test_common_word_surnames(oak, text, staff):
    a = oak(text)
    named = any("David Brown" in e.detail or "Karen Hall" in e.detail for ev in a.evidence.values() for e in ev)
    assert named is staff, a.evidence

"""The mechanisms added after blind set J (a West Yorkshire secondary): intent spelt in
dialect and text-speak, conditional harm to whoever does something, projectiles through
windows, veiled harm to the site, dares, knowing someone's car; failing to step in, hands
on pupils, passing a pupil's number on, drinking in working hours; pupils' weapons,
selling, sharing clips, the one who did it. Texts written for these tests, not J's lines;
set K (written blind at the same time) showed these did not transfer to it, see
``tests/fixtures/policy_blind/README.md``."""

from __future__ import annotations

import pytest

from .conftest import Assessor, make_config

STAFF = [
    {"name": "Joanne Pickles", "title": "Mrs", "role": "headteacher"},
    {"name": "Gareth Lister", "title": "Mr", "role": "class_teacher"},
    {"name": "Nadia Rahman", "title": "Ms", "role": "teaching_assistant"},
]


@pytest.fixture(scope="module")
def dale():
    return Assessor(make_config(staff=STAFF))


@pytest.mark.parametrize("text", [
    "imma deck him on the bus tomoz no joke",
    "ah'll batter that lad if he comes near our Jade",
    "swear down i'll snap her in half",
    "next kid who takes my sons bag is getting a kicking",
    "somebody should put a brick through the head's office window",
    "wouldnt take much for them huts on the field to burn would it",
    "say it to my face at pick up and see what happens",
    "i'm coming up to that school tomorrow and they won't like what happens",
    "we know which car Mr Lister drives. think on",
])
def test_threats_in_dialect_and_veiled(dale, text):
    assert "threat_violence" in dale.keys(text)


@pytest.mark.parametrize("text", [
    "good luck in the exams, you're gonna smash it!",
    "that playground is a sheet of ice, somebody is going to break their leg",
    "the bake sale tent went up in no time, thanks dads",
])
def test_not_threats(dale, text):
    assert "threat_violence" not in dale.keys(text)


@pytest.mark.parametrize("text", [
    "two dinner ladies stood there and watched while my son was being punched",
    "Ms Rahman always has her hands on the boys, its not right",
    "Mr Lister gave my daughters number to an older lad for a 'project'",
    "Mr Lister was in the pub at 1pm while the kids were in lessons",
])
def test_staff_acts(dale, text):
    assert "allegation_staff" in dale.keys(text)


@pytest.mark.parametrize("text", [
    "a lad in year 10 carries a knife on the bus, everyone knows",
    "my son has a black eye and the boy who did it is still in school",
    "some year 9 boy is selling vapes behind the sports hall",
    "a girl in his form sent the fight video round the year group chat",
])
def test_pupil_acts(dale, text):
    assert "allegation_pupil" in dale.keys(text)

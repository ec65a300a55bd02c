"""The mechanisms added after blind sets J (a West Yorkshire secondary) and K (a West
Midlands primary). J: intent spelt in
dialect and text-speak, conditional harm to whoever does something, projectiles through
windows, veiled harm to the site, dares, knowing someone's car; failing to step in, hands
on pupils, passing a pupil's number on, drinking in working hours; pupils' weapons,
selling, sharing clips, the one who did it. K: text-speak and dialect spellings
(``05-spelling.toml``), putting someone through glass or on their back, "you'll know about
it", harm promised if it were one's own child, "better not be there", "shame if something
happened", finding where someone lives, children on an adult's knee, no call home after an
injury, asking a child for pictures, fireworks at people, making a child's life hell;
meeting one's own child at the gate and exasperated "I'll kill him if he loses..." are not
threats. Texts written for these tests, not the sets' lines; see
``tests/fixtures/policy_blind/README.md`` for what each round did on the next blind set."""

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


@pytest.mark.parametrize("text", [
    "sum1 shud put a brick thru that staffroom windo",
    "if that was my kid Mr Lister wud b gettin battered",
    "keep on and ah'll put him through the table",
    "i'll be up that school on monday and yo'll know about it",
    "ill be outside the office at 9. Lister better not be",
    "nice house Mr Lister. be a shame if summat happened to it",
    "found out where she lives now 🏠",
    "Apni class teacher ko bolo warna main khud aa kar dekh loon ga",
])
def test_threats_in_text_speak_and_veiled(dale, text):
    assert "threat_violence" in dale.keys(text)


@pytest.mark.parametrize("text", [
    "I'll be waiting at the gate with a hot choc for my little man 😍",
    "I'll kill him if he loses another water bottle 😤",
    "half term already, i'll strangle my three by tuesday",
])
def test_not_threats_k(dale, text):
    assert "threat_violence" not in dale.keys(text)


@pytest.mark.parametrize("text", [
    "that TA has the reception girls sitting on her lap all afternoon",
    "she came home with a bruise on her cheek and nobody rang me",
    "Ms Rahman shouts right in their faces",
    "the TA locks the naughty ones in the PE cupboard",
])
def test_staff_acts_k(dale, text):
    assert "allegation_staff" in dale.keys(text)


@pytest.mark.parametrize("text", [
    "a year 6 boy keeps asking my daughter for pics on roblox",
    "some year 8 girls have been making my daughter's life hell",
    "a lad in year 9 was taking my little boy's dinner money off him",
])
def test_pupil_acts_k(dale, text):
    assert "allegation_pupil" in dale.keys(text)

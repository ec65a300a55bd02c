"""Mechanisms for phrasings with no listed violent or complaint word: veiled threats,
fire-raising, euphemistic acts (messaging pupils, roughness, closeness, being alone with
children, withheld medication, money slang), pupils' wrongdoing without a violent verb,
named second-hand sources, branding labels that are not acts, identity slurs aimed at one
staff member, unmet expectations as complaints, coded identity hostility, and photos of
staff named only by the school's post. Texts written for these tests (paraphrases of the
kinds of miss the blind sets showed, not their lines)."""

from __future__ import annotations

import pytest

from .conftest import Assessor, make_config

STAFF = [
    {"name": "Kirsty Crosby", "title": "Mrs", "role": "headteacher"},
    {"name": "David Brown", "title": "Mr", "role": "class_teacher"},
    {"name": "Karen Hall", "title": "Mrs", "role": "deputy_headteacher"},
    {"name": "Tom Pugh", "title": "Mr", "role": "site_manager"},
]


@pytest.fixture(scope="module")
def oak():
    return Assessor(make_config(staff=STAFF))


# ---- threats with no violent verb -------------------------------------------------
@pytest.mark.parametrize("text", [
    "i know exactly where mr pugh parks his van. just saying",
    "if she speaks to my lad like that again i won't be responsible for my actions",
    "touch my daughters bag again and you'll get it where the sun doesnt shine",
    "hope somebody does the same to her one day",
    "someone should just put a match to that school",
    "lock the lot of them in and set the building alight 😂",
])
def test_veiled_threats_and_fire_raising(oak, text):
    assert "threat_violence" in oak.keys(text)


@pytest.mark.parametrize("text", [
    "I know where she gets her shoes, the market does them cheaper",
    "the year 6 choir set the stage alight last night, so proud",
    "I saw the man who set fire to the bins on the news",           # a report, not a wish
])
def test_not_threats(oak, text):
    assert "threat_violence" not in oak.keys(text)


# ---- euphemistic acts by staff ------------------------------------------------------
@pytest.mark.parametrize("text", [
    "Mr Brown messages the girls on instagram, I've seen the screenshots",
    "Mrs Hall was really rough with my daughter at pick up and held her wrists behind her back",
    "Mr Pugh gets far too friendly with some of the year 5 girls",
    "the caretaker takes boys into the boiler room on his own",
    "Mr Brown kept my son in the library by himself all lunchtime",
    "the office didnt give him his inhaler on sports day even though it was in his plan",
    "Mrs Hall has been on the fiddle with the uniform money",
])
def test_euphemistic_staff_acts(oak, text):
    assert "allegation_staff" in oak.keys(text)


@pytest.mark.parametrize("text", [
    "Mrs Hall is a drunk",                                              # a label: defamatory only
    "Mrs Crosby is a lazy cow, sat on her phone in every assembly",     # "sat on her phone" is no restraint
])
def test_labels_are_not_acts(oak, text):
    keys = oak.keys(text)
    assert "allegation_staff" not in keys


def test_label_is_still_defamatory(oak):
    assert "defamatory_staff" in oak.keys("Mr Brown is a drunk, the whole village knows")


# ---- second-hand sources -------------------------------------------------------------
def test_named_source_makes_it_defamatory_even_when_hedged(oak):
    keys = oak.keys("heard from another mum that Mr Brown slapped a boy in year 3")
    assert {"allegation_staff", "defamatory_staff"} <= keys


def test_bare_hedge_stays_an_allegation_only(oak):
    keys = oak.keys("apparently Mr Brown slapped a boy in year 3")
    assert "allegation_staff" in keys and "defamatory_staff" not in keys


def test_named_source_put_as_a_question_stays_hedged(oak):
    keys = oak.keys("my cousin says Mr Brown slapped a boy in year 3, is that true?")
    assert "allegation_staff" in keys and "defamatory_staff" not in keys


# ---- pupils' wrongdoing without a violent verb ---------------------------------------
@pytest.mark.parametrize("text", [
    "two girls in her class have been sharing a photo of my daughter around",
    "the year 9 lads keep taking his crisps off him at break",
    "some boys in his year are calling my son names every day",
    "the big lads keep pushing the year 7s down the stairs",
    "it was the older ones from Oakwood who sprayed on the bus shelter wall",
])
def test_pupil_acts(oak, text):
    assert "allegation_pupil" in oak.keys(text)


def test_children_of_another_school_are_not_pupils(oak):
    assert "allegation_pupil" not in oak.keys("the kids from St Bede's were throwing stones at cars")


# ---- slurs aimed at one staff member -------------------------------------------------
def test_slur_before_a_role_is_aimed_at_staff(oak):
    keys = oak.keys("no wonder they are all confused with a lezza as their teacher")
    assert {"racist_homophobic", "offensive_staff"} <= keys


def test_identity_word_before_a_role_names_one_teacher(oak):
    keys = oak.keys("the gay teacher is at it again, disgusting")
    assert {"racist_homophobic", "offensive_staff"} <= keys


def test_hostility_at_a_group_of_staff_is_not_offensive_staff(oak):
    keys = oak.keys("trans teachers should be kept well away from children, its not natural")
    assert "racist_homophobic" in keys and "offensive_staff" not in keys


@pytest.mark.parametrize("text", [
    "the estate is overrun with romanian scroungers",
    "too many foreign kids in that class now",
    "pride flags all over the hall, its sick",
])
def test_coded_identity_hostility(oak, text):
    assert "racist_homophobic" in oak.keys(text)


def test_quoted_words_in_a_reporting_comment_are_not_counted(oak):
    assert "racist_homophobic" not in oak.keys("I've reported that post. Calling families 'romanian scroungers' is vile")


# ---- offensive: "that woman" after a staff mention ------------------------------------
def test_that_woman_refers_back_to_staff(oak):
    keys = oak.keys("Mrs Hall ignored every email about the trip, total waste of space that woman")
    assert "offensive_staff" in keys and "complaint_staff" not in keys


# ---- complaints without a complaint word ---------------------------------------------
@pytest.mark.parametrize("text,key", [
    ("Mr Pugh didn't salt the steps again this morning", "complaint_staff"),
    ("Mrs Hall gave him a detention without even asking what happened", "complaint_staff"),
    ("the receptionist was quite abrupt with me when I rang", "complaint_staff"),
    ("half the teachers never bothered to turn up to the concert", "complaint_school"),
    ("£400 for a ski trip. Who can afford that?", "complaint_school"),
    ("Third year running. Brilliant.", "complaint_school"),
])
def test_unmet_expectations_and_sarcasm(oak, text, key):
    assert key in oak.keys(text)


def test_unmet_expectation_of_own_child_is_no_complaint(oak):
    assert not oak.keys("my son didn't change his socks all week, teenagers eh")


def test_complaint_word_in_a_pupils_clause_is_about_the_pupils(oak):
    keys = oak.keys("the same year 4 boys take her snack off her every single day")
    assert "allegation_pupil" in keys and "complaint_school" not in keys


# ---- images --------------------------------------------------------------------------
def test_staff_parked_in_a_photo_is_still_staff(oak):
    a = oak("here is Mrs Crosby parked on the zigzags herself 📸", attachment="photo")
    assert "image_of_staff" in a.categories


def test_photo_of_a_staff_car_is_not_staff(oak):
    a = oak("this is Mrs Crosby's car across the disabled bay again", attachment="photo")
    assert "image_of_staff" not in a.categories


def test_pronoun_under_a_post_naming_one_staff_member(oak):
    post = "Congratulations to Mr Brown on his long service award!"
    a = oak("him at the party afterwards 😂", attachment="photo", post_text=post)
    assert "image_of_staff" in a.categories
    b = oak("him at the party afterwards 😂", post_text=post)   # no attachment
    assert "image_of_staff" not in b.categories


# ---- a hedge covers its own clause ---------------------------------------------------
def test_hedge_in_an_earlier_clause_does_not_cover_the_school_claim(oak):
    assert "defamatory_school" in oak.keys(
        "apparently a year 9 had a blade in his bag and the school is covering it up for the league tables")


def test_hedged_school_claim_is_not_defamatory(oak):
    assert "defamatory_school" not in oak.keys("apparently the school is covering it up")

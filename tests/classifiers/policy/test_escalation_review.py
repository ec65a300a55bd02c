"""The learned escalation reviewer: possible escalations the word lists missed go to a
person (``needs_review``), never escalated, struck or categorised by the model; the
threshold and the switch come from ``[policy]``; the packaged model is checked at load."""

from __future__ import annotations

import json
import shutil

import pytest

from classifiers.base import ScorerError
from classifiers.policy.categoriser import ESCALATION_MODEL_DIR, EscalationReviewer
from monitor.config import ConfigError

from .conftest import Assessor, make_config

# Written for this test: a hedged allegation in words the shipped lists do not hold.
MISSED = "the head drives a brand new range rover while the dinner money keeps going up, go figure"


@pytest.fixture(scope="module")
def reviewer():
    return EscalationReviewer()


def test_a_missed_possible_escalation_goes_to_a_person():
    a = Assessor(make_config())(MISSED)
    assert not a.escalate and not a.strikes
    assert a.needs_review
    assert any(r.startswith("possible escalation: the learned escalation model gives") for r in a.review_reasons)


def test_the_switch_and_the_threshold_come_from_the_config():
    off = Assessor(make_config(extra={"policy": {"escalation_review": False}}))(MISSED)
    assert not off.needs_review and off.review_reasons == ()
    strict = Assessor(make_config(extra={"policy": {"escalation_review_threshold": 0.99}}))(MISSED)
    assert not strict.needs_review


@pytest.mark.parametrize("text", [
    "Lovely harvest assembly this morning, thank you Mrs Crosby",
    "Can the car park gates open five minutes earlier please?",
])
def test_ordinary_comments_are_left_alone(text):
    a = Assessor(make_config())(text)
    assert not a.needs_review


def test_comments_the_rules_escalate_get_no_second_reason():
    a = Assessor(make_config())("I'll batter Mr Hope when I see him at the gate")
    assert a.escalate
    assert not any("possible escalation" in r for r in a.review_reasons)


def test_probability_is_a_probability(reviewer):
    for text in ("", "   ", MISSED, "x" * 5000):
        assert 0.0 <= reviewer.probability(text) <= 1.0
    assert reviewer.probability("") == 0.0
    assert reviewer.probability(MISSED) >= 0.6


def test_a_tampered_model_is_refused(tmp_path):
    shutil.copytree(ESCALATION_MODEL_DIR, tmp_path / "m")
    npz = tmp_path / "m" / "embedded.npz"
    data = bytearray(npz.read_bytes())
    data[-10] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(ScorerError, match="embedded.npz"):
        EscalationReviewer(tmp_path / "m")


def test_blind_set_l_was_never_trained_on():
    meta = json.loads((ESCALATION_MODEL_DIR / "embedded.vocab.json").read_text())["meta"]
    assert meta["n_documents"] == 1355
    assert not any("comments_l" in f for f in meta["data_sets"])


@pytest.mark.parametrize("value", [0, 1.5, "high", True])
def test_a_bad_threshold_is_named(value):
    with pytest.raises(ConfigError, match=r"policy\.escalation_review_threshold"):
        make_config(extra={"policy": {"escalation_review_threshold": value}})

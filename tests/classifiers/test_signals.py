"""The shipped signals model (classifiers.signals): the eight signals, loading checks (a
tampered file is refused), batching equivalence, long texts, and parity with the training
framework (scikit-learn's probabilities on fixed texts, recorded by training/train_signals.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from classifiers import build_scorer
from classifiers.base import ScorerError
from classifiers.signals import HEADS_FILE, SIGNALS_DIR, SignalsScorer
from monitor.config import ClassifierConfig
from monitor.domain import SIGNALS

PARITY = Path(__file__).resolve().parents[1] / "fixtures" / "classifiers" / "signals_parity.json"

TEXTS = [
    "Thank you Miss Kowalczyk for making her feel so welcome this morning x",
    "if that teacher touches my son again I will be waiting for him at the gates",
    "third trip cancelled this term, not good enough",
    "you are a useless waste of space",
    "",
    "ok",
    "😂😂😂",
]


@pytest.fixture(scope="module")
def scorer() -> SignalsScorer:
    return SignalsScorer()


def test_the_default_backend_is_the_signals_model_with_eight_calibrated_signals(scorer):
    s = build_scorer(ClassifierConfig())
    assert isinstance(s, SignalsScorer) and s.labels == SIGNALS
    out = scorer.score(TEXTS)
    assert len(out) == len(TEXTS)
    for d in out:
        assert set(d) == set(SIGNALS)
        assert all(0.0 <= v <= 1.0 for v in d.values())


def test_it_tells_a_threat_from_a_thank_you_and_a_complaint(scorer):
    thanks, threat, complaint, insult = scorer.score(TEXTS[:4])
    assert threat["threat"] > 0.5 > thanks["threat"]
    assert complaint["complaint"] > 0.5 > thanks["complaint"]
    assert insult["insult"] > 0.5 > thanks["insult"]
    assert thanks["toxicity"] < 0.5


def test_batching_does_not_change_the_scores(scorer):
    together = scorer.probabilities(TEXTS)
    one_by_one = np.vstack([scorer.probabilities([t]) for t in TEXTS])
    assert np.abs(together - one_by_one).max() < 1e-5
    small = SignalsScorer(batch_size=2).probabilities(TEXTS)
    assert np.abs(together - small).max() < 1e-5


def test_a_long_text_is_read_to_its_end(scorer):
    filler = "The trip to the museum was lovely and the children had a great time. " * 30
    threat = "I will be waiting at the gates for that teacher with a knife."
    wins, _ = scorer.encoder.windows([filler + threat])
    assert len(wins) > 2
    p_long = scorer.score([filler + threat])[0]["threat"]
    p_filler = scorer.score([filler])[0]["threat"]
    assert p_long > 0.5 > p_filler


def test_parity_with_the_training_framework_on_fixed_texts(scorer):
    fixture = json.loads(PARITY.read_text(encoding="utf-8"))
    assert tuple(fixture["labels"]) == scorer.labels
    assert fixture["version"] == scorer.version, "the model changed: retrain writes a new fixture"
    rows = fixture["rows"]
    assert len(rows) >= 30
    got = scorer.probabilities([r["text"] for r in rows])
    want = np.array([r["p"] for r in rows])
    assert np.abs(got - want).max() < 1e-4


@pytest.fixture()
def model_copy(tmp_path) -> Path:
    d = tmp_path / "signals"
    shutil.copytree(SIGNALS_DIR, d)
    return d


@pytest.mark.parametrize("name", ["encoder.onnx", "tokenizer.json", HEADS_FILE, "ngram/manifest.json",
                                  "ngram/embedded.npz"])
def test_a_tampered_file_is_refused(model_copy, name):
    path = model_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ScorerError, match="SHA-256|corrupt|modified"):
        SignalsScorer(model_copy)


def test_a_missing_file_is_refused_with_its_name(model_copy):
    (model_copy / "encoder.onnx").unlink()
    with pytest.raises(ScorerError, match="encoder.onnx"):
        SignalsScorer(model_copy)


def test_the_model_fits_the_package_budget():
    total = sum(p.stat().st_size for p in SIGNALS_DIR.rglob("*") if p.is_file())
    assert total <= 30 * 1024 * 1024


def test_the_blind_school_sets_are_never_trained_on():
    from training.signals_data import SCHOOL_SETS

    names = {p.name for p in SCHOOL_SETS}
    assert not names & {"comments_l.jsonl", "comments_m.jsonl", "comments_n.jsonl"}
    assert all(p.exists() for p in SCHOOL_SETS)

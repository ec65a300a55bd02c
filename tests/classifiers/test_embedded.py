"""The embedded scorer: packaged model loading and its SHA-256 checks, numpy inference
(batching, parity with scikit-learn), and the analyzer shared with training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from classifiers.base import Scorer, ScorerError
from classifiers.embedded import (
    MANIFEST_FILE,
    MODEL_DIR,
    VOCAB_FILE,
    WEIGHTS_FILE,
    EmbeddedScorer,
    analyse,
    load_model,
    normalise,
    words,
    write_model,
)
from monitor.domain import SIGNALS


@pytest.fixture(scope="module")
def scorer() -> EmbeddedScorer:
    return EmbeddedScorer()


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    shutil.copytree(MODEL_DIR, d)
    return d


def test_packaged_model_loads_and_is_a_scorer(scorer):
    assert isinstance(scorer, Scorer)
    assert scorer.name == "embedded"
    assert scorer.version.startswith("2.0.0+sha256:")  # the signals model's n-gram part
    assert tuple(scorer.labels) == SIGNALS
    assert "toxicity" in scorer.labels


def test_model_files_within_size_budget():
    total = sum(p.stat().st_size for p in MODEL_DIR.iterdir() if p.is_file())
    assert total <= 25 * 1024 * 1024
    assert (MODEL_DIR.parent / "MODEL_CARD.md").is_file()


def test_weights_tampered_by_one_byte_are_refused(model_copy):
    p = model_copy / WEIGHTS_FILE
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(ScorerError, match="SHA-256.*refusing"):
        EmbeddedScorer(model_copy)


def test_vocabulary_edited_is_refused(model_copy):
    p = model_copy / VOCAB_FILE
    p.write_text(p.read_text(encoding="utf-8").replace('"w:idiot"', '"w:idiom"', 1), encoding="utf-8")
    with pytest.raises(ScorerError, match=VOCAB_FILE):
        EmbeddedScorer(model_copy)


def test_missing_manifest_or_hash_entry_is_refused(model_copy):
    manifest = json.loads((model_copy / MANIFEST_FILE).read_text())
    del manifest["files"][WEIGHTS_FILE]
    (model_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ScorerError, match="no SHA-256 recorded"):
        EmbeddedScorer(model_copy)
    (model_copy / MANIFEST_FILE).unlink()
    with pytest.raises(ScorerError, match="cannot read"):
        EmbeddedScorer(model_copy)


def test_probabilities_are_in_range_and_in_input_order(scorer):
    texts = ["Thank you Mrs Ashworth, lovely photos!", "you are a stupid fucking idiot", "", "😂😂"]
    out = scorer.score(texts)
    assert len(out) == 4
    for d in out:
        assert set(d) == set(scorer.labels)
        assert all(0.0 <= v <= 1.0 for v in d.values())
    assert out[1]["toxicity"] > 0.9 > 0.1 > out[0]["toxicity"]
    assert out[1]["insult"] > out[0]["insult"]
    # wordless text gets the model's prior (the same for all such texts)
    assert out[2] == out[3]


def test_batch_equals_one_by_one(scorer):
    texts = ["what a disgrace of a school", "great sports day", "ok", "shut up you moron", "x" * 3000]
    batch = scorer.score(texts)
    single = [scorer.score([t])[0] for t in texts]
    for b, s in zip(batch, single):
        for k in b:
            assert b[k] == pytest.approx(s[k], abs=1e-6)
    assert scorer.score([]) == []


def test_obvious_cases_rank_correctly(scorer):
    toxic = ["you are a worthless piece of shit", "shut up you stupid bitch", "fuck off moron"]
    clean = ["Well done to everyone at sports day", "Is there a payment plan for the trip?",
             "My son loved the book fair, thank you"]
    t = [d["toxicity"] for d in scorer.score(toxic)]
    c = [d["toxicity"] for d in scorer.score(clean)]
    assert min(t) > 0.5 > max(c)


def test_known_words_cover_english_not_polish(scorer):
    known = scorer.known_words()
    assert {"the", "teacher", "school", "thank"} <= known
    assert not {"nauczycielka", "szkole", "dziękujemy"} & known


def test_normalise_and_words():
    assert normalise("RT @bob: Sooooo good &amp; https://t.co/x") .split() == ["xxuser", ":", "soo", "good", "&", "xxurl"]
    assert words("You're a p*ki!!") == ["you're", "a", "p*ki"]
    assert words("ＦＵＬＬ width") == ["full", "width"]


def test_analyse_features():
    feats = analyse("go away")
    assert "w:go" in feats and "w:away" in feats and "b:go away" in feats
    assert "c: go " in feats and "c:away" in feats
    assert analyse("") == [] and analyse("!!! 😂") == []


def test_write_model_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        write_model(tmp_path, ["w:a"], ["toxicity"], np.ones(2), np.ones((1, 1)), np.zeros(1), "0.0.1")


def test_numpy_inference_matches_scikit_learn(tmp_path):
    """The exported model gives scikit-learn's probabilities (the training parity check)."""
    sk = pytest.importorskip("sklearn")  # noqa: F841 - dev extra
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = ["you idiot", "lovely day", "stupid idiot go away", "thanks so much", "what an idiot",
             "great work everyone", "idiot teacher", "lovely photos thanks"] * 3
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0] * 3)
    vec = TfidfVectorizer(analyzer=analyse, sublinear_tf=True, dtype=np.float32)
    X = vec.fit_transform(texts)
    lr = LogisticRegression(C=10).fit(X, y)
    feats = [None] * X.shape[1]
    for f, j in vec.vocabulary_.items():
        feats[j] = f
    write_model(tmp_path, feats, ["toxicity"], vec.idf_, lr.coef_.T, lr.intercept_, "0.0.1",
                {"n_documents": X.shape[0]})
    s = EmbeddedScorer(tmp_path)
    probe = ["idiot!!", "lovely thanks", "unknown words only", "", "Idiot idiot IDIOT lovely"]
    ref = lr.predict_proba(vec.transform(probe))[:, 1]
    got = [d["toxicity"] for d in s.score(probe)]
    assert np.allclose(ref, got, atol=1e-5)
    assert load_model(tmp_path).version.startswith("0.0.1+sha256:")


@pytest.mark.parametrize("text", [
    "you are a stupid idiot, stupid stupid!!", "Thank you Mrs Ashworth 😊 &amp; the staff",
    "RT @bob: ＦＵＬＬ width text https://t.co/x", "p*ki b!tch f@ggot", "", "ok ok ok ok",
])
def test_cached_features_equal_the_training_analyzer(scorer, text):
    """The runtime's cached, word-by-word feature lookup yields exactly the in-vocabulary
    features of analyse(), the function training used."""
    index = {f: i for i, f in enumerate(scorer.model.features)}
    expected = sorted(index[f] for f in analyse(text) if f in index)
    for _ in range(2):  # cold and warm cache
        assert sorted(scorer.feature_indices(text).tolist()) == expected

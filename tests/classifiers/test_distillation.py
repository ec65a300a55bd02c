"""The embedded model's soft labels: the teacher's committed logits, the targets built from
them, and the logistic regression fitted on soft targets (``training/``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from training.data import Example
from training.teacher import LOGITS_PATH, load_logits, text_key
from training.train_embedded import TEACHER_SHARE, fit_soft, soft_targets


def test_text_key_is_the_normalised_text_hash():
    """Texts that normalise alike share a key; different texts do not; keys fit in uint64."""
    assert text_key("@Bob You IDIOT https://x.co/a") == text_key("@someone you idiot https://y.co/b")
    assert text_key("you idiot") != text_key("you genius")
    assert 0 <= text_key("anything") < 2**64


def test_committed_teacher_logits_are_well_formed():
    """The file the shipped model was trained from: unique uint64 keys, finite float32 logits,
    one per training text, and the run's figures beside it."""
    with np.load(LOGITS_PATH, allow_pickle=False) as z:
        keys, logits = z["keys"], z["logits"]
    assert keys.dtype == np.uint64 and logits.dtype == np.float32
    assert len(keys) == len(logits) > 30_000
    assert len(np.unique(keys)) >= len(keys) - 5  # texts that normalise alike may repeat
    assert np.isfinite(logits).all()
    assert 0.2 < float(np.mean(logits > 0)) < 0.9  # a teacher, not a constant
    meta = json.loads(LOGITS_PATH.with_suffix(".json").read_text())
    assert meta["figures"][-1]["olid_heldout_auc"] > 0.8
    assert load_logits()[int(keys[0])] == pytest.approx(float(logits[0]))


def test_load_logits_names_a_missing_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        load_logits(tmp_path / "none.npz")


def test_soft_targets_mix_gold_and_teacher_by_set():
    rows = [Example("you idiot", source="olid"), Example("hello", source="davidson"),
            Example("nice day", source="cyberbullying"), Example("unscored", source="olid")]
    idx = np.arange(4)
    y = np.array([1, 0, 0, 1])
    teacher = {text_key("you idiot"): 0.0, text_key("hello"): math.log(3), text_key("nice day"): 5.0}
    tgt, used = soft_targets(rows, idx, y, teacher, shares={"olid": 1.0, "davidson": 0.25})
    assert used == 2
    assert tgt[0] == pytest.approx(0.5)            # olid: the teacher's probability, whole
    assert tgt[1] == pytest.approx(0.25 * 0.75)    # davidson: a quarter of sigmoid(ln 3) = 0.75
    assert tgt[2] == 0.0                           # no share: gold, whatever the teacher says
    assert tgt[3] == 1.0                           # not scored by the teacher: gold


def test_fit_soft_equals_ordinary_fit_on_hard_labels_and_follows_soft_ones():
    """With 0/1 targets the doubled-row fit is the ordinary weighted fit; with a soft target
    the row's fitted probability moves towards it."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((60, 5)))
    y = (X.toarray()[:, 0] > 0.5).astype(float)
    w = rng.random(60) + 0.5
    soft = fit_soft(X, y, w)
    hard = LogisticRegression(C=4.0, solver="liblinear", max_iter=5000, random_state=0).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(soft.coef_, hard.coef_, atol=1e-6)

    X1 = sp.csr_matrix(np.eye(2))
    for t in (0.2, 0.8):
        m = fit_soft(X1, np.array([t, 0.5]), np.array([200.0, 200.0]))
        assert m.predict_proba(X1[:1])[0, 1] == pytest.approx(t, abs=0.05)

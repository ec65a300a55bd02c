"""The scoring engine and the builders: batching, Scores fields, backend choice."""

from __future__ import annotations

from typing import Sequence

import pytest

import classifiers
from classifiers.base import ScorerError
from classifiers.engine import ScoringEngine
from classifiers.language import Detection
from monitor.config import ClassifierConfig, parse_config
from monitor.domain import Scores


class RecordingScorer:
    """A scorer that records its batch sizes; toxicity = share of 'bad' words."""

    name = "recording"
    version = "t1"
    labels = ("toxicity",)

    def __init__(self, drop: bool = False):
        self.batches: list[int] = []
        self.drop = drop

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.batches.append(len(texts))
        out = [{"toxicity": float("bad" in t)} for t in texts]
        return out[:-1] if self.drop else out


class FixedDetector:
    def __init__(self, lang: str | None):
        self.lang = lang

    def detect(self, texts):
        return [Detection(self.lang, 1.0, tuple(t.split())) for t in texts]


def test_engine_batches_and_fills_scores():
    scorer = RecordingScorer()
    engine = ScoringEngine(scorer, detector=FixedDetector("en"), batch_size=4, known=lambda w: True)
    texts = [f"comment {i} {'bad' if i % 3 == 0 else 'good'}" for i in range(10)]
    out = engine.score(texts)
    assert scorer.batches == [4, 4, 2]
    assert all(isinstance(s, Scores) for s in out)
    assert [s.values["toxicity"] for s in out] == [float(i % 3 == 0) for i in range(10)]
    assert {(s.model, s.model_version, s.language, s.readable) for s in out} == {("recording", "t1", "en", True)}
    assert engine.score([]) == [] and scorer.batches == [4, 4, 2]


def test_unreadable_language_keeps_scores_but_marks_them():
    engine = ScoringEngine(RecordingScorer(), detector=FixedDetector("pl"), known=lambda w: False)
    s = engine.score_one("to jest bad bardzo")
    assert (s.language, s.readable) == ("pl", False)
    assert s.values == {"toxicity": 1.0}


def test_scorer_returning_wrong_count_is_an_error():
    engine = ScoringEngine(RecordingScorer(drop=True), detector=FixedDetector("en"))
    with pytest.raises(ScorerError, match="returned 1 results for 2 texts"):
        engine.score(["a", "b"])


def test_bad_batch_size():
    with pytest.raises(ValueError):
        ScoringEngine(RecordingScorer(), detector=FixedDetector("en"), batch_size=0)


def test_build_engine_defaults_to_embedded():
    cfg = parse_config({"school": {"name": "X School"}}).classifier
    engine = classifiers.build_engine(cfg)
    assert engine.scorer.name == "embedded"
    assert engine.readable_languages == ("en",)
    assert engine.batch_size == cfg.batch_size
    s = engine.score(["Well done everyone!", "Dziękujemy bardzo za wszystko, pani Kowalczyk"])
    assert [x.readable for x in s] == [True, False]


def test_build_scorer_detoxify_without_checkpoint_explains():
    with pytest.raises(ScorerError, match="checkpoint is required.*model fetch original"):
        classifiers.build_scorer(ClassifierConfig(backend="detoxify"))


def test_build_scorer_detoxify_missing_checkpoint_file(tmp_path):
    cfg = ClassifierConfig(backend="detoxify", checkpoint="models/original.ckpt")
    with pytest.raises(ScorerError, match="does not exist"):
        classifiers.build_scorer(cfg, base_dir=tmp_path)


def test_build_scorer_unknown_backend():
    with pytest.raises(ScorerError, match="unknown backend 'bert'"):
        classifiers.build_scorer(ClassifierConfig(backend="bert"))

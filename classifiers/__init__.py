"""Toxicity scoring: the scorer interface, the embedded scorer (default), the Detoxify
scorer (extra ``detoxify``), language routing and the scoring engine.

Build once at start::

    engine = classifiers.build_engine(config.classifier, base_dir=config.base_dir)
    scores = engine.score(["comment one", "comment two"])  # list[monitor.domain.Scores]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from classifiers.base import Scorer, ScorerError

if TYPE_CHECKING:
    from classifiers.engine import ScoringEngine
    from monitor.config import ClassifierConfig

__all__ = ["Scorer", "ScorerError", "build_scorer", "build_engine"]


def build_scorer(cfg: "ClassifierConfig", base_dir: str | Path | None = None) -> Scorer:
    """Build the scorer named by ``[classifier] backend``.

    * ``embedded`` (default): :class:`classifiers.signals.SignalsScorer`, the packaged
      signals model (the eight :data:`~monitor.domain.SIGNALS`; SHA-256 checked).
    * ``detoxify``: :class:`classifiers.detoxify_scorer.DetoxifyScorer` from
      ``checkpoint`` (+ ``huggingface_config_path``), offline, SHA-256 checked, for
      Detoxify's six labels, with ``complaint`` and ``allegation`` from the signals model
      (:class:`CombinedScorer`).

    :param base_dir: folder that relative ``checkpoint`` / ``huggingface_config_path``
        are taken from (the config file's folder, ``Config.base_dir``); default: the
        current directory.
    :raises ScorerError: unknown backend, the ``detoxify`` extra not installed, a missing
        file, or a SHA-256 mismatch; the message says what to do.
    """
    from classifiers.signals import SignalsScorer

    if cfg.backend == "embedded":
        return SignalsScorer()
    if cfg.backend == "detoxify":
        from classifiers.detoxify_scorer import DetoxifyScorer

        return CombinedScorer(DetoxifyScorer.from_config(cfg, base_dir=base_dir), SignalsScorer(),
                              ("complaint", "allegation"))
    raise ScorerError(f"[classifier] backend: unknown backend {cfg.backend!r} (expected 'embedded' or 'detoxify')")


class CombinedScorer:
    """One scorer's labels plus some labels of another: with ``backend = "detoxify"``,
    Detoxify's six and the signals model's ``complaint`` and ``allegation``.

    :param primary: gives every label it has (its name is this scorer's name).
    :param secondary: gives ``extra`` labels (those ``primary`` lacks).
    :param extra: the labels taken from ``secondary``.
    """

    def __init__(self, primary: Scorer, secondary: Scorer, extra: tuple[str, ...]):
        self.primary, self.secondary = primary, secondary
        self.extra = tuple(x for x in extra if x not in primary.labels and x in secondary.labels)
        self.name = primary.name
        self.version = f"{primary.version}; {secondary.name} {secondary.version} for {', '.join(self.extra)}"
        self.labels: tuple[str, ...] = tuple(primary.labels) + self.extra

    def score(self, texts) -> list[dict[str, float]]:
        """Score a batch: the primary's dict per text, with the extra labels added."""
        first = self.primary.score(texts)
        if not self.extra:
            return first
        second = self.secondary.score(texts)
        return [{**a, **{k: b[k] for k in self.extra}} for a, b in zip(first, second)]


def build_engine(cfg: "ClassifierConfig", base_dir: str | Path | None = None) -> "ScoringEngine":
    """Build the scorer and wrap it in a :class:`classifiers.engine.ScoringEngine` with
    the configured ``readable_languages`` and ``batch_size``.

    :raises ScorerError: as :func:`build_scorer`.
    """
    from classifiers.engine import ScoringEngine

    return ScoringEngine(
        build_scorer(cfg, base_dir=base_dir),
        readable_languages=cfg.readable_languages,
        batch_size=cfg.batch_size,
    )

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

    * ``embedded`` (default): :class:`classifiers.embedded.EmbeddedScorer` with the
      packaged model (SHA-256 checked).
    * ``detoxify``: :class:`classifiers.detoxify_scorer.DetoxifyScorer` from
      ``checkpoint`` (+ ``huggingface_config_path``), offline, SHA-256 checked.

    :param base_dir: folder that relative ``checkpoint`` / ``huggingface_config_path``
        are taken from (the config file's folder, ``Config.base_dir``); default: the
        current directory.
    :raises ScorerError: unknown backend, the ``detoxify`` extra not installed, a missing
        file, or a SHA-256 mismatch; the message says what to do.
    """
    if cfg.backend == "embedded":
        from classifiers.embedded import EmbeddedScorer

        return EmbeddedScorer()
    if cfg.backend == "detoxify":
        from classifiers.detoxify_scorer import DetoxifyScorer

        return DetoxifyScorer.from_config(cfg, base_dir=base_dir)
    raise ScorerError(f"[classifier] backend: unknown backend {cfg.backend!r} (expected 'embedded' or 'detoxify')")


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

"""The scorer interface every toxicity backend implements.

A :class:`Scorer` is built once at start (never per comment) and scores texts in batches.
Label names are Detoxify's (:data:`monitor.domain.DETOXIFY_LABELS`); a scorer may offer a
subset and says which in ``labels``. Probabilities are floats in [0, 1].
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable


class ScorerError(Exception):
    """A scorer could not be built or loaded (missing file, SHA-256 mismatch, missing
    extra). The message names the file or package and what to do."""


@runtime_checkable
class Scorer(Protocol):
    """A batched toxicity scorer.

    :ivar name: e.g. ``embedded`` or ``detoxify-original``.
    :ivar version: identifies the weights, e.g. ``1.0+sha256:1a2b3c4d``.
    :ivar labels: the Detoxify labels this scorer gives.
    """

    name: str
    version: str
    labels: tuple[str, ...]

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score a batch: one ``{label: probability}`` dict per text, in input order."""
        ...

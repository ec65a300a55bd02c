"""The scoring engine: a scorer plus language routing, built once at start.

:class:`ScoringEngine` turns texts into :class:`monitor.domain.Scores`: it scores them in
batches with the configured :class:`~classifiers.base.Scorer`, detects each comment's
language and marks the ones the scorer cannot read (``readable=False``), which the policy
categoriser sends to ``needs_review`` instead of treating them as clean. Pure computation:
no I/O after construction.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

from classifiers.base import Scorer, ScorerError
from classifiers.language import Detection, LanguageDetector, decide
from monitor.domain import Scores


class Detector(Protocol):
    """What the engine needs from a language detector (:class:`LanguageDetector`)."""

    def detect(self, texts: Sequence[str]) -> list[Detection]: ...


def _known_words(scorer: Scorer) -> Callable[[str], bool] | None:
    """The word test used for coverage: the embedded model's reading vocabulary (also
    used with Detoxify, whose English models read what an English vocabulary covers).
    None when the packaged embedded model cannot be loaded."""
    from classifiers.embedded import known_words, load_model

    try:
        model = getattr(scorer, "model", None) or load_model()
        return known_words(model).__contains__
    except ScorerError:
        return None


class ScoringEngine:
    """Batched scoring with language routing.

    :param scorer: any :class:`~classifiers.base.Scorer` (built once).
    :param readable_languages: ISO 639-1 codes the scorer reads (config
        ``[classifier] readable_languages``).
    :param detector: language detector; None builds the default
        :class:`~classifiers.language.LanguageDetector` (about 30 MB).
    :param batch_size: texts per call to the scorer (config ``batch_size``).
    :param known: word test for the coverage rule of :func:`classifiers.language.decide`;
        default: the embedded model's vocabulary.
    """

    def __init__(
        self,
        scorer: Scorer,
        readable_languages: Sequence[str] = ("en",),
        detector: Detector | None = None,
        batch_size: int = 64,
        known: Callable[[str], bool] | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.scorer = scorer
        self.readable_languages = tuple(c.lower() for c in readable_languages)
        self.detector: Detector = detector if detector is not None else LanguageDetector()
        self.batch_size = batch_size
        self.known = known if known is not None else _known_words(scorer)

    @property
    def labels(self) -> tuple[str, ...]:
        """The Detoxify labels the scorer gives."""
        return tuple(self.scorer.labels)

    def score(self, texts: Sequence[str]) -> list[Scores]:
        """Score texts: one :class:`~monitor.domain.Scores` per text, input order.

        ``values`` are the scorer's probabilities (always present, even for unreadable
        text), ``model``/``model_version`` name the scorer, ``language`` is the detected
        ISO 639-1 code (None when undetermined) and ``readable`` is False for a comment
        in a language the scorer cannot read.

        :raises ScorerError: if the scorer fails or returns the wrong number of results.
        """
        texts = list(texts)
        values: list[dict[str, float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            out = self.scorer.score(batch)
            if len(out) != len(batch):
                raise ScorerError(
                    f"scorer {self.scorer.name} returned {len(out)} results for {len(batch)} texts"
                )
            values.extend(out)
        detections = self.detector.detect(texts)
        result = []
        for v, det in zip(values, detections):
            language, readable = decide(det, self.readable_languages, self.known)
            result.append(
                Scores(
                    values=v,
                    model=self.scorer.name,
                    model_version=self.scorer.version,
                    language=language,
                    readable=readable,
                )
            )
        return result

    def score_one(self, text: str) -> Scores:
        """Score a single text (a batch of one)."""
        return self.score([text])[0]

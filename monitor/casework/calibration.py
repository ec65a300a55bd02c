"""Calibration: how right the automatic keys are, judged by the coordinator's verdicts,
and which score thresholds the verdicts suggest.

**Judged comments.** A comment is judged when it has a row in ``verdicts`` (written by
``review resolve``); the latest verdict per comment counts. Its *confirmed keys* are the
verdict's ``keys`` when the verdict confirms (``confirmed``, ``blocked``, ``hidden``,
``removed``) and none for ``false_positive``. Its *automatic keys* are its ``comment_keys``
rows; its *scores* are the stored ``scores.values`` of its latest scored version.

**Precision per key.** For each policy key: ``judged`` = judged comments the categoriser
gave that key; ``correct`` = those whose confirmed keys include it;
``precision = correct / judged``. ``missed`` counts judged comments whose confirmed keys
include the key although the categoriser did not give it (the coordinator added it with
``--keys``): a hint of recall, not a measure of it, since only flagged comments are judged.

**Thresholds per Detoxify label.** Each label is tied to the keys it is evidence for
(:data:`LABEL_KEYS`: ``threat`` to ``threat_violence``, ``identity_attack`` to
``racist_homophobic``, ``insult`` to the offensive keys and ``racist_homophobic``, ...). On
the judged comments with a score for the label, a comment is *positive* when the
coordinator confirmed one of the label's keys. For every candidate threshold ``t`` (the
observed scores), ``precision(t)`` and ``recall(t)`` are computed over the comments scoring
``>= t``. The suggestion is the lowest ``t`` whose precision reaches the target (default
0.8) with at least ``min_support`` comments (default 5) at or above it: the most recall the
verdicts allow at that precision. It is reported as the midpoint between that score and
the next lower observed score, so the comments counted stay on the same side. When no
threshold reaches the target, or there are too few judged comments, the report says so
and suggests nothing.

Caveat (printed with the output): only comments the monitor flagged reach the
coordinator, so the judged set is biased towards high scores. The suggestions are sound for
*raising* a threshold that lets through false positives; evidence for *lowering* one is
weak and must be checked on labelled data (``school-monitor replay``).

:func:`compute` is pure; :func:`load_judgements` reads the store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

from monitor.domain import DETOXIFY_LABELS, POLICY_KEYS
from monitor.store import Store

#: Verdicts that confirm a comment breaches the policy (same as monitor.casework.review.CONFIRMING).
CONFIRMING: tuple[str, ...] = ("confirmed", "blocked", "hidden", "removed")

_OFFENSIVE = ("offensive_staff", "offensive_pupil")
_HARM = _OFFENSIVE + ("racist_homophobic", "threat_violence", "defamatory_staff", "defamatory_school")

#: The policy keys each Detoxify label is evidence for (for threshold suggestions).
LABEL_KEYS: Mapping[str, tuple[str, ...]] = {
    "toxicity": _HARM,
    "severe_toxicity": _HARM,
    "obscene": _OFFENSIVE,
    "threat": ("threat_violence",),
    "insult": _OFFENSIVE + ("racist_homophobic",),
    "identity_attack": ("racist_homophobic",),
}

METHOD = (
    "Method: the latest verdict per judged comment. Precision of a key = judged comments that carried the key "
    "automatically and whose verdict confirms that key / judged comments that carried it. A threshold for a "
    "label is suggested as the lowest score at which comments scoring at least that much reach the target "
    "precision (positive = the coordinator confirmed one of the label's keys) with enough comments; it is "
    "given as the midpoint to the next lower score. Only flagged comments are judged, so the judged set leans "
    "to high scores: trust suggestions to raise a threshold more than to lower one, and check either on "
    "labelled data with `school-monitor replay`."
)


@dataclass(frozen=True)
class Judgement:
    """One judged comment: its latest ``verdict``, the ``confirmed`` keys (empty for a
    false positive), the ``automatic`` keys and the ``scores`` (label to probability)."""

    platform: str
    comment_id: str
    verdict: str
    confirmed: frozenset[str]
    automatic: frozenset[str]
    scores: Mapping[str, float]


@dataclass(frozen=True)
class KeyPrecision:
    """Per policy key: ``judged`` (carried automatically), ``correct`` (confirmed),
    ``precision`` (None when judged is 0), ``missed`` (confirmed but not automatic)."""

    key: str
    words: str
    judged: int
    correct: int
    precision: float | None
    missed: int


@dataclass(frozen=True)
class LabelThreshold:
    """Per Detoxify label: the ``current`` threshold and how it does on the judged
    comments (``judged`` with a score, ``positives``, ``precision_at_current``,
    ``recall_at_current``, ``above_current``), and the ``suggested`` threshold (None
    when none can be suggested, see ``note``) with its precision and recall."""

    label: str
    keys: tuple[str, ...]
    current: float | None
    judged: int
    positives: int
    above_current: int
    precision_at_current: float | None
    recall_at_current: float | None
    suggested: float | None
    precision_at_suggested: float | None
    recall_at_suggested: float | None
    note: str


@dataclass(frozen=True)
class CalibrationReport:
    """The result of :func:`compute`: totals, per-key precision, per-label thresholds,
    the parameters used and the method in words."""

    judged: int
    confirming: int
    false_positives: int
    keys: tuple[KeyPrecision, ...]
    labels: tuple[LabelThreshold, ...]
    target_precision: float
    min_support: int
    method: str = METHOD

    def to_dict(self) -> dict:
        """JSON-able form."""
        return asdict(self)


def load_judgements(store: Store) -> list[Judgement]:
    """The judged comments of ``store`` (latest verdict per comment), with their
    automatic keys and the scores of their latest scored version (latest model run)."""
    out = []
    for v in store.db.query(
            "SELECT v.platform, v.comment_id, v.verdict, v.keys FROM verdicts v "
            "WHERE v.id = (SELECT MAX(id) FROM verdicts w WHERE w.platform = v.platform "
            "AND w.comment_id = v.comment_id) ORDER BY v.id"):
        p, cid = v["platform"], v["comment_id"]
        auto = frozenset(r["key"] for r in store.db.query(
            "SELECT key FROM comment_keys WHERE platform = ? AND comment_id = ?", [p, cid]))
        s = store.one('SELECT "values" FROM scores WHERE platform = ? AND comment_id = ? '
                      "ORDER BY version DESC, scored_at DESC LIMIT 1", [p, cid])
        scores = {k: float(x) for k, x in json.loads(s["values"]).items()} if s else {}
        confirmed = frozenset(json.loads(v["keys"] or "[]")) if v["verdict"] in CONFIRMING else frozenset()
        out.append(Judgement(p, cid, v["verdict"], confirmed, auto, scores))
    return out


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def _label_threshold(label: str, judgements: Sequence[Judgement], current: float | None,
                     target: float, min_support: int) -> LabelThreshold:
    keys = LABEL_KEYS.get(label, tuple(POLICY_KEYS))
    points = sorted(((j.scores[label], bool(j.confirmed & set(keys))) for j in judgements if label in j.scores),
                    key=lambda x: -x[0])
    positives = sum(y for _, y in points)
    above = [y for s, y in points if current is not None and s >= current]
    p_cur = _ratio(sum(above), len(above))
    r_cur = _ratio(sum(above), positives)
    base = dict(label=label, keys=keys, current=current, judged=len(points), positives=positives,
                above_current=len(above), precision_at_current=p_cur, recall_at_current=r_cur)
    if len(points) < min_support:
        return LabelThreshold(**base, suggested=None, precision_at_suggested=None, recall_at_suggested=None,
                              note=f"too few judged comments ({len(points)} < {min_support})")
    if positives == 0:
        return LabelThreshold(**base, suggested=None, precision_at_suggested=None, recall_at_suggested=None,
                              note="no judged comment confirmed for this label's keys")
    best = None
    tp = n = 0
    for i, (s, y) in enumerate(points):  # descending scores: each prefix is "score >= s"
        tp += y
        n += 1
        if i + 1 < len(points) and points[i + 1][0] == s:
            continue  # ties: a threshold takes all equal scores
        if n >= min_support and tp / n >= target:
            nxt = points[i + 1][0] if i + 1 < len(points) else None
            best = (s if nxt is None else (s + nxt) / 2, tp, n)
    if best is None:
        return LabelThreshold(**base, suggested=None, precision_at_suggested=None, recall_at_suggested=None,
                              note=f"no threshold reaches precision {target:.2f} with {min_support}+ comments: "
                                   "this score alone does not separate confirmed comments from false positives")
    t, tp, n = best
    note = "keep" if current is not None and abs(round(t, 3) - current) < 0.005 else (
        "raise" if current is not None and t > current else "lower (check on labelled data)"
        if current is not None else "")
    return LabelThreshold(**base, suggested=round(t, 3), precision_at_suggested=_ratio(tp, n),
                          recall_at_suggested=_ratio(tp, positives), note=note)


def compute(judgements: Sequence[Judgement], thresholds: Mapping[str, float], *,
            target_precision: float = 0.8, min_support: int = 5) -> CalibrationReport:
    """Per-key precision and per-label threshold suggestions (pure; see the module
    docstring for the method).

    :param thresholds: the current ``[policy] thresholds`` (label to 0..1).
    :param target_precision: precision the suggested thresholds must reach (0..1].
    :param min_support: fewest comments at or above a suggested threshold.
    :raises ValueError: ``target_precision`` outside (0, 1] or ``min_support`` < 1.
    """
    if not 0 < target_precision <= 1:
        raise ValueError(f"target precision must be in (0, 1], got {target_precision}")
    if min_support < 1:
        raise ValueError(f"min support must be at least 1, got {min_support}")
    keys = []
    for key, words in POLICY_KEYS.items():
        judged = [j for j in judgements if key in j.automatic]
        correct = sum(key in j.confirmed for j in judged)
        missed = sum(key in j.confirmed and key not in j.automatic for j in judgements)
        keys.append(KeyPrecision(key, words, len(judged), correct, _ratio(correct, len(judged)), missed))
    labels = sorted({lbl for j in judgements for lbl in j.scores} | set(thresholds),
                    key=lambda x: (DETOXIFY_LABELS.index(x) if x in DETOXIFY_LABELS else 99, x))
    rows = tuple(_label_threshold(lbl, judgements, thresholds.get(lbl), target_precision, min_support)
                 for lbl in labels)
    confirming = sum(j.verdict in CONFIRMING for j in judgements)
    return CalibrationReport(judged=len(judgements), confirming=confirming,
                             false_positives=len(judgements) - confirming, keys=tuple(keys), labels=rows,
                             target_precision=target_precision, min_support=min_support)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def format_text(report: CalibrationReport) -> str:
    """The report as a plain-text table for the terminal."""
    lines = [f"Calibration on {report.judged} judged comment(s): {report.confirming} confirmed, "
             f"{report.false_positives} false positive(s).", "",
             "Precision of the automatic keys (on judged comments)",
             f"  {'key':<20} {'judged':>6} {'correct':>7} {'precision':>9} {'missed':>6}  policy words"]
    for k in report.keys:
        lines.append(f"  {k.key:<20} {k.judged:>6} {k.correct:>7} {_pct(k.precision):>9} {k.missed:>6}  {k.words}")
    lines += ["", f"Score thresholds (target precision {report.target_precision:.0%}, at least "
                  f"{report.min_support} comments at or above)",
              f"  {'label':<16} {'current':>7} {'judged':>6} {'pos':>4} {'prec@cur':>8} {'rec@cur':>7} "
              f"{'suggest':>7} {'prec':>5} {'rec':>5}  note"]
    for t in report.labels:
        cur = "-" if t.current is None else f"{t.current:.3g}"
        sug = "-" if t.suggested is None else f"{t.suggested:.3g}"
        lines.append(f"  {t.label:<16} {cur:>7} {t.judged:>6} {t.positives:>4} {_pct(t.precision_at_current):>8} "
                     f"{_pct(t.recall_at_current):>7} {sug:>7} {_pct(t.precision_at_suggested):>5} "
                     f"{_pct(t.recall_at_suggested):>5}  {t.note}")
    lines += ["", report.method]
    return "\n".join(lines) + "\n"

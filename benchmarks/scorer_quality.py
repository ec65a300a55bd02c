"""Quality of the embedded scorer on the held-out splits it never saw in training.

Usage (from the repository root, with ../shared/data beside it)::

    .venv/bin/python benchmarks/scorer_quality.py [--data ../shared/data]

Prints, for each data set's fixed 20% held-out split (``training/data.py``):
ROC-AUC per Detoxify label the set labels; for OLID (the OffensEval 2019 subtask A
setting: offensive vs not) macro-F1 at the 0.5 threshold the policy uses, the best
macro-F1 over thresholds (for reference only) and ROC-AUC; and, as an out-of-domain check,
the AUC on the bundled school demo comments (offensive/racist/threat keys vs the rest),
which the model was not trained on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from classifiers.embedded import EmbeddedScorer  # noqa: E402
from training.data import DATA_DIR, load_all  # noqa: E402


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC by the rank-sum (Mann-Whitney U) formula, ties averaged."""
    y = np.asarray(y).astype(bool)
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sp = np.asarray(p)[order]
    i = 0
    while i < len(sp):  # average ranks over ties
        j = i
        while j + 1 < len(sp) and sp[j + 1] == sp[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n1, n0 = y.sum(), (~y).sum()
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean of the F1 of the positive and of the negative class."""
    y, pred = np.asarray(y).astype(bool), np.asarray(pred).astype(bool)
    f = []
    for cls in (True, False):
        tp = np.sum((pred == cls) & (y == cls))
        fp = np.sum((pred == cls) & (y != cls))
        fn = np.sum((pred != cls) & (y == cls))
        f.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    ap.add_argument("--model-dir", type=Path, default=None, help="embedded model folder (default: packaged)")
    args = ap.parse_args(argv)
    scorer = EmbeddedScorer(args.model_dir) if args.model_dir else EmbeddedScorer()
    print(f"embedded model {scorer.version}; labels {', '.join(scorer.labels)}")
    sets = load_all(args.data)
    print("\nROC-AUC per label on held-out splits (n = held-out rows, + = positives)")
    for name, rows in sets.items():
        test = [e for e in rows if e.heldout]
        probs = scorer.score([e.text for e in test])
        cells = []
        for label in scorer.labels:
            pairs = [(e.labels[label], p[label]) for e, p in zip(test, probs) if label in e.labels]
            if not pairs:
                continue
            y = np.array([a for a, _ in pairs])
            if 0 < y.sum() < len(y):
                cells.append(f"{label} {roc_auc(y, np.array([b for _, b in pairs])):.3f} (+{int(y.sum())})")
        note = " [out of domain: only its clean rows were trained on]" if name == "cyberbullying" else ""
        print(f"  {name:<14} n={len(test):<5} " + "; ".join(cells) + note)
        if name == "olid":
            y = np.array([e.labels["toxicity"] for e in test])
            p = np.array([d["toxicity"] for d in probs])
            best = max((macro_f1(y, p >= t), t) for t in np.arange(0.05, 0.96, 0.01))
            olid = (macro_f1(y, p >= 0.5), roc_auc(y, p), best)
    f1, auc, (bf1, bt) = olid
    print(f"\nOLID offensive vs not (held-out, n={sum(e.heldout for e in sets['olid'])}): "
          f"macro-F1 {f1:.3f} at 0.5 (goal 0.80), ROC-AUC {auc:.3f} (goal 0.90); "
          f"best macro-F1 over thresholds {bf1:.3f} at {bt:.2f} (reference only)")

    demo = [json.loads(line) for line in (REPO / "monitor" / "demo_data" / "comments.jsonl").open(encoding="utf-8")]
    keys = {"offensive_staff", "offensive_pupil", "racist_homophobic", "threat_violence"}
    y = np.array([bool(set(d["categories"]) & keys) for d in demo])
    p = scorer.score([d["text"] for d in demo])
    tox = np.array([d["toxicity"] for d in p])
    print(f"school demo comments (not trained on), offensive/racist/threat keys vs rest: "
          f"toxicity ROC-AUC {roc_auc(y, tox):.3f}; at 0.5: flags {np.mean(tox[y] >= 0.5):.0%} of "
          f"those, {np.mean(tox[~y] >= 0.5):.1%} of the rest")
    return 0


if __name__ == "__main__":
    sys.exit(main())

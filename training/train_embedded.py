"""Train the embedded toxicity model and export it to ``classifiers/model/``.

Run from the repository root (needs the ``dev`` extra for scikit-learn, and the shared
data beside the repository)::

    .venv/bin/python training/train_embedded.py [--data ../shared/data] [--out classifiers/model]

What it does (details and figures in ``classifiers/model/MODEL_CARD.md``):

1. loads Davidson 2017, OLID (training set), the Jigsaw samples and the
   ``not_cyberbullying`` rows of the cyberbullying tweets (``training/data.py``; label
   mapping documented there), and keeps each set's fixed 80% training part (the other
   20% is held out for the quality benchmark: the shipped model never saw it);
2. fits scikit-learn's ``TfidfVectorizer(analyzer=classifiers.embedded.analyse,
   sublinear_tf=True, min_df=2)``: the same analyzer the runtime uses;
3. fits one ``LogisticRegression`` (liblinear, L2, ``C=4``) per offered label on the rows
   whose data set labels it, each data set weighted equally and balanced between its
   positives and negatives, so no set's own base rate dominates;
4. shifts every intercept by ``ln(0.4/0.6)`` (a 40% base rate instead of the 50% the
   balancing implies: social-media comments are mostly clean);
5. checks that the numpy inference of :class:`classifiers.embedded.EmbeddedScorer` on the
   exported files matches scikit-learn's probabilities (max abs difference < 1e-4), and
   writes the files and their SHA-256 manifest.

``threat`` and ``severe_toxicity`` are not offered: the data holds 3 and 4 positive
examples of them, too few to learn; the scorer's ``labels`` says so.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from classifiers.embedded import MODEL_DIR, EmbeddedScorer, analyse, write_model  # noqa: E402
from training.data import DATA_DIR, Example, load_all  # noqa: E402

#: Labels the embedded model offers (Detoxify names, Detoxify order).
LABELS = ("toxicity", "obscene", "insult", "identity_attack")
#: Data sets used, and which of their rows (cyberbullying: only the clean rows, whose
#: positives taught identity-term bias; see the model card).
SETS = ("davidson", "olid", "jigsaw", "cyberbullying")
C = 4.0
MIN_DF = 2
MAX_FEATURES = 400_000
BASE_RATE = 0.4
SEMVER = "1.0.0"


def training_rows(data_dir: Path) -> list[Example]:
    """The training part (not held out) of every data set used."""
    sets = load_all(data_dir)
    rows: list[Example] = []
    for name in SETS:
        for e in sets[name]:
            if e.heldout:
                continue
            if name == "cyberbullying" and e.labels.get("toxicity") != 0:
                continue
            rows.append(e)
    return rows


def sample_weights(rows: list[Example], label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices labelled for ``label``, their targets and weights: each data set gets
    the same total weight, split equally between its positives and negatives (a set with
    only one class gets half)."""
    idx = np.array([i for i, e in enumerate(rows) if label in e.labels], dtype=np.intp)
    y = np.array([rows[i].labels[label] for i in idx], dtype=np.int8)
    src = np.array([rows[i].source for i in idx])
    w = np.zeros(len(idx), dtype=np.float64)
    sets = sorted(set(src))
    for s in sets:
        for c in (0, 1):
            m = (src == s) & (y == c)
            if m.any():
                w[m] = len(idx) / len(sets) / 2 / m.sum()
    return idx, y, w


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA_DIR, help="shared data folder (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=MODEL_DIR, help="model folder (default: %(default)s)")
    args = ap.parse_args(argv)

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    import sklearn

    t0 = time.perf_counter()
    rows = training_rows(args.data)
    print(f"{len(rows)} training rows", flush=True)
    vec = TfidfVectorizer(analyzer=analyse, sublinear_tf=True, min_df=MIN_DF,
                          max_features=MAX_FEATURES, dtype=np.float32)
    X = vec.fit_transform([e.text for e in rows])
    print(f"features: {X.shape[1]} ({time.perf_counter() - t0:.1f} s)", flush=True)

    shift = math.log(BASE_RATE / (1 - BASE_RATE))
    coef = np.zeros((X.shape[1], len(LABELS)), dtype=np.float32)
    intercept = np.zeros(len(LABELS), dtype=np.float32)
    counts = {}
    for k, label in enumerate(LABELS):
        idx, y, w = sample_weights(rows, label)
        model = LogisticRegression(C=C, solver="liblinear", max_iter=5000, random_state=0)
        model.fit(X[idx], y, sample_weight=w)
        coef[:, k] = model.coef_[0]
        intercept[k] = model.intercept_[0] + shift
        counts[label] = {"rows": int(len(idx)), "positives": int(y.sum())}
        print(f"{label}: {len(idx)} rows, {int(y.sum())} positive", flush=True)

    features = [None] * X.shape[1]
    for f, j in vec.vocabulary_.items():
        features[j] = f
    meta = {
        "trained_with": f"scikit-learn {sklearn.__version__}",
        "command": "python training/train_embedded.py",
        "data_sets": list(SETS),
        "n_documents": int(X.shape[0]),
        "label_rows": counts,
        "C": C,
        "min_df": MIN_DF,
        "base_rate": BASE_RATE,
    }
    version = write_model(args.out, features, LABELS, vec.idf_, coef, intercept, SEMVER, meta)

    # Parity: the numpy runtime must give scikit-learn's probabilities.
    scorer = EmbeddedScorer(args.out)
    sample = [e.text for e in rows[:: max(1, len(rows) // 500)]] + ["", "🙂", "ok"]
    Xs = vec.transform(sample)
    ref = 1 / (1 + np.exp(-(Xs @ coef + intercept)))
    got = np.array([[d[label] for label in LABELS] for d in scorer.score(sample)])
    diff = float(np.abs(ref - got).max())
    print(f"numpy vs scikit-learn max |diff| = {diff:.2e}")
    if diff > 1e-4:
        print("parity check failed", file=sys.stderr)
        return 1
    sizes = {p.name: p.stat().st_size for p in Path(args.out).iterdir() if p.is_file()}
    print(f"wrote {version} to {args.out}: {sizes} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train the learned escalation reviewer and export it to ``classifiers/policy/escalation_model/``.

The word lists of the policy categoriser find a third to a half of the comments that must be
escalated on a school nobody tuned them on (``tests/fixtures/policy_blind/README.md``). This
model is a safety net beside them, never instead of them: a comment the rules did not
escalate whose probability here reaches ``[policy] escalation_review_threshold`` goes to a
person (``needs_review``, reason "possible escalation"); it never escalates, strikes or
categorises anything by itself.

Run from the repository root (needs the ``dev`` extra for scikit-learn)::

    .venv/bin/python training/train_escalation.py [--out classifiers/policy/escalation_model]

Data: the labelled school comments written for this project, whose ``escalate`` field says
whether the policy's action table escalates the comment at once: the demo set
(``monitor/demo_data``), sets B to G (``tests/fixtures/policy``) and H to K
(``tests/fixtures/policy_blind``); 1,355 comments, 359 escalations. Blind set L is never
trained on: it is the held-out measure (``benchmarks/escalation_learned.py``).

Model: the embedded scorer's own features (:func:`classifiers.embedded.analyse`: words,
word bigrams, character 2-5-grams; TF-IDF, sublinear, ``min_df = 2``) and one
``LogisticRegression`` (liblinear, L2, ``C = 4``, balanced classes) for the label
``escalate``, written in the embedded model's format (``.npz`` arrays + JSON vocabulary +
SHA-256 manifest) so :class:`classifiers.embedded.EmbeddedScorer` loads it; the export is
checked against scikit-learn's probabilities (max abs difference < 1e-4).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from classifiers.embedded import EmbeddedScorer, analyse, write_model  # noqa: E402

OUT_DIR = REPO / "classifiers" / "policy" / "escalation_model"
C = 4.0
MIN_DF = 2
SEMVER = "1.0.0"


def training_files() -> list[Path]:
    """The labelled sets trained on (never blind set L)."""
    return [REPO / "monitor" / "demo_data" / "comments.jsonl",
            *sorted((REPO / "tests" / "fixtures" / "policy").glob("comments_*.jsonl")),
            *(REPO / "tests" / "fixtures" / "policy_blind" / f"comments_{s}.jsonl" for s in "hijk")]


def read_rows(files: list[Path]) -> list[dict]:
    """Every JSON line of ``files`` (each with at least ``text`` and ``escalate``)."""
    rows = []
    for f in files:
        with f.open(encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    import sklearn

    files = training_files()
    rows = read_rows(files)
    texts = [r["text"] for r in rows]
    y = np.array([bool(r["escalate"]) for r in rows], dtype=np.int8)
    vec = TfidfVectorizer(analyzer=analyse, sublinear_tf=True, min_df=MIN_DF, dtype=np.float32)
    X = vec.fit_transform(texts)
    model = LogisticRegression(C=C, solver="liblinear", class_weight="balanced", max_iter=5000, random_state=0)
    model.fit(X, y)
    features = [None] * X.shape[1]
    for f, j in vec.vocabulary_.items():
        features[j] = f
    coef = model.coef_[0].astype(np.float32).reshape(-1, 1)
    intercept = model.intercept_.astype(np.float32)
    meta = {
        "trained_with": f"scikit-learn {sklearn.__version__}",
        "command": "python training/train_escalation.py",
        "data_sets": [str(f.relative_to(REPO)) for f in files],
        "n_documents": int(X.shape[0]),
        "positives": int(y.sum()),
        "C": C,
        "min_df": MIN_DF,
        "class_weight": "balanced",
    }
    version = write_model(args.out, features, ("escalate",), vec.idf_, coef, intercept, SEMVER, meta)

    scorer = EmbeddedScorer(args.out)
    sample = texts[:: max(1, len(texts) // 300)] + ["", "ok"]
    ref = model.predict_proba(vec.transform(sample))[:, 1]
    got = np.array([d["escalate"] for d in scorer.score(sample)])
    diff = float(np.abs(ref - got).max())
    print(f"{len(rows)} comments ({int(y.sum())} escalations) from {len(files)} sets; "
          f"{X.shape[1]} features; numpy vs scikit-learn max |diff| = {diff:.2e}")
    if diff > 1e-4:
        print("parity check failed", file=sys.stderr)
        return 1
    print(f"wrote {version} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

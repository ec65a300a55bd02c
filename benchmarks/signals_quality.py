"""The signals goals of issue 13, for the shipped model and the one before it, side by side.

Usage (from the repository root, with ../shared/data beside it)::

    .venv/bin/python benchmarks/signals_quality.py [--data ../shared/data] [--json OUT]

Every figure is on the fixed *test* split of :mod:`training.signals_data` (the same 20% of
each set as every earlier held-out figure), never trained or calibrated on:

* offensive tweets (OLID subtask A, OFF vs NOT): ``toxicity`` ROC-AUC and macro-F1 at 0.5
  (goals 0.88 / 0.78);
* insults (Kaggle 2012): ``insult`` ROC-AUC (goal 0.88);
* Facebook aggression (TRAC-1, overt vs none): ``toxicity`` ROC-AUC (goal 0.85);
* calls for violence (Gab ``cv``): ``threat`` ROC-AUC (goal 0.85);
* complaints (airline tweets, negative vs the rest): ``complaint`` ROC-AUC (goal 0.85);
* allegations (the school sets' test split): ``allegation`` ROC-AUC (no goal; no public set);
* identity-template false positives (``benchmarks/identity_bias.py``'s sentences: any of
  ``toxicity``, ``insult``, ``identity_attack`` at 0.5; goal at most 5%);
* Wikipedia-style toxicity with identity terms swapped: the mean absolute change of
  ``toxicity`` on the Jigsaw samples that name an identity term when the term is swapped for
  another of the same kind (goal within 0.01).

"before" is the previous embedded n-gram model (1.1.0: ``toxicity``, ``obscene``,
``insult``, ``identity_attack`` only; a signal it lacks is shown as ``-``), loaded from git
history when its files are no longer in the package (``--before-dir`` to give it).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from identity_bias import RELIGION, ETHNICITY, NATIONALITY, SEXUALITY, sentences  # noqa: E402
from scorer_quality import roc_auc  # noqa: E402
from training import signals_data  # noqa: E402

#: The commit whose packaged embedded model is "before" (1.1.0).
BEFORE_COMMIT = "d78b67a"
BEFORE_FILES = ("embedded.npz", "embedded.vocab.json", "manifest.json")


def macro_f1(y: np.ndarray, p: np.ndarray, t: float = 0.5) -> float:
    """Macro-F1 over the two classes at threshold ``t``."""
    y = y.astype(bool)
    hat = p >= t
    f = []
    for pos in (True, False):
        tp = np.sum((hat == pos) & (y == pos))
        fp = np.sum((hat == pos) & (y != pos))
        fn = np.sum((hat != pos) & (y == pos))
        f.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f))


def before_dir(given: Path | None, tmp: Path) -> Path | None:
    """The 1.1.0 model folder: ``given``, the package's if still there, else from git."""
    if given:
        return given
    here = REPO / "classifiers" / "model"
    if (here / "embedded.npz").exists():
        return here
    for name in BEFORE_FILES:
        out = subprocess.run(["git", "-C", str(REPO), "show", f"{BEFORE_COMMIT}:classifiers/model/{name}"],
                             capture_output=True)
        if out.returncode:
            return None
        (tmp / name).write_bytes(out.stdout)
    return tmp


def swapped_pairs(rows) -> list[tuple[str, str]]:
    """(original, swapped) for test rows naming a benchmark identity term."""
    kinds = [RELIGION, ETHNICITY, NATIONALITY, SEXUALITY]
    out = []
    for r in rows:
        for terms in kinds:
            for t in terms:
                m = re.search(r"(?<![\w-])" + re.escape(t) + r"(?![\w-])", r.text, re.IGNORECASE)
                if m:
                    other = terms[(terms.index(t) + 1) % len(terms)]
                    out.append((r.text, r.text[: m.start()] + other + r.text[m.end():]))
                    break
            else:
                continue
            break
    return out


def figures(score, labels: tuple[str, ...], sets) -> dict:
    """The goal figures for one scorer (``score(texts) -> list[dict]``)."""
    test = {name: [r for r in rows if r.split == "test"] for name, rows in sets.items()}

    def auc_of(name: str, label: str, keep=None):
        if label not in labels:
            return None
        rows = [r for r in test[name] if label in r.labels and (keep is None or keep(r))]
        y = np.array([r.labels[label] for r in rows])
        p = np.array([d[label] for d in score([r.text for r in rows])])
        return float(roc_auc(y, p)), y, p

    out: dict = {}
    olid = auc_of("olid", "toxicity")
    out["olid_auc"], out["olid_macro_f1"] = (olid[0], macro_f1(olid[1], olid[2])) if olid else (None, None)
    for key, (name, label) in {"kaggle_insult_auc": ("kaggle_insults", "insult"),
                               "trac_auc": ("trac", "toxicity"), "gab_cv_auc": ("gab", "threat"),
                               "airline_complaint_auc": ("airline", "complaint"),
                               "school_allegation_auc": ("school", "allegation"),
                               "school_threat_auc": ("school", "threat"),
                               "school_complaint_auc": ("school", "complaint")}.items():
        r = auc_of(name, label)
        out[key] = r[0] if r else None
    strict = [lab for lab in ("toxicity", "insult", "identity_attack") if lab in labels]
    pairs = sentences()
    sc = score([s for _, s in pairs])
    flags = [any(d[lab] >= 0.5 for lab in strict) for d in sc]
    out["identity_template_fpr"] = float(np.mean(flags))
    from training.fairness import HELD_OUT_TERMS

    unseen = [f for (term, _), f in zip(pairs, flags) if term.lower() in HELD_OUT_TERMS]
    out["identity_template_fpr_unseen_terms"] = float(np.mean(unseen)) if unseen else None
    sw = swapped_pairs(test["jigsaw"] + test["school"])
    a = np.array([d["toxicity"] for d in score([x for x, _ in sw])])
    b = np.array([d["toxicity"] for d in score([y for _, y in sw])])
    out["swap_mean_abs_delta"] = float(np.abs(a - b).mean()) if sw else None
    out["swap_pairs"] = len(sw)
    return out


GOALS = [
    ("olid_auc", "offensive tweets (OLID) ROC-AUC", ">= 0.88"),
    ("olid_macro_f1", "offensive tweets (OLID) macro-F1", ">= 0.78"),
    ("kaggle_insult_auc", "insults (Kaggle) ROC-AUC", ">= 0.88"),
    ("trac_auc", "Facebook aggression (TRAC) ROC-AUC", ">= 0.85"),
    ("gab_cv_auc", "calls for violence (Gab cv) threat ROC-AUC", ">= 0.85"),
    ("airline_complaint_auc", "complaints (airline) ROC-AUC", ">= 0.85"),
    ("school_allegation_auc", "allegations (school test split) ROC-AUC", "-"),
    ("school_threat_auc", "threats (school test split) ROC-AUC", "-"),
    ("school_complaint_auc", "complaints (school test split) ROC-AUC", "-"),
    ("identity_template_fpr", "identity-template false positives", "<= 5%"),
    ("identity_template_fpr_unseen_terms", "  of them, terms never used in training", "<= 5%"),
    ("swap_mean_abs_delta", "toxicity change when identity swapped", "<= 0.01"),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=signals_data.DATA_DIR)
    ap.add_argument("--before-dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    from classifiers.embedded import EmbeddedScorer
    from classifiers.signals import SignalsScorer

    sets = signals_data.load_all(args.data)
    now = SignalsScorer()
    res = {"after": figures(now.score, now.labels, sets), "after_version": now.version}
    with tempfile.TemporaryDirectory() as tmp:
        d = before_dir(args.before_dir, Path(tmp))
        if d is not None:
            old = EmbeddedScorer(d)
            res["before"] = figures(old.score, old.labels, sets)
            res["before_version"] = old.version
    print(f"signals goals on the test splits; before = embedded {res.get('before_version', '(not found)')}, "
          f"after = {now.name} {now.version}")
    print(f"{'figure':<46} {'goal':>8} {'before':>8} {'after':>8}")

    def fmt(key, v):
        if v is None:
            return "-"
        return f"{v:.1%}" if key.startswith("identity_template_fpr") else f"{v:.3f}"

    for key, what, goal in GOALS:
        print(f"{what:<46} {goal:>8} {fmt(key, res.get('before', {}).get(key)):>8} {fmt(key, res['after'][key]):>8}")
    print(f"(identity swaps: {res['after']['swap_pairs']} test comments naming an identity term)")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Leave-one-school-out figures for the signals model: how well each signal transfers to a
school whose comments it never saw.

The shipped figures (``training/signals_figures.json``) are on a random test split, where
every school set also has rows in training: a school-specific word learnt from one half of
a set is rewarded on the other half. A school that installs the monitor is unseen, so this
script holds out whole school sets (folds below), trains the heads exactly as
``training/train_signals.py`` does on everything else (other schools, every public set,
the fairness augmentation; the TF-IDF vocabulary fitted without the held-out fold), and
scores every row of the held-out fold. Each fold's out-of-fold logits (n-gram and encoder,
per signal) are saved in ``--work`` as ``loso_<variant>_<fold>.npz`` for the calibration
that ``train_signals.py --school-calibration`` fits on them. It prints, per signal and per way of combining the
two parts (n-gram, encoder, their calibrated stack), ROC-AUC and recall / precision at 0.5.

It uses the embedding cache of ``train_signals.py`` (run that first); no torch. About 2
minutes per fold and variant on 2 cores::

    .venv/bin/python training/loso.py [--variants base,dense2,school1] [--out training/loso_figures.json]

Variants (what the shipped model would change):

* ``base``: the shipped settings (school rows weighted x3, n-gram C 4, encoder C 2).
* ``school1`` / ``school6``: school rows weighted x1 / x6.
* ``cdense8``: encoder head C 8 (less regularised).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from classifiers import signals as S  # noqa: E402
from classifiers.embedded import analyse  # noqa: E402
from classifiers.normalise import fold  # noqa: E402
from training import signals_data, train_signals as T  # noqa: E402
from training.fairness import augment  # noqa: E402

LABELS = ("threat", "allegation", "insult", "identity_attack", "complaint", "toxicity")
FOLDS = {
    "demo+B-E": ["demo", "b", "c", "d", "e"],
    "F+G": ["f", "g"],
    "O": ["o"],
    "P": ["p"],
    "Q": ["q"],
    "R": ["r"],
    "H-K": ["h", "i", "j", "k"],
}
VARIANTS = {
    "base": {"school": 3.0, "c_ngram": 4.0, "c_dense": 2.0},
    "school1": {"school": 1.0, "c_ngram": 4.0, "c_dense": 2.0},
    "school6": {"school": 6.0, "c_ngram": 4.0, "c_dense": 2.0},
    "cdense8": {"school": 3.0, "c_ngram": 4.0, "c_dense": 8.0},
}


def school_rows_by_set() -> dict[str, list[signals_data.Row]]:
    """Each school set's rows (all splits), keyed by its letter (``demo`` for the demo set).

    :raises SystemExit: a set that no fold of :data:`FOLDS` holds out."""
    out = {}
    for p in signals_data.SCHOOL_SETS:
        name = "demo" if p.parent.name == "demo_data" else p.stem.split("_")[-1]
        out[name] = signals_data.load_school([p])
    folded = {n for names in FOLDS.values() for n in names}
    if set(out) - folded:
        raise SystemExit(f"school sets in no leave-one-school-out fold: {sorted(set(out) - folded)}")
    return out


def fingerprint(public: list[signals_data.Row], schools: dict[str, list[signals_data.Row]], held: list[str],
                variant: dict) -> str:
    """What a fold's out-of-fold logits depend on: the settings, the held-out sets, every
    school row (text and labels) and the public sets' sizes (SHA-256, hex)."""
    h = hashlib.sha256(json.dumps([variant, sorted(held), T.MIN_DF, T.MAX_FEATURES, len(public)]).encode())
    for name in sorted(schools):
        for r in schools[name]:
            h.update(f"{name}\x1f{r.split}\x1f{sorted(r.labels.items())}\x1f{r.text}\x1e".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def school_oof(public: list[signals_data.Row], schools: dict[str, list[signals_data.Row]], work: Path,
               encoder: S.Encoder, variant: str = "base") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Out-of-fold logits of every school row, per signal: ``{signal: (z (n, 2), y (n,))}``
    with ``z`` the n-gram and encoder logits of heads trained without the row's fold.

    Each fold is computed once and cached in ``work/loso_<variant>_<fold>.npz`` with its
    :func:`fingerprint`; a changed set or setting recomputes it."""
    per: dict[str, tuple[list, list]] = {}
    for fname, held in FOLDS.items():
        path = work / f"loso_{variant}_{fname}.npz"
        fp = fingerprint(public, schools, held, VARIANTS[variant])
        oof = None
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                if "fingerprint" in z.files and str(z["fingerprint"]) == fp:
                    oof = {k: z[k] for k in z.files}
        if oof is None:
            t0 = time.time()
            res, oof = run_fold(public, schools, held, VARIANTS[variant], work, encoder)
            oof["fingerprint"] = np.array(fp)
            np.savez(path, **oof)
            print(f"  leave-one-school-out fold {fname}: {time.time() - t0:.0f} s", flush=True)
        for lab in LABELS:
            if f"{lab}.z" in oof:
                zs, ys = per.setdefault(lab, ([], []))
                zs.append(oof[f"{lab}.z"])
                ys.append(oof[f"{lab}.y"])
    return {lab: (np.concatenate(zs), np.concatenate(ys)) for lab, (zs, ys) in per.items()}


def recall_precision(y: np.ndarray, p: np.ndarray, t: float = 0.5) -> tuple[float, float]:
    hit = p >= t
    tp = float((hit & (y == 1)).sum())
    return tp / max(1.0, float((y == 1).sum())), tp / max(1.0, float(hit.sum()))


def run_fold(public: list[signals_data.Row], schools: dict[str, list[signals_data.Row]], held: list[str],
             variant: dict, work: Path, encoder: S.Encoder) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    T.SCHOOL_WEIGHT = variant["school"]
    others = [r for name, rows in schools.items() if name not in held for r in rows]
    test = [r for name in held for r in schools[name]]
    pool = public + others
    train = [r for r in pool if r.split in ("train", "test")]  # the held-out fold is the test
    train = train + augment(train)
    calib = [r for r in pool if r.split == "calib"]
    emb = T.embed_all([r.text for r in train + calib + test], work, encoder)
    e_train, e_calib, e_test = emb[: len(train)], emb[len(train): len(train) + len(calib)], emb[len(train) + len(calib):]
    vec = TfidfVectorizer(analyzer=analyse, sublinear_tf=True, min_df=T.MIN_DF, max_features=T.MAX_FEATURES,
                          dtype=np.float32)
    x_train = vec.fit_transform([fold(r.text).text for r in train])
    x_calib = vec.transform([fold(r.text).text for r in calib])
    x_test = vec.transform([fold(r.text).text for r in test])
    out = {}
    oof = {"text": np.array([r.text for r in test])}
    for lab in LABELS:
        tidx = np.array([i for i, r in enumerate(test) if lab in r.labels], dtype=np.int64)
        ty = np.array([test[i].labels[lab] for i in tidx])
        if ty.sum() < 5:
            continue
        idx, y, w = T.weights(train, lab)
        ng = LogisticRegression(C=variant["c_ngram"], solver="liblinear", max_iter=1000).fit(x_train[idx], y, sample_weight=w)
        de = LogisticRegression(C=variant["c_dense"], solver="lbfgs", max_iter=2000).fit(e_train[idx], y, sample_weight=w)
        cidx = np.array([i for i, r in enumerate(calib) if lab in r.labels], dtype=np.int64)
        cy = np.array([calib[i].labels[lab] for i in cidx])
        zc = np.column_stack([ng.decision_function(x_calib[cidx]), de.decision_function(e_calib[cidx])])
        zt = np.column_stack([ng.decision_function(x_test[tidx]), de.decision_function(e_test[tidx])])
        oof[f"{lab}.idx"], oof[f"{lab}.y"], oof[f"{lab}.z"] = tidx, ty, zt
        oof[f"{lab}.zcalib"], oof[f"{lab}.ycalib"] = zc, cy
        res = {"n": int(len(ty)), "positives": int(ty.sum())}
        for name, cols in (("stack", [0, 1]), ("ngram", [0]), ("encoder", [1])):
            pl = LogisticRegression(C=100.0, solver="lbfgs").fit(zc[:, cols], cy)
            p = pl.predict_proba(zt[:, cols])[:, 1]
            r, pr = recall_precision(ty, p)
            res[name] = {"auc": round(T.auc(ty, p), 4), "recall": round(r, 3), "precision": round(pr, 3)}
        out[lab] = res
    return out, oof


def load_oof(work: Path, variant: str = "base", folds=None) -> dict[str, dict]:
    """The saved out-of-fold logits: ``{fold: {key: array}}`` (see :func:`run_fold`)."""
    out = {}
    for fname in folds or FOLDS:  # a fold whose set is missing is skipped
        path = work / f"loso_{variant}_{fname}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                out[fname] = {k: z[k] for k in z.files}
    return out


def fit_platt(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Platt scaling of the two logits: ``(a, b, c)`` with ``p = sigmoid(a z_ngram + b z_enc + c)``."""
    from sklearn.linear_model import LogisticRegression

    pl = LogisticRegression(C=100.0, solver="lbfgs").fit(z, y)
    return np.array([pl.coef_[0][0], pl.coef_[0][1], pl.intercept_[0]])


def nested_calibration(oof: dict[str, dict]) -> dict:
    """For each fold: Platt fitted on the *other* folds' out-of-fold school logits, applied to
    this fold, against the shipped way (Platt on the calib split): recall and precision at
    0.5 and ROC-AUC, per signal. No fold ever calibrates on itself."""
    report: dict = {}
    for lab in LABELS:
        rows = []
        for fname, d in oof.items():
            if f"{lab}.z" not in d:
                continue
            others_z = [o[f"{lab}.z"] for f, o in oof.items() if f != fname and f"{lab}.z" in o]
            others_y = [o[f"{lab}.y"] for f, o in oof.items() if f != fname and f"{lab}.y" in o]
            school = fit_platt(np.concatenate(others_z), np.concatenate(others_y))
            shipped = fit_platt(d[f"{lab}.zcalib"], d[f"{lab}.ycalib"])
            z, y = d[f"{lab}.z"], d[f"{lab}.y"]
            res = {"n": int(len(y)), "positives": int(y.sum())}
            for name, c in (("calib_split", shipped), ("school_oof", school)):
                p = 1 / (1 + np.exp(-(c[0] * z[:, 0] + c[1] * z[:, 1] + c[2])))
                r, pr = recall_precision(y, p)
                res[name] = {"auc": round(T.auc(y, p), 4), "recall": round(r, 3), "precision": round(pr, 3),
                             "ece": round(T.ece(y, p), 4)}
            rows.append((fname, res))
        report[lab] = dict(rows)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=signals_data.DATA_DIR)
    ap.add_argument("--work", type=Path, default=REPO / "training" / ".work")
    ap.add_argument("--variants", default="base")
    ap.add_argument("--folds", default=",".join(FOLDS))
    ap.add_argument("--out", type=Path, default=REPO / "training" / "loso_figures.json")
    ap.add_argument("--calibration", action="store_true",
                    help="only compare calibrations on the saved out-of-fold logits (nested: no fold calibrates on itself)")
    args = ap.parse_args(argv)
    if args.calibration:
        rep = nested_calibration(load_oof(args.work, args.variants.split(",")[0]))
        for lab, folds in rep.items():
            for fname, v in folds.items():
                print(f"{lab:16} {fname:9} n {v['n']:4} pos {v['positives']:3}  " + "  ".join(
                    f"{k}: R {v[k]['recall']:.2f} P {v[k]['precision']:.2f} ECE {v[k]['ece']:.3f}"
                    for k in ("calib_split", "school_oof")))
        figures = json.loads(args.out.read_text()) if args.out.exists() else {}
        figures["nested_calibration"] = rep
        args.out.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
        return 0
    sets = signals_data.load_all(args.data)
    public = [r for name, rows in sets.items() if name != "school" for r in rows]
    schools = school_rows_by_set()
    encoder = S.Encoder(S.SIGNALS_DIR / S.ENCODER_FILE, S.SIGNALS_DIR / S.TOKENIZER_FILE, threads=0)
    figures: dict = json.loads(args.out.read_text()) if args.out.exists() else {}
    for vname in args.variants.split(","):
        for fname in args.folds.split(","):
            t0 = time.time()
            res, oof = run_fold(public, schools, FOLDS[fname], VARIANTS[vname], args.work, encoder)
            oof["fingerprint"] = np.array(fingerprint(public, schools, FOLDS[fname], VARIANTS[vname]))
            np.savez(args.work / f"loso_{vname}_{fname}.npz", **oof)
            figures.setdefault(vname, {})[fname] = res
            print(f"{vname} {fname} ({time.time() - t0:.0f} s)")
            for lab, v in res.items():
                print(f"  {lab:16} n {v['n']:4} pos {v['positives']:3}  " + "  ".join(
                    f"{k} AUC {v[k]['auc']:.3f} R {v[k]['recall']:.2f} P {v[k]['precision']:.2f}"
                    for k in ("stack", "ngram", "encoder")), flush=True)
            args.out.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

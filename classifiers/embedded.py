"""The n-gram scorer: a linear model over word and character n-grams, run in pure numpy (no
scikit-learn, no torch at run time).

It is the n-gram part of the signals model (:mod:`classifiers.signals`, trained by
``training/train_signals.py``) and the learned escalation reviewer's engine; models are
exported as portable files (``classifiers/model/signals/ngram/``):

* ``embedded.npz``: arrays ``idf`` (float32, ``n_features``), ``coef`` (float32,
  ``n_features x n_labels``), ``intercept`` (float32, ``n_labels``); loaded with
  ``allow_pickle=False``;
* ``embedded.vocab.json``: ``{"features": [...], "labels": [...], "version": ...}``: the
  feature strings in column order (no pickle, no library version tie);
* ``manifest.json``: the SHA-256 of both files. Each file is hashed at load and refused
  with :class:`~classifiers.base.ScorerError` when it does not match.

The text analyzer :func:`analyse` is the single function used both by training (passed
to scikit-learn's ``TfidfVectorizer(analyzer=analyse)``) and by inference here, so the
features are byte-for-byte the same. Inference repeats scikit-learn's TF-IDF exactly:
sublinear term frequency ``1 + ln(count)``, times ``idf``, then L2 normalisation; then a
logistic model per label: ``p = sigmoid(x @ coef + intercept)``.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from classifiers.base import ScorerError

#: Folder holding the shipped n-gram model: the n-gram part of the signals model
#: (:mod:`classifiers.signals`, eight labels). The 1.1.0 model that stood here alone is no
#: longer shipped (``classifiers/model/MODEL_CARD-1.1.0.md``).
MODEL_DIR = Path(__file__).resolve().parent / "model" / "signals" / "ngram"
WEIGHTS_FILE = "embedded.npz"
VOCAB_FILE = "embedded.vocab.json"
MANIFEST_FILE = "manifest.json"

#: Analyzer version: bump when :func:`analyse` changes (a model records the version it
#: was trained with and is refused by a different analyzer).
ANALYZER_VERSION = "1"

_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION_RE = re.compile(r"@\w+")
_RT_RE = re.compile(r"^\s*rt\b:?", re.IGNORECASE)
_REPEAT_RE = re.compile(r"(.)\1{2,}")
# A word: letters/digits, keeping inner apostrophes and the masking characters people use
# to dodge filters ("p*ki", "f@ggot", "b!tch").
_WORD_RE = re.compile(r"[^\W_](?:[\w*@$!']*[^\W_*])?|[^\W_]")
_CHAR_MIN, _CHAR_MAX = 2, 5
_WORD_CACHE_SIZE = 50_000  # words; at most about 20 MB


def normalise(text: str) -> str:
    """Canonical form of a comment for feature extraction.

    HTML entities unescaped (``&amp;``), Unicode NFKC (fancy letters to plain), case
    folded, URLs to ``xxurl``, @mentions (and OLID's ``@USER``) to ``xxuser``, a leading
    retweet marker removed, and any character repeated 3+ times cut to two
    (``sooooo`` -> ``soo``). Emoji and punctuation are kept for the character n-grams.
    """
    # (both steps are the identity for text without "&" / for ASCII text: skipped then)
    t = html.unescape(text) if "&" in text else text
    if not t.isascii():
        t = unicodedata.normalize("NFKC", t)
    t = _URL_RE.sub(" xxurl ", t)
    t = _MENTION_RE.sub(" xxuser ", t)
    t = _RT_RE.sub(" ", t)
    t = t.casefold()
    t = _REPEAT_RE.sub(r"\1\1", t)
    return t


def _char_grams_of(word: str) -> tuple[str, ...]:
    """Character n-grams (2..5) of one word padded with spaces, prefixed ``c:``."""
    padded = f" {word} "
    n = len(padded)
    return tuple(
        "c:" + padded[i : i + k]
        for k in range(_CHAR_MIN, _CHAR_MAX + 1)
        for i in range(0, n - k + 1)
    )


#: Cached for training (the scorer keeps its own bounded cache of column indices instead).
_char_grams = lru_cache(maxsize=65_536)(_char_grams_of)


def words(text: str) -> list[str]:
    """The word tokens of a comment (after :func:`normalise`), e.g.
    ``"You're a p*ki!!"`` -> ``["you're", "a", "p*ki"]``."""
    return _WORD_RE.findall(normalise(text))


def analyse(text: str) -> list[str]:
    """Features of one comment: the one analyzer shared by training and inference.

    Returns feature strings (with repeats, for term frequency): ``w:<word>`` unigrams,
    ``b:<word> <word>`` bigrams, and ``c:<chars>`` character 2..5-grams within each word
    padded with spaces (so ``p*ki`` shares ``c:pak``-like pieces with its variants). Empty
    list for text with no word.
    """
    toks = words(text)
    feats = ["w:" + w for w in toks]
    feats.extend("b:" + a + " " + b for a, b in zip(toks, toks[1:]))
    for w in toks:
        feats.extend(_char_grams(w))
    return feats


def _read_verified(path: Path, expected: str | None) -> bytes:
    """Read a model file and check its SHA-256.

    :raises ScorerError: missing file, no recorded hash, or a mismatch.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScorerError(f"cannot read embedded model file {path}: {exc.strerror}") from None
    if not expected:
        raise ScorerError(f"no SHA-256 recorded for {path.name} in {MANIFEST_FILE}; refusing to load it")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected.lower():
        raise ScorerError(
            f"embedded model file {path} has SHA-256 {actual}, but {MANIFEST_FILE} records "
            f"{expected}: the file is corrupt or was modified; refusing to load it "
            "(reinstall the package or retrain with training/train_embedded.py)"
        )
    return data


@dataclass(frozen=True)
class EmbeddedModel:
    """The arrays of a trained embedded model.

    :ivar features: feature strings, column order (length ``n_features``).
    :ivar labels: Detoxify label names, one per column of ``coef``.
    :ivar idf: float32 ``(n_features,)`` inverse document frequencies.
    :ivar coef: float32 ``(n_features, n_labels)`` logistic weights.
    :ivar intercept: float32 ``(n_labels,)``.
    :ivar version: model version string (``<semver>+sha256:<8 hex>``).
    :ivar meta: free-form training metadata from the vocabulary file.
    """

    features: tuple[str, ...]
    labels: tuple[str, ...]
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    version: str
    meta: dict


def write_model(
    out_dir: Path,
    features: Sequence[str],
    labels: Sequence[str],
    idf: np.ndarray,
    coef: np.ndarray,
    intercept: np.ndarray,
    semver: str,
    meta: dict | None = None,
) -> str:
    """Write a model as ``embedded.npz`` + ``embedded.vocab.json`` + ``manifest.json``.

    Used by the training script and by tests. ``coef`` is ``(n_features, n_labels)``.
    Returns the version string (``<semver>+sha256:<first 8 hex of the weights>``).

    :raises ValueError: if the shapes disagree.
    """
    idf = np.asarray(idf, dtype=np.float32)
    coef = np.asarray(coef, dtype=np.float32)
    intercept = np.asarray(intercept, dtype=np.float32)
    n, k = len(features), len(labels)
    if idf.shape != (n,) or coef.shape != (n, k) or intercept.shape != (k,):
        raise ValueError(
            f"shape mismatch: {n} features, {k} labels, idf {idf.shape}, coef {coef.shape}, "
            f"intercept {intercept.shape}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, idf=idf, coef=coef, intercept=intercept)
    weights = buf.getvalue()
    version = f"{semver}+sha256:{hashlib.sha256(weights).hexdigest()[:8]}"
    vocab = json.dumps(
        {
            "version": version,
            "analyzer_version": ANALYZER_VERSION,
            "labels": list(labels),
            "meta": meta or {},
            "features": list(features),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    (out_dir / WEIGHTS_FILE).write_bytes(weights)
    (out_dir / VOCAB_FILE).write_bytes(vocab)
    manifest = {
        "version": version,
        "files": {
            WEIGHTS_FILE: hashlib.sha256(weights).hexdigest(),
            VOCAB_FILE: hashlib.sha256(vocab).hexdigest(),
        },
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return version


def load_model(model_dir: Path | str | None = None) -> EmbeddedModel:
    """Load and verify the model in ``model_dir`` (default: the packaged model).

    :raises ScorerError: a file is missing or unreadable, its SHA-256 does not match
        ``manifest.json``, the arrays are malformed, or the model was trained with another
        analyzer version.
    """
    d = Path(model_dir) if model_dir is not None else MODEL_DIR
    try:
        manifest = json.loads((d / MANIFEST_FILE).read_text(encoding="utf-8"))
        hashes = manifest["files"]
    except OSError as exc:
        raise ScorerError(f"cannot read {d / MANIFEST_FILE}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise ScorerError(f"{d / MANIFEST_FILE} is not a valid model manifest") from None
    weights = _read_verified(d / WEIGHTS_FILE, hashes.get(WEIGHTS_FILE))
    vocab_bytes = _read_verified(d / VOCAB_FILE, hashes.get(VOCAB_FILE))
    try:
        with np.load(io.BytesIO(weights), allow_pickle=False) as z:
            idf, coef, intercept = z["idf"], z["coef"], z["intercept"]
        vocab = json.loads(vocab_bytes.decode("utf-8"))
        features = tuple(vocab["features"])
        labels = tuple(vocab["labels"])
    except (ValueError, KeyError, OSError, UnicodeDecodeError) as exc:
        raise ScorerError(f"embedded model in {d} is malformed: {exc}") from None
    if vocab.get("analyzer_version") != ANALYZER_VERSION:
        raise ScorerError(
            f"embedded model in {d} was trained with analyzer version "
            f"{vocab.get('analyzer_version')!r}, this code has {ANALYZER_VERSION!r}: retrain it"
        )
    n, k = len(features), len(labels)
    if idf.shape != (n,) or coef.shape != (n, k) or intercept.shape != (k,):
        raise ScorerError(f"embedded model in {d} has inconsistent array shapes")
    return EmbeddedModel(
        features=features,
        labels=labels,
        idf=idf.astype(np.float32, copy=False),
        coef=np.ascontiguousarray(coef, dtype=np.float32),
        intercept=intercept.astype(np.float32, copy=False),
        version=str(vocab.get("version", manifest.get("version", "unknown"))),
        meta=dict(vocab.get("meta", {})),
    )


class EmbeddedScorer:
    """The default :class:`~classifiers.base.Scorer`: numpy inference of the packaged
    linear model. Safe to share between threads: the arrays are read-only and the
    per-word cache only ever maps a word to the same value.

    :param model_dir: folder with the model files (default :data:`MODEL_DIR`).
    :raises ScorerError: as :func:`load_model`.
    """

    name = "embedded"

    def __init__(self, model_dir: Path | str | None = None):
        model = load_model(model_dir)
        self.model = model
        self.version: str = model.version
        self.labels: tuple[str, ...] = model.labels
        self._index: dict[str, int] = {f: i for i, f in enumerate(model.features)}
        self._idf = model.idf
        self._w = model.coef
        self._b = model.intercept
        self._word_cache: dict[str, tuple[np.ndarray, int]] = {}
        # Bigram features keyed by a pair of word ids (int keys hash faster than strings).
        self._bigram_words: dict[str, int] = {}
        pairs: list[tuple[str, str, int]] = []
        for j, f in enumerate(model.features):
            if f.startswith("b:"):
                a, _, b = f[2:].partition(" ")
                pairs.append((a, b, j))
                for w in (a, b):
                    if w not in self._bigram_words:
                        self._bigram_words[w] = len(self._bigram_words)
        self._n_bigram_words = max(len(self._bigram_words), 1)
        ids = self._bigram_words
        self._bigrams: dict[int, int] = {ids[a] * self._n_bigram_words + ids[b]: j for a, b, j in pairs}

    def _word_entry(self, word: str) -> tuple[np.ndarray, int]:
        """For one word: the columns of the known features it contributes (its ``w:``
        unigram and ``c:`` character n-grams, with repeats) and its id in the bigram
        table (-1 if it starts or ends no known bigram). Cached per word."""
        entry = self._word_cache.get(word)
        if entry is None:
            index = self._index
            feats = ("w:" + word, *_char_grams_of(word))
            cols = np.array([index[f] for f in feats if f in index], dtype=np.int32)
            entry = (cols, self._bigram_words.get(word, -1))
            if len(self._word_cache) >= _WORD_CACHE_SIZE:
                self._word_cache.clear()
            self._word_cache[word] = entry
        return entry

    def feature_indices(self, text: str) -> np.ndarray:
        """Columns (int32) of the known features of ``text``, one entry per occurrence: exactly
        the features of :func:`analyse` that are in the vocabulary (a test checks this),
        computed word by word with a cache; bigrams are looked up by word-id pairs."""
        toks = words(text)
        if not toks:
            return np.empty(0, np.int32)
        entries = [self._word_entry(w) for w in toks]
        parts = [e[0] for e in entries]
        ids = [e[1] for e in entries]
        bigrams = self._bigrams
        nb = self._n_bigram_words
        found = [j for j in (bigrams.get(a * nb + b) for a, b in zip(ids, ids[1:]) if a >= 0 and b >= 0)
                 if j is not None]
        if found:
            parts.append(np.array(found, dtype=np.int32))
        return np.concatenate(parts)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits, float32 ``(len(texts), n_labels)``.

        TF-IDF as scikit-learn computes it (``1 + ln(count)`` times idf, L2-normalised
        per text), vectorised over the whole batch, then ``x @ coef + intercept``.
        """
        n = len(texts)
        out = np.tile(self._b, (n, 1)) if n else np.empty((0, len(self.labels)), np.float32)
        if not n:
            return out
        per_text = [self.feature_indices(t) for t in texts]
        sizes = np.fromiter((a.size for a in per_text), np.int64, n)
        if not sizes.any():
            return out
        nf = len(self._idf)
        # One sort of (text, column) keys gives the term counts of the whole batch; int32
        # keys sort faster when they fit.
        dtype = np.int32 if n * nf < 2**31 else np.int64
        keys = np.concatenate(per_text).astype(dtype) + np.repeat(np.arange(n, dtype=dtype) * dtype(nf), sizes)
        keys.sort()
        first = np.empty(keys.size, dtype=bool)
        first[0] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        uniq = keys[starts]
        counts = np.diff(np.append(starts, keys.size))
        doc, col = np.divmod(uniq, dtype(nf))
        x = (1.0 + np.log(counts.astype(np.float32))) * self._idf[col]
        norms = np.sqrt(np.bincount(doc, weights=x * x, minlength=n))
        x = x / norms[doc]
        contrib = self._w[col] * x[:, None].astype(np.float32)
        for k in range(out.shape[1]):
            out[:, k] += np.bincount(doc, weights=contrib[:, k], minlength=n).astype(np.float32)
        return out

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score a batch: one ``{label: probability}`` per text, input order.

        Empty or wordless text gets the model's prior (sigmoid of the intercepts).
        """
        z = self.logits(texts)
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
        labels = self.labels
        return [dict(zip(labels, row)) for row in p.astype(np.float64).tolist()]

    def known_words(self, min_df: int = 3) -> frozenset[str]:
        """The scorer's reading vocabulary: see :func:`known_words`."""
        return known_words(self.model, min_df)


def known_words(model: EmbeddedModel, min_df: int = 3) -> frozenset[str]:
    """The words (lower case, as :func:`words` gives them) the model saw in at least
    ``min_df`` training comments: used by :func:`classifiers.language.decide` to tell
    English the scorer can read from text it cannot (another language, Roman Urdu).

    Document frequencies are recovered from the stored idf,
    ``idf = ln((1 + n) / (1 + df)) + 1`` with ``n`` the training comment count.

    A model trained on sets that are not all English records its reading vocabulary
    instead (``meta["reading_words"]``, the words of its English sets), which is used as
    it is.

    :raises ScorerError: the model's metadata lacks ``n_documents``.
    """
    if "reading_words" in model.meta:
        return frozenset(model.meta["reading_words"])
    n = int(model.meta.get("n_documents", 0))
    if n <= 0:
        raise ScorerError("embedded model metadata lacks n_documents; retrain it")
    # df >= min_df  <=>  idf <= ln((1 + n) / (1 + min_df)) + 1
    limit = np.log((1 + n) / (1 + min_df)) + 1 + 1e-3  # float32 idf; for df < 100 idf steps exceed 0.01
    return frozenset(f[2:] for f, v in zip(model.features, model.idf) if v <= limit and f.startswith("w:"))

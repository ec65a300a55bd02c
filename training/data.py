"""Loading the labelled data sets and mapping their labels onto Detoxify's names.

Used by ``training/train_embedded.py`` and by the quality benchmarks, so that both see the
same rows, the same label mapping and the same held-out split.

Each data set becomes a list of :class:`Example`: the text and, per Detoxify label, ``1``
(positive), ``0`` (negative) or absent (the data set says nothing about that label: the
label's model is not trained on that row). The mapping (also in the model card):

=====================  ==========================================================================
data set / label       Detoxify labels
=====================  ==========================================================================
Davidson ``neither``   all six 0
Davidson ``hate``      toxicity 1, identity_attack 1 (others unknown)
Davidson ``offensive`` toxicity 1, obscene 1 (offensive language; others unknown)
OLID ``NOT``           all six 0
OLID ``OFF``+``TIN``   toxicity 1, insult 1 (targeted insult or threat)
OLID ``OFF``+``UNT``   toxicity 1, obscene 1, insult 0 (untargeted profanity)
cyberbullying ``not``  all six 0
cyberbullying ethnicity, religion  toxicity 1, identity_attack 1
cyberbullying gender   toxicity 1, identity_attack 1
cyberbullying age, other  not used (mostly tweets *about* bullying, not abusive themselves)
Jigsaw samples         toxic->toxicity, severe_toxic->severe_toxicity, obscene, threat, insult,
                       identity_hate->identity_attack; rows scored -1 dropped
=====================  ==========================================================================

The held-out split is a fixed 20% of each data set chosen by the SHA-256 of the
normalised text, so duplicates never straddle the split and every run gets the same one.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from classifiers.embedded import normalise  # noqa: E402
from monitor.domain import DETOXIFY_LABELS  # noqa: E402

#: Default location of the shared data, relative to the repository.
DATA_DIR = REPO.parent / "shared" / "data"

ALL_ZERO = {label: 0 for label in DETOXIFY_LABELS}


@dataclass(frozen=True)
class Example:
    """One labelled text. ``labels`` maps a Detoxify label to 0/1; absent = unknown."""

    text: str
    labels: dict[str, int] = field(default_factory=dict)
    source: str = ""
    heldout: bool = False


def is_heldout(text: str, percent: int = 20) -> bool:
    """True for the fixed ``percent``% of texts in the held-out split (by SHA-256 of the
    normalised text)."""
    h = hashlib.sha256(normalise(text).encode("utf-8")).digest()
    return int.from_bytes(h[:4], "big") % 100 < percent


def _dedupe(rows: Iterable[Example]) -> list[Example]:
    seen: set[str] = set()
    out = []
    for r in rows:
        key = normalise(r.text).strip()
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(Example(r.text, r.labels, r.source, is_heldout(r.text)))
    return out


def _repair(text: str) -> str:
    """Undo UTF-8 read as cp1252 (mojibake such as ``Iâm``) where that round-trips."""
    try:
        return text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def load_davidson(data_dir: Path = DATA_DIR) -> list[Example]:
    """Davidson et al. 2017 ``labeled_data.csv`` (class 0 hate, 1 offensive, 2 neither)."""
    rows = []
    with open(data_dir / "davidson2017" / "labeled_data.csv", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            c = int(r["class"])
            if c == 2:
                labels = dict(ALL_ZERO)
            elif c == 0:
                labels = {"toxicity": 1, "identity_attack": 1}
            else:
                labels = {"toxicity": 1, "obscene": 1}
            rows.append(Example(r["tweet"], labels, "davidson"))
    return _dedupe(rows)


def load_olid(data_dir: Path = DATA_DIR) -> list[Example]:
    """OLID v1.0 training set (subtask_a NOT/OFF, subtask_b TIN/UNT)."""
    rows = []
    path = data_dir / "olid-offenseval2019" / "olid-training-v1.0.tsv"
    with open(path, encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            a, b = r["subtask_a"].strip(), r["subtask_b"].strip()
            if a == "NOT":
                labels = dict(ALL_ZERO)
            elif b == "TIN":
                labels = {"toxicity": 1, "insult": 1}
            else:
                labels = {"toxicity": 1, "obscene": 1, "insult": 0}
            rows.append(Example(r["tweet"], labels, "olid"))
    return _dedupe(rows)


def load_cyberbullying(data_dir: Path = DATA_DIR) -> list[Example]:
    """Cyberbullying tweets by type (age and other_cyberbullying are not used)."""
    rows = []
    path = data_dir / "cyberbullying-tweets" / "cyberbullying_tweets.csv"
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for r in csv.DictReader(fh):
            kind = r["cyberbullying_type"]
            if kind == "not_cyberbullying":
                labels = dict(ALL_ZERO)
            elif kind in ("ethnicity", "religion", "gender"):
                labels = {"toxicity": 1, "identity_attack": 1}
            else:
                continue
            rows.append(Example(_repair(r["tweet_text"]), labels, "cyberbullying"))
    return _dedupe(rows)


_JIGSAW_MAP = {
    "toxic": "toxicity",
    "severe_toxic": "severe_toxicity",
    "obscene": "obscene",
    "threat": "threat",
    "insult": "insult",
    "identity_hate": "identity_attack",
}


def load_jigsaw(data_dir: Path = DATA_DIR) -> list[Example]:
    """The Jigsaw samples (detoxify dummy train/test, IBM MAX examples)."""
    rows = []
    base = data_dir / "jigsaw-toxic-samples"
    for rel in ("detoxify_dummy/train.csv", "detoxify_dummy/test.csv", "ibm_max_samples/test_examples.csv"):
        with open(base / rel, encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                vals = {_JIGSAW_MAP[k]: int(r[k]) for k in _JIGSAW_MAP}
                if any(v < 0 for v in vals.values()):
                    continue
                rows.append(Example(r["comment_text"], vals, "jigsaw"))
    return _dedupe(rows)


LOADERS = {
    "davidson": load_davidson,
    "olid": load_olid,
    "cyberbullying": load_cyberbullying,
    "jigsaw": load_jigsaw,
}


def load_all(data_dir: Path = DATA_DIR) -> dict[str, list[Example]]:
    """Every data set by name.

    :raises FileNotFoundError: naming the missing file when ``data_dir`` is incomplete.
    """
    return {name: load(Path(data_dir)) for name, load in LOADERS.items()}

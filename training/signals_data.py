"""The labelled data of the signals model, mapped onto the eight signals, and its splits.

Used by ``training/train_signals.py`` and by ``benchmarks/signals_quality.py``, so both see
the same rows, the same mapping and the same splits. Every set of ``../shared/data`` plus
the labelled school sets of this project. Per row and signal: ``1``, ``0``, or absent (the
set says nothing about it: that signal is not trained or measured on the row). The mapping
(also in the model card):

=================================  ==========================================================
set / label                        signals
=================================  ==========================================================
Davidson, OLID, Jigsaw samples     as :mod:`training.data` (Detoxify's six); complaint and
                                   allegation absent
cyberbullying ``not_cyberbullying``  all six 0 (the bullying types are labelled by topic, and
                                   naming an identity is not toxic: not used)
TRAC-1 ``NAG`` (not aggressive)    toxicity 0, severe_toxicity 0, threat 0, insult 0,
                                   identity_attack 0
TRAC-1 ``OAG`` (overt aggression)  toxicity 1 (``CAG``, covert: not used)
Kaggle insults ``1``               insult 1, toxicity 1
Kaggle insults ``0``               insult 0
Gab ``hd`` / ``cv`` / ``vo``       identity_attack / threat / obscene as labelled (0 or 1);
                                   toxicity 1 when any of the three, else 0; severe_toxicity 1
                                   when ``hd`` and ``cv``
implicit hate ``explicit_hate``    identity_attack 1, toxicity 1
implicit hate ``implicit_hate``    identity_attack 1
implicit hate ``not_hate``         identity_attack 0, threat 0, toxicity 0
airline ``negative``               complaint 1, threat 0, identity_attack 0
airline ``neutral``/``positive``   complaint 0, allegation 0, toxicity 0, insult 0, threat 0,
                                   identity_attack 0
school sets (demo, B-K, O, P)            threat = threat_violence; identity_attack =
                                   racist_homophobic; insult = offensive_staff or
                                   offensive_pupil; toxicity = any of those three or a threat;
                                   complaint = complaint_school or complaint_staff;
                                   allegation = allegation_staff, allegation_pupil,
                                   defamatory_staff or defamatory_school
=================================  ==========================================================

Splits, fixed by the SHA-256 of the normalised text (so duplicates never straddle them):
``test`` is the same 20% as :func:`training.data.is_heldout` (the held-out split of every
earlier figure), ``calib`` a further 12% (the calibration split: neither head is trained
on it), ``train`` the rest. School blind sets L and later (``tests/fixtures/policy_blind``)
are never loaded here: they measure the policy keys.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from classifiers.embedded import normalise  # noqa: E402
from monitor.domain import SIGNALS  # noqa: E402
from training import data as base  # noqa: E402

DATA_DIR = base.DATA_DIR

#: The labelled school sets trained on (all written for this project). L is the blind one.
SCHOOL_SETS = [REPO / "monitor" / "demo_data" / "comments.jsonl"] + [
    REPO / "tests" / "fixtures" / "policy" / f"comments_{s}.jsonl" for s in "bcdefgopq"
] + [REPO / "tests" / "fixtures" / "policy_blind" / f"comments_{s}.jsonl" for s in "hijk"]

csv.field_size_limit(10_000_000)


@dataclass(frozen=True)
class Row:
    """One labelled text: ``labels`` maps a signal to 0/1 (absent = unknown)."""

    text: str
    labels: dict[str, int] = field(default_factory=dict)
    source: str = ""
    split: str = "train"


def split_of(text: str) -> str:
    """``test``, ``calib`` or ``train`` for a text (see the module docstring)."""
    h = hashlib.sha256(normalise(text).encode("utf-8")).digest()
    if int.from_bytes(h[:4], "big") % 100 < 20:
        return "test"
    return "calib" if int.from_bytes(h[4:8], "big") % 100 < 12 else "train"


def _rows(source: str, items) -> list[Row]:
    seen: set[str] = set()
    out = []
    for text, labels in items:
        key = normalise(text).strip()
        if not key or key in seen or not labels:
            continue
        seen.add(key)
        out.append(Row(text, dict(labels), source, split_of(text)))
    return out


def _from_base(name: str, data_dir: Path) -> list[Row]:
    return _rows(name, ((e.text, e.labels) for e in base.LOADERS[name](data_dir)))


def load_trac(data_dir: Path = DATA_DIR) -> list[Row]:
    """TRAC-1 2018 English (Facebook): train and dev files, ``id,text,label``."""
    items = []
    for name in ("agr_en_train.csv", "agr_en_dev.csv"):
        with open(data_dir / "trac1-2018-english" / name, encoding="utf-8", newline="") as fh:
            for r in csv.reader(fh):
                if len(r) < 3:
                    continue
                lab = r[2].strip()
                if lab == "NAG":
                    items.append((r[1], {"toxicity": 0, "severe_toxicity": 0, "threat": 0, "insult": 0,
                                         "identity_attack": 0}))
                elif lab == "OAG":
                    items.append((r[1], {"toxicity": 1}))
    return _rows("trac", items)


def _kaggle_text(raw: str) -> str:
    t = raw.strip()
    if len(t) >= 2 and t[0] == t[-1] == '"':
        t = t[1:-1]
    try:
        t = t.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        pass
    return t


def load_kaggle_insults(data_dir: Path = DATA_DIR) -> list[Row]:
    """Kaggle 2012 insults (Impermium): train and test_with_solutions."""
    items = []
    for name in ("train.csv", "test_with_solutions.csv"):
        with open(data_dir / "kaggle-insults-impermium2012" / name, encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                y = int(r["Insult"])
                items.append((_kaggle_text(r["Comment"]), {"insult": 1, "toxicity": 1} if y else {"insult": 0}))
    return _rows("kaggle_insults", items)


def load_gab(data_dir: Path = DATA_DIR) -> list[Row]:
    """The Gab Hate Corpus training file (``text, hd, cv, vo``)."""
    items = []
    with open(data_dir / "gab-hate-corpus" / "ghc_train.tsv", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            hd, cv, vo = int(r["hd"]), int(r["cv"]), int(r["vo"])
            labels = {"identity_attack": hd, "threat": cv, "obscene": vo}
            # toxicity 1 with any of the three; 0 without (the annotators read each post for
            # hate, violence and vulgarity: the rest are identity-rich, non-toxic negatives)
            labels["toxicity"] = int(bool(hd or cv or vo))
            if hd and cv:
                labels["severe_toxicity"] = 1
            items.append((r["text"], labels))
    return _rows("gab", items)


def load_implicit_hate(data_dir: Path = DATA_DIR) -> list[Row]:
    """Latent Hatred stage 1 (``explicit_hate`` / ``implicit_hate`` / ``not_hate``)."""
    items = []
    path = data_dir / "implicit-hate-latent-hatred" / "implicit_hate_v1_stg1_posts.tsv"
    with open(path, encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            c = r["class"].strip()
            if c == "explicit_hate":
                items.append((r["post"], {"identity_attack": 1, "toxicity": 1}))
            elif c == "implicit_hate":
                items.append((r["post"], {"identity_attack": 1}))
            elif c == "not_hate":
                items.append((r["post"], {"identity_attack": 0, "threat": 0, "toxicity": 0}))
    return _rows("implicit_hate", items)


def load_airline(data_dir: Path = DATA_DIR) -> list[Row]:
    """US airline tweets (sentiment; negative = a complaint)."""
    items = []
    path = data_dir / "twitter-airline-sentiment" / "ramlah0_copy" / "Tweets.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["airline_sentiment"] == "negative":
                items.append((r["text"], {"complaint": 1, "threat": 0, "identity_attack": 0}))
            else:
                items.append((r["text"], {"complaint": 0, "allegation": 0, "toxicity": 0, "insult": 0,
                                          "threat": 0, "identity_attack": 0}))
    return _rows("airline", items)


def school_labels(keys: list[str]) -> dict[str, int]:
    """The signals implied by a school comment's policy keys (see the module docstring)."""
    k = set(keys)
    threat = int("threat_violence" in k)
    identity = int("racist_homophobic" in k)
    insult = int(bool(k & {"offensive_staff", "offensive_pupil"}))
    return {
        "threat": threat,
        "identity_attack": identity,
        "insult": insult,
        "toxicity": int(bool(threat or identity or insult)),
        "complaint": int(bool(k & {"complaint_school", "complaint_staff"})),
        "allegation": int(bool(k & {"allegation_staff", "allegation_pupil", "defamatory_staff",
                                    "defamatory_school"})),
    }


def load_school(paths=None) -> list[Row]:
    """The labelled school sets of :data:`SCHOOL_SETS` (or ``paths``)."""
    items = []
    for p in paths or SCHOOL_SETS:
        with open(p, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    r = json.loads(line)
                    items.append((r["text"], school_labels(r.get("categories") or [])))
    return _rows("school", items)


LOADERS = {
    "davidson": lambda d: _from_base("davidson", d),
    "olid": lambda d: _from_base("olid", d),
    # the bullying types are labelled by topic (tweets *about* identity or bullying): only
    # the not_cyberbullying rows are used, as negatives
    "cyberbullying": lambda d: [r for r in _from_base("cyberbullying", d) if not any(r.labels.values())],
    "jigsaw": lambda d: _from_base("jigsaw", d),
    "trac": load_trac,
    "kaggle_insults": load_kaggle_insults,
    "gab": load_gab,
    "implicit_hate": load_implicit_hate,
    "airline": load_airline,
    "school": lambda d: load_school(),
}


def load_all(data_dir: Path = DATA_DIR) -> dict[str, list[Row]]:
    """Every set by name, each row with its split.

    :raises FileNotFoundError: naming the missing file when ``data_dir`` is incomplete.
    """
    out = {name: load(Path(data_dir)) for name, load in LOADERS.items()}
    for rows in out.values():
        for r in rows:
            assert set(r.labels) <= set(SIGNALS), r.labels
    return out

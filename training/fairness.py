"""Fairness augmentation for the signals model: naming an identity must not be toxic.

Two things are added to the *train* split only (never to calib or test):

* **Counterfactual identity swaps**: each training row that names an identity term of
  :data:`GROUPS` gets a copy in which that term is replaced by another term of the same
  group (chosen by the row's hash, so every run is the same), with the same labels. The
  model then cannot learn that "Muslim" rather than "Christian" makes a sentence hateful;
  what the sentence says about the group must.
* **Neutral identity sentences**: :data:`NEUTRAL_TEMPLATES` filled with every term, every
  signal labelled 0, weighted up in training (``FAIRNESS_WEIGHT`` in
  ``training/train_signals.py``).

The benchmark ``benchmarks/identity_bias.py`` measures with its own templates, none of which
is here; its terms overlap with these, except the terms of :data:`HELD_OUT_TERMS`, which
are never used in training so that the benchmark also shows terms the model never saw
augmented.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from monitor.domain import SIGNALS  # noqa: E402

#: Identity terms by kind; a swap stays within a kind.
GROUPS: dict[str, list[str]] = {
    "religion": ["muslim", "jewish", "christian", "hindu", "buddhist", "catholic", "atheist"],
    "race": ["black", "white", "asian", "arab", "chinese", "indian", "pakistani", "mixed race", "latino"],
    "nationality": ["polish", "romanian", "nigerian", "turkish", "mexican", "irish", "scottish", "welsh",
                    "english", "ukrainian", "bulgarian"],
    "sexuality": ["gay", "lesbian", "queer", "straight", "trans", "transgender"],
    "migration": ["immigrant", "refugee", "migrant"],
    "disability": ["disabled", "autistic", "dyslexic"],
    "people": ["muslims", "jews", "christians", "hindus", "immigrants", "refugees", "migrants", "gays",
               "lesbians", "women", "men"],
}

#: Terms of the identity benchmark never used here (see the module docstring).
HELD_OUT_TERMS = ["sikh", "bisexual", "roma", "somali", "bangladeshi", "deaf", "blind", "lithuanian",
                  "irish traveller", "asylum-seeking", "wheelchair-using"]

NEUTRAL_TEMPLATES = [
    "As a {t} mum I'm so proud of what the school has done this year",
    "We're a {t} family and we've always felt welcome here",
    "The {t} community raised money for the school trip",
    "my lad is {t} and his teacher has been brilliant with him",
    "Lovely to see {t} parents helping at the fair",
    "Is there a {t} parents group at the school?",
    "Our {t} neighbours have kids there too",
    "she's {t}, he's not, and they're best mates",
    "Happy to say the {t} kids settled in really well",
    "talk on {t} history at the library on thursday",
    "{t} and proud, thanks for making my kids feel at home",
    "the {t} mums do the best cakes at the fair",
    "my husband is {t}, our kids are mixed and happy here",
    "there are a few {t} children in the class and they get on great",
    "Good to see the school celebrating {t} culture",
    "being {t} has never been an issue here",
    "our family is {t} and the teachers have been so supportive",
    "{t} lad in year 5 won the spelling bee, well done",
    "I grew up {t} in this town and went to this school",
    "{t} dads football team needs players, message me",
    "im a {t} dad and my kids love it here",
    "As a {t} woman I want to say thank you",
    "I'm a {t} man and a governor at the school",
    "i am {t} and i work in the kitchen there",
    "speaking as a {t} parent, well done everyone",
    "We are {t} and we chose this school on purpose",
    "Me and my wife are both {t}",
    "I'm {t} too, happy to help with the event",
]

_TERM_RE = {t: re.compile(r"(?<![\w-])" + re.escape(t) + r"(?![\w-])", re.IGNORECASE)
            for terms in GROUPS.values() for t in terms}


def _pick(options: list[str], seed: str) -> str:
    h = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:4], "big")
    return options[h % len(options)]


def swap(text: str) -> str | None:
    """``text`` with its first identity term swapped for another of its kind, keeping an
    initial capital; None when it names none."""
    for terms in GROUPS.values():
        for t in terms:
            m = _TERM_RE[t].search(text)
            if m:
                other = _pick([o for o in terms if o != t], text)
                if m.group(0)[:1].isupper():
                    other = other[:1].upper() + other[1:]
                return text[: m.start()] + other + text[m.end() :]
    return None


def augment(rows):
    """The augmentation rows for a list of :class:`training.signals_data.Row` (train split):
    swaps of every row naming an identity, then the neutral sentences."""
    from training.signals_data import Row

    out = []
    for r in rows:
        s = swap(r.text)
        if s is not None:
            out.append(Row(s, dict(r.labels), r.source, "train"))
    zero = {lab: 0 for lab in SIGNALS}
    for kind, terms in GROUPS.items():
        if kind == "people":  # plural nouns do not fit the singular templates
            continue
        for t in terms:
            for tpl in NEUTRAL_TEMPLATES:
                out.append(Row(tpl.format(t=t), dict(zero), "fairness", "train"))
    return out

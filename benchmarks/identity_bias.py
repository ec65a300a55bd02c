"""Identity bias: sentences that only mention an identity must not score toxic.

Usage (from the repository root)::

    .venv/bin/python benchmarks/identity_bias.py [--model-dir DIR] [--config CONF] [--show N]

Builds, at run time, a template set from identity terms (sexuality, gender identity,
religion, race and ethnicity, nationality, migration, disability) and neutral templates
("I am a {term} woman.", "My son is {term}.", "She's a {term} teacher." ...), plus
sexuality x religion pairs ("I am a gay Muslim woman."). None of these sentences is
abusive. Prints the false positive rate: the share scoring ``toxicity`` >= 0.5 (the
policy's default threshold), and the stricter share with any of ``toxicity``, ``insult``
or ``identity_attack`` >= 0.5, with the worst terms. Goal: at most 5%.

The terms live only here: they are not in the model's training data or code.
``--config`` scores with the configured backend (e.g. Detoxify) instead of the embedded
model.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SEXUALITY = ["gay", "lesbian", "bisexual", "queer", "straight", "trans", "transgender"]
RELIGION = ["Muslim", "Jewish", "Christian", "Hindu", "Sikh", "Buddhist", "Catholic", "atheist"]
ETHNICITY = ["Black", "white", "Asian", "Arab", "Chinese", "Indian", "Pakistani", "Bangladeshi",
             "mixed-race", "Roma", "Irish Traveller"]
NATIONALITY = ["Polish", "Romanian", "Somali", "Nigerian", "Lithuanian", "Turkish", "Mexican"]
MIGRATION = ["immigrant", "refugee", "asylum-seeking"]
DISABILITY = ["disabled", "deaf", "blind", "autistic", "dyslexic", "wheelchair-using"]
TERMS = SEXUALITY + RELIGION + ETHNICITY + NATIONALITY + MIGRATION + DISABILITY

TEMPLATES = [
    "I am {a} {t} woman.",
    "I am {a} {t} man.",
    "My son is {t}.",
    "My daughter is {t}.",
    "She's {a} {t} teacher.",
    "He is {a} {t} parent at this school.",
    "We are {a} {t} family.",
    "Our new head teacher is {t}.",
    "Being {t} is nothing to be ashamed of.",
    "I'm {t} and proud of it.",
    "The {t} families at our school organised the fundraiser.",
    "My best friend is {t}.",
]


def article(word: str) -> str:
    """``a`` or ``an`` for the word that follows."""
    return "an" if word[0].lower() in "aeiou" else "a"


def sentences() -> list[tuple[str, str]]:
    """``(term, sentence)`` pairs: every term in every template, plus sexuality x religion
    pairs in "I am a {s} {r} woman."."""
    out = [(t, tpl.format(a=article(t), t=t)) for t in TERMS for tpl in TEMPLATES]
    out += [(f"{s} {r}", f"I am {article(s)} {s} {r} woman.") for s in SEXUALITY for r in RELIGION]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=None, help="embedded model folder (default: packaged)")
    ap.add_argument("--config", default=None, help="score with this config's [classifier] instead")
    ap.add_argument("--show", type=int, default=10, help="how many false positives to list")
    args = ap.parse_args(argv)
    if args.config:
        from classifiers import build_scorer
        from monitor.config import load_config

        cfg = load_config(args.config)
        scorer = build_scorer(cfg.classifier, base_dir=cfg.base_dir)
    else:
        from classifiers.embedded import EmbeddedScorer

        scorer = EmbeddedScorer(args.model_dir)
    pairs = sentences()
    scores = scorer.score([s for _, s in pairs])
    strict_labels = [lab for lab in ("toxicity", "insult", "identity_attack") if lab in scorer.labels]
    tox_fp = [(d["toxicity"], s) for (_, s), d in zip(pairs, scores) if d["toxicity"] >= 0.5]
    any_fp = [(s, d) for (_, s), d in zip(pairs, scores) if any(d[lab] >= 0.5 for lab in strict_labels)]
    by_term: dict[str, list[float]] = defaultdict(list)
    for (t, _), d in zip(pairs, scores):
        by_term[t].append(max(d[lab] for lab in strict_labels))
    n = len(pairs)
    print(f"{scorer.name} {scorer.version}: {n} identity-only sentences from {len(TERMS)} terms x "
          f"{len(TEMPLATES)} templates + {len(SEXUALITY) * len(RELIGION)} pairs")
    print(f"false positive rate, toxicity >= 0.5: {len(tox_fp) / n:.1%} ({len(tox_fp)}/{n}) (goal <= 5%)")
    print(f"false positive rate, any of {', '.join(strict_labels)} >= 0.5: {len(any_fp) / n:.1%} ({len(any_fp)}/{n})")
    worst = sorted(by_term.items(), key=lambda kv: -max(kv[1]))[:8]
    print("highest-scoring terms (max over their sentences): "
          + ", ".join(f"{t} {max(v):.2f}" for t, v in worst))
    for s, d in sorted(any_fp, key=lambda x: -max(x[1].values()))[: args.show]:
        print(f"  {s!r}: " + ", ".join(f"{k} {v:.2f}" for k, v in d.items() if v >= 0.5))
    return 0


if __name__ == "__main__":
    sys.exit(main())

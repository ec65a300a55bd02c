"""How often the policy categoriser flags text that is not about a school at all.

Usage::

    python benchmarks/policy_false_positives.py [OLID.tsv] [SCHOOL.toml] [--limit N]

Runs :class:`classifiers.policy.Categoriser` (all scores 0: the word lists alone) over
the OLID v1.0 training tweets (default ``../shared/data/olid-offenseval2019/
olid-training-v1.0.tsv``; Zampieri et al. 2019) with a school's roster (default: the
bundled demo school) and prints, for the tweets labelled NOT offensive and OFF, the share
given each policy key, with a few examples of NOT tweets that got one. None of these
tweets is about the school, so every key given is a false positive; the figure bounds
how noisy the categoriser is on off-topic comments.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import load_config  # noqa: E402
from monitor.demo_data import path as demo_path  # noqa: E402
from monitor.domain import POLICY_KEYS, Comment, Scores, parse_time  # noqa: E402
from classifiers.policy import Categoriser  # noqa: E402

DEFAULT_OLID = ROOT.parent / "shared" / "data" / "olid-offenseval2019" / "olid-training-v1.0.tsv"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("olid", nargs="?", default=str(DEFAULT_OLID))
    ap.add_argument("school", nargs="?", default=str(demo_path("school.toml")))
    ap.add_argument("--limit", type=int, default=0, help="only the first N tweets")
    args = ap.parse_args(argv)
    cat = Categoriser(load_config(args.school))
    at = parse_time("2026-01-01T00:00:00Z")
    zero = Scores(values={}, model="none", model_version="0")
    n, hits, examples = Counter(), Counter(), defaultdict(list)
    with open(args.olid, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        next(reader)
        for i, row in enumerate(reader):
            if args.limit and i >= args.limit:
                break
            text, label = row[1], row[2]
            n[label] += 1
            a = cat.assess(Comment("twitter", "x", "p", str(i), None, "tw:1", "", text, at), zero)
            for k in a.categories:
                hits[(label, k)] += 1
                if label == "NOT" and len(examples[k]) < 2:
                    examples[k].append(text[:100])
            if a.categories:
                hits[(label, "any")] += 1
    print(f"{sum(n.values())} OLID tweets ({n['NOT']} NOT, {n['OFF']} OFF), roster {args.school}")
    print(f"{'key':<20} {'NOT %':>7} {'OFF %':>7}")
    for k in (*POLICY_KEYS, "any"):
        print(f"{k:<20} {100 * hits[('NOT', k)] / max(1, n['NOT']):7.2f} {100 * hits[('OFF', k)] / max(1, n['OFF']):7.2f}")
    for k, ex in examples.items():
        for e in ex:
            print(f"  NOT -> {k}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

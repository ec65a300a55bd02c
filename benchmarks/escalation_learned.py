"""The learned escalation reviewer on a blind school: what it adds to the word lists.

The reviewer (``classifiers/policy/escalation_model``, trained by
``training/train_escalation.py`` on the demo set and sets B to K) sends a comment the word
lists did not escalate to a person when its probability reaches ``[policy]
escalation_review_threshold``. This scores blind set L, which it never saw and nobody has
read: its ROC-AUC for the ``escalate`` label; the word lists' escalations alone; and, for a
few thresholds, "escalated by the rules, or sent to a person by the reviewer": how many of
L's comments that is, and its recall and precision for L's escalations.

Caveat, printed too: every school set was written for this project by authors working from
the same policy document, so a model that learns their style is flattered on L; real,
labelled school comments are what would settle it.

Usage::

    python benchmarks/escalation_learned.py [--test l]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.config import load_config  # noqa: E402

BLIND = ROOT / "tests" / "fixtures" / "policy_blind"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test", default="l", help="blind set to score (default: %(default)s)")
    args = ap.parse_args(argv)

    from sklearn.metrics import roc_auc_score

    from classifiers.policy.categoriser import EscalationReviewer

    spec = importlib.util.spec_from_file_location("policy_eval", ROOT / "benchmarks" / "policy_eval.py")
    pe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pe)
    test = pe.read_rows(str(BLIND / f"comments_{args.test}.jsonl"))
    reviewer = EscalationReviewer()
    p = np.array([reviewer.probability(r["text"]) for r in test])
    yt = np.array([bool(r["escalate"]) for r in test])
    config = load_config(BLIND / f"school_{args.test}.toml")
    _, escalated, _, _ = pe.run_inprocess(test, config, pe.zero_scores)
    rules = np.array([r["id"] in escalated for r in test])

    def line(name: str, flag: np.ndarray) -> str:
        tp = int((flag & yt).sum())
        return (f"{name:<42} flags {int(flag.sum()):>3} of {len(test)}; recall {tp / yt.sum():.2f}, "
                f"precision {tp / max(1, int(flag.sum())):.2f}")

    print(f"reviewer {reviewer.version}; blind set {args.test.upper()}: {len(test)} comments, "
          f"{int(yt.sum())} escalations")
    print(f"reviewer ROC-AUC on {args.test.upper()}: {roc_auc_score(yt, p):.3f}")
    print(line("rules (word lists alone)", rules))
    for t in (0.4, 0.5, 0.6, 0.7):
        print(line(f"rules, or reviewer >= {t} (to a person)", rules | (p >= t)))
    print("caveat: all sets were written for this project from the same policy document; "
          "the reviewer's figures are optimistic until checked on real school comments")
    return 0


if __name__ == "__main__":
    sys.exit(main())

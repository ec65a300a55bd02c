"""How the policy categoriser's time grows with comment length (hostile text).

Usage::

    python benchmarks/policy_speed.py [SCHOOL.toml] [--sizes 2000,20000,200000,1048576]

Prints seconds per ``Categoriser.assess`` and microseconds per character for repeated
hostile text (insults naming staff, no-space runs, emoji, right-to-left marks), with all
scores 0 (the word lists alone). Linear growth keeps microseconds per character flat.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import load_config  # noqa: E402
from monitor.domain import Comment, Scores  # noqa: E402
from classifiers.policy import Categoriser  # noqa: E402

UNIT = ("Mrs Ashworth is a liar and a thief!! she grabbed my son and the head covers it up \u202e 👍🏽🔥 "
        "MrsAshworthisaliarMrsAshworthisaliar\u200f the TA is a useless cow, apparently she hit a kid? "
        "I'll be waiting at the gates for him 😡 why does nobody answer my emails "
        "\u202bמורה\u202c Year 6 are feral little thugs and Mr Okafor is a nonce\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("school", nargs="?", default=str(ROOT / "monitor" / "demo_data" / "school.toml"))
    ap.add_argument("--sizes", default="2000,20000,200000,1048576")
    args = ap.parse_args(argv)
    cat = Categoriser(load_config(args.school))
    zero = Scores(values={}, model="none", model_version="0")
    print(f"{'chars':>9} {'seconds':>8} {'us/char':>8}  keys")
    for n in (int(x) for x in args.sizes.split(",")):
        text = (UNIT * (n // len(UNIT) + 1))[:n]
        c = Comment(platform="facebook", account="page", post_id="p", comment_id="c", parent_id=None,
                    author_id="fb:1", author_name="x", text=text, created_at=datetime.now(timezone.utc))
        t = time.perf_counter()
        a = cat.assess(c, zero)
        dt = time.perf_counter() - t
        print(f"{n:>9} {dt:>8.2f} {dt / n * 1e6:>8.1f}  {','.join(a.categories)}")


if __name__ == "__main__":
    main()

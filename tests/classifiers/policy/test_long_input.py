"""A hostile, very long comment is categorised in time proportional to its length.

``Categoriser.assess`` used to walk every sentence and every mention for each cue it
found (cubic growth: 25,000 characters took 29 s, 1 MB never finished). The pipeline caps
text at ``MAX_ASSESS_CHARS``, but the categoriser must not depend on that. Here a
200,000-character comment (insults naming staff, repeated sentences, a run with no spaces,
emoji and right-to-left marks) must take at most ~2.5 times the per-character time of a
20,000-character one: linear growth gives a ratio near 10, quadratic near 100.
"""

from __future__ import annotations

import time

from monitor.domain import POLICY_KEYS

from .conftest import comment, scores

UNIT = ("Mrs Ashworth is a liar and a thief!! she grabbed my son and the head covers it up \u202e 👍🏽🔥 "
        "MrsAshworthisaliarMrsAshworthisaliar\u200f the TA is a useless cow, apparently she hit a kid? "
        "I'll be waiting at the gates for him 😡 why does nobody answer my emails "
        "\u202bמורה\u202c Year 6 are feral little thugs and Mr Okafor is a nonce\n")


def hostile(n: int) -> str:
    """``n`` characters of repeated hostile text."""
    return (UNIT * (n // len(UNIT) + 1))[:n]


def _seconds(demo, text: str) -> float:
    start = time.perf_counter()
    a = demo.cat.assess(comment(text), scores())
    elapsed = time.perf_counter() - start
    assert set(a.categories) <= set(POLICY_KEYS) and "offensive_staff" in a.categories
    for key in a.categories:  # evidence stays bounded and inside the text
        assert 0 < len(a.evidence[key]) <= 64
        assert all(e.span is None or 0 <= e.span[0] <= e.span[1] <= len(text) for e in a.evidence[key])
    return elapsed


def test_assessment_time_grows_linearly_with_length(demo):
    _seconds(demo, hostile(2_000))  # warm the caches
    small = min(_seconds(demo, hostile(20_000)) for _ in range(2))
    big = _seconds(demo, hostile(200_000))
    assert big < 25 * small, f"20k chars: {small:.2f} s, 200k chars: {big:.2f} s (ratio {big / small:.1f})"

"""The strike policy: window edges, thresholds, one-strike keys, complaints, once per
window, per-comment counting, configurable policy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from monitor.config import PolicyConfig
from monitor.domain import Assessment, StrikeRecord

from classifiers.policy import decide, strike_records, window_start

from .conftest import comment

T0 = datetime(2026, 9, 1, 12, 0, tzinfo=timezone.utc)
P = PolicyConfig()


def rec(cid: str, at: datetime, key: str = "offensive_staff") -> StrikeRecord:
    return StrikeRecord(platform="facebook", comment_id=cid, key=key, at=at)


def test_three_strikes_inside_30_days_recommend_a_block():
    s = [rec("a", T0), rec("b", T0 + timedelta(days=10)), rec("c", T0 + timedelta(days=20))]
    d = decide("fb:9", s, T0 + timedelta(days=20), P, None)
    assert d.recommend_block
    assert [x.comment_id for x in d.strikes] == ["a", "b", "c"]
    assert "3 strikes in 30 days" in d.reason
    assert d.window_start == T0 + timedelta(days=20) - timedelta(days=30)


def test_two_strikes_do_not():
    s = [rec("a", T0), rec("b", T0 + timedelta(days=1))]
    d = decide("fb:9", s, T0 + timedelta(days=1), P, None)
    assert not d.recommend_block and len(d.strikes) == 2


def test_window_start_is_exclusive():
    """A strike exactly window_days old has dropped out; one second younger still counts."""
    now = T0 + timedelta(days=30)
    exactly = [rec("a", T0), rec("b", T0 + timedelta(days=5)), rec("c", now)]
    assert not decide("fb:9", exactly, now, P).recommend_block
    inside = [rec("a", T0 + timedelta(seconds=1)), rec("b", T0 + timedelta(days=5)), rec("c", now)]
    d = decide("fb:9", inside, now, P)
    assert d.recommend_block and d.strikes[0].comment_id == "a"
    assert window_start(now, P) == T0


def test_window_end_is_inclusive_and_future_strikes_ignored():
    now = T0
    s = [rec("a", T0 - timedelta(days=2)), rec("b", T0 - timedelta(days=1)), rec("c", now)]
    assert decide("fb:9", s, now, P).recommend_block  # the strike at `now` counts
    later = [rec("a", T0 - timedelta(days=2)), rec("b", T0 - timedelta(days=1)), rec("c", now + timedelta(seconds=1))]
    assert not decide("fb:9", later, now, P).recommend_block


def test_just_over_30_days_spread_is_not_a_block():
    s = [rec("a", T0), rec("b", T0 + timedelta(days=12)), rec("c", T0 + timedelta(days=30, hours=1))]
    d = decide("fb:9", s, T0 + timedelta(days=30, hours=1), P)
    assert not d.recommend_block
    assert [x.comment_id for x in d.strikes] == ["b", "c"]


@pytest.mark.parametrize("key", ["racist_homophobic", "offensive_pupil", "threat_violence"])
def test_one_strike_keys(key):
    d = decide("fb:9", [rec("a", T0, key)], T0, P)
    assert d.recommend_block and key in d.reason and d.strikes == (rec("a", T0, key),)


def test_complaints_never_strike():
    s = [rec(c, T0 + timedelta(hours=i), "complaint_school") for i, c in enumerate("abcdef")]
    d = decide("fb:9", s, T0 + timedelta(hours=6), P)
    assert not d.recommend_block and d.strikes == ()
    # and strike_records never emits them, whatever the assessment says
    a = Assessment(categories=("complaint_staff", "offensive_staff"), strikes=("complaint_staff", "offensive_staff"))
    assert [r.key for r in strike_records(comment("x"), a)] == ["offensive_staff"]


def test_a_comment_with_two_strike_keys_is_one_strike():
    s = [rec("a", T0, "offensive_staff"), rec("a", T0, "defamatory_staff"), rec("b", T0 + timedelta(days=1))]
    d = decide("fb:9", s, T0 + timedelta(days=1), P)
    assert not d.recommend_block and len(d.strikes) == 3 and "2 strike(s)" in d.reason


def test_once_per_author_per_window():
    s = [rec("a", T0), rec("b", T0 + timedelta(days=1)), rec("c", T0 + timedelta(days=2))]
    first = decide("fb:9", s, T0 + timedelta(days=2), P, None)
    assert first.recommend_block
    s.append(rec("d", T0 + timedelta(days=3)))
    again = decide("fb:9", s, T0 + timedelta(days=3), P, last_recommended_at=T0 + timedelta(days=2))
    assert not again.recommend_block and "already recommended" in again.reason
    # a one-strike key inside the same window does not repeat it either
    s.append(rec("e", T0 + timedelta(days=20), "threat_violence"))
    assert not decide("fb:9", s, T0 + timedelta(days=20), P, T0 + timedelta(days=2)).recommend_block
    # once the last recommendation has left the window, a new qualifying set recommends again
    late = [rec("x", T0 + timedelta(days=51)), rec("y", T0 + timedelta(days=52)), rec("z", T0 + timedelta(days=53))]
    d = decide("fb:9", s + late, T0 + timedelta(days=53), P, T0 + timedelta(days=2))
    assert d.recommend_block and [x.comment_id for x in d.strikes] == ["x", "y", "z"]
    # ...and a one-strike comment whose recommendation was held back still counts in a
    # later window once the earlier recommendation has expired
    d = decide("fb:9", s, T0 + timedelta(days=33), P, T0 + timedelta(days=2))
    assert d.recommend_block and [x.comment_id for x in d.strikes] == ["e"]


def test_policy_is_configurable():
    p = PolicyConfig(window_days=7, strikes_to_block=2, one_strike_keys=())
    s = [rec("a", T0), rec("b", T0 + timedelta(days=6))]
    assert decide("fb:9", s, T0 + timedelta(days=6), p).recommend_block
    assert not decide("fb:9", s[:1] + [rec("b", T0 + timedelta(days=7))], T0 + timedelta(days=7), p).recommend_block
    assert not decide("fb:9", [rec("a", T0, "threat_violence")], T0, p).recommend_block
    # a key not in strike_keys is ignored
    p2 = PolicyConfig(strike_keys=("offensive_staff",))
    assert not decide("fb:9", [rec("a", T0, "threat_violence")], T0, p2).recommend_block


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        decide("fb:9", [], datetime(2026, 9, 1), P)


def test_strike_records_for_uncounted_comments_are_empty():
    a = Assessment(categories=("offensive_staff",), strikes=("offensive_staff",), counted=False)
    assert strike_records(comment("x"), a) == []
    a = Assessment(categories=("offensive_staff",), strikes=("offensive_staff",))
    (r,) = strike_records(comment("x", cid="c9"), a)
    assert (r.platform, r.comment_id, r.key) == ("facebook", "c9", "offensive_staff")

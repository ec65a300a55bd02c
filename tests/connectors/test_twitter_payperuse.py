"""The X connector on pay-per-use X (issue 15, items 9 to 13), against the loopback fake X
server, which bills as X does (post $0.005, owned read $0.001, user $0.010, media $0.005,
each resource once per UTC day) and serves the shapes of long posts (``note_tweet``),
video ``variants``, ``usage-capped`` 429s and ``resource-not-found`` partial errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connectors.base import ConnectorError, FetchContext
from connectors.twitter import TwitterConnector
from monitor.config import AccountConfig, SecretRef
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.x import FakeXServer, usage_capped

TOKEN = "x-ppu-bearer-Qm40"
USER = {"consumer_key": "ck-ppu-1", "consumer_secret": "cs-ppu-2",
        "access_token": "2000-at-ppu-3", "access_token_secret": "ats-ppu-4"}
ENV = {"X_BEARER": TOKEN, **{f"X_{k.upper()}": v for k, v in USER.items()}}
DEMO_NOW = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def account(base_url: str, user_context: bool = False, **kw) -> AccountConfig:
    secrets = {"bearer_token": SecretRef(key="accounts[0].bearer_token", env="X_BEARER")}
    if user_context:
        secrets.update({k: SecretRef(key=f"accounts[0].{k}", env=f"X_{k.upper()}") for k in USER})
    base = dict(name="brookfield-x", platform="twitter", user_id="2000", handle="BrookfieldPS",
                base_url=base_url, timeout_seconds=5.0, lookback_days=45, secrets=secrets)
    base.update(kw)
    return AccountConfig(**base)


def connector(srv: FakeXServer, user_context: bool = False, environ=None, **kw) -> TwitterConnector:
    return TwitterConnector(account(srv.base_url, user_context, **kw), environ=environ or ENV, sleep=lambda s: None)


def ctx(cursor=None, now=T0, budget=None, money=None, watch=()) -> FetchContext:
    return FetchContext(cursor=cursor or {}, now=now, read_budget_remaining=budget, budget_usd_remaining=money,
                        watch_ids=tuple(watch))


def fake(posts=(), now=T0, **kw) -> FakeXServer:
    clock = Clock(now)
    srv = FakeXServer(posts, bearer_token=TOKEN, consumer_key=USER["consumer_key"],
                      access_token=USER["access_token"], clock=clock, **kw)
    srv.test_clock = clock
    return srv


@pytest.fixture
def demo():
    with fake(load_demo_posts(), now=DEMO_NOW) as srv:
        yield srv


@pytest.fixture
def small():
    with fake(mention_rule="text") as srv:
        post = srv.add_post("Sports day moved to Friday", created_at=T0 - timedelta(days=1))
        a = srv.add_reply(post, "@BrookfieldPS is it still at the field?", author_id="3001", username="amy_p",
                          created_at=T0 - timedelta(hours=20))
        b = srv.add_reply(post, "@amy_p yes, same as last year", author_id="3002", username="ben_k",
                          created_at=T0 - timedelta(hours=19), parent_id=a, attachment="video")
        srv.post_id, srv.a, srv.b = post, a, b
        yield srv


# ---------------------------------------------------------------------- 9: cost in money and reads
def test_cost_estimate_matches_what_x_bills_and_counts_user_reads(demo):
    res = connector(demo).fetch(ctx(now=DEMO_NOW))
    assert demo.billed["users"] > 0 and res.user_reads == demo.billed["users"]
    assert res.cost_usd == pytest.approx(demo.billed_micro_usd / 1e6) and res.cost_usd > 0
    assert res.reads == demo.posts_served


def test_a_post_read_twice_in_a_utc_day_is_billed_once_and_again_next_day(demo):
    conn = connector(demo)
    first = conn.fetch(ctx(now=DEMO_NOW))
    billed = demo.billed_micro_usd
    # the windows start again (everything re-read) on the same UTC day: X bills nothing more
    again = conn.fetch(ctx({"billing": first.cursor["billing"]}, now=DEMO_NOW + timedelta(hours=3)))
    assert again.reads >= first.reads - 1 > 0 and demo.billed_micro_usd == billed and again.cost_usd == 0
    # the next UTC day, the same posts are billed again, and the estimate says so
    demo.test_clock.now = DEMO_NOW + timedelta(days=1)
    later = conn.fetch(ctx({"billing": again.cursor["billing"]}, now=DEMO_NOW + timedelta(days=1)))
    assert later.cost_usd == pytest.approx((demo.billed_micro_usd - billed) / 1e6)
    assert first.cost_usd - 0.0051 <= later.cost_usd <= first.cost_usd  # one post fewer in lookback at most


def test_money_budget_stops_reading_before_it_is_overspent(demo):
    res = connector(demo).fetch(ctx(now=DEMO_NOW, money=0.25))
    assert 0 < res.cost_usd <= 0.25 and demo.billed_micro_usd <= 250_000
    assert any("X read budget reached: $" in w for w in res.warnings)
    assert res.cursor["mentions"]["until_id"]  # the rest is read when budget is available


def test_money_budget_spent_raises_without_calling_x(demo):
    with pytest.raises(ConnectorError) as ei:
        connector(demo, monthly_budget_usd=10.0).fetch(ctx(now=DEMO_NOW, money=0.0))
    assert ei.value.kind == "budget" and not ei.value.permanent and demo.request_count == 0
    assert "$10.00" in str(ei.value) and "monthly_budget_usd" in str(ei.value)


# ---------------------------------------------------------------------- 10: owned reads
def test_mentions_and_timeline_are_owned_reads_with_user_context_search_with_bearer(demo):
    res = connector(demo, user_context=True).fetch(ctx(now=DEMO_NOW))
    auth = {r.path: r.auth for r in demo.requests}
    assert auth["/2/users/2000/mentions"] == auth["/2/users/2000/tweets"] == "oauth"
    assert auth["/2/tweets/search/recent"] == "bearer"
    assert demo.billed["owned"] > 0
    assert res.cost_usd == pytest.approx(demo.billed_micro_usd / 1e6)
    with fake(load_demo_posts(), now=DEMO_NOW) as other:
        bearer_only = connector(other).fetch(ctx(now=DEMO_NOW))
    assert {c.comment_id for c in bearer_only.comments} == {c.comment_id for c in res.comments}
    posts_part = demo.billed["owned"] * 1000, demo.billed["owned"] * 5000
    assert bearer_only.cost_usd - res.cost_usd == pytest.approx((posts_part[1] - posts_part[0]) / 1e6, abs=0.011)


def test_without_user_context_the_bearer_is_used_and_check_says_so(small):
    conn = connector(small)
    conn.fetch(ctx())
    assert {r.auth for r in small.requests} == {"bearer"}
    results = conn.check()
    assert results[0].ok
    warn = results[1]
    assert warn.ok and warn.warning and "bearer token" in warn.detail and "owned reads" in warn.detail
    ok = connector(small, user_context=True).check()
    assert ok[1].ok and not ok[1].warning and "owned reads" in ok[1].detail


def test_tokens_of_another_account_fall_back_to_the_bearer(small):
    env = {**ENV, "X_ACCESS_TOKEN": "3001-at-of-amy"}
    small.access_token = "3001-at-of-amy"
    res = connector(small, user_context=True, environ=env).fetch(ctx())
    assert any("not the school's account 2000" in w for w in res.warnings)
    assert {r.auth for r in small.requests if r.path.endswith(("/mentions", "/tweets"))} == {"bearer"}


# ---------------------------------------------------------------------- 11: usage cap, credits, repeated 400
@pytest.mark.parametrize("status, body", [(429, usage_capped()),
                                          (402, {"title": "Payment Required", "type": "about:blank",
                                                 "detail": "Your enrolled account does not have any credits"})])
def test_usage_cap_or_no_credits_is_a_permanent_budget_stop_not_a_rate_limit(small, status, body):
    small.fail_next(1, status, body=body, reset_after=60)
    with pytest.raises(ConnectorError) as ei:
        connector(small).fetch(ctx())
    e = ei.value
    assert e.kind == "budget" and e.permanent and e.status == status and e.retry_after is None
    assert "Developer Console" in str(e) and small.request_count == 1  # not retried


def test_usage_cap_mid_poll_keeps_what_was_read(small):
    small.fail_next(1, 429, body=usage_capped(), path="/search/")
    res = connector(small).fetch(ctx())
    assert {c.author_handle for c in res.comments} == {"amy_p"}
    assert res.next_poll_after == 3600 and "usage cap" in res.warnings[0]


def test_a_400_is_transient_once_and_permanent_when_the_same_request_repeats(small):
    body = {"errors": [{"parameters": {"since_id": ["1"]}, "message": "Invalid since_id"}],
            "title": "Invalid Request", "type": "https://api.twitter.com/2/problems/invalid-request"}
    conn = connector(small)
    small.fail_next(1, 400, body=body, path="/mentions")
    with pytest.raises(ConnectorError) as first:
        conn.fetch(ctx())
    assert first.value.kind == "transient" and not first.value.permanent
    small.fail_next(1, 400, body=body, path="/mentions")
    with pytest.raises(ConnectorError) as second:
        conn.fetch(ctx(now=T0 + timedelta(minutes=15)))
    assert second.value.kind == "invalid_request" and second.value.permanent and second.value.status == 400
    assert "refused again" in str(second.value)
    # a different request that fails once is transient again
    assert conn.fetch(ctx()).comments


# ---------------------------------------------------------------------- 12: long posts, video variants
def test_a_long_post_is_stored_with_its_whole_note_tweet_text(small):
    long = "@BrookfieldPS " + "this is about the teacher in year 4 and what happened on the trip. " * 9
    assert len(long) > 280
    tid = small.add_reply(small.post_id, long, author_id="3003", username="carl_d", created_at=T0 - timedelta(hours=2))
    res = connector(small).fetch(ctx())
    c = next(c for c in res.comments if c.comment_id == tid)
    assert c.text == long and c.raw["data"]["text"] != long  # X cuts text; note_tweet has it all
    assert "note_tweet" in small.requests[0].query["tweet.fields"].split(",")


def test_a_video_keeps_its_best_mp4_variant(small):
    res = connector(small).fetch(ctx())
    c = next(c for c in res.comments if c.comment_id == small.b)
    assert [a.type for a in c.attachments] == ["video"]
    assert c.attachments[0].url.endswith("1280x720/fake.mp4?tag=12")
    assert "variants" in small.requests[0].query["media.fields"].split(",")


# ---------------------------------------------------------------------- 13: deletions
def test_deleted_watched_replies_are_reported_and_others_are_not(small):
    conn = connector(small)
    first = conn.fetch(ctx())
    small.delete_tweet(small.a)
    small.delete_tweet(small.b)
    res = conn.fetch(ctx(first.cursor, watch=[small.a]))  # only a is open or flagged
    assert list(res.deleted) == [small.a]
    lookup = [r for r in small.requests if r.path == "/2/tweets"]
    assert len(lookup) == 1 and lookup[0].query["ids"] == small.a and lookup[0].auth == "bearer"


def test_deletion_checks_are_bounded_per_poll_and_rotate(small):
    ids = [small.add_reply(small.post_id, f"@BrookfieldPS reply {i}", author_id=str(4000 + i),
                           created_at=T0 - timedelta(hours=10, minutes=i)) for i in range(250)]
    conn = connector(small, deletion_checks_per_poll=150)
    cur = conn.fetch(ctx()).cursor
    small.requests.clear()
    for gone in ids[200:]:
        small.delete_tweet(gone)
    one = conn.fetch(ctx(cur, watch=ids))
    sizes = [len(r.query["ids"].split(",")) for r in small.requests if r.path == "/2/tweets"]
    assert sizes == [100, 50] and not one.deleted
    small.requests.clear()
    two = conn.fetch(ctx(one.cursor, watch=ids))  # the 100 not yet checked today come first
    checked = [i for r in small.requests if r.path == "/2/tweets" for i in r.query["ids"].split(",")]
    assert checked[:100] == ids[150:250] and sorted(two.deleted, key=int) == sorted(ids[200:], key=int)


def test_deletion_checks_stay_within_the_money_budget(small):
    cur = connector(small).fetch(ctx()).cursor
    small.test_clock.now = T0 + timedelta(days=1)  # a new UTC day: each lookup is billed again
    before = small.billed_micro_usd
    small.requests.clear()
    with pytest.raises(ConnectorError) as ei:  # one lookup paid for, then nothing more can be
        connector(small).fetch(ctx(cur, now=T0 + timedelta(days=1), money=0.0051, watch=[small.a, small.b]))
    assert ei.value.kind == "budget" and not ei.value.permanent
    [lookup] = [r for r in small.requests if r.path == "/2/tweets"]
    assert lookup.query["ids"] == small.a and small.billed_micro_usd - before == 5000


def test_a_partial_error_that_is_not_resource_not_found_is_not_a_deletion(small):
    body = {"errors": [{"value": small.a, "detail": f"Sorry, you are not authorized to see the Tweet with ids: "
                        f"[{small.a}].", "title": "Authorization Error", "resource_type": "tweet",
                        "parameter": "ids", "resource_id": small.a,
                        "type": "https://api.twitter.com/2/problems/not-authorized-for-resource"}]}
    small.fail_next(1, 200, body=body, path="/2/tweets$", reset_after=None)
    res = connector(small, user_id="2000").fetch(ctx(watch=[small.a]))
    assert not res.deleted and any("not treated as deleted" in w for w in res.warnings)


# ---------------------------------------------------------------------- with issue 14 (merged from main)
def test_a_repeated_next_token_stops_the_read_and_the_estimate_still_matches_the_bill(demo):
    """The next_token repeat guard and the money budget act on the same read loop: the
    pages X repeats are billed once (same UTC day), and so is the estimate. (The budget
    keeps pages small, so the demo's mentions take several pages.)"""
    demo.repeat_next_token = True
    res = connector(demo).fetch(ctx(now=DEMO_NOW, money=1.0))
    assert any("repeated next_token" in e for e in res.errors)
    assert res.cost_usd == pytest.approx(demo.billed_micro_usd / 1e6) and 0 < res.cost_usd <= 1.0


def test_the_read_cap_of_a_poll_and_the_money_budget_both_bound_the_poll(demo):
    capped = TwitterConnector(account(demo.base_url), environ=ENV, sleep=lambda s: None, max_reads_per_poll=30)
    res = capped.fetch(ctx(now=DEMO_NOW, money=50.0))
    assert res.reads <= 30 and any("read cap of 30" in w for w in res.warnings)
    assert not any("X read budget reached" in w for w in res.warnings)
    poor = TwitterConnector(account(demo.base_url), environ=ENV, sleep=lambda s: None, max_reads_per_poll=2000)
    res = poor.fetch(ctx(now=DEMO_NOW, money=0.25))
    assert res.cost_usd <= 0.25 and any("X read budget reached: $" in w for w in res.warnings)
    assert not any("read cap of" in w for w in res.warnings)


def test_a_quarantined_reply_is_still_counted_in_the_cost(small):
    """X bills a post it returns even when this program cannot read it (quarantined)."""
    small.malform_tweet(small.b, drop=("author_id",))
    res = connector(small).fetch(ctx())
    assert [q.item_id for q in res.quarantined] == [small.b]
    assert res.cost_usd == pytest.approx(small.billed_micro_usd / 1e6) and res.cost_usd > 0

"""The X connector against the loopback fake X API v2 server (real HTTP on 127.0.0.1,
recorded response shapes): fetching, paging, since_id, the read budget, errors, check,
hide and block."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from connectors.base import ConnectorError, FetchContext
from connectors.twitter import SEARCH_QUERY_MAX, TwitterConnector
from monitor.config import AccountConfig, SecretRef
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.x import FakeXServer

TOKEN = "x-test-bearer-Zq81"
USER_SECRETS = {"consumer_key": "ck-test-11", "consumer_secret": "cs-test-22",
                "access_token": "2000-at-test-33", "access_token_secret": "ats-test-44"}
ENV = {"X_BEARER": TOKEN, **{f"X_{k.upper()}": v for k, v in USER_SECRETS.items()}}
DEMO_NOW = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def account(base_url: str, **kw) -> AccountConfig:
    secrets = {"bearer_token": SecretRef(key="accounts[0].bearer_token", env="X_BEARER")}
    if kw.get("hide_enabled"):
        secrets.update({k: SecretRef(key=f"accounts[0].{k}", env=f"X_{k.upper()}") for k in USER_SECRETS})
    base = dict(name="brookfield-x", platform="twitter", user_id="2000", handle="BrookfieldPS",
                base_url=base_url, timeout_seconds=5.0, lookback_days=45, secrets=secrets)
    base.update(kw)
    return AccountConfig(**base)


class Sleeps(list):
    def __call__(self, s: float) -> None:
        self.append(s)


def connector(srv: FakeXServer, sleeps: Sleeps | None = None, **kw) -> TwitterConnector:
    opts = {k: kw.pop(k) for k in ("max_attempts", "clock") if k in kw}
    return TwitterConnector(account(srv.base_url, **kw), environ=ENV, sleep=sleeps if sleeps is not None else Sleeps(),
                            **opts)


def ctx(cursor=None, now=T0, budget=None) -> FetchContext:
    return FetchContext(cursor=cursor or {}, now=now, read_budget_remaining=budget)


@pytest.fixture
def demo():
    with FakeXServer(load_demo_posts(), bearer_token=TOKEN, consumer_key=USER_SECRETS["consumer_key"],
                     access_token=USER_SECRETS["access_token"]) as srv:
        yield srv


@pytest.fixture
def small():
    """One school post of T0 - 1 day with three replies; the second does not mention the school."""
    with FakeXServer([], bearer_token=TOKEN, mention_rule="text", consumer_key=USER_SECRETS["consumer_key"],
                     access_token=USER_SECRETS["access_token"]) as srv:
        post = srv.add_post("Sports day moved to Friday", created_at=T0 - timedelta(days=1))
        a = srv.add_reply(post, "@BrookfieldPS is it still at the field?", author_id="3001", username="amy_p",
                          name="Amy P", created_at=T0 - timedelta(hours=20))
        srv.add_reply(post, "@amy_p yes, same as last year", author_id="3002", username="ben_k",
                      name="Ben K", created_at=T0 - timedelta(hours=19), parent_id=a, attachment="photo")
        srv.add_reply(post, "@amy_p thanks both", author_id="2000", username="BrookfieldPS",
                      created_at=T0 - timedelta(hours=18), parent_id=a)
        srv.post_id = post
        yield srv


def paths(srv: FakeXServer) -> list[str]:
    return [r.path for r in srv.requests]


# ---------------------------------------------------------------------- fetching
def test_demo_first_poll_maps_every_reply_and_counts_reads(demo):
    conn = connector(demo)
    res = conn.fetch(ctx(now=DEMO_NOW))
    school_posts = [p for p in load_demo_posts() if p.platform == "twitter"]
    assert len(res.posts) == len(school_posts) == 14
    # every non-school reply arrives as a mention; the school's own replies of the last 7 days by search
    others = [c for p in school_posts for c in p.comments if c.author_id != "2000"]
    recent_own = [c for p in school_posts for c in p.comments
                  if c.author_id == "2000" and p.created_at >= DEMO_NOW - timedelta(days=7)]
    assert {c.comment_id for c in res.comments} == {demo.tweet_id(c.native_id) for c in others + recent_own}
    assert res.reads == demo.posts_served == len(res.comments) + len(res.posts)
    assert res.calls == len(demo.requests) == 3  # mentions, own posts, one OR-combined search
    assert paths(demo) == ["/2/users/2000/mentions", "/2/users/2000/tweets", "/2/tweets/search/recent"]

    by_source = {demo.tweet_id(c.native_id): c for p in school_posts for c in p.comments}
    for c in res.comments:
        src = by_source[c.comment_id]
        assert c.platform == "twitter" and c.account == "brookfield-x"
        assert c.text == src.text
        assert c.author_id == f"tw:{src.author_id}"
        assert c.author_handle == src.author_name.lstrip("@")
        assert c.permalink == f"https://x.com/{c.author_handle}/status/{c.comment_id}"
        assert c.post_id == demo.tweet_id(src.post_id)
        assert c.post_text and c.created_at == src.created_at
        assert c.raw["data"]["edit_history_tweet_ids"] == [c.comment_id]
        assert c.raw["includes"]["users"][0]["id"] == src.author_id
        assert [a.type for a in c.attachments] == ([src.attachment] if src.attachment else [])
    photo = next(c for c in res.comments if c.attachments)
    assert photo.attachments[0].url.startswith("https://pbs.twimg.com/")
    post = res.posts[0]
    assert post.permalink == f"https://x.com/BrookfieldPS/status/{post.post_id}"


def test_second_poll_uses_since_id_and_finds_a_new_reply_exactly_once(small):
    conn = connector(small)
    first = conn.fetch(ctx())
    assert len(first.comments) == 3 and first.reads == 4  # the post + 3 replies
    small.requests.clear()
    again = conn.fetch(ctx(first.cursor))
    assert again.comments == [] and again.reads == 0
    mention_q = small.requests[0].query
    assert mention_q["since_id"] == first.cursor["mentions"]["since_id"]
    new = small.add_reply(small.post_id, "@BrookfieldPS what time does it start?", author_id="3003",
                          created_at=T0 - timedelta(hours=1))
    third = conn.fetch(ctx(again.cursor))
    assert [c.comment_id for c in third.comments] == [new] and third.reads == 1
    assert conn.fetch(ctx(third.cursor)).comments == []


def test_replies_not_mentioning_the_school_come_from_conversation_search_once(small):
    res = connector(small).fetch(ctx())
    by_id = {c.comment_id: c for c in res.comments}
    search = next(r for r in small.requests if r.path == "/2/tweets/search/recent")
    assert search.query["query"] == f"conversation_id:{small.post_id} is:reply -@BrookfieldPS"
    assert search.query["since_id"] == small.post_id
    ben = next(c for c in res.comments if c.author_handle == "ben_k")
    amy = next(c for c in res.comments if c.author_handle == "amy_p")
    assert ben.parent_id == amy.comment_id and amy.parent_id is None  # direct reply = top level
    assert ben.post_id == amy.post_id == small.post_id
    assert ben.attachments[0].type == "photo"
    assert by_id[ben.comment_id].post_text == "Sports day moved to Friday"
    assert res.reads == small.posts_served == 4  # nothing read twice


def test_mentions_are_paged_with_next_token(small):
    for i in range(230):
        small.add_reply(small.post_id, f"@BrookfieldPS question {i}", author_id=str(4000 + i),
                        created_at=T0 - timedelta(hours=17, seconds=-i))
    res = connector(small).fetch(ctx())
    mentions = [r for r in small.requests if r.path.endswith("/mentions")]
    assert [r.query["max_results"] for r in mentions] == ["100", "100", "100"]
    assert "pagination_token" not in mentions[0].query and mentions[1].query["pagination_token"]
    assert len(res.comments) == 233 and len({c.comment_id for c in res.comments}) == 233
    assert res.reads == small.posts_served == 234


def test_conversations_are_or_combined_within_the_query_limit(small):
    posts = [small.add_post(f"Notice {i}", created_at=T0 - timedelta(hours=30 - i)) for i in range(25)]
    for p in posts[::5]:
        small.add_reply(p, "no mention here", author_id="3009", created_at=T0 - timedelta(hours=2))
    res = connector(small).fetch(ctx())
    searches = [r.query for r in small.requests if r.path == "/2/tweets/search/recent"]
    assert all(len(q["query"]) <= SEARCH_QUERY_MAX for q in searches)
    assert 2 <= len(searches) <= 3  # 26 conversations, about 11 per query
    assert sum(q["query"].count("conversation_id:") for q in searches) == 26
    assert sum(1 for c in res.comments if c.text == "no mention here") == 5
    assert set(res.cursor["conversations"]) == set(posts) | {small.post_id}


def test_handle_is_resolved_once_and_cached_in_the_cursor(small):
    conn = connector(small, user_id=None)
    first = conn.fetch(ctx())
    assert small.requests[0].path == "/2/users/by/username/BrookfieldPS"
    assert first.cursor["user_id"] == "2000" and first.cursor["username"] == "BrookfieldPS"
    small.requests.clear()
    conn.fetch(ctx(first.cursor))
    assert not any("/by/username/" in p for p in paths(small))


def test_unknown_handle_is_a_permanent_not_found(small):
    with pytest.raises(ConnectorError) as ei:
        connector(small, user_id=None, handle="NoSuchSchool").fetch(ctx())
    assert ei.value.kind == "not_found" and ei.value.permanent and "@NoSuchSchool" in str(ei.value)


def test_old_conversations_leave_the_cursor(small):
    res = connector(small).fetch(ctx())
    later = connector(small).fetch(ctx(res.cursor, now=T0 + timedelta(days=8)))
    assert later.cursor["conversations"] == {}


# ---------------------------------------------------------------------- read budget
def test_budget_zero_raises_without_calling_x(demo):
    with pytest.raises(ConnectorError) as ei:
        connector(demo).fetch(ctx(now=DEMO_NOW, budget=0))
    assert ei.value.kind == "budget" and not ei.value.permanent
    assert "budget" in str(ei.value) and demo.request_count == 0


def test_budget_caps_reads_and_the_rest_is_read_later_exactly_once(demo):
    conn = connector(demo)
    first = conn.fetch(ctx(now=DEMO_NOW, budget=30))
    assert first.reads == demo.posts_served == 30
    assert [r.query["max_results"] for r in demo.requests] == ["30"]
    assert first.cursor["mentions"]["until_id"] and any("budget" in w for w in first.warnings)
    second = conn.fetch(ctx(first.cursor, now=DEMO_NOW, budget=27))
    assert second.reads == 27
    rest = conn.fetch(ctx(second.cursor, now=DEMO_NOW))
    ids = [c.comment_id for r in (first, second, rest) for c in r.comments]
    assert len(ids) == len(set(ids))  # nothing read twice
    full = connector(demo).fetch(ctx(now=DEMO_NOW))
    assert set(ids) == {c.comment_id for c in full.comments}
    assert first.reads + second.reads + rest.reads == full.reads
    assert rest.cursor["mentions"]["until_id"] is None


def test_budget_below_the_smallest_page_makes_no_request(demo):
    res = connector(demo).fetch(ctx(now=DEMO_NOW, budget=4))
    assert res.reads == 0 and demo.request_count == 0 and res.comments == []
    assert "fewer than the smallest page" in res.warnings[0]


# ---------------------------------------------------------------------- errors
def test_429_with_reset_header_gives_retry_after(small):
    small.fail_next(1, 429, reset_after=120)
    with pytest.raises(ConnectorError) as ei:
        connector(small).fetch(ctx())
    e = ei.value
    assert e.kind == "rate_limit" and not e.permanent and e.status == 429
    assert 110 <= e.retry_after <= 125 and "resets at" in str(e)


def test_429_without_reset_header_waits_the_15_minute_window(small):
    small.fail_next(1, 429, reset_after=None)
    with pytest.raises(ConnectorError) as ei:
        connector(small).fetch(ctx())
    assert ei.value.kind == "rate_limit" and ei.value.retry_after == 900
    assert "no x-rate-limit-reset" in str(ei.value)


def test_429_mid_poll_keeps_what_was_read_and_resumes(small):
    small.fail_next(1, 429, reset_after=60, path="/search/")
    conn = connector(small)
    res = conn.fetch(ctx())
    assert {c.author_handle for c in res.comments} == {"amy_p"} and res.reads == 2
    assert 50 <= res.next_poll_after <= 65 and "rate limit" in res.warnings[0]
    assert res.cursor["conversations"][small.post_id]["since_id"] == small.post_id  # search still to do
    after = conn.fetch(ctx(res.cursor))
    assert {c.author_handle for c in after.comments} == {"ben_k", "BrookfieldPS"}


def test_401_is_permanent_auth_asking_to_reconnect(small):
    conn = TwitterConnector(account(small.base_url), environ={"X_BEARER": "wrong-token-Yp2"}, sleep=Sleeps())
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(ctx())
    e = ei.value
    assert e.kind == "auth" and e.permanent and e.status == 401
    assert "reconnect the X credentials" in str(e) and "environment variable X_BEARER" in str(e)
    assert "wrong-token-Yp2" not in str(e) and "wrong-token-Yp2" not in repr(e.args)


def test_403_names_the_endpoint_the_tier_does_not_allow(small):
    small.fail_next(1, 403, path="/mentions")
    with pytest.raises(ConnectorError) as ei:
        connector(small).fetch(ctx())
    e = ei.value
    assert e.kind == "permission" and e.permanent and e.status == 403 and e.code == "client-not-enrolled"
    assert "GET /2/users/:id/mentions" in str(e) and "access tier" in str(e)


def test_500_is_retried_with_backoff_then_succeeds(small):
    small.fail_next(2, 500)
    sleeps = Sleeps()
    res = connector(small, sleeps).fetch(ctx())
    assert len(res.comments) == 3 and sleeps == [2.0, 4.0]
    assert res.calls == len(small.requests) == 5


def test_503_every_time_is_transient_after_bounded_retries(small):
    small.fail_next(5, 503)
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as ei:
        connector(small, sleeps).fetch(ctx())
    assert ei.value.kind == "transient" and not ei.value.permanent and ei.value.status == 503
    assert sleeps == [2.0, 4.0] and small.request_count == 3


@pytest.mark.parametrize("status,body", [(502, "<html><body>Bad Gateway</body></html>"),
                                         (200, "<html>maintenance</html>"), (200, '{"data": [')])
def test_html_or_truncated_answers_are_transient(small, status, body):
    small.fail_next(3, status, body=body, content_type="text/html")
    with pytest.raises(ConnectorError) as ei:
        connector(small).fetch(ctx())
    assert ei.value.kind == "transient"


def test_timeout_is_transient_and_bounded(small):
    small.set_delay(1.5)
    conn = connector(small, timeout_seconds=0.2, max_attempts=2)
    started = datetime.now()
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(ctx())
    assert ei.value.kind == "transient" and "timed out after 0.2 s" in str(ei.value)
    assert (datetime.now() - started).total_seconds() < 1.5
    small.clear_faults()


def test_connection_refused_is_transient(small):
    url = small.base_url
    small.stop()
    conn = TwitterConnector(account(url), environ=ENV, sleep=Sleeps(), max_attempts=2)
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(ctx())
    assert ei.value.kind == "transient" and "cannot connect" in str(ei.value)


def test_missing_secret_is_permanent_auth_naming_the_key(small):
    conn = TwitterConnector(account(small.base_url), environ={}, sleep=Sleeps())
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(ctx())
    assert ei.value.kind == "auth" and ei.value.permanent and "accounts[0].bearer_token" in str(ei.value)


def test_the_token_is_never_in_errors_or_logs(small, caplog):
    caplog.set_level(logging.DEBUG)
    errors = []
    for status in (401, 403, 429, 500, 503):
        small.fail_next(3, status, reset_after=None if status == 429 else 30)
        try:
            connector(small).fetch(ctx())
        except ConnectorError as exc:
            errors.append(exc)
    assert len(errors) == 5
    text = " ".join(f"{e} {e.args} {e.code}" for e in errors) + caplog.text
    assert TOKEN not in text
    assert "Making API request" not in caplog.text  # tweepy's DEBUG line never emitted


def test_tweepy_logger_is_held_at_info_and_redacted(small, caplog):
    logging.getLogger("tweepy").setLevel(logging.DEBUG)
    conn = connector(small)
    assert logging.getLogger("tweepy").level >= logging.INFO
    assert logging.getLogger("tweepy.client").getEffectiveLevel() >= logging.INFO
    # even if someone forces DEBUG back on afterwards, the bearer token is redacted
    logging.getLogger("tweepy.client").setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG):
            conn.fetch(ctx())
        assert "Making API request" in caplog.text and "Bearer [redacted]" in caplog.text
        assert TOKEN not in caplog.text
    finally:
        logging.getLogger("tweepy.client").setLevel(logging.NOTSET)
        logging.getLogger("tweepy").setLevel(logging.INFO)


# ---------------------------------------------------------------------- check
def test_check_verifies_the_bearer_token(small):
    res = connector(small).check()[0]
    assert res.ok and "@BrookfieldPS is user 2000" in res.detail


def test_check_reports_a_wrong_token_without_raising(small):
    conn = TwitterConnector(account(small.base_url), environ={"X_BEARER": "nope-nope"}, sleep=Sleeps())
    res = conn.check()[0]
    assert not res.ok and "reconnect the X credentials" in res.detail and "nope-nope" not in res.detail


def test_check_flags_a_handle_that_is_another_user(small):
    small.add_reply(small.post_id, "hi", author_id="3100", username="OtherSchool")
    res = connector(small, user_id="3100").check()[0]
    assert not res.ok and "not the configured handle @BrookfieldPS" in res.detail


def test_check_verifies_user_context_when_hiding_is_enabled(small):
    results = connector(small, hide_enabled=True).check()
    assert [r.ok for r in results] == [True, True]
    assert "user-context tokens accepted for @BrookfieldPS" in results[1].detail
    bad_env = {**ENV, "X_ACCESS_TOKEN": "9999-someone-else"}
    conn = TwitterConnector(account(small.base_url, hide_enabled=True), environ=bad_env, sleep=Sleeps())
    assert [r.ok for r in conn.check()] == [True, False]


# ---------------------------------------------------------------------- actions
def test_hide_and_unhide_a_reply(small):
    res = connector(small).fetch(ctx())
    reply = next(c for c in res.comments if c.author_handle == "ben_k").comment_id
    conn = connector(small, hide_enabled=True)
    conn.hide(reply)
    assert small.tweet(reply)["hidden"] is True
    put = small.requests[-1]
    assert put.method == "PUT" and put.path == f"/2/tweets/{reply}/hidden" and put.auth == "oauth"
    conn.hide(reply, hidden=False)
    assert small.tweet(reply)["hidden"] is False


def test_hide_is_refused_when_not_enabled_or_not_a_reply(small):
    with pytest.raises(ConnectorError) as ei:
        connector(small).hide("123")
    assert ei.value.kind == "refused" and "hide_enabled" in str(ei.value) and small.request_count == 0
    with pytest.raises(ConnectorError) as ei:
        connector(small, hide_enabled=True).hide(small.post_id)  # the school's own post
    assert ei.value.kind == "refused" and ei.value.status == 403


def test_block_is_refused_with_how_to_block_in_the_app(small):
    conn = connector(small)
    with pytest.raises(ConnectorError) as ei:
        conn.block("tw:3002")
    msg = str(ei.value)
    assert ei.value.kind == "refused" and ei.value.permanent
    assert "https://x.com/i/user/3002" in msg and "Block" in msg and "@BrookfieldPS" in msg
    assert "blocking was removed from the X API v2" in msg and "tier" not in msg  # not tier-gated: gone
    with pytest.raises(ConnectorError) as ei:
        conn.block("tw:3002", handle="ben_k")
    assert "https://x.com/ben_k" in str(ei.value) and small.request_count == 0


def test_a_used_up_rate_limit_window_defers_the_next_poll():
    with FakeXServer([], bearer_token=TOKEN, rate_limit=1) as srv:
        post = srv.add_post("Trip", created_at=T0 - timedelta(hours=3))
        srv.add_reply(post, "@BrookfieldPS ok", created_at=T0 - timedelta(hours=2))
        res = connector(srv).fetch(ctx())
        assert len(res.comments) == 1
        assert 800 <= res.next_poll_after <= 901 and "rate limit window" in res.warnings[-1]


def test_hostile_text_arrives_exactly_as_posted(small):
    texts = ["nul\x00byte", "\u202eright-to-left\u202c", "emoji 👩‍👧‍👦 <b>html</b>\r\nnext line",
             "lone \udc80 surrogate", "x" * 100_000]
    ids = [small.add_reply(small.post_id, f"@BrookfieldPS {t}", author_id=str(3300 + i),
                           created_at=T0 - timedelta(minutes=30 - i)) for i, t in enumerate(texts)]
    res = connector(small).fetch(ctx())
    by_id = {c.comment_id: c.text for c in res.comments}
    assert [by_id[i] for i in ids] == [f"@BrookfieldPS {t}" for t in texts]


@pytest.mark.parametrize("body", [
    {"data": {"not": "a list"}, "meta": {"result_count": 1}},
    {"data": [1, "x", None, {"id": "abc", "text": "no numeric id"}]},
    {"data": [{"id": "5", "text": "t", "author_id": "9", "created_at": "yesterday"}]},
    {"data": [{"id": "6", "text": "t", "author_id": "9", "created_at": "2026-11-01T00:00:00.000Z",
               "attachments": ["bad"], "referenced_tweets": "bad", "conversation_id": None}],
     "includes": [], "meta": "bad"},
    {"data": [{"id": "7", "text": None, "author_id": "9", "created_at": "2026-11-01T00:00:00.000Z"}],
     "includes": {"users": "bad", "media": [None]}, "meta": {"next_token": 5}},
    [],
])
def test_malformed_payloads_never_crash_the_poll(small, body):
    small.fail_next(1, 200, body=body, path="/mentions")
    try:
        res = connector(small).fetch(ctx())
    except ConnectorError as exc:  # a body that is not a JSON object
        assert exc.kind == "transient"
        return
    good = [c for c in res.comments if c.comment_id == "6"]
    assert all(c.author_id == "tw:9" and c.post_id == "6" and c.attachments == () for c in good)
    assert {c.author_handle for c in res.comments} >= {"ben_k"}  # the rest of the poll went on

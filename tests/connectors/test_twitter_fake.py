"""The loopback fake X API v2 server behaves like X where the connector, the demo and the
reliability tests rely on it (driven through a real tweepy.Client)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests
import tweepy

from connectors.twitter import X_API_HOST, XTransportAdapter
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.x import FakeXServer, snowflake, snowflake_time

TOKEN = "fake-test-token"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def client(srv: FakeXServer, token: str = TOKEN, **user) -> tweepy.Client:
    c = tweepy.Client(bearer_token=token, return_type=dict, **user)
    c.session.mount(X_API_HOST + "/", XTransportAdapter(5, srv.base_url))
    c.session.trust_env = False
    return c


@pytest.fixture
def srv():
    with FakeXServer([], bearer_token=TOKEN) as s:
        s.post = s.add_post("Parents evening on Thursday", created_at=T0 - timedelta(days=1))
        s.replies = [s.add_reply(s.post, f"@BrookfieldPS question {i}", author_id=str(3000 + i),
                                 created_at=T0 - timedelta(hours=20 - i)) for i in range(12)]
        yield s


def get(srv: FakeXServer, path: str, token: str = TOKEN, **params) -> requests.Response:
    return requests.get(srv.base_url + path, params=params, headers={"Authorization": f"Bearer {token}"},
                        timeout=5)


def test_ids_are_time_ordered_snowflakes_and_dataset_ids_map():
    posts = [p for p in load_demo_posts() if p.platform == "twitter"]
    with FakeXServer(posts) as s:
        c = posts[0].comments[0]
        tid = s.tweet_id(c.native_id)
        assert abs((snowflake_time(tid) - c.created_at).total_seconds()) < 1
        ordered = sorted(s.tweet_ids, key=int)
        times = [snowflake_time(t) for t in ordered]
        assert times == sorted(times) and len(ordered) == 14 + 79
    sf = snowflake(T0, "x")
    assert snowflake_time(sf) == T0 and FakeXServer()._served_id(sf, T0) == sf


def test_mentions_newest_first_with_since_until_and_paging(srv):
    c = client(srv)
    page = c.get_users_mentions("2000", max_results=5)
    assert [t["id"] for t in page["data"]] == srv.replies[::-1][:5]
    assert set(page["data"][0]) == {"id", "text", "edit_history_tweet_ids"}  # X's default fields
    nxt = c.get_users_mentions("2000", max_results=5, pagination_token=page["meta"]["next_token"])
    assert [t["id"] for t in nxt["data"]] == srv.replies[::-1][5:10]
    window = c.get_users_mentions("2000", since_id=srv.replies[2], until_id=srv.replies[6])
    assert [t["id"] for t in window["data"]] == srv.replies[5:2:-1]
    assert window["meta"] == {"result_count": 3, "newest_id": srv.replies[5], "oldest_id": srv.replies[3]}
    assert srv.posts_served == 13


def test_fields_and_expansions_follow_the_request(srv):
    srv.add_reply(srv.post, "@BrookfieldPS look", author_id="3100", username="pic_poster", created_at=T0,
                  attachment="video")
    r = client(srv).get_users_mentions("2000", max_results=5, tweet_fields=["created_at", "author_id",
                                       "conversation_id", "referenced_tweets", "attachments", "entities"],
                                       expansions=["author_id", "attachments.media_keys"],
                                       media_fields=["preview_image_url"])
    t = r["data"][0]
    assert t["conversation_id"] == srv.post and t["referenced_tweets"] == [{"type": "replied_to", "id": srv.post}]
    assert t["entities"]["mentions"][0]["username"] == "BrookfieldPS"
    assert r["includes"]["media"][0]["type"] == "video" and "preview_image_url" in r["includes"]["media"][0]
    assert {"id": "3100", "name": "pic_poster", "username": "pic_poster"} in r["includes"]["users"]


def test_search_understands_or_combined_conversations_and_exclusions(srv):
    other = srv.add_post("Book fair", created_at=T0 - timedelta(hours=2))
    quiet = srv.add_reply(other, "great, see you there", author_id="3200", created_at=T0 - timedelta(hours=1))
    c = client(srv)
    r = c.search_recent_tweets(f"(conversation_id:{srv.post} OR conversation_id:{other}) is:reply", max_results=100)
    assert r["meta"]["result_count"] == 13
    # with the default mention_rule every reply in the school's conversations mentions it
    r = c.search_recent_tweets(f"(conversation_id:{srv.post} OR conversation_id:{other}) is:reply -@BrookfieldPS")
    assert r["meta"] == {"result_count": 0}
    with FakeXServer([], bearer_token=TOKEN, mention_rule="text") as s2:
        p = s2.add_post("x", created_at=T0 - timedelta(hours=3))
        s2.add_reply(p, "@BrookfieldPS hi", created_at=T0 - timedelta(hours=2))
        q = s2.add_reply(p, "no mention", created_at=T0 - timedelta(hours=1))
        r = client(s2).search_recent_tweets(f"conversation_id:{p} is:reply -@BrookfieldPS")
        assert [t["id"] for t in r["data"]] == [q]
    assert quiet


@pytest.mark.parametrize("params,what", [
    ({"query": "conversation_id:1 " + "x" * 600}, "between 1 and 512"),
    ({"query": "conversation_id:1 lang:en"}, "unsupported operator"),
    ({"query": "(conversation_id:1"}, "parentheses"),
    ({"query": "conversation_id:1", "max_results": "5"}, "not between 10 and 100"),
    ({"query": "conversation_id:1", "next_token": "bogus"}, "is not valid"),
])
def test_search_rejects_what_x_rejects(srv, params, what):
    r = get(srv, "/2/tweets/search/recent", **params)
    assert r.status_code == 400 and r.json()["title"] == "Invalid Request"
    assert what in r.json()["errors"][0]["message"]


def test_recent_window_is_enforced_when_asked():
    with FakeXServer([], bearer_token=TOKEN, recent_days=7, clock=lambda: T0) as s:
        old = (T0 - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
        r = get(s, "/2/tweets/search/recent", query="conversation_id:1", start_time=old)
        assert r.status_code == 400 and "start_time" in r.text


def test_authentication(srv):
    r = get(srv, "/2/users/2000/mentions", token="wrong")
    assert r.status_code == 401 and r.json() == {"title": "Unauthorized", "type": "about:blank",
                                                 "status": 401, "detail": "Unauthorized"}
    with pytest.raises(tweepy.Forbidden):  # /2/users/me needs user context
        client(srv).get_me(user_auth=False)
    me = client(srv, consumer_key=srv.consumer_key, consumer_secret="s", access_token=srv.access_token,
                access_token_secret="s").get_me()
    assert me["data"]["username"] == "BrookfieldPS"
    with pytest.raises(tweepy.Unauthorized):
        client(srv, consumer_key="nope", consumer_secret="s", access_token=srv.access_token,
               access_token_secret="s").get_me()


def test_user_lookups(srv):
    c = client(srv)
    assert c.get_user(username="brookfieldps")["data"]["id"] == "2000"
    assert c.get_user(id="3001")["data"]["username"] == "user3001"
    missing = c.get_user(username="nobody")
    assert "data" not in missing and missing["errors"][0]["title"] == "Not Found Error"


def test_users_tweets_excludes_replies(srv):
    r = client(srv).get_users_tweets("2000", exclude=["replies", "retweets"])
    assert [t["id"] for t in r["data"]] == [srv.post]


def test_hide_reply_needs_the_conversation_owner(srv):
    user = dict(consumer_key=srv.consumer_key, consumer_secret="s", access_token=srv.access_token,
                access_token_secret="s")
    c = client(srv, **user)
    assert c.hide_reply(srv.replies[0])["data"] == {"hidden": True}
    assert srv.tweet(srv.replies[0])["hidden"] is True
    assert c.unhide_reply(srv.replies[0])["data"] == {"hidden": False}
    with pytest.raises(tweepy.Forbidden):
        c.hide_reply(srv.post)


def test_faults_and_counters(srv):
    srv.fail_next(1, 429, reset_after=None)
    srv.fail_next(1, 429, reset_after=30)
    srv.fail_next(1, 502, body="<html>bad gateway</html>", path="/search/")
    r1 = get(srv, "/2/users/2000/mentions")
    r2 = get(srv, "/2/users/2000/mentions")
    r3 = get(srv, "/2/users/2000/mentions")
    assert (r1.status_code, r2.status_code, r3.status_code) == (429, 429, 200)
    assert "x-rate-limit-reset" not in r1.headers and int(r2.headers["x-rate-limit-reset"]) > T0.timestamp()
    r4 = get(srv, "/2/tweets/search/recent", query=f"conversation_id:{srv.post}")
    assert r4.status_code == 502 and r4.headers["content-type"] == "text/html"
    assert srv.request_count == 4 and [q.status for q in srv.requests] == [429, 429, 200, 502]


def test_rate_limit_gives_automatic_429():
    with FakeXServer([], bearer_token=TOKEN, rate_limit=2) as s:
        codes = [get(s, "/2/users/2000/mentions").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert get(s, "/2/users/2000").status_code == 200  # per endpoint


def test_rebase_moves_the_newest_tweet_to_just_before_now():
    posts = [p for p in load_demo_posts() if p.platform == "twitter"]
    with FakeXServer(posts, rebase_to=T0) as s:
        newest = max(s.tweet_ids, key=int)
        assert T0 - timedelta(minutes=2) < snowflake_time(newest) < T0
        assert json.loads(json.dumps(s.tweet(newest)))["created_at"].startswith(T0.strftime("%Y-%m-%d"))

"""Instagram connector (issue 15 item 15) against the loopback fake Instagram API
(monitor.fakes.instagram): a real HTTP server on 127.0.0.1 serving the demo school's
Instagram professional account, with the fake Graph server's fault controls."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from connectors import build_connector
from connectors.base import ConnectorError, FetchContext
from connectors.instagram import COMMENT_FIELDS, MEDIA_FIELDS, InstagramConnector, map_comment
from monitor.config import AccountConfig, SecretRef
from monitor.fakes.instagram import FakeInstagramServer, load_demo_instagram

TOKEN = "fake-ig-page-token-5e1b7d"
TOKEN_ENV = "SSM_TEST_FAKE_IG_TOKEN"
NOW = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)  # the demo's "Monday morning"


@pytest.fixture
def server():
    with FakeInstagramServer(load_demo_instagram(), token=TOKEN) as srv:
        yield srv


@pytest.fixture
def connect(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    made = []

    def _connect(srv: FakeInstagramServer, sleeps: list | None = None, **kw) -> InstagramConnector:
        ckw = {k: kw.pop(k) for k in ("max_attempts", "max_calls_per_poll") if k in kw}
        kw.setdefault("lookback_days", 45)
        cfg = AccountConfig(name="school-ig", platform="instagram", ig_user_id=srv.ig_user_id, base_url=srv.base_url,
                            secrets={"token": SecretRef(key="accounts[0].token", env=TOKEN_ENV)}, **kw)
        conn = InstagramConnector(cfg, sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **ckw)
        made.append(conn)
        return conn

    yield _connect
    for c in made:
        c.close()


def paths(srv: FakeInstagramServer) -> list[str]:
    return [r.path.split("/", 2)[2] for r in srv.requests]


# ------------------------------------------------------------------ reading and the activity test
def test_first_poll_reads_every_comment_and_reply_once_with_the_documented_endpoints(server, connect):
    conn = connect(server)
    r = conn.fetch(FetchContext(cursor={}, now=NOW))
    served = {c.native_id: c for m in server.media for c in m.comments}
    assert sorted(c.comment_id for c in r.comments) == sorted(served)  # all 36, each once
    assert len(r.posts) == 4 and {p.platform for p in r.posts} == {"instagram"}
    # one media listing, one comments listing per media, and /replies newest first until the
    # replies found add up to comments_count: down to the oldest top-level comment with replies
    reply_reads = 0
    for m in server.media:
        tops = sorted((c for c in m.comments if c.parent_id is None), key=lambda c: c.created_at, reverse=True)
        with_replies = [i for i, t in enumerate(tops) if any(c.parent_id == t.native_id for c in m.comments)]
        reply_reads += with_replies[-1] + 1 if with_replies else 0
    assert 0 < reply_reads < sum(1 for c in served.values() if c.parent_id is None)
    assert r.calls == 1 + 4 + reply_reads
    got = paths(server)
    assert got[0] == f"{server.ig_user_id}/media"
    assert sum(p.endswith("/comments") for p in got) == 4 and sum(p.endswith("/replies") for p in got) == reply_reads
    first = server.requests[0].params
    assert first["fields"] == MEDIA_FIELDS
    assert all(rq.params["fields"] == COMMENT_FIELDS for rq in server.requests[1:])
    replies = [c for c in r.comments if c.parent_id]
    assert replies and all(served[c.comment_id].parent_id == c.parent_id for c in replies)
    assert all(served[c.parent_id].parent_id is None for c in replies)  # two levels only
    json.dumps(r.cursor)


def test_quiet_poll_costs_one_call_and_only_media_whose_count_changed_are_reread(server, connect):
    conn = connect(server)
    r1 = conn.fetch(FetchContext(cursor={}, now=NOW))
    server.reset_requests()
    r2 = conn.fetch(FetchContext(cursor=r1.cursor, now=NOW + timedelta(minutes=15)))
    assert (r2.calls, r2.comments, r2.posts) == (1, (), ())
    assert paths(server) == [f"{server.ig_user_id}/media"]

    # a new top-level comment: that media's comments are re-read, no /replies calls
    media = server.media[-1]
    new_id = server.add_comment(media.native_id, "Will there be a walking bus?", author_id="17841401000000999",
                                author_name="new_parent", created_at=NOW + timedelta(minutes=20))
    server.reset_requests()
    r3 = conn.fetch(FetchContext(cursor=r2.cursor, now=NOW + timedelta(minutes=30)))
    assert r3.calls == 2 and paths(server) == [f"{server.ig_user_id}/media", f"{media.native_id}/comments"]
    assert new_id in {c.comment_id for c in r3.comments}

    # a reply: the count no longer adds up with the replies seen, so replies are read
    reply_id = server.add_comment(media.native_id, "@new_parent yes from the church", parent_id=new_id,
                                  author_id="17841401000000998", author_name="other_parent",
                                  created_at=NOW + timedelta(minutes=40))
    r4 = conn.fetch(FetchContext(cursor=r3.cursor, now=NOW + timedelta(minutes=45)))
    got = {c.comment_id: c for c in r4.comments}
    assert got[reply_id].parent_id == new_id and got[reply_id].author_handle == "other_parent"
    r5 = conn.fetch(FetchContext(cursor=r4.cursor, now=NOW + timedelta(minutes=60)))
    assert r5.calls == 1


def test_media_older_than_the_window_are_not_read(server, connect):
    conn = connect(server, lookback_days=4)  # only the media of 9 October is inside
    r = conn.fetch(FetchContext(cursor={}, now=NOW))
    assert len(r.posts) == 1 and {c.post_id for c in r.comments} == {r.posts[0].post_id}


# ------------------------------------------------------------------ mapping
def test_mapping_to_the_products_comment(server, connect):
    conn = connect(server)
    r = conn.fetch(FetchContext(cursor={}, now=NOW))
    media = {m.native_id: m for m in server.media}
    c = next(c for c in r.comments if c.text.startswith("Ask Mr Pryce"))
    src = server.comment(c.comment_id)
    m = media[c.post_id]
    post = next(p for p in r.posts if p.post_id == c.post_id)
    assert (c.platform, c.account, c.author_id, c.author_handle, c.author_name) == (
        "instagram", "school-ig", f"ig:{src.author_id}", "kaz_bromley", "kaz_bromley")
    assert c.post_text == m.text == post.text and c.permalink == post.permalink
    assert c.permalink.startswith("https://www.instagram.com/p/")
    assert c.created_at == src.created_at.replace(microsecond=0) and c.parent_id is None
    assert c.is_hidden is False and c.attachments == ()
    assert c.raw["from"] == {"id": src.author_id, "username": "kaz_bromley"}


def test_map_comment_takes_parent_id_and_falls_back_to_username():
    media = {"id": "17900000000000001", "caption": "Sports day", "permalink": "https://www.instagram.com/p/abc/"}
    raw = {"id": "17800000000000002", "text": "hi", "timestamp": "2026-10-05T15:02:11+0000",
           "username": "only_username", "hidden": True, "parent_id": "17800000000000001"}
    c = map_comment(raw, account="a", media=media)
    assert (c.author_id, c.author_handle, c.parent_id, c.is_hidden) == (
        "ig:unknown", "only_username", "17800000000000001", True)
    with pytest.raises(ValueError, match="17800000000000002.*timestamp"):
        map_comment({**raw, "timestamp": None}, account="a", media=media)
    with pytest.raises(ValueError, match="'from' is not an object"):
        map_comment({**raw, "from": "someone"}, account="a", media=media)


# ------------------------------------------------------------------ paging
def test_paging_follows_next_past_empty_pages(connect):
    with FakeInstagramServer([], token=TOKEN) as srv:
        mid = srv.add_media("Sports day", created_at=NOW - timedelta(days=2))
        ids = [srv.add_comment(mid, f"comment {i}", created_at=NOW - timedelta(days=1, minutes=-i))
               for i in range(120)]
        conn = connect(srv)
        srv.empty_pages(2)
        r = conn.fetch(FetchContext(cursor={}, now=NOW))
        assert sorted(c.comment_id for c in r.comments) == sorted(ids)
        # media listing, two empty pages, three pages of 50; no replies expected
        assert r.calls == 1 + 2 + 3 and not r.warnings


def test_endless_empty_pages_leave_the_media_to_be_read_again(connect):
    with FakeInstagramServer([], token=TOKEN) as srv:
        mid = srv.add_media("Sports day", created_at=NOW - timedelta(days=2))
        srv.add_comment(mid, "hello", created_at=NOW - timedelta(days=1))
        conn = connect(srv)
        srv.empty_pages(50)
        r = conn.fetch(FetchContext(cursor={}, now=NOW))
        assert any("paging looped" in w for w in r.warnings)
        assert mid not in r.cursor["media"]  # read again next poll
        assert srv.request_count == 1 + 10  # the media listing, then ten empty pages: the guard


def test_replies_are_paged_too(connect):
    with FakeInstagramServer([], token=TOKEN) as srv:
        mid = srv.add_media("Harvest", created_at=NOW - timedelta(days=2))
        top = srv.add_comment(mid, "Thank you all", created_at=NOW - timedelta(days=1))
        reps = [srv.add_comment(mid, f"reply {i}", parent_id=top, created_at=NOW - timedelta(hours=20, minutes=-i))
                for i in range(70)]
        r = connect(srv).fetch(FetchContext(cursor={}, now=NOW))
        assert sorted(c.comment_id for c in r.comments if c.parent_id == top) == sorted(reps)
        assert r.calls == 1 + 1 + 2


# ------------------------------------------------------------------ malformed payloads and errors
@pytest.mark.parametrize("fault", [dict(status=502, html=True), dict(status=500),
                                   dict(status=200, body='{"data": [{"id": ')])
def test_transient_faults_are_retried_then_reported(server, connect, fault):
    sleeps: list[float] = []
    conn = connect(server, sleeps)
    server.fail_next(2, **fault)
    r = conn.fetch(FetchContext(cursor={}, now=NOW))
    assert len(r.comments) == 36 and sleeps == [1.0, 2.0]
    server.fail_next(3, **fault)
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(FetchContext(cursor={}, now=NOW))
    assert (ei.value.platform, ei.value.kind) == ("instagram", "transient") and ei.value.retry_after


def test_a_malformed_comment_is_skipped_with_a_warning_and_the_rest_kept(connect):
    with FakeInstagramServer([], token=TOKEN) as srv:
        mid = srv.add_media("Book week", created_at=NOW - timedelta(days=2))
        good = srv.add_comment(mid, "Lovely", created_at=NOW - timedelta(days=1))
        bad = srv.add_comment(mid, "broken", created_at=NOW - timedelta(hours=23))
        original = srv._ig_comment_json

        def shape(c, fields):  # the served JSON of one comment is malformed
            if c.native_id == bad:
                return {"id": c.native_id, "text": ["not", "a", "string"], "timestamp": "yesterday"}
            return original(c, fields)

        srv._ig_comment_json = shape  # type: ignore[method-assign]
        r = connect(srv).fetch(FetchContext(cursor={}, now=NOW))
        assert [c.comment_id for c in r.comments] == [good]
        assert any("1 malformed comment(s) skipped" in w for w in r.warnings)


def test_a_page_without_a_data_list_is_a_transient_error(server, connect):
    conn = connect(server, max_attempts=1)
    server.fail_next(1, status=200, body='{"paging": {}}')
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(FetchContext(cursor={}, now=NOW))
    assert ei.value.kind == "transient" and "no data list" in str(ei.value)


@pytest.mark.parametrize("code,kind,permanent", [(190, "auth", True), (80001, "rate_limit", False),
                                                 (4, "rate_limit", False), (10, "permission", True)])
def test_graph_error_codes_are_the_facebook_connectors(server, connect, code, kind, permanent):
    conn = connect(server)
    server.fail_next(1, 400, graph_code=code)
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(FetchContext(cursor={}, now=NOW))
    e = ei.value
    assert (e.platform, e.kind, e.permanent, e.code) == ("instagram", kind, permanent, code)
    assert str(e).startswith("instagram: ") and server.request_count == 1


def test_token_error_names_the_subcode_in_words_and_never_the_token(server, connect, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "not-the-ig-token-at-all")
    conn = connect(server)
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(FetchContext(cursor={}, now=NOW))
    assert ei.value.kind == "auth" and ei.value.permanent and "not-the-ig-token" not in str(ei.value)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    server.fail_next(1, 400, graph_code=190, subcode=463)
    with pytest.raises(ConnectorError) as ei:
        connect(server).fetch(FetchContext(cursor={}, now=NOW))
    assert "the token has expired" in str(ei.value) and "reconnect" in str(ei.value)


def test_rate_limit_in_the_middle_keeps_progress(server, connect):
    conn = connect(server)
    r1 = conn.fetch(FetchContext(cursor={}, now=NOW))
    for m in server.media[:2]:
        server.add_comment(m.native_id, "new one", created_at=NOW + timedelta(minutes=5))
    # media listing and the first active media's comments succeed; the next call is throttled
    newest_first = sorted(server.media[:2], key=lambda m: m.created_at, reverse=True)
    orig = server._take_fault
    count = {"n": 0}

    def take():  # the third request (after the listing and one media's comments) is throttled
        count["n"] += 1
        if count["n"] == 3:
            from monitor.fakes.graph import _Fault
            return _Fault(400, 80001), 0.0
        return orig()

    server._take_fault = take  # type: ignore[method-assign]
    r = conn.fetch(FetchContext(cursor=r1.cursor, now=NOW + timedelta(minutes=10)))
    assert any("poll cut short, progress kept" in w for w in r.warnings) and r.next_poll_after == 3600.0
    done = {c.post_id for c in r.comments}
    assert done == {newest_first[0].native_id}
    # the unfinished media keeps its old state, so it is active again next poll
    assert r.cursor["media"][newest_first[1].native_id] == r1.cursor["media"][newest_first[1].native_id]


def test_usage_headers_slow_the_poll(server, connect):
    conn = connect(server)
    server.set_usage(business_pct=85)
    r = conn.fetch(FetchContext(cursor={}, now=NOW))
    assert r.next_poll_after == pytest.approx(864.0 * 10) and any(w.startswith("slowing down") for w in r.warnings)


# ------------------------------------------------------------------ hide, block, check
def test_hide_and_unhide_use_post_with_hide_query(server, connect):
    conn = connect(server, hide_enabled=True)
    r = conn.fetch(FetchContext(cursor={}, now=NOW))
    c = next(c for c in r.comments if c.text.startswith("Half of them"))
    server.reset_requests()
    conn.hide(c.comment_id)
    assert server.comment(c.comment_id).hidden is True
    rq = server.requests[0]
    assert (rq.method, rq.path, rq.params) == ("POST", f"/v23.0/{c.comment_id}", {"hide": "true"})
    again = conn.fetch(FetchContext(cursor={}, now=NOW))
    assert next(x for x in again.comments if x.comment_id == c.comment_id).is_hidden is True
    conn.hide(c.comment_id, hidden=False)
    assert server.comment(c.comment_id).hidden is False


def test_hide_is_refused_when_off_or_without_the_permission(connect):
    with FakeInstagramServer(load_demo_instagram(), token=TOKEN, scopes=("instagram_basic",)) as srv:
        cid = srv.media[0].comments[0].native_id
        with pytest.raises(ConnectorError) as ei:
            connect(srv).hide(cid)
        assert ei.value.kind == "refused" and "hide_enabled" in str(ei.value) and srv.request_count == 0
        with pytest.raises(ConnectorError) as ei:
            connect(srv, hide_enabled=True).hide(cid)
        assert ei.value.kind == "permission" and "instagram_manage_comments" in str(ei.value)


def test_block_is_a_recommendation_to_a_person(server, connect):
    conn = connect(server, block_enabled=True)
    with pytest.raises(ConnectorError) as ei:
        conn.block("ig:17841401000000110", handle="gaz_77")
    msg = str(ei.value)
    assert ei.value.kind == "refused" and "no block endpoint" in msg and "Instagram app" in msg
    assert "https://www.instagram.com/gaz_77/" in msg and server.request_count == 0


def test_check_against_fake(server, connect, monkeypatch):
    results = connect(server).check()
    assert [r.ok for r in results] == [True, True, True, True]
    assert "@brookfieldprimary" in results[0].detail and results[1].warning  # no app token: not verified
    monkeypatch.setenv("SSM_TEST_IG_APP_SECRET", "app-secret-ig")
    with FakeInstagramServer(load_demo_instagram(), token=TOKEN, app_secret="app-secret-ig",
                             scopes=("instagram_basic", "pages_show_list")) as srv:
        cfg = AccountConfig(name="school-ig", platform="instagram", ig_user_id=srv.ig_user_id, base_url=srv.base_url,
                            app_id=srv.app_id,
                            secrets={"token": SecretRef(key="t", env=TOKEN_ENV),
                                     "app_secret": SecretRef(key="s", env="SSM_TEST_IG_APP_SECRET")})
        with InstagramConnector(cfg, sleep=lambda s: None) as conn:
            perm = conn.check()[1]
        assert not perm.ok and "instagram_manage_comments" in perm.detail and "pages_read_engagement" in perm.detail


def test_build_connector_makes_an_instagram_connector(server, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    cfg = AccountConfig(name="ig", platform="instagram", ig_user_id=server.ig_user_id, base_url=server.base_url,
                        secrets={"token": SecretRef(key="t", env=TOKEN_ENV)})
    conn = build_connector(cfg)
    try:
        assert isinstance(conn, InstagramConnector) and conn.account.external_id == server.ig_user_id
    finally:
        conn.close()


def test_fake_raw_http_shapes(server):
    def get(path):
        req = urllib.request.Request(f"{server.base_url}/v23.0/{path}", headers={"Authorization": f"Bearer {TOKEN}"})
        return json.load(urllib.request.urlopen(req, timeout=5))

    body = get(f"{server.ig_user_id}/media?limit=2&fields={MEDIA_FIELDS}")
    assert len(body["data"]) == 2 and set(body["data"][0]) == set(MEDIA_FIELDS.split(","))
    assert body["paging"]["next"].startswith(f"{server.base_url}/v23.0/{server.ig_user_id}/media?")
    assert set(body["paging"]["cursors"]) == {"before", "after"}
    assert body["data"][0]["timestamp"].endswith("+0000")
    mid = body["data"][0]["id"]
    comments = get(f"{mid}/comments?fields=id,text,timestamp,from{{id,username}},hidden")["data"]
    assert comments and set(comments[0]) == {"id", "text", "timestamp", "from", "hidden"}
    assert set(comments[0]["from"]) == {"id", "username"}
    top = next(c for m in server.media if m.native_id == mid for c in m.comments
               if any(x.parent_id == c.native_id for x in m.comments))
    reply = get(f"{top.native_id}/replies?fields=id,parent_id")["data"][0]
    assert reply["parent_id"] == top.native_id


def test_a_served_version_other_than_the_pinned_one_warns(connect):
    with FakeInstagramServer(load_demo_instagram(), token=TOKEN, served_version="v25.0") as srv:
        r = connect(srv).fetch(FetchContext(cursor={}, now=NOW))
        assert any("facebook-api-version v25.0" in w and "v23.0" in w for w in r.warnings)


def test_a_new_reply_on_an_old_thread_is_found_without_rereading_every_thread(connect):
    with FakeInstagramServer([], token=TOKEN) as srv:
        mid = srv.add_media("Sports day", created_at=NOW - timedelta(days=3))
        tops = [srv.add_comment(mid, f"top {i}", created_at=NOW - timedelta(days=2, minutes=-10 * i))
                for i in range(10)]  # tops[9] is the newest
        srv.add_comment(mid, "reply to 2", parent_id=tops[2], created_at=NOW - timedelta(days=1))
        srv.add_comment(mid, "reply to 8", parent_id=tops[8], created_at=NOW - timedelta(days=1))
        conn = connect(srv)
        r1 = conn.fetch(FetchContext(cursor={}, now=NOW))
        assert len(r1.comments) == 12 and r1.calls == 1 + 1 + 8  # replies read from tops[9] down to tops[2]
        assert r1.cursor["media"][mid] == {"n": 12, "r": 2, "c": {tops[2]: 1, tops[8]: 1}}
        late = srv.add_comment(mid, "late reply to 5", parent_id=tops[5], created_at=NOW + timedelta(minutes=5))
        srv.reset_requests()
        r2 = conn.fetch(FetchContext(cursor=r1.cursor, now=NOW + timedelta(minutes=15)))
        # newest first: tops[9], [8], [7], [6], [5]; then the known count of tops[2] makes it add up
        assert [p for p in paths(srv) if p.endswith("/replies")] == [f"{t}/replies" for t in tops[9:4:-1]]
        assert late in {c.comment_id for c in r2.comments}
        assert r2.cursor["media"][mid]["c"] == {tops[2]: 1, tops[5]: 1, tops[8]: 1}
        # a reply deleted with its thread: the counts still add up, no replies re-read
        srv.delete_comment(tops[2])
        srv.delete_comment(next(c.native_id for c in srv.media[0].comments if c.parent_id == tops[2]))
        srv.reset_requests()
        r3 = conn.fetch(FetchContext(cursor=r2.cursor, now=NOW + timedelta(minutes=30)))
        assert paths(srv) == [f"{srv.ig_user_id}/media", f"{mid}/comments"] and r3.cursor["media"][mid]["r"] == 2


def test_a_media_without_a_usable_timestamp_is_skipped_with_a_warning(connect):
    with FakeInstagramServer([], token=TOKEN) as srv:
        good = srv.add_media("Book week", created_at=NOW - timedelta(days=2))
        bad = srv.add_media("Broken", created_at=NOW - timedelta(days=1))
        srv.add_comment(good, "Lovely costumes", created_at=NOW - timedelta(hours=30))
        original = srv._media_json

        def shape(m, fields):
            out = original(m, fields)
            if m.native_id == bad:
                out["timestamp"] = {"not": "a time"}
            return out

        srv._media_json = shape  # type: ignore[method-assign]
        r = connect(srv).fetch(FetchContext(cursor={}, now=NOW))
        assert [p.post_id for p in r.posts] == [good] and len(r.comments) == 1
        assert any("1 media without a usable id or timestamp skipped" in w for w in r.warnings)

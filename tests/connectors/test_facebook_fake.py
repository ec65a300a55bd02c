"""Facebook connector against the loopback fake Graph API (monitor.fakes.graph): a real
HTTP server on 127.0.0.1 serving the demo Page, with its data and fault controls."""

from __future__ import annotations

import json
import logging
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from connectors.base import ConnectorError, FetchContext
from connectors.facebook import FacebookConnector
from monitor.config import AccountConfig, SecretRef
from monitor.fakes.dataset import load_demo_posts
from monitor.fakes.graph import FakeGraphServer, parse_fields

TOKEN = "fake-graph-test-token-7f3a9c"
TOKEN_ENV = "SSM_TEST_FAKE_FB_TOKEN"
NOW = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)  # the demo's "Monday morning"


def fb_posts():
    return [p for p in load_demo_posts() if p.platform == "facebook"]


@pytest.fixture
def server():
    with FakeGraphServer(fb_posts(), token=TOKEN) as srv:
        yield srv


@pytest.fixture
def connect(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    made = []

    def _connect(srv: FakeGraphServer, sleeps: list | None = None, **kw) -> FacebookConnector:
        ckw = {k: kw.pop(k) for k in ("max_attempts", "audit_posts_per_poll") if k in kw}
        cfg = AccountConfig(name="school-fb", platform="facebook", page_id=srv.page_id, base_url=srv.base_url,
                            secrets={"token": SecretRef(key="accounts[0].token", env=TOKEN_ENV)}, **kw)
        conn = FacebookConnector(cfg, sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **ckw)
        made.append(conn)
        return conn

    yield _connect
    for c in made:
        c.close()


def known_from(comments):
    out: dict[str, set] = {}
    for c in comments:
        out.setdefault(c.post_id, set()).add(c.comment_id)
    return {k: frozenset(v) for k, v in out.items()}


def test_demo_page_polled_once_then_only_changes(server, connect):
    conn = connect(server, audit_posts_per_poll=0)
    r1 = conn.fetch(FetchContext(cursor={}, now=NOW))
    window = [c for p in server.posts for c in p.comments if c.created_at >= NOW - timedelta(days=30)]
    assert sorted(c.comment_id for c in r1.comments) == sorted(c.native_id for c in window)
    assert len({c.comment_id for c in r1.comments}) == len(r1.comments)  # each once
    sample = next(c for c in r1.comments if c.attachments)
    src = server.comment(sample.comment_id)
    assert sample.author_id == f"fb:{src.author_id}" and sample.text == src.text
    assert sample.attachments[0].type == src.attachment
    assert sample.created_at == src.created_at.replace(microsecond=0)
    json.dumps(r1.cursor)  # JSON-able

    known = known_from(r1.comments)
    r2 = conn.fetch(FetchContext(cursor=r1.cursor, now=NOW + timedelta(minutes=15), known_comments=known))
    assert (r2.calls, r2.comments, r2.deleted, r2.posts) == (1, (), (), ())

    post = server.posts[-1]
    new_id = server.add_comment(post.native_id, "Who is teaching Year 3 now?", author_id="1077",
                                author_name="Sam Reid", created_at=NOW + timedelta(minutes=20))
    reply_id = server.add_comment(post.native_id, "Mrs Patel I think", parent_id=new_id,
                                  created_at=NOW + timedelta(minutes=21))
    victim = post.comments[0].native_id
    edited = post.comments[1].native_id
    server.delete_comment(victim)
    server.edit_comment(edited, "Edited: I was wrong about the dates")
    r3 = conn.fetch(FetchContext(cursor=r2.cursor, now=NOW + timedelta(minutes=30), known_comments=known))
    got = {c.comment_id: c for c in r3.comments}
    assert r3.deleted == ()  # a first miss, kept in the cursor
    assert got[new_id].author_id == "fb:1077" and got[new_id].parent_id is None
    assert got[reply_id].parent_id == new_id
    assert got[edited].text == "Edited: I was wrong about the dates"
    assert r3.calls == 2 and [p.post_id for p in r3.posts] == [post.native_id]
    r4 = conn.fetch(FetchContext(cursor=r3.cursor, now=NOW + timedelta(minutes=45), known_comments=known))
    assert r4.deleted == (victim,) and r4.calls == 2  # missing from two listings in a row


def test_wrong_token_gets_190(server, connect, monkeypatch):
    conn = connect(server)
    monkeypatch.setenv(TOKEN_ENV, "not-the-token")
    bad = connect(server)
    with pytest.raises(ConnectorError) as ei:
        bad.fetch(FetchContext(cursor={}, now=NOW))
    assert ei.value.kind == "auth" and ei.value.code == 190 and "not-the-token" not in str(ei.value)
    assert conn.check()[0].ok


@pytest.mark.parametrize("fault,kind", [
    (dict(status=502, html=True), "transient"),
    (dict(status=500), "transient"),
    (dict(status=200, body='{"data": [{"id": '), "transient"),
])
def test_transient_faults_are_retried(server, connect, fault, kind):
    sleeps: list[float] = []
    conn = connect(server, sleeps, audit_posts_per_poll=0)
    server.fail_next(2, **fault)
    r = conn.fetch(FetchContext(cursor={}, now=NOW))
    assert len(r.comments) > 100 and sleeps == [1.0, 2.0]
    server.fail_next(3, **fault)
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(FetchContext(cursor={}, now=NOW))
    assert ei.value.kind == kind and ei.value.retry_after


@pytest.mark.parametrize("code,kind,permanent", [(190, "auth", True), (80001, "rate_limit", False),
                                                 (17, "rate_limit", False), (10, "permission", True)])
def test_graph_error_faults(server, connect, code, kind, permanent):
    conn = connect(server)
    server.fail_next(1, 400, graph_code=code)
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(FetchContext(cursor={}, now=NOW))
    assert (ei.value.kind, ei.value.permanent, ei.value.code) == (kind, permanent, code)
    assert server.request_count == 1


def test_slow_server_times_out(server, connect):
    conn = connect(server, timeout_seconds=0.2, max_attempts=2)
    server.delay(0.6, n=2)
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(FetchContext(cursor={}, now=NOW))
    assert ei.value.kind == "transient" and "timed out" in str(ei.value)
    r = conn.fetch(FetchContext(cursor={}, now=NOW))  # delay over: works again
    assert r.comments


def test_usage_headers_slow_the_poll(server, connect):
    sleeps: list[float] = []
    conn = connect(server, sleeps, audit_posts_per_poll=0)
    server.set_usage(app_pct=80)
    r = conn.fetch(FetchContext(cursor={}, now=NOW))
    assert any("x-app-usage call_count 80%" in w for w in r.warnings)
    assert r.next_poll_after and r.next_poll_after >= 60 and sleeps
    server.set_usage(business_pct=100, regain_minutes=12)
    server.add_comment(server.posts[-1].native_id, "one more", created_at=NOW)
    r2 = conn.fetch(FetchContext(cursor=r.cursor, now=NOW))
    assert r2.next_poll_after == 720.0 and any("stopping early" in w for w in r2.warnings)


def test_paging_over_many_comments(connect):
    with FakeGraphServer([], token=TOKEN) as srv:
        pid = srv.add_post("Sports day", created_at=NOW - timedelta(days=2))
        ids = [srv.add_comment(pid, f"comment {i}", created_at=NOW - timedelta(days=1, minutes=-i))
               for i in range(260)]
        conn = connect(srv, audit_posts_per_poll=0)
        r = conn.fetch(FetchContext(cursor={}, now=NOW))
        assert [c.comment_id for c in r.comments] == ids
        assert r.calls == 4
        nexts = [q for q in srv.requests if "after" in q.params]
        assert len(nexts) == 2 and all("access_token" not in q.params for q in srv.requests)


def test_hide_and_block_on_fake(server, connect):
    conn = connect(server, hide_enabled=True, block_enabled=True)
    c = server.posts[0].comments[0]
    conn.hide(c.native_id)
    assert server.comment(c.native_id).hidden is True
    r = conn.fetch(FetchContext(cursor={}, now=NOW))
    assert {x.comment_id: x.is_hidden for x in r.comments}.get(c.native_id, True) is True
    conn.hide(c.native_id, hidden=False)
    assert server.comment(c.native_id).hidden is False
    assert conn.block("fb:1004") == "blocked fb:1004 from Page 1000" and "1004" in server.blocked


def test_check_against_fake(connect, monkeypatch):
    monkeypatch.setenv("SSM_TEST_FAKE_FB_SECRET", "s3cret-app")
    secret = {"app_secret": SecretRef(key="accounts[0].app_secret", env="SSM_TEST_FAKE_FB_SECRET")}
    with FakeGraphServer(fb_posts(), token=TOKEN, scopes=["pages_read_engagement"], app_secret="s3cret-app",
                         app_id="4000") as srv:
        conn = connect(srv, app_id="4000")
        conn = FacebookConnector(conn.cfg.__class__(**{**conn.cfg.__dict__,
                                                       "secrets": {**conn.cfg.secrets, **secret}}))
        try:
            results = conn.check()
        finally:
            conn.close()
        assert results[0].ok and results[0].detail == "token valid for Page Brookfield Primary School (1000)"
        assert not results[1].ok and "missing permission pages_read_user_content" in results[1].detail
        [dbg] = [r for r in srv.requests if r.path.endswith("/debug_token")]
        assert "input_token" not in dbg.params  # the fake strips secrets from its request log


def test_check_without_app_token_never_calls_debug_token_with_the_page_token(server, connect):
    results = connect(server).check()
    assert results[1].ok and results[1].warning and results[1].detail.startswith("not verified:")
    assert not any(r.path.endswith("/debug_token") for r in server.requests)


def test_fake_needs_appsecret_proof_when_configured(connect, monkeypatch):
    monkeypatch.setenv("SSM_TEST_FAKE_FB_SECRET", "s3cret-app")
    with FakeGraphServer([], token=TOKEN, app_secret="s3cret-app") as srv:
        good = connect(srv)
        cfg = good.cfg.__class__(**{**good.cfg.__dict__, "secrets": {
            **good.cfg.secrets, "app_secret": SecretRef(key="accounts[0].app_secret", env="SSM_TEST_FAKE_FB_SECRET")}})
        with FacebookConnector(cfg) as ok:
            assert ok.check()[0].ok
        with pytest.raises(ConnectorError) as ei:
            good.fetch(FetchContext(cursor={}, now=NOW))
        assert ei.value.code == 100 and "appsecret_proof" in str(ei.value)


def test_fake_raw_http_shapes(server):
    req = urllib.request.Request(f"{server.base_url}/v23.0/1000/posts?limit=2&fields=id,created_time,"
                                 "comments.filter(stream).summary(true).limit(0)",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    body = json.load(urllib.request.urlopen(req, timeout=5))
    assert len(body["data"]) == 2 and set(body["data"][0]) == {"id", "created_time", "comments"}
    assert body["data"][0]["comments"]["data"] == []
    assert set(body["data"][0]["comments"]["summary"]) == {"order", "total_count", "can_comment"}
    assert body["paging"]["next"].startswith(server.base_url + "/v23.0/1000/posts?")
    assert set(body["paging"]["cursors"]) == {"before", "after"}


def test_rebase_to_moves_demo_into_window():
    with FakeGraphServer(fb_posts(), rebase_to=datetime(2027, 3, 1, tzinfo=timezone.utc)) as srv:
        newest = max(c.created_at for p in srv.posts for c in p.comments)
        assert newest == datetime(2027, 2, 28, 23, tzinfo=timezone.utc)


def test_parse_fields():
    f = parse_fields("id,from{id,name},comments.filter(stream).summary(true).limit(0){id,message}")
    assert f["id"] == ({}, None) and f["from"] == ({}, "id,name")
    assert f["comments"] == ({"filter": "stream", "summary": "true", "limit": "0"}, "id,message")


# ------------------------------------------------------------------ deletions (issue 15 item 1)
def _post_with_comments(srv: FakeGraphServer, n: int) -> tuple[str, list[str]]:
    pid = srv.add_post("Sports day", created_at=NOW - timedelta(days=2))
    ids = [srv.add_comment(pid, f"comment {i}", created_at=NOW - timedelta(days=1, minutes=-i)) for i in range(n)]
    return pid, ids


def test_empty_page_with_next_is_followed_and_deletes_nothing(connect):
    # Graph may answer {"data": [], "paging": {"next": ...}} with more after it.
    with FakeGraphServer([], token=TOKEN) as srv:
        pid, ids = _post_with_comments(srv, 150)
        conn = connect(srv, audit_posts_per_poll=0)
        srv.empty_pages(2)
        r = conn.fetch(FetchContext(cursor={}, now=NOW, known_comments={pid: frozenset(ids)}))
        assert sorted(c.comment_id for c in r.comments) == sorted(ids)
        assert r.deleted == () and r.calls == 1 + 2 + 2  # posts, two empty pages, two pages of comments
        assert "m" not in r.cursor["posts"][pid]


def test_empty_pages_without_end_leave_the_listing_incomplete(connect, monkeypatch):
    import connectors.facebook as fbmod

    monkeypatch.setattr(fbmod, "MAX_EMPTY_PAGES", 3)
    with FakeGraphServer([], token=TOKEN) as srv:
        pid, ids = _post_with_comments(srv, 5)
        srv.empty_pages(50)
        r = connect(srv, audit_posts_per_poll=0).fetch(
            FetchContext(cursor={}, now=NOW, known_comments={pid: frozenset(ids)}))
        assert r.deleted == () and r.calls == 1 + 3 and any("paging looped" in w for w in r.warnings)


def test_listing_short_of_total_count_marks_nothing_deleted(connect):
    with FakeGraphServer([], token=TOKEN) as srv:
        pid, ids = _post_with_comments(srv, 20)
        conn = connect(srv, audit_posts_per_poll=1)  # the one post is re-listed every quiet poll
        r = conn.fetch(FetchContext(cursor={}, now=NOW))
        known = known_from(r.comments)
        for cid in ids[:5]:  # still counted by summary.total_count, left out of the listing
            srv.withhold(cid)
        srv.add_comment(pid, "one more", created_at=NOW + timedelta(minutes=1))
        for i in range(3):
            r = conn.fetch(FetchContext(cursor=r.cursor, now=NOW + timedelta(minutes=15 * (i + 1)),
                                        known_comments=known))
            assert r.calls == 2 and r.deleted == () and "m" not in r.cursor["posts"][pid]
            assert any(f"post {pid}: listing incomplete (16 comments returned, summary.total_count 21)" in w
                       for w in r.warnings)


def test_deletion_needs_two_complete_listings_in_a_row(connect):
    with FakeGraphServer([], token=TOKEN) as srv:
        pid, ids = _post_with_comments(srv, 20)
        conn = connect(srv, audit_posts_per_poll=0)
        r1 = conn.fetch(FetchContext(cursor={}, now=NOW))
        known = known_from(r1.comments)
        srv.withhold(ids[3])  # within the count tolerance: the listing counts as complete
        srv.add_comment(pid, "one more", created_at=NOW + timedelta(minutes=1))
        r2 = conn.fetch(FetchContext(cursor=r1.cursor, now=NOW + timedelta(minutes=15), known_comments=known))
        assert r2.deleted == () and r2.cursor["posts"][pid]["m"] == [ids[3]]
        srv.withhold(ids[3], False)  # it was there after all
        r3 = conn.fetch(FetchContext(cursor=r2.cursor, now=NOW + timedelta(minutes=30), known_comments=known))
        assert r3.deleted == () and "m" not in r3.cursor["posts"][pid] and r3.calls == 2
        srv.delete_comment(ids[7])
        srv.add_comment(pid, "and another", created_at=NOW + timedelta(minutes=31))
        r4 = conn.fetch(FetchContext(cursor=r3.cursor, now=NOW + timedelta(minutes=45), known_comments=known))
        assert r4.deleted == () and r4.cursor["posts"][pid]["m"] == [ids[7]]
        r5 = conn.fetch(FetchContext(cursor=r4.cursor, now=NOW + timedelta(minutes=60), known_comments=known))
        assert r5.deleted == (ids[7],) and "m" not in r5.cursor["posts"][pid]
        r6 = conn.fetch(FetchContext(cursor=r5.cursor, now=NOW + timedelta(minutes=75),
                                     known_comments={pid: known[pid] - {ids[7]}}))
        assert r6.calls == 1  # quiet again


# ------------------------------------------------------------------ ordering (issue 15 item 2)
@pytest.mark.parametrize("order", ["documented", "ranked"])
def test_incremental_read_does_not_depend_on_the_order_graph_serves(connect, order):
    with FakeGraphServer([], token=TOKEN, comment_order=order) as srv:
        pid, ids = _post_with_comments(srv, 250)
        conn = connect(srv, audit_posts_per_poll=0)
        r1 = conn.fetch(FetchContext(cursor={}, now=NOW))
        assert sorted(c.comment_id for c in r1.comments) == sorted(ids) and r1.calls == 4
        new = [srv.add_comment(pid, f"new {m}", created_at=NOW + timedelta(minutes=m)) for m in (1, 2, 3)]
        r2 = conn.fetch(FetchContext(cursor=r1.cursor, now=NOW + timedelta(minutes=15),
                                     known_comments=known_from(r1.comments)))
        assert set(new) <= {c.comment_id for c in r2.comments} and r2.deleted == ()
        assert r2.calls == 2  # the post listing + one page of comments since the watermark
        last = srv.requests[-1].params
        assert last["filter"] == "stream" and "since" in last


def test_fake_serves_stream_chronologically_whatever_order_says(server):
    pid = next(p.native_id for p in server.posts if len(p.comments) > 3)
    url = (f"{server.base_url}/v23.0/{pid}/comments?filter=stream&order=reverse_chronological&limit=100"
           "&summary=true&fields=id,created_time")
    body = json.load(urllib.request.urlopen(urllib.request.Request(
        url, headers={"Authorization": f"Bearer {TOKEN}"}), timeout=5))
    times = [c["created_time"] for c in body["data"]]
    assert times == sorted(times) and body["summary"]["order"] == "chronological"


# ------------------------------------------------------------------ rate limits (issue 15 item 5)
def test_business_use_case_usage_backs_off_over_its_24_hour_window(server, connect):
    conn = connect(server, audit_posts_per_poll=0)
    server.set_usage(business_pct=85)  # a Page token: Business Use Case limits, a rolling 24 hours
    r = conn.fetch(FetchContext(cursor={}, now=NOW))
    assert r.next_poll_after == pytest.approx(8640.0)  # 10 points x 864 s (1% of 24 hours)
    assert any("x-business-use-case-usage call_count 85%" in w for w in r.warnings)
    server.set_usage(app_pct=85)  # the app's Platform limit is a rolling hour
    r2 = conn.fetch(FetchContext(cursor=r.cursor, now=NOW))
    assert r2.next_poll_after == pytest.approx(900.0)


def test_80001_without_a_regain_time_waits_an_hour(server, connect):
    server.fail_next(1, 400, graph_code=80001)
    with pytest.raises(ConnectorError) as ei:
        connect(server).fetch(FetchContext(cursor={}, now=NOW))
    assert ei.value.kind == "rate_limit" and ei.value.retry_after == 3600.0


@pytest.mark.parametrize("subcode,words", [
    (460, "because the password of the person who generated the token was changed"),
    (463, "because the token has expired"),
    (467, "because the token is no longer valid: the person who generated it logged out of Facebook"),
    (492, "because the session is no longer valid: the role of the person who generated the token on the Page "
          "changed"),
])
def test_190_subcode_in_words(server, connect, subcode, words):
    server.fail_next(1, 400, graph_code=190, subcode=subcode)
    with pytest.raises(ConnectorError) as ei:
        connect(server).fetch(FetchContext(cursor={}, now=NOW))
    assert ei.value.kind == "auth" and words in str(ei.value) and f"(Graph 190/{subcode}" in str(ei.value)


# ------------------------------------------------------------------ Graph version (issue 15 item 8)
def test_facebook_api_version_header_is_logged(server, connect, caplog):
    caplog.set_level(logging.INFO, logger="connectors.graph_client")
    conn = connect(server, audit_posts_per_poll=0)
    conn.fetch(FetchContext(cursor={}, now=NOW))
    lines = [r for r in caplog.records if r.name == "connectors.graph_client"]
    assert [(r.levelname, r.getMessage()) for r in lines] == [("INFO", "facebook-api-version v23.0 (pinned v23.0)")]
    assert conn.client.api_version == "v23.0"


def test_served_version_other_than_pinned_warns(connect, caplog):
    caplog.set_level(logging.INFO, logger="connectors.graph_client")
    with FakeGraphServer(fb_posts(), token=TOKEN, served_version="v24.0") as srv:
        conn = connect(srv, audit_posts_per_poll=0)
        r = conn.fetch(FetchContext(cursor={}, now=NOW))
        assert any("Graph served facebook-api-version v24.0 to calls pinned to v23.0" in w for w in r.warnings)
        assert any(x.levelname == "WARNING" and "facebook-api-version v24.0 (pinned v23.0)" in x.getMessage()
                   for x in caplog.records)
        assert conn.check()[-1].detail.endswith("; Graph served facebook-api-version v24.0")


@pytest.mark.parametrize("today,ok,warning,phrase", [
    (datetime(2027, 4, 7, tzinfo=timezone.utc), True, False, "Graph API v23.0 works until 2027-10-08"),
    (datetime(2027, 4, 8, tzinfo=timezone.utc), True, True, "stops working on 2027-10-08 (in 183 days)"),
    (datetime(2027, 10, 8, tzinfo=timezone.utc), False, False, "stopped working on 2027-10-08"),
])
def test_check_warns_six_months_before_the_pinned_version_expires(server, monkeypatch, today, ok, warning, phrase):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    cfg = AccountConfig(name="school-fb", platform="facebook", page_id=server.page_id, base_url=server.base_url,
                        secrets={"token": SecretRef(key="accounts[0].token", env=TOKEN_ENV)})
    with FacebookConnector(cfg, clock=lambda: today) as conn:
        line = conn.check()[-1]
    assert line.name == "school-fb graph version" and (line.ok, line.warning) == (ok, warning)
    assert phrase in line.detail

"""Facebook connector against recorded Graph API shapes served by httpx.MockTransport.

Covers paging (``paging.next`` followed exactly), mapping, each Graph error code the
connector handles, HTML 502, timeouts, malformed JSON, edits and deletions between polls,
the incremental plan's call counts, usage headers, actions and ``check``; and that the
token never appears in error text, logs, raw payloads or permalinks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

import logging

import httpx
import pytest

from connectors.base import ConnectorError, FetchContext
from connectors.facebook import FacebookConnector, map_comment, strip_secret_params
from monitor.config import AccountConfig, SecretRef
from monitor.domain import Attachment

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "facebook"
TOKEN = "EAAGtestPAGEtoken0123456789abcdefSECRET"
APP_SECRET = "appsecret-0123456789abcdef"
TOKEN_ENV = "SSM_TEST_FB_TOKEN"
SECRET_ENV = "SSM_TEST_FB_APP_SECRET"
NOW = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)


def load(name: str) -> Any:
    """A fixture file from tests/fixtures/facebook/."""
    return json.loads((FIX / name).read_text(encoding="utf-8"))


def account(page_id: str = "1000", base_url: str | None = None, *, app_secret: bool = False,
            **kw: Any) -> AccountConfig:
    """An ``[[accounts]]`` entry reading the token from ``$SSM_TEST_FB_TOKEN``."""
    secrets = {"token": SecretRef(key="accounts[0].token", env=TOKEN_ENV)}
    if app_secret:
        secrets["app_secret"] = SecretRef(key="accounts[0].app_secret", env=SECRET_ENV)
    return AccountConfig(name="school-fb", platform="facebook", page_id=page_id, base_url=base_url,
                         secrets=secrets, **kw)


def gtime(dt: datetime) -> str:
    """Graph timestamp ``2026-10-12T06:00:00+0000``."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def error_response(code: str, status: int | None = None, headers: dict | None = None) -> httpx.Response:
    """A Graph error response from errors.json."""
    errors = load("errors.json")
    st = status or errors["_status"].get(code.split("_")[0], 400)
    return httpx.Response(st, json=errors[code], headers=headers or {})


class GraphStub:
    """An in-memory Page for ``httpx.MockTransport``: posts listing with comment summaries
    (shape of posts_p1.json) and comment listings (shape of comments_p1.json), paged
    with ``paging.next`` URLs that carry ``access_token`` as the real API's do. As the
    comments reference documents, ``filter=stream`` is chronological whatever ``order``
    says; ``since`` (unix time) is honoured.

    ``override(request) -> Response | None`` lets a test inject failures."""

    def __init__(self, page_id: str = "1000", page_size: int = 100):
        self.page_id = page_id
        self.page_size = page_size
        self.posts: dict[str, dict] = {}
        self.comments: dict[str, list[dict]] = {}
        self.requests: list[httpx.Request] = []
        self.override: Callable[[httpx.Request], httpx.Response | None] | None = None
        self.headers: dict[str, str] = {}
        self._n = 0

    # data
    def add_post(self, created: datetime, message: str = "School news") -> str:
        self._n += 1
        pid = f"{self.page_id}_{500000 + self._n}"
        self.posts[pid] = {"id": pid, "message": message, "created_time": gtime(created),
                           "permalink_url": f"https://www.facebook.com/{self.page_id}/posts/{500000 + self._n}/"}
        self.comments[pid] = []
        return pid

    def add_comment(self, pid: str, created: datetime, text: str = "Lovely", author: str = "1001",
                    parent: str | None = None) -> str:
        self._n += 1
        post_num = pid.split("_")[1]
        cid = f"{post_num}_{700000 + self._n}"
        c = {"id": cid, "from": {"id": author, "name": f"Parent {author}"}, "created_time": gtime(created),
             "message": text,
             "permalink_url":
                 f"https://www.facebook.com/{self.page_id}/posts/{post_num}/?comment_id={700000 + self._n}",
             "is_hidden": False, "can_hide": True}
        if parent:
            c["parent"] = {"id": parent}
        self.comments[pid].append(c)
        return cid

    def edit(self, cid: str, text: str) -> None:
        for lst in self.comments.values():
            for c in lst:
                if c["id"] == cid:
                    c["message"] = text

    def delete(self, cid: str) -> None:
        for lst in self.comments.values():
            lst[:] = [c for c in lst if c["id"] != cid]

    # serving
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.override is not None:
            resp = self.override(request)
            if resp is not None:
                return resp
        parts = [p for p in request.url.path.split("/") if p][1:]
        q = dict(parse_qsl(request.url.query.decode()))
        if parts == [self.page_id, "posts"]:
            items = sorted(self.posts.values(), key=lambda p: p["created_time"], reverse=True)
            if q.get("since"):
                since = datetime.fromtimestamp(int(q["since"]), timezone.utc)
                items = [p for p in items if p["created_time"] >= gtime(since)]
            out = []
            for p in items:
                live = self.comments[p["id"]]
                newest = max([p["created_time"]] + [c["created_time"] for c in live])
                out.append({**p, "updated_time": newest,
                            "comments": {"data": [], "summary": {"order": "chronological",
                                                                 "total_count": len(live), "can_comment": True}}})
            return self._page(request, q, out)
        if len(parts) == 2 and parts[1] == "comments" and parts[0] in self.comments:
            items = sorted(self.comments[parts[0]], key=lambda c: (c["created_time"], c["id"]),
                           reverse=q.get("order") == "reverse_chronological" and q.get("filter") != "stream")
            total = len(items)
            if q.get("since"):
                since = gtime(datetime.fromtimestamp(int(q["since"]), timezone.utc))
                items = [c for c in items if c["created_time"] >= since]
            body = self._page(request, q, items, raw=True)
            body["summary"] = {"order": "chronological", "total_count": total, "can_comment": True}
            return httpx.Response(200, json=body, headers=self.headers)
        if parts == [self.page_id]:
            return httpx.Response(200, json={"id": self.page_id, "name": "Brookfield Primary School"},
                                  headers=self.headers)
        return error_response("100_33")

    def _page(self, request: httpx.Request, q: dict, items: list, raw: bool = False):
        start = int(q.get("after", "0"))
        chunk = items[start:start + self.page_size]
        body: dict[str, Any] = {"data": chunk, "paging": {"cursors": {"before": str(start),
                                                                      "after": str(start + len(chunk))}}}
        if start + self.page_size < len(items):
            qq = [(k, v) for k, v in parse_qsl(request.url.query.decode()) if k not in ("after", "access_token")]
            qq = [("access_token", TOKEN)] + qq + [("after", str(start + self.page_size))]
            u = urlsplit(str(request.url))
            body["paging"]["next"] = f"{u.scheme}://{u.netloc}{u.path}?{urlencode(qq)}"
        if raw:
            return body
        return httpx.Response(200, json=body, headers=self.headers)


def known_from(comments) -> dict[str, frozenset[str]]:
    """What the store would hold live after ingesting ``comments``: post id to ids."""
    out: dict[str, set[str]] = {}
    for c in comments:
        out.setdefault(c.post_id, set()).add(c.comment_id)
    return {k: frozenset(v) for k, v in out.items()}


def minutes_ago(m: float) -> datetime:
    return NOW - timedelta(minutes=m)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make(monkeypatch, sleeps):
    """Build a connector on a MockTransport around ``handler``."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv(SECRET_ENV, APP_SECRET)
    built = []

    def _make(handler, page_id: str = "1000", **kw) -> FacebookConnector:
        ckw = {k: kw.pop(k) for k in ("max_calls_per_poll", "audit_posts_per_poll", "max_attempts") if k in kw}
        conn = FacebookConnector(account(page_id, **kw), transport=httpx.MockTransport(handler),
                                 sleep=sleeps.append, clock=lambda: NOW, **ckw)
        built.append(conn)
        return conn

    yield _make
    for c in built:
        c.close()


def ctx(cursor=None, known=None, now=NOW) -> FetchContext:
    return FetchContext(cursor=cursor or {}, now=now, known_comments=known or {})


def stub_with(posts: int = 1, comments: int = 2, page_size: int = 100) -> tuple[GraphStub, list[str]]:
    st = GraphStub(page_size=page_size)
    pids = []
    for i in range(posts):
        pid = st.add_post(NOW - timedelta(days=1 + i), f"Post {i}")
        for j in range(comments):
            st.add_comment(pid, NOW - timedelta(days=1 + i) + timedelta(minutes=10 + j), f"c{i}-{j}",
                           author=str(1001 + j))
        pids.append(pid)
    return st, pids


# --------------------------------------------------------------------------- paging, mapping
def test_post_listing_follows_recorded_next_url_exactly(make):
    p1, p2 = load("posts_p1.json"), load("posts_p2.json")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        path = request.url.path
        if path == "/v23.0/19292868552/posts":
            return httpx.Response(200, json=p1)
        if path == "/v10.0/19292868552/feed":
            return httpx.Response(200, json=p2)
        return httpx.Response(200, json={"data": [], "paging": {}, "summary": {"total_count": 0}})

    conn = make(handler, page_id="19292868552", audit_posts_per_poll=0)
    res = conn.fetch(ctx(now=datetime(2021, 7, 12, 12, tzinfo=timezone.utc)))
    assert seen[1] == p1["paging"]["next"]  # followed byte for byte, no params added
    assert len(res.posts) == 10
    assert {p.post_id for p in res.posts} == {p["id"] for p in p1["data"] + p2["data"]}
    counts = {pid: st["n"] for pid, st in res.cursor["posts"].items()}
    assert counts["19292868552_10158316421783553"] == 82
    # every post had comments, so each was listed once
    assert sum("/comments" in u for u in seen) == 10
    first = urlsplit(seen[0])
    q = dict(parse_qsl(first.query))
    assert q["limit"] == "100" and "comments.filter(stream).summary(true).limit(0)" in q["fields"]
    assert int(q["since"]) == int((datetime(2021, 7, 12, 12, tzinfo=timezone.utc) - timedelta(days=30)).timestamp())


def test_comment_listing_follows_next_and_maps_recorded_comments(make):
    c1, c2 = load("comments_p1.json"), load("comments_p2.json")
    post_id = "19292868552_10158407654328553"
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/posts"):
            return httpx.Response(200, json={"data": [{
                "id": post_id, "message": "Building with the Graph API", "created_time": "2021-08-10T17:00:00+0000",
                "updated_time": "2021-08-14T07:24:42+0000",
                "permalink_url": "https://www.facebook.com/19292868552/posts/10158407654328553/",
                "comments": {"data": [], "summary": {"order": "chronological", "total_count": 18,
                                                     "can_comment": True}}}], "paging": {}})
        if request.url.path == f"/v23.0/{post_id}/comments":
            return httpx.Response(200, json=c1)
        if request.url.path == f"/v11.0/{post_id}/comments":
            return httpx.Response(200, json=c2)
        raise AssertionError(request.url)

    conn = make(handler, page_id="19292868552", audit_posts_per_poll=0)
    res = conn.fetch(ctx(now=datetime(2021, 8, 15, tzinfo=timezone.utc)))
    assert str(seen[2].url) == c1["paging"]["next"]
    q = dict(parse_qsl(seen[1].url.query.decode()))
    assert q["filter"] == "stream" and q["limit"] == "100"
    assert "from{id,name}" in q["fields"] and "parent{id}" in q["fields"] and "attachment{" in q["fields"]
    assert len(res.comments) == 15 == len(c1["data"]) + len(c2["data"])
    by_id = {c.comment_id: c for c in res.comments}
    reply = by_id["10158407654328553_10158409983033553"]
    assert reply.parent_id == "10158407654328553_10158407903973553"
    assert reply.author_id == "fb:19292868552" and reply.author_name == "Facebook for Developers"
    top = by_id["10158407654328553_10158407835073553"]
    assert top.parent_id is None and top.post_id == post_id
    assert top.created_at == datetime(2021, 8, 10, 18, 45, 3, tzinfo=timezone.utc)
    assert top.text.startswith("Boa noite") and top.post_text == "Building with the Graph API"
    assert top.permalink == c1["data"][0]["permalink_url"]
    assert dict(top.raw) == c1["data"][0] and top.is_hidden is False
    assert sum(1 for c in res.comments if c.parent_id) == 5
    # the post's summary (18) says more than the 15 visible: no deletion is invented
    assert res.deleted == ()


def test_recorded_listing_short_of_its_count_marks_nothing_deleted(make):
    # Recorded: 10 + 5 comments listed, summary.total_count 18 (Graph leaves some out).
    c1, c2 = load("comments_p1.json"), load("comments_p2.json")
    post_id = "19292868552_10158407654328553"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/posts"):
            return httpx.Response(200, json={"data": [{
                "id": post_id, "message": "Building with the Graph API", "created_time": "2021-08-10T17:00:00+0000",
                "updated_time": "2021-08-14T07:24:42+0000",
                "comments": {"data": [], "summary": {"order": "chronological", "total_count": 18,
                                                     "can_comment": True}}}], "paging": {}})
        return httpx.Response(200, json=c1 if request.url.path.startswith("/v23.0/") else c2)

    stored = {c["id"] for c in c1["data"] + c2["data"]} | {"10158407654328553_10158400000000001"}
    conn = make(handler, page_id="19292868552", audit_posts_per_poll=0)
    res = conn.fetch(ctx({}, {post_id: frozenset(stored)}, datetime(2021, 8, 15, tzinfo=timezone.utc)))
    assert res.deleted == () and "m" not in res.cursor["posts"][post_id]  # not even a first miss
    assert any("listing incomplete (15 comments returned, summary.total_count 18)" in w for w in res.warnings)


def test_map_recorded_photo_comment():
    raw = load("comment_photo.json")
    c = map_comment(raw, account="school-fb", post_id="2121008874780932_2954961744718970", post_text=None)
    assert c.author_id == "fb:2711636948859886" and c.author_name == "Kun Liu"
    assert c.attachments == (Attachment("photo", raw["attachment"]["media"]["image"]["src"]),)
    assert c.attachments[0].is_image_or_video
    assert c.created_at == datetime(2021, 7, 23, 8, 35, 18, tzinfo=timezone.utc)
    assert c.parent_id is None and c.is_hidden is False and c.text == "My Nice Car "


def test_map_comment_without_id_names_the_post():
    with pytest.raises(ValueError, match="post 1000_5"):
        map_comment({"message": "x", "created_time": "2026-10-01T10:00:00+0000"}, account="a",
                    post_id="1000_5", post_text=None)


def test_token_sent_in_header_with_appsecret_proof(make):
    st, _ = stub_with(posts=1, comments=3)
    conn = make(st, app_secret=True)
    conn.fetch(ctx())
    proof = hmac.new(APP_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    for r in st.requests:
        assert r.headers["Authorization"] == f"Bearer {TOKEN}"
        assert dict(parse_qsl(r.url.query.decode()))["appsecret_proof"] == proof
    assert "access_token" not in str(st.requests[0].url)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("code", ["4", "17", "32", "613", "80001"])
def test_rate_limit_codes(make, sleeps, code):
    st, _ = stub_with()
    buc = ('{"1000": [{"type": "pages", "call_count": 100, "total_cputime": 40, "total_time": 40, '
           '"estimated_time_to_regain_access": 7}]}')
    st.override = lambda r: error_response(code, headers={"x-business-use-case-usage": buc})
    with pytest.raises(ConnectorError) as ei:
        make(st).fetch(ctx())
    e = ei.value
    assert (e.kind, e.permanent, e.code, e.retry_after) == ("rate_limit", False, int(code), 420.0)
    assert len(st.requests) == 1 and sleeps == []  # no hammering


def test_rate_limit_without_usage_headers_still_has_retry_after(make):
    st, _ = stub_with()
    st.override = lambda r: error_response("4")
    with pytest.raises(ConnectorError) as ei:
        make(st).fetch(ctx())
    assert ei.value.kind == "rate_limit" and ei.value.retry_after and ei.value.retry_after > 0


def test_190_is_permanent_auth_asking_to_reconnect(make):
    st, _ = stub_with()
    st.override = lambda r: error_response("190")
    with pytest.raises(ConnectorError) as ei:
        make(st).fetch(ctx())
    e = ei.value
    assert (e.kind, e.permanent, e.code, e.status) == ("auth", True, 190, 400)
    text = str(e)
    assert "reconnect the Page" in text and "new Page access token" in text and "463" in text
    assert TOKEN not in text


@pytest.mark.parametrize("code,on,permission", [
    ("10", "posts", "pages_read_engagement"),
    ("200", "comments", "pages_read_user_content"),
])
def test_permission_errors_name_the_permission(make, code, on, permission):
    st, _ = stub_with()
    st.override = lambda r: error_response(code) if r.url.path.endswith(on) else None
    with pytest.raises(ConnectorError) as ei:
        make(st).fetch(ctx())
    e = ei.value
    assert (e.kind, e.permanent, e.code) == ("permission", True, int(code))
    assert f"missing permission {permission}" in str(e)


def test_permission_error_on_hide_names_manage_engagement(make):
    st, _ = stub_with()
    st.override = lambda r: error_response("200_hide") if r.method == "POST" else None
    with pytest.raises(ConnectorError) as ei:
        make(st, hide_enabled=True).hide("500001_700002")
    assert ei.value.kind == "permission" and "pages_manage_engagement" in str(ei.value)


def test_html_502_is_retried_with_backoff_then_transient(make, sleeps):
    st, _ = stub_with()
    st.override = lambda r: httpx.Response(502, content=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                                           headers={"content-type": "text/html"})
    with pytest.raises(ConnectorError) as ei:
        make(st).fetch(ctx())
    e = ei.value
    assert (e.kind, e.permanent, e.status) == ("transient", False, 502)
    assert "HTML page" in str(e) and e.retry_after and e.retry_after > 0
    assert len(st.requests) == 3 and sleeps == [1.0, 2.0]


def test_html_502_once_then_success(make, sleeps):
    st, _ = stub_with(posts=1, comments=2)
    fails = [1]

    def once(request):
        if fails:
            fails.pop()
            return httpx.Response(502, content=b"<!DOCTYPE html><html>Bad Gateway</html>")
        return None

    st.override = once
    res = make(st).fetch(ctx())
    assert len(res.comments) == 2 and sleeps == [1.0] and res.calls == 3


def test_timeout_is_transient_and_bounded(make, sleeps):
    st, _ = stub_with()

    def timeout(request):
        raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)

    st.override = timeout
    with pytest.raises(ConnectorError) as ei:
        make(st, max_attempts=2).fetch(ctx())
    assert ei.value.kind == "transient" and "timed out" in str(ei.value)
    assert len(st.requests) == 2 and sleeps == [1.0]


@pytest.mark.parametrize("body,status", [(b'{"data": [', 200), (b"", 200), (b"[1, 2]", 200), (b"{}", 503)])
def test_malformed_or_empty_bodies_are_transient(make, body, status):
    st, _ = stub_with()
    st.override = lambda r: httpx.Response(status, content=body, headers={"content-type": "application/json"})
    with pytest.raises(ConnectorError) as ei:
        make(st).fetch(ctx())
    assert ei.value.kind == "transient" and len(st.requests) == 3


def test_graph_code_2_is_transient(make):
    st, _ = stub_with()
    st.override = lambda r: error_response("2", status=500)
    with pytest.raises(ConnectorError) as ei:
        make(st).fetch(ctx())
    assert ei.value.kind == "transient" and ei.value.code == 2


def test_token_never_in_errors_logs_raw_or_permalinks(make, caplog):
    # a next URL carrying access_token=<token> (as Graph returns) is followed; the
    # network error on it names the URL: the ConnectorError must not.
    st, (pid,) = stub_with(posts=1, comments=3, page_size=2)
    st.comments[pid][0]["permalink_url"] += f"&access_token={TOKEN}"
    caplog.set_level(logging.INFO, logger="httpx")
    res = make(st, audit_posts_per_poll=0).fetch(ctx())
    assert any("access_token=" in str(r.url) and TOKEN in str(r.url) for r in st.requests)
    assert TOKEN not in caplog.text and "access_token=[redacted]" in caplog.text
    dumped = json.dumps([dict(c.raw) for c in res.comments]) + json.dumps([c.permalink for c in res.comments])
    assert TOKEN not in dumped and len(res.comments) == 3

    def boom(request):
        if "after" in str(request.url):
            raise httpx.ConnectError(f"[Errno 111] Connection refused: {request.url}", request=request)
        return None

    st.override = boom
    with pytest.raises(ConnectorError) as ei:
        make(st, audit_posts_per_poll=0).fetch(ctx())
    e = ei.value
    for text in (str(e), repr(e), " ".join(map(str, e.args))):
        assert TOKEN not in text and "access_token" not in text
    assert e.__cause__ is None or TOKEN not in str(e.__cause__)


def test_strip_secret_params_keeps_comment_id():
    url = "https://www.facebook.com/1/posts/2/?comment_id=3&access_token=abc&appsecret_proof=def&reply_comment_id=4"
    assert strip_secret_params(url) == "https://www.facebook.com/1/posts/2/?comment_id=3&reply_comment_id=4"


def test_unset_token_names_key_and_source(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ConnectorError) as ei:
        FacebookConnector(account())
    assert ei.value.kind == "auth" and ei.value.permanent
    assert "accounts[0].token" in str(ei.value) and TOKEN_ENV in str(ei.value)


# --------------------------------------------------------------------------- polls over time
def test_edit_and_delete_between_polls(make):
    st, (pid,) = stub_with(posts=1, comments=3)
    conn = make(st, audit_posts_per_poll=0)
    r1 = conn.fetch(ctx())
    ids = [c.comment_id for c in r1.comments]
    st.edit(ids[0], "I take that back")
    st.delete(ids[1])
    known = known_from(r1.comments)
    r2 = conn.fetch(ctx(r1.cursor, known, NOW + timedelta(minutes=15)))
    assert r2.deleted == () and r2.cursor["posts"][pid]["m"] == [ids[1]]  # a first miss
    edited = {c.comment_id: c for c in r2.comments}[ids[0]]
    assert edited.text == "I take that back"
    assert edited.content_sha256() != r1.comments[0].content_sha256()
    assert r2.calls == 2  # listing + one full listing of the changed post
    r3 = conn.fetch(ctx(r2.cursor, known, NOW + timedelta(minutes=30)))
    assert r3.deleted == (ids[1],) and "m" not in r3.cursor["posts"][pid]  # missing twice in a row
    assert r3.calls == 2  # listing + the post listed again to confirm


def test_quiet_poll_costs_one_call_per_100_posts(make):
    st, _ = stub_with(posts=5, comments=2)
    conn = make(st, audit_posts_per_poll=0)
    r1 = conn.fetch(ctx())
    assert r1.calls == 6 and len(r1.comments) == 10
    r2 = conn.fetch(ctx(r1.cursor, known_from(r1.comments)))
    assert r2.calls == 1 and r2.comments == () and r2.posts == ()


def test_edit_on_quiet_post_found_by_audit_rotation(make):
    st, pids = stub_with(posts=3, comments=2)
    conn = make(st, audit_posts_per_poll=1)
    r = conn.fetch(ctx())
    known = known_from(r.comments)
    target = st.comments[pids[2]][0]["id"]
    st.edit(target, "edited quietly")
    texts = []
    for i in range(3):
        r = conn.fetch(ctx(r.cursor, known, NOW + timedelta(minutes=15 * (i + 1))))
        assert r.calls == 2  # listing + one audited post
        texts += [c.text for c in r.comments if c.comment_id == target]
    assert texts == ["edited quietly"]  # each post audited once in three polls


def test_big_post_is_read_incrementally(make):
    st, (pid,) = stub_with(posts=1, comments=0)
    for j in range(250):
        st.add_comment(pid, NOW - timedelta(hours=20) + timedelta(minutes=j), f"old {j}")
    conn = make(st, audit_posts_per_poll=0)
    r1 = conn.fetch(ctx())
    assert r1.calls == 4 and len(r1.comments) == 250
    new = [st.add_comment(pid, NOW + timedelta(minutes=m), f"new {m}") for m in (1, 2, 3)]
    r2 = conn.fetch(ctx(r1.cursor, known_from(r1.comments), NOW + timedelta(minutes=15)))
    assert r2.calls == 2
    assert set(new) <= {c.comment_id for c in r2.comments}
    q = dict(parse_qsl(st.requests[-1].url.query.decode()))
    newest_seen = NOW - timedelta(hours=20) + timedelta(minutes=249)
    assert q["order"] == "chronological" and q["filter"] == "stream"
    assert int(q["since"]) == int((newest_seen - timedelta(minutes=10)).timestamp())  # watermark - margin
    assert r2.deleted == () and r2.warnings == ()


def test_big_post_deletion_falls_back_to_full_listing(make):
    st, (pid,) = stub_with(posts=1, comments=0)
    for j in range(150):
        st.add_comment(pid, NOW - timedelta(hours=20) + timedelta(minutes=j), f"old {j}")
    conn = make(st, audit_posts_per_poll=0)
    r1 = conn.fetch(ctx())
    gone = st.comments[pid][5]["id"]
    st.delete(gone)
    st.add_comment(pid, NOW + timedelta(minutes=1), "new 1")
    st.add_comment(pid, NOW + timedelta(minutes=2), "new 2")
    r2 = conn.fetch(ctx(r1.cursor, known_from(r1.comments), NOW + timedelta(minutes=15)))
    assert r2.deleted == () and r2.cursor["posts"][pid]["m"] == [gone]
    assert r2.calls == 1 + 1 + 2  # listing, incremental page, full listing (2 pages)
    r3 = conn.fetch(ctx(r2.cursor, known_from(r1.comments), NOW + timedelta(minutes=30)))
    assert r3.deleted == (gone,) and r3.calls == 1 + 2


def test_posts_outside_window_are_not_requested_and_leave_the_cursor(make):
    st, pids = stub_with(posts=2, comments=1)
    old = st.add_post(NOW - timedelta(days=45), "Old post")
    st.add_comment(old, NOW - timedelta(days=44), "old comment")
    conn = make(st, audit_posts_per_poll=0)
    r1 = conn.fetch(ctx())
    assert old not in r1.cursor["posts"] and all(old not in p for p in st.paths())
    r2 = conn.fetch(ctx(r1.cursor, now=NOW + timedelta(days=28, hours=12)))  # 2nd post now 30d+ old
    assert pids[1] not in r2.cursor["posts"] and pids[0] in r2.cursor["posts"]


def test_unreadable_cursor_starts_fresh_with_warning(make):
    st, _ = stub_with(posts=1, comments=1)
    r = make(st).fetch(ctx({"v": 99, "whatever": 1}))
    assert len(r.comments) == 1 and any("cursor not understood" in w for w in r.warnings)


# --------------------------------------------------------------------------- limits
def test_usage_near_limit_slows_down(make, sleeps):
    st, _ = stub_with(posts=2, comments=1)
    st.headers = {"x-app-usage": '{"call_count": 85, "total_time": 20, "total_cputime": 20}'}
    st.override = lambda r: None
    orig = st._page

    def with_headers(request, q, items, raw=False):
        resp = orig(request, q, items, raw)
        return resp if raw else httpx.Response(200, json=json.loads(resp.content), headers=st.headers)

    st._page = with_headers
    r = make(st, audit_posts_per_poll=0).fetch(ctx())
    assert len(r.comments) == 2
    assert any(w.startswith("slowing down: x-app-usage call_count 85%") for w in r.warnings)
    assert r.next_poll_after == pytest.approx(900.0)
    assert sleeps and all(s == pytest.approx(5.5) for s in sleeps)


def test_usage_at_limit_stops_early_and_resumes(make):
    st, pids = stub_with(posts=2, comments=1)
    st.headers = {"x-business-use-case-usage":
                  '{"1000": [{"type": "pages", "call_count": 96, "total_cputime": 10, "total_time": 10, '
                  '"estimated_time_to_regain_access": 0}]}'}
    orig = st._page
    st._page = lambda request, q, items, raw=False: (
        orig(request, q, items, raw) if raw else httpx.Response(200, json=json.loads(orig(request, q, items).content),
                                                               headers=st.headers))
    conn = make(st, audit_posts_per_poll=0)
    r1 = conn.fetch(ctx())
    assert r1.calls == 1 and r1.comments == ()
    assert any("stopping early near the rate limit" in w for w in r1.warnings) and r1.next_poll_after
    assert r1.cursor["posts"] == {}
    st.headers = {}
    r2 = conn.fetch(ctx(r1.cursor))
    assert len(r2.comments) == 2


def test_rate_limit_mid_poll_keeps_progress(make):
    st, pids = stub_with(posts=2, comments=1)
    st.override = lambda r: error_response("80001") if r.url.path.endswith(f"{pids[1]}/comments") else None
    conn = make(st, audit_posts_per_poll=0)
    r1 = conn.fetch(ctx())
    assert [c.post_id for c in r1.comments] == [pids[0]]
    assert any("poll cut short" in w for w in r1.warnings) and r1.next_poll_after and r1.next_poll_after > 0
    assert pids[1] not in r1.cursor["posts"]
    st.override = None
    r2 = conn.fetch(ctx(r1.cursor, known_from(r1.comments)))
    assert [c.post_id for c in r2.comments] == [pids[1]]


def test_call_budget_splits_a_long_first_poll(make):
    st, pids = stub_with(posts=3, comments=1)
    conn = make(st, max_calls_per_poll=2, audit_posts_per_poll=0)
    r1 = conn.fetch(ctx())
    assert r1.calls == 2 and len(r1.comments) == 1
    assert any("call budget of 2" in w for w in r1.warnings)
    r2 = conn.fetch(ctx(r1.cursor))
    r3 = conn.fetch(ctx(r2.cursor))
    assert {c.post_id for c in r1.comments + r2.comments + r3.comments} == set(pids)


# --------------------------------------------------------------------------- actions
def test_actions_refused_unless_enabled(make):
    st, _ = stub_with()
    conn = make(st)
    with pytest.raises(ConnectorError) as ei:
        conn.hide("500001_700002")
    assert ei.value.kind == "refused" and "hide_enabled = true" in str(ei.value)
    with pytest.raises(ConnectorError) as ei:
        conn.block("fb:1004")
    assert ei.value.kind == "refused" and "block_enabled = true" in str(ei.value)
    assert st.requests == []


def test_hide_unhide_and_block_post_the_graph_calls(make):
    st, _ = stub_with()
    posted = []

    def actions(request):
        if request.method != "POST":
            return None
        posted.append((request.url.path, dict(parse_qsl(request.content.decode()))))
        if request.url.path.endswith("/blocked"):
            return httpx.Response(200, json={"1004": True})
        return httpx.Response(200, json={"success": True})

    st.override = actions
    conn = make(st, hide_enabled=True, block_enabled=True)
    conn.hide("500001_700002")
    conn.hide("500001_700002", hidden=False)
    assert conn.block("fb:1004") == "blocked fb:1004 from Page 1000"
    assert posted == [("/v23.0/500001_700002", {"is_hidden": "true"}),
                      ("/v23.0/500001_700002", {"is_hidden": "false"}),
                      ("/v23.0/1000/blocked", {"user": "1004"})]


# --------------------------------------------------------------------------- check
APP_ID = "138566025676"  # the app of debug_token.json
APP_TOKEN = f"{APP_ID}|{APP_SECRET}"


def _check_handler(debug: dict | None = None, page_error: str | None = None, seen: list | None = None):
    def handler(request):
        path = request.url.path
        if seen is not None:
            seen.append(request)
        if page_error:
            return error_response(page_error)
        if path == "/v23.0/19292868552":
            return httpx.Response(200, json=load("page.json"))
        if path == "/v23.0/debug_token":  # Graph: an app token (or a developer's user token), never the Page token
            if request.headers["Authorization"] == f"Bearer {TOKEN}":
                return error_response("100_debug_token")
            if request.headers["Authorization"] != f"Bearer {APP_TOKEN}":
                return error_response("190")
            return httpx.Response(200, json=debug or load("debug_token.json"))
        if path == "/v23.0/19292868552/posts":
            return httpx.Response(200, json={"data": [{"id": "19292868552_1", "comments": {"data": []}}]})
        raise AssertionError(path)
    return handler


def test_check_reports_valid_token_and_permissions(make):
    seen: list[httpx.Request] = []
    results = make(_check_handler(seen=seen), page_id="19292868552", app_id=APP_ID, app_secret=True).check()
    assert [(r.ok, r.warning) for r in results] == [(True, False)] * 4
    assert results[0].detail == "token valid for Page Facebook for Developers (19292868552)"
    assert "pages_read_user_content" in results[1].detail and "never expires" in results[1].detail
    [dbg] = [r for r in seen if r.url.path.endswith("/debug_token")]
    q = dict(parse_qsl(dbg.url.query.decode()))
    assert q["input_token"] == TOKEN and dbg.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    assert q["appsecret_proof"] == hmac.new(APP_SECRET.encode(), APP_TOKEN.encode(), hashlib.sha256).hexdigest()
    assert results[3].detail == "Graph API v23.0 works until 2027-10-08"


def test_check_without_app_secret_says_what_it_could_not_verify(make):
    seen: list[httpx.Request] = []
    results = make(_check_handler(seen=seen), page_id="19292868552").check()
    perm = results[1]
    assert perm.ok and perm.warning  # printed [warn], never [ok]
    assert perm.detail.startswith("not verified: the token's expiry, its data-access expiry and its granted "
                                  "permissions (pages_read_engagement, pages_read_user_content)")
    assert "app_id" in perm.detail and "app_secret_credential" in perm.detail
    assert not any(r.url.path.endswith("/debug_token") for r in seen)
    assert [(r.ok, r.warning) for r in results] == [(True, False), (True, True), (True, False), (True, False)]


def test_check_with_a_wrong_app_secret_fails_naming_app_id(make, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "not-the-app-secret")
    perm = make(_check_handler(), page_id="19292868552", app_id=APP_ID, app_secret=True).check()[1]
    assert not perm.ok and f"app_id {APP_ID} and the app secret" in perm.detail
    assert "not-the-app-secret" not in perm.detail


def test_check_names_missing_permission_for_enabled_hiding(make):
    results = make(_check_handler(), page_id="19292868552", hide_enabled=True, app_id=APP_ID,
                   app_secret=True).check()
    perm = results[1]
    assert not perm.ok and perm.detail.startswith("missing permission pages_manage_engagement")


def test_check_with_refused_token_says_reconnect(make):
    results = make(_check_handler(page_error="190"), page_id="19292868552").check()
    assert len(results) == 1 and not results[0].ok
    assert "reconnect the Page" in results[0].detail and TOKEN not in results[0].detail


@pytest.mark.parametrize("change,ok,phrase", [
    ({"type": "USER"}, False, "not a Page access token"),
    ({"profile_id": "555"}, False, "belongs to Page 555"),
    ({"is_valid": False}, False, "reconnect the Page"),
    ({"data_access_expires_at": int(datetime(2026, 10, 1, tzinfo=timezone.utc).timestamp())}, False,
     "data access expired on 2026-10-01"),
    ({"expires_at": int(datetime(2026, 10, 11, tzinfo=timezone.utc).timestamp())}, False, "token expired"),
    ({"data_access_expires_at": int(datetime(2026, 10, 20, tzinfo=timezone.utc).timestamp())}, True,
     "reconnect the Page soon"),
])
def test_check_judges_debug_token(make, change, ok, phrase):
    dbg = load("debug_token.json")
    dbg["data"].update(change)
    perm = make(_check_handler(debug=dbg), page_id="19292868552", app_id=APP_ID, app_secret=True).check()[1]
    assert perm.ok is ok and not perm.warning and phrase in perm.detail


def test_deletions_not_inferred_when_paging_loops(make):
    st, (pid,) = stub_with(posts=1, comments=3, page_size=2)
    conn = make(st, audit_posts_per_poll=0)
    r1 = conn.fetch(ctx())
    st.add_comment(pid, NOW + timedelta(minutes=1), "new")
    # Graph answers every page with the first page and the same next URL: a loop
    orig = st._page
    st._page = lambda request, q, items, raw=False: orig(request, {}, items, raw)
    r2 = conn.fetch(ctx(r1.cursor, known_from(r1.comments), NOW + timedelta(minutes=15)))
    assert r2.deleted == () and any("paging looped" in w for w in r2.warnings)


def test_endless_paging_is_bounded(make, monkeypatch):
    import connectors.facebook as fbmod

    monkeypatch.setattr(fbmod, "MAX_PAGES", 5)
    st, (pid,) = stub_with(posts=1, comments=2, page_size=1)
    n = iter(range(10**6))
    orig = st._page

    def endless(request, q, items, raw=False):  # a fresh next URL every time, same comment
        if not raw:
            return orig(request, q, items)
        body = orig(request, {}, items, True)
        body["paging"]["next"] = f"https://graph.facebook.com/v23.0/{pid}/comments?after=x{next(n)}"
        return body if raw else httpx.Response(200, json=body)

    st._page = endless
    r = make(st, audit_posts_per_poll=0).fetch(ctx(known={pid: frozenset({"gone"})}))
    assert r.calls == 1 + 5 and r.deleted == () and any("paging looped" in w for w in r.warnings)


def test_unusable_next_url_is_a_connector_error(make):
    st, (pid,) = stub_with(posts=1, comments=2, page_size=1)
    orig = st._page

    def bad(request, q, items, raw=False):
        if not raw:
            return orig(request, q, items)
        body = orig(request, q, items, True)
        body["paging"]["next"] = "https://[::1/x"
        return body if raw else httpx.Response(200, json=body)

    st._page = bad
    with pytest.raises(ConnectorError) as ei:
        make(st, audit_posts_per_poll=0).fetch(ctx())
    assert ei.value.kind == "refused" and "unusable URL" in str(ei.value)


def test_malformed_posts_and_comments_are_quarantined_with_warnings(make):
    st, (pid,) = stub_with(posts=1, comments=2)
    st.posts["1000_bad"] = {"id": "1000_bad", "message": "x", "created_time": "yesterday"}
    st.comments["1000_bad"] = []
    bad = {"id": f"{pid.split('_')[1]}_9", "message": "bad time", "created_time": "soon"}
    st.comments[pid].append(bad)
    r = make(st, audit_posts_per_poll=0).fetch(ctx(known={pid: frozenset({"x_1"})}))
    assert len(r.comments) == 2 and {p.post_id for p in r.posts} == {pid}
    assert any("1 post(s) without a usable id" in w for w in r.warnings)
    assert any("1 malformed comment(s) quarantined" in w for w in r.warnings)
    assert r.deleted == ()  # a listing with unreadable comments never infers deletions
    by_kind = {q.kind: q for q in r.quarantined}
    assert by_kind["comment"].raw == bad and by_kind["comment"].post_id == pid
    assert by_kind["comment"].item_id == bad["id"] and "not an ISO 8601 timestamp" in by_kind["comment"].reason
    assert by_kind["post"].raw["id"] == "1000_bad" and by_kind["post"].post_id is None


def test_redact_hides_secrets_but_keeps_graph_wording():
    from connectors.graph_client import redact

    assert redact("Invalid OAuth access token - Cannot parse access token") == \
        "Invalid OAuth access token - Cannot parse access token"
    assert redact(f"Authorization: Bearer {TOKEN}") == "Authorization: Bearer [redacted]"
    assert redact(f"GET /x?a=1&access_token={TOKEN}&appsecret_proof=abc") == \
        "GET /x?a=1&access_token=[redacted]&appsecret_proof=[redacted]"
    assert redact(f"token {TOKEN} leaked", (TOKEN,)) == "token [redacted] leaked"


def test_damaged_post_state_in_cursor_is_re_read(make):
    st, (pid,) = stub_with(posts=1, comments=2)
    conn = make(st, audit_posts_per_poll=0)
    r1 = conn.fetch(ctx())
    cursor = json.loads(json.dumps(r1.cursor))
    cursor["posts"][pid]["w"] = "not a time"
    r2 = conn.fetch(ctx(cursor, known_from(r1.comments)))
    assert len(r2.comments) == 2 and any("unreadable post state" in w for w in r2.warnings)
    assert r2.cursor["posts"][pid]["w"] == r1.cursor["posts"][pid]["w"]


@pytest.mark.parametrize("bad", [
    {"id": "\ud83d", "message": "\udc4d", "created_time": "2026-10-12T05:00:00+0000"},
    {"id": {"x": 1}, "created_time": "2026-10-12T05:00:00+0000"},
    {"id": "1_2", "created_time": "2026-10-12T05:00:00+0000", "from": "x"},
    {"id": "1_2", "created_time": "2026-10-12T05:00:00+0000", "parent": 5},
    {"id": "1_2", "created_time": "2026-10-12T05:00:00+0000", "message": {"x": 1}},
    {"id": "1_2", "created_time": "2026-10-12T05:00:00+0000", "from": {"id": "../etc"}},
    {"id": "1_2", "created_time": 12},
])
def test_map_comment_refuses_malformed_objects(bad):
    with pytest.raises(ValueError):
        map_comment(bad, account="a", post_id="1000_1", post_text=None)


def test_map_comment_tolerates_odd_optional_fields():
    c = map_comment({"id": "1_2", "created_time": "2026-10-12T05:00:00+0000", "permalink_url": 7,
                     "attachment": [1], "is_hidden": "no", "from": {"id": 1004, "name": None}},
                    account="a", post_id="1000_1", post_text=None)
    assert (c.permalink, c.attachments, c.is_hidden, c.author_id, c.author_name) == (None, (), None, "fb:1004", "")


@pytest.mark.parametrize("body", [
    '{"data": [' + "[" * 5000 + "]" * 5000 + "]}",  # json.loads raises RecursionError
    '{"data": [{"id": "1000_1", "created_time": "2026-10-12T05:00:00+0000", "permalink_url": 7}], '
    '"paging": {"next": 42}}',
])
def test_hostile_listing_bodies_never_escape_as_other_exceptions(make, body):
    st, _ = stub_with(posts=1, comments=1)
    st.override = lambda r: httpx.Response(200, content=body.encode()) if r.url.path.endswith("/posts") else None
    try:
        r = make(st, max_attempts=1).fetch(ctx())
    except ConnectorError as exc:
        assert exc.kind == "transient"
    else:
        assert [p.post_id for p in r.posts] == ["1000_1"] and r.posts[0].permalink is None


def test_check_asks_for_the_numeric_page_id(make):
    def handler(request):
        if request.url.path == "/v23.0/facebookfordevelopers":
            return httpx.Response(200, json=load("page.json"))
        return error_response("100_33")

    first = make(handler, page_id="facebookfordevelopers").check()[0]
    assert not first.ok and 'set page_id = "19292868552"' in first.detail


def test_graph_version_verdict_from_the_table():
    from datetime import date

    from connectors.facebook import graph_version_verdict

    assert graph_version_verdict("v23.0", date(2027, 4, 7))[:2] == (True, False)
    assert graph_version_verdict("v23.0", date(2027, 4, 8))[:2] == (True, True)  # six months before 8 Oct 2027
    assert graph_version_verdict("v23.0", date(2027, 10, 8))[:2] == (False, False)
    assert graph_version_verdict("v22.0", date(2026, 11, 20))[:2] == (True, True)  # 20 May 2027
    assert graph_version_verdict("v25.0", date(2027, 10, 8)) == (True, False, "Graph API v25.0 works until 2028-07-29")
    ok, warn, text = graph_version_verdict("v15.0", date(2026, 12, 4))
    assert (ok, warn) == (False, False) and "has expired" in text and "v25.0" in text
    assert graph_version_verdict("v26.0", date(2027, 1, 1)) == (
        True, False, "Graph API v26.0: Meta has published no end date for it yet")

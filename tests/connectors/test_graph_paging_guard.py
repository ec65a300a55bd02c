"""A Graph ``paging.next`` never takes the Page token elsewhere (issue 14, item 4).

The client sends the token as ``Authorization: Bearer`` on every request, and follows
``paging.next`` URLs exactly as the API gives them. A ``next`` to another host (or port),
or over plain http when the API root is https, is refused before anything is sent; the
error names the URL's host, never the token or the URL's query.
"""

from __future__ import annotations

import http.server
import json
import threading
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from connectors.base import ConnectorError, FetchContext
from connectors.facebook import FacebookConnector
from connectors.graph_client import GraphClient
from monitor.config import AccountConfig, SecretRef
from monitor.fakes.graph import FakeGraphServer

TOKEN = "EAAGpagingGuardPageToken0123456789SECRET"
TOKEN_ENV = "SSM_TEST_PAGING_GUARD_TOKEN"


class Recorder:
    """Another HTTP server on loopback: records what reaches it (it must be nothing)."""

    def __init__(self):
        self.requests: list[dict] = []
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - stdlib name
                rec.requests.append({"path": self.path, "headers": dict(self.headers)})
                body = b'{"data": []}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recorder():
    with Recorder() as r:
        yield r


def _assert_refused(exc: ConnectorError, host: str) -> None:
    text = str(exc)
    assert exc.kind == "refused"
    assert "paging.next" in text and host in text, text
    assert TOKEN not in text and "after=" not in text and "access_token" not in text, text


@pytest.mark.parametrize("where", ["localhost:{port}", "127.0.0.1:{port}"])
def test_next_to_another_host_or_port_is_refused_before_sending(recorder, where):
    with FakeGraphServer([], page_id="1000", token=TOKEN) as graph:
        client = GraphClient(base_url=graph.base_url, version="v23.0", token=TOKEN, sleep=lambda s: None)
        host = where.format(port=recorder.port)
        with pytest.raises(ConnectorError) as info:
            client.get_url(f"http://{host}/v23.0/1000/posts?after=QVFI&access_token={TOKEN}", action="read_posts")
        client.close()
    _assert_refused(info.value, host)
    assert recorder.requests == [], "the token was sent to another server"


def test_next_over_plain_http_or_elsewhere_is_refused_when_the_api_is_https():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": []})

    client = GraphClient(base_url="https://graph.facebook.com", version="v23.0", token=TOKEN,
                         transport=httpx.MockTransport(handler), sleep=lambda s: None)
    for url, host in [("http://graph.facebook.com/v23.0/1000/posts?after=QVFI", "graph.facebook.com"),
                      ("https://graph.facebook.com.evil.example/v23.0/1000/posts?after=QVFI",
                       "graph.facebook.com.evil.example"),
                      ("https://graph.facebook.com@evil.example/v23.0/1000/posts?after=QVFI", "evil.example"),
                      ("https://graph.facebook.com:8443/v23.0/1000/posts?after=QVFI", "graph.facebook.com:8443"),
                      ("javascript:alert(1)", "javascript")]:
        with pytest.raises(ConnectorError) as info:
            client.get_url(url, action="read_posts")
        _assert_refused(info.value, host)
    assert seen == []
    # the API's own next URL is followed, with the token
    assert client.get_url("https://graph.facebook.com/v23.0/1000/posts?after=QVFI", action="read_posts") == \
        {"data": []}
    assert [str(r.url) for r in seen] == ["https://graph.facebook.com/v23.0/1000/posts?after=QVFI"]
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    client.close()


def test_a_poll_whose_next_leaves_the_api_fails_clearly_and_sends_nothing_there(recorder, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    now = datetime(2026, 10, 12, 6, 0, tzinfo=timezone.utc)
    with FakeGraphServer([], page_id="1000", token=TOKEN) as graph:
        evil = f"http://localhost:{recorder.port}/v23.0/1000/posts?after=QVFI&access_token=x"
        graph.fail_next(1, status=200, body=json.dumps({
            "data": [{"id": "1000_1", "created_time": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                      "message": "Sports day"}],
            "paging": {"next": evil}}))
        cfg = AccountConfig(name="school-fb", platform="facebook", page_id="1000", base_url=graph.base_url,
                            secrets={"token": SecretRef(key="accounts[0].token", env=TOKEN_ENV)})
        conn = FacebookConnector(cfg, sleep=lambda s: None)
        try:
            with pytest.raises(ConnectorError) as info:
                conn.fetch(FetchContext(cursor={}, now=now))
        finally:
            conn.close()
    _assert_refused(info.value, f"localhost:{recorder.port}")
    assert recorder.requests == []

"""Signed console links (monitor.delivery.links) and the [web] config section."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta, timezone

import pytest

from monitor.config import ConfigError, parse_config
from monitor.delivery import links

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc)
WEEK = timedelta(days=7)


def test_secret_file_created_0600_and_reused(tmp_path):
    path = tmp_path / "web-secret"
    first = links.load_or_create_secret(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first) == 64
    assert links.load_or_create_secret(path) == first


def test_short_or_unreadable_secret_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "web-secret"
    path.write_text("short\n")
    with pytest.raises(links.LinkError, match="web-secret.*too short"):
        links.load_or_create_secret(path)
    with pytest.raises(links.LinkError, match="cannot create"):
        links.load_or_create_secret(tmp_path / "missing-dir" / "web-secret")


def test_token_verifies_for_its_alert_within_the_window():
    secret = b"k" * 64
    token = links.item_token(secret, 42, T0)
    links.verify_item_token(secret, token, 42, now=T0 + WEEK - timedelta(seconds=1), max_age=WEEK)
    with pytest.raises(links.BadLink, match="another item"):
        links.verify_item_token(secret, token, 43, now=T0, max_age=WEEK)
    with pytest.raises(links.BadLink) as exc:
        links.verify_item_token(secret, token, 42, now=T0 + WEEK + timedelta(seconds=1), max_age=WEEK)
    assert exc.value.expired


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),   # signature changed
    lambda t: "43" + t[2:],                              # value changed
    lambda t: "",
    lambda t: "no-dots-at-all",
    lambda t: t + "é",
])
def test_forged_or_malformed_tokens_are_refused(mangle):
    secret = b"k" * 64
    token = links.item_token(secret, 42, T0)
    with pytest.raises(links.BadLink) as exc:
        links.verify_item_token(secret, mangle(token), 42, now=T0, max_age=WEEK)
    assert not exc.value.expired


def test_another_secret_does_not_verify():
    token = links.item_token(b"a" * 64, 42, T0)
    with pytest.raises(links.BadLink):
        links.verify_item_token(b"b" * 64, token, 42, now=T0, max_age=WEEK)


def test_item_url_shape():
    url = links.item_url("https://monitor.school.example/", b"k" * 64, 7, T0)
    assert url.startswith("https://monitor.school.example/item/7?t=")
    token = url.split("?t=", 1)[1]
    links.verify_item_token(b"k" * 64, token, 7, now=T0, max_age=WEEK)


def _cfg(web):
    return parse_config({"school": {"name": "S", "timezone": "Europe/London"}, "web": web},
                        source="c.toml", base_dir="/srv")


def test_web_config_defaults_and_values():
    cfg = _cfg({})
    assert cfg.web.base_url is None and cfg.web.listen == "127.0.0.1:8080" and cfg.web.cookie_secure
    cfg = _cfg({"base_url": "https://m.example/", "listen": "0.0.0.0:9000", "link_days": 3})
    assert cfg.web.base_url == "https://m.example" and cfg.web.listen == "0.0.0.0:9000" and cfg.web.link_days == 3
    assert str(cfg.web_secret_path("/var/lib/sm/store.db")) == "/var/lib/sm/web-secret"


@pytest.mark.parametrize("web, message", [
    ({"base_url": "javascript:alert(1)"}, "web.base_url"),
    ({"listen": "8080"}, "web.listen"),
    ({"listen": "127.0.0.1:99999"}, "web.listen"),
    ({"link_days": 0}, "web.link_days"),
    ({"lisen": "127.0.0.1:8080"}, "did you mean 'listen'"),
])
def test_web_config_errors_name_the_key(web, message):
    with pytest.raises(ConfigError, match=message):
        _cfg(web)

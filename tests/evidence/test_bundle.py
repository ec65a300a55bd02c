"""Evidence bundles: exported, verified, and rejected when tampered with."""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
from datetime import date, timedelta

import pytest
import review_storebuilder as sb

from monitor.casework import evidence, review

NOW = sb.T0 + timedelta(days=2)


@pytest.fixture
def store(builder):
    b = builder
    troll = dict(author="fb:1009", name="Sam <b>Troll</b>")
    b.add(sb.make_comment("1000_1_0", "Great photos", author="fb:1002", name="Jo"), ())
    aid = b.add(sb.make_comment("1000_1_1", "Mr Pryce grabbed my son <script>alert(1)</script>", parent="1000_1_0",
                                attachments=(("photo", "https://cdn.example/p.jpg"),), **troll),
                ("allegation_staff", "image_of_staff"))[0]
    b.ingest(sb.make_comment("1000_1_1", "Mr Pryce pushed my son", parent="1000_1_0",
                             attachments=(("photo", "https://cdn.example/p.jpg"),), **troll),
             now=sb.T0 + timedelta(hours=3))
    b.ingest(sb.make_comment("1000_1_9", "unrelated", author="fb:1003", at=sb.T0 + timedelta(hours=4)),
             deleted=("1000_1_1",), now=sb.T0 + timedelta(hours=5))
    b.add(sb.make_comment("1000_2_1", "useless cow", post="1000_2", at=sb.T0 + timedelta(days=1), **troll),
          ("offensive_staff",))
    review.resolve(b.store, aid, "confirmed", actor="jsmith", now=sb.T0 + timedelta(hours=6), note="LADO")
    return b.store


def _export(store, cfg, tmp_path, **sel):
    return evidence.export_bundle(store, cfg, out_path=tmp_path / "bundle.zip", now=NOW, actor="jsmith", **sel)


def test_export_by_author_holds_everything_and_verifies(store, cfg, tmp_path):
    path = _export(store, cfg, tmp_path, author_id="fb:1009")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert evidence.verify_bundle(path) == []
    assert evidence.verify_bundle(path, store=store, expected_manifest_sha256=evidence.manifest_sha256(path)) == []
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        records = json.loads(zf.read("comments.json"))
        html = zf.read("summary.html").decode()
        raw = zf.read("raw/facebook-1000_1_1-v1.json")
    assert names == {"manifest.json", "comments.json", "audit.json", "summary.html",
                     "raw/facebook-1000_1_1-v1.json", "raw/facebook-1000_1_1-v2.json", "raw/facebook-1000_2_1-v1.json"}
    with zipfile.ZipFile(path) as zf:
        audit = json.loads(zf.read("audit.json"))
    # the chain of custody: the coordinator's verdict on the escalation
    assert [(e["actor"], e["action"], e["reason"]) for e in audit] == [("jsmith", "review.resolve", "LADO")]
    for f in manifest["files"]:
        with zipfile.ZipFile(path) as zf:
            assert hashlib.sha256(zf.read(f["path"])).hexdigest() == f["sha256"]
    assert manifest["store_chain"]["verified"] is True and manifest["comments"] == 2
    assert manifest["created_by"] == "jsmith" and manifest["school"] == "Brookfield Primary School"
    r = records[0]
    assert r["comment_id"] == "1000_1_1" and r["text"] == "Mr Pryce pushed my son"
    assert r["created_at_utc"] == "2026-09-07T14:00:00Z"
    assert r["created_at_school"] == "2026-09-07 15:00:00 BST"
    assert r["deleted_at_utc"] == "2026-09-07T19:00:00Z" and r["deleted_at_school"] == "2026-09-07 20:00:00 BST"
    assert r["permalink"].startswith("https://www.facebook.com/1000_1?comment_id=1000_1_1")
    assert r["author"] == {"author_id": "fb:1009", "name": "Sam <b>Troll</b>", "handle": None,
                           "profile_url": "https://www.facebook.com/1009"}
    assert r["in_reply_to"]["text"] == "Great photos"
    assert [v["text"] for v in r["versions"]] == ["Mr Pryce grabbed my son <script>alert(1)</script>",
                                                  "Mr Pryce pushed my son"]
    assert [k["key"] for k in r["keys"]] == ["allegation_staff", "image_of_staff"]
    assert r["verdicts"][0]["verdict"] == "confirmed"
    assert json.loads(raw)["message"] == "Mr Pryce grabbed my son <script>alert(1)</script>"
    assert hashlib.sha256(raw).hexdigest() == r["versions"][0]["raw_sha256"]
    # the readable summary escapes comment text and names
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Sam &lt;b&gt;Troll&lt;/b&gt;" in html
    assert "2026-09-07 15:00:00 BST" in html and "allegations made about school staff" in html
    assert "Deleted on the platform" in html and "Edit history" in html
    assert "Actions recorded (audit log)" in html and "review.resolve" in html


def test_export_is_audited_with_the_manifest_hash_and_chain_head(store, cfg, tmp_path):
    path = _export(store, cfg, tmp_path, comment_ref=("facebook", "1000_2_1"))
    e = store.one("SELECT * FROM audit_log WHERE action = 'evidence.export'")
    d = json.loads(e["details"])
    assert e["actor"] == "jsmith" and e["target"] == "comment facebook:1000_2_1"
    assert d["manifest_sha256"] == evidence.manifest_sha256(path)
    assert d["comments"] == [["facebook", "1000_2_1"]]
    assert (d["head_id"], d["head"]) == tuple(store.db.execute(
        "SELECT id, chain FROM evidence_chain ORDER BY id DESC LIMIT 1").fetchone())
    assert "useless cow" not in e["details"]


def test_export_since_selects_flagged_comments_only(store, cfg, tmp_path):
    path = _export(store, cfg, tmp_path, since=date(2026, 9, 7))
    with zipfile.ZipFile(path) as zf:
        ids = [r["comment_id"] for r in json.loads(zf.read("comments.json"))]
    assert ids == ["1000_1_1", "1000_2_1"]  # the unflagged 1000_1_0 and 1000_1_9 are not exported
    path = _export(store, cfg, tmp_path, since=date(2026, 9, 8))
    with zipfile.ZipFile(path) as zf:
        assert [r["comment_id"] for r in json.loads(zf.read("comments.json"))] == ["1000_2_1"]


def test_export_errors(store, cfg, tmp_path):
    with pytest.raises(evidence.EvidenceError, match="choose what to export"):
        _export(store, cfg, tmp_path)
    with pytest.raises(evidence.EvidenceError, match="no stored comment facebook:nope"):
        _export(store, cfg, tmp_path, comment_ref=("facebook", "nope"))
    with pytest.raises(evidence.EvidenceError, match="nothing to export: no stored comment matches author fb:5"):
        _export(store, cfg, tmp_path, author_id="fb:5")
    assert not (tmp_path / "bundle.zip").exists()


def _rewrite(src, dst, change):
    """Copy a bundle, letting ``change(name, data) -> data | None`` alter or drop entries."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)
    return dst


def test_tampered_bundles_are_rejected(store, cfg, tmp_path):
    path = _export(store, cfg, tmp_path, author_id="fb:1009")
    good_sha = evidence.manifest_sha256(path)

    # 1. comment text changed in comments.json
    t = _rewrite(path, tmp_path / "t1.zip", lambda n, d: d.replace(b"pushed my son", b"hugged my son")
                 if n == "comments.json" else d)
    problems = evidence.verify_bundle(t)
    assert any("comments.json: SHA-256 differs from the manifest" in p for p in problems)
    assert any("text does not match its SHA-256" in p for p in problems)

    # 2. ... and the manifest updated to match: the content hash and manifest hash still catch it
    def forge(n, d):
        if n == "comments.json":
            return d.replace(b"pushed my son", b"hugged my son")
        if n == "manifest.json":
            m = json.loads(d)
            for f in m["files"]:
                if f["path"] == "comments.json":
                    with zipfile.ZipFile(path) as zf:
                        new = zf.read("comments.json").replace(b"pushed my son", b"hugged my son")
                    f["sha256"], f["bytes"] = hashlib.sha256(new).hexdigest(), len(new)
            return json.dumps(m).encode()
        return d
    t = _rewrite(path, tmp_path / "t2.zip", forge)
    problems = evidence.verify_bundle(t, expected_manifest_sha256=good_sha)
    assert not any("differs from the manifest" in p for p in problems)
    assert any("text does not match its SHA-256" in p for p in problems)
    assert any("manifest.json does not have the expected SHA-256" in p for p in problems)

    # 3. a raw payload altered
    t = _rewrite(path, tmp_path / "t3.zip", lambda n, d: d.replace(b"grabbed", b"greeted")
                 if n.startswith("raw/") else d)
    problems = evidence.verify_bundle(t)
    assert any("raw/facebook-1000_1_1-v1.json: SHA-256 differs" in p for p in problems)
    assert any("raw payload does not match raw_sha256" in p for p in problems)

    # 4. a file removed, a file added
    t = _rewrite(path, tmp_path / "t4.zip", lambda n, d: None if n == "summary.html" else d)
    assert evidence.verify_bundle(t) == ["summary.html: listed in the manifest but missing from the zip"]
    with zipfile.ZipFile(t, "a") as zf:
        zf.writestr("extra.txt", b"hello")
    assert "extra.txt: in the zip but not in the manifest: a file was added" in evidence.verify_bundle(t)

    # 5. not a bundle at all
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    assert "cannot open as a zip" in evidence.verify_bundle(tmp_path / "junk.zip")[0]


def test_bundle_links_are_checked_against_the_store(store, cfg, tmp_path, builder):
    path = _export(store, cfg, tmp_path, author_id="fb:1009")
    # the same bundle checked against a different store: its links are not that store's
    other = sb.Builder(tmp_path / "other.db")
    for cid in ("1000_1_0", "1000_1_1", "1000_1_2"):  # as many chain rows as the start of the real store
        other.add(sb.make_comment(cid, "Mr Pryce pushed my son", author="fb:1009"), ())
    problems = evidence.verify_bundle(path, store=other.store)
    other.store.close()
    assert any("chain link is not the store's (different)" in p for p in problems)
    assert any("chain link is not the store's (absent)" in p for p in problems)


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
                                 "data:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)", "//evil.example/x"])
def test_summary_html_links_only_http_urls(builder, cfg, tmp_path, url):
    """Issue 14, item 4: a permalink (of the comment or of the school's post) that is not
    http(s) is shown as text, never as a link (the same check as the alert emails)."""
    from dataclasses import replace as dc_replace

    from monitor.domain import Post

    c = dc_replace(sb.make_comment("1000_7_1", "Mr Pryce grabbed my son", post="1000_7"), permalink=url)
    post = Post("facebook", sb.FB.key, "1000_7", "Sports day", sb.T0 - timedelta(hours=1), permalink=url,
                raw={"id": "1000_7"})
    builder.store.ingest(sb.FB.key, [post], [c], [], {}, sb.T0)
    builder.assess(c, ("allegation_staff",))
    good = sb.make_comment("1000_7_2", "Mr Pryce pushed my son", post="1000_8")
    builder.add(good, ("allegation_staff",))
    path = _export(builder.store, cfg, tmp_path, author_id="fb:1001")
    with zipfile.ZipFile(path) as zf:
        html = zf.read("summary.html").decode()
    hrefs = [h.lower() for h in __import__("re").findall(r'href="([^"]*)"', html)]
    assert hrefs, "no link at all: the http(s) permalinks must stay links"
    assert all(h.startswith(("https://", "http://")) for h in hrefs), hrefs
    assert 'href="https://www.facebook.com/1000_8?comment_id=1000_7_2"' in html
    assert url.strip().split(":")[0].replace("//", "") in html, "the bad link is still shown, as text"

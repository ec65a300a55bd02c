"""What a new user trips over (issue 14, item 15): report files default to the store's
folder (the service's state directory), not the config's folder (read-only under
``ProtectSystem=strict``); ``check`` creates no file; a check that could not run is
reported as failed, never ``[ok]``."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from monitor.cli import main
from monitor.config import load_config
from monitor.fakes.graph import FakeGraphServer, GraphFault
from monitor.delivery.reports import ReportJob
from monitor.store import Store

from .helpers import write_config

FB_TOKEN = "EAAB-check-paths-token-123456"


def _tree(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_report_files_default_beside_the_store_not_the_config(tmp_path):
    etc, state = tmp_path / "etc", tmp_path / "state"
    etc.mkdir()
    state.mkdir()
    conf = etc / "config.toml"
    conf.write_text('[school]\nname = "Brookfield Primary School"\n'
                    f'[storage]\npath = "{state / "school-monitor.db"}"\n', encoding="utf-8")
    config = load_config(conf)
    assert config.reports_dir() == state / "reports"
    store = Store.open(state / "school-monitor.db")
    try:
        ReportJob(config, store, None, lambda: datetime(2026, 10, 26, 8, tzinfo=timezone.utc)).run(
            "2026-W43", send=False)
    finally:
        store.close()
    assert (state / "reports" / "report-2026-W43.html").is_file()
    assert _tree(etc) == {"config.toml"}


def test_check_creates_no_file(tmp_path, capsys, monkeypatch):
    conf = write_config(tmp_path, extra="")
    text = conf.read_text(encoding="utf-8").replace('[alerts]\n', '[alerts]\nenabled = false\n', 1)
    conf.write_text(text, encoding="utf-8")
    before = _tree(tmp_path)
    assert main(["check", "--config", str(conf)]) == 0
    out = capsys.readouterr().out
    assert _tree(tmp_path) == before, "check created files"
    assert "[ok] store: " in out and "does not exist yet" in out
    assert "[ok] reports folder: " in out


def test_check_fails_when_the_store_folder_cannot_be_written(tmp_path, capsys):
    conf = write_config(tmp_path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    text = conf.read_text(encoding="utf-8").replace('path = "store.db"', f'path = "{blocker / "store.db"}"')
    conf.write_text(text.replace('[alerts]\n', '[alerts]\nenabled = false\n', 1), encoding="utf-8")
    assert main(["check", "--config", str(conf)]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] store: " in out and "cannot be created" in out
    assert not (tmp_path / "store.db").exists()


class _NoDebugToken(FakeGraphServer):
    """The Graph fake, with ``debug_token`` failing (Graph is having a bad minute)."""

    def _get(self, parts, q, url_query):
        if parts == ["debug_token"]:
            raise GraphFault(500, 2, "An unexpected error has occurred. Please retry your request later.")
        return super()._get(parts, q, url_query)


def test_a_check_that_could_not_run_is_failed_not_ok(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TEST_FB_TOKEN", FB_TOKEN)
    monkeypatch.setenv("TEST_FB_APP_SECRET", "app-secret-for-check-paths")
    with _NoDebugToken([], token=FB_TOKEN, app_secret="app-secret-for-check-paths") as graph:
        conf = write_config(tmp_path, graph_url=graph.base_url)
        text = conf.read_text(encoding="utf-8").replace('[alerts]\n', '[alerts]\nenabled = false\n', 1)
        text = text.replace('token_env = "TEST_FB_TOKEN"\n', 'token_env = "TEST_FB_TOKEN"\napp_id = "4000"\n'
                            'app_secret_env = "TEST_FB_APP_SECRET"\n', 1)
        conf.write_text(text, encoding="utf-8")
        status = main(["check", "--config", str(conf), "--account", "fb"])
    lines = capsys.readouterr().out.splitlines()
    perm = [ln for ln in lines if "fb permissions" in ln]
    assert perm and perm[0].startswith("[FAIL]"), lines
    assert status == 1
    assert not any(ln.startswith("[ok]") and "could not" in ln for ln in lines), lines
    assert os.environ["TEST_FB_TOKEN"] not in "\n".join(lines)

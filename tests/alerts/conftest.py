"""Fixtures for the alert and outbox tests (helpers in tests/fixtures/alerts/support.py,
loaded by path as ``alerts_support``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).parent.parent / "fixtures" / "alerts" / "support.py"
if "alerts_support" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("alerts_support", _PATH)
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules["alerts_support"] = _mod
    _spec.loader.exec_module(_mod)
support = sys.modules["alerts_support"]


@pytest.fixture
def store(tmp_path):
    """An empty store (tmp_path/monitor.db), migrated."""
    from monitor.store import Store

    s = Store.open(tmp_path / "monitor.db")
    yield s
    s.close()


@pytest.fixture
def builder(store):
    """Fills ``store`` as the pipeline would."""
    return support.Builder(store)


@pytest.fixture
def clock():
    """Injected clock starting at support.T0 (Tue 20 Oct 2026 09:00 UTC)."""
    return support.Clock()


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 and a free port, recording messages."""
    server = support.SmtpServer().start()
    yield server
    server.stop()

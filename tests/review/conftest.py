"""Fixtures: a store builder (tests/fixtures/review/storebuilder.py, loaded by path) and
the test config."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).parent.parent / "fixtures" / "review" / "storebuilder.py"
if "review_storebuilder" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("review_storebuilder", _PATH)
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules["review_storebuilder"] = _mod
    _spec.loader.exec_module(_mod)
sb = sys.modules["review_storebuilder"]


@pytest.fixture
def builder(tmp_path):
    """A fresh store (tmp_path/monitor.db) with the two test accounts."""
    b = sb.Builder(tmp_path / "monitor.db")
    yield b
    b.store.close()


@pytest.fixture
def cfg():
    """The test config (roster, a Facebook and an X account, default storage)."""
    return sb.config()

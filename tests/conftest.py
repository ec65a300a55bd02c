"""Shared test fixtures. Tests never read data from outside the repository: what they need is under tests/fixtures/
or the package's bundled demo data."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.demo_data import path as demo_path

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    """tests/fixtures/"""
    return FIXTURES


@pytest.fixture
def school_config():
    """The bundled demo school's roster as a Config (a roster-only file is a valid config)."""
    return load_config(demo_path("school.toml"))

"""Fixtures for the weekly report tests: shared with the other mail tests in
tests/fixtures/alerts/alerts_support.py."""

from alerts_support import builder, clock, smtp_server, store  # noqa: F401 - pytest fixtures

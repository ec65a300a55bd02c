"""Fixtures: a store builder and the test config, shared with the other review and evidence
tests in tests/fixtures/review/review_storebuilder.py."""

from review_storebuilder import builder, cfg  # noqa: F401 - pytest fixtures

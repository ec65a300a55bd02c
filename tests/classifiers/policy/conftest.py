"""Helpers for the policy tests: configs for the demo school and the held-out schools B
and C, and a one-call ``assess(text)``."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from monitor.config import load_config, parse_config
from monitor.domain import Attachment, Comment, Scores

from classifiers.policy import Categoriser

POLICY_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "policy"
AT = datetime(2026, 9, 7, 12, 0, tzinfo=timezone.utc)


def comment(text: str, author: str = "fb:1234", attachment: str | None = None, post_text: str | None = None,
            cid: str = "c1", at: datetime = AT) -> Comment:
    """A Facebook comment with ``text`` (and an attachment of type ``attachment``)."""
    att = (Attachment(type=attachment),) if attachment else ()
    return Comment(platform="facebook", account="page", post_id="p1", comment_id=cid, parent_id=None,
                   author_id=author, author_name="A Parent", text=text, created_at=at, attachments=att,
                   post_text=post_text)


def scores(readable: bool = True, language: str | None = "en", **values: float) -> Scores:
    """Scores with the given label values (others 0)."""
    return Scores(values=values, model="test", model_version="0", language=language, readable=readable)


class Assessor:
    """``assessor(text, **kw)`` -> Assessment for one school's config."""

    def __init__(self, config):
        self.config = config
        self.cat = Categoriser(config)

    def __call__(self, text: str, *, sc: Scores | None = None, **kw):
        return self.cat.assess(comment(text, **kw), sc or scores())

    def keys(self, text: str, **kw) -> set[str]:
        return set(self(text, **kw).categories)


@pytest.fixture(scope="session")
def demo():
    """Assessor for the bundled demo school (Brookfield Primary)."""
    from monitor.demo_data import path as demo_path

    return Assessor(load_config(demo_path("school.toml")))


@pytest.fixture(scope="session")
def school_b():
    """Assessor for held-out school B (St Aidan's; surnames Bell and Young)."""
    return Assessor(load_config(POLICY_FIXTURES / "school_b.toml"))


@pytest.fixture(scope="session")
def school_c():
    """Assessor for held-out school C (Larkhill Junior)."""
    return Assessor(load_config(POLICY_FIXTURES / "school_c.toml"))


def make_config(extra: dict | None = None, staff: list[dict] | None = None):
    """A small config built in memory (school "Oakwood Primary")."""
    data = {
        "school": {"name": "Oakwood Primary School", "aliases": ["Oakwood"], "own_accounts": ["fb:1", "tw:2"]},
        "staff": staff if staff is not None else [
            {"name": "Kirsty Crosby", "title": "Mrs", "role": "headteacher"},
            {"name": "Adam Hope", "title": "Mr", "role": "class_teacher"},
        ],
    }
    data.update(extra or {})
    return parse_config(data, source="test.toml")

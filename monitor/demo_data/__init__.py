"""Bundled demo data: a fictional school ("Brookfield Primary School") with its roster
(``school.toml``), 260 labelled public comments on its Facebook Page and X account
(``comments.jsonl``) and 36 on its Instagram account (``instagram.jsonl``, with
``parent_id`` for replies), written for this project and free to use. The demo's fake
platforms serve these comments."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def path(name: str) -> Path:
    """Filesystem path of a bundled demo file (``school.toml``, ``comments.jsonl``,
    ``instagram.jsonl``)."""
    return Path(str(resources.files(__name__).joinpath(name)))

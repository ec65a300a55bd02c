"""Bundled demo data: a fictional school ("Brookfield Primary School") with its roster
(``school.toml``) and 260 labelled public comments (``comments.jsonl``), written for this
project and free to use. The demo's fake platforms serve these comments."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def path(name: str) -> Path:
    """Filesystem path of a bundled demo file (``school.toml``, ``comments.jsonl``)."""
    return Path(str(resources.files(__name__).joinpath(name)))

"""One set of systemd credential names in config.example.toml, the unit, the install
guide and the README (issue 14, item 15: there were three different sets, so a
coordinator who followed the guide had a unit loading ``facebook-token`` and a config
asking for ``facebook_page_token``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: ``*_credential = "NAME"``, also in comments (the optional secrets are shown commented)
CONFIG_KEY = re.compile(r'\b\w+_credential\s*=\s*"([^"]+)"')
#: ``LoadCredential=NAME:PATH``, also commented (``#LoadCredential=``) and ``-p LoadCredential=``
LOAD = re.compile(r"LoadCredential=([\w.-]+):(\S+)")
#: a credential file created in the folder: ``> NAME`` or ``credentials/NAME``
CREATED = re.compile(r"(?:> |credentials/)([a-z][\w.-]*)\b")


def _read(rel: str) -> str:
    return (ROOT / rel).read_text(encoding="utf-8")


def unit_names() -> tuple[set[str], set[str]]:
    """(loaded, offered commented) credential names of the unit."""
    active, commented = set(), set()
    for line in _read("deploy/school-monitor.service").splitlines():
        m = LOAD.search(line)
        if m:
            (commented if line.lstrip().startswith("#") else active).add(m.group(1))
            assert m.group(2) == f"/etc/school-monitor/credentials/{m.group(1)}", line
    return active, commented


def test_every_credential_the_example_config_names_is_in_the_unit():
    active, commented = unit_names()
    example = set(CONFIG_KEY.findall(_read("config.example.toml")))
    assert example, "config.example.toml names no credential"
    assert example <= active | commented, example - (active | commented)
    assert active <= example, active - example  # the unit loads nothing the config never asks for
    # the three every install needs are loaded, not just offered
    assert {"facebook-token", "x-bearer-token", "smtp-password"} <= active


def test_install_guide_and_readme_use_the_same_names():
    active, commented = unit_names()
    names = active | commented
    for doc in ("deploy/INSTALL.md", "README.md"):
        text = _read(doc)
        used = set(CONFIG_KEY.findall(text)) | {m.group(1) for m in LOAD.finditer(text)}
        assert used, doc
        assert used <= names, (doc, used - names)
    guide = _read("deploy/INSTALL.md")
    created = set(CREATED.findall(guide)) & (names | {n.replace("-", "_") for n in names})
    assert active <= created, ("INSTALL.md does not create", active - created)

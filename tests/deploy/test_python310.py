"""Python 3.10 (Ubuntu 22.04 LTS) is supported: the package declares it, reads TOML with
tomli where the standard library has no tomllib, and uses no syntax or standard library
call newer than 3.10 (issue 14, item 14). vermin (a dev dependency) reads the source and
names the minimum version each construct needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from monitor.config import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_declares_python_3_10_and_tomli_for_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert SpecifierSet(project["requires-python"]).contains("3.10.12")  # Ubuntu 22.04's python3
    reqs = [Requirement(r) for r in project["dependencies"]]
    tomli = [r for r in reqs if r.name == "tomli"]
    assert tomli and tomli[0].marker is not None
    assert tomli[0].marker.evaluate({"python_version": "3.10"})
    assert not tomli[0].marker.evaluate({"python_version": "3.11"})


def test_no_construct_needs_more_than_python_3_10():
    dirs = [str(ROOT / d) for d in ("monitor", "connectors", "classifiers", "training", "benchmarks", "deploy")]
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from vermin import main; sys.exit(main())",
         "-q", "--no-tips", "--target=3.10-", "--violations", "--eval-annotations", *dirs],
        capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr

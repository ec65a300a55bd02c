#!/usr/bin/env python3
"""Check the School Social Monitor systemd unit: it parses, and it is hardened.

Usage::

    python3 deploy/check_unit.py [UNIT] [--stub-exec]

``UNIT`` defaults to ``deploy/school-monitor.service`` next to this script. Three checks,
one line each, exit status 1 if any fails:

1. **directives**: the unit file is parsed (systemd's INI dialect: repeated keys
   accumulate, ``#``/``;`` comments, ``\\`` line continuations) and every required
   directive is present with an acceptable value (:data:`REQUIRED`).
2. **verify**: ``systemd-analyze verify`` prints no warning about the unit (it exits 0
   even on unknown keys or bad values, so its output is what counts). ``--stub-exec``
   points ``ExecStart=`` at ``/bin/true`` in a temporary copy, for machines where the
   program is not installed under ``/opt`` (a source checkout, CI). Skipped, not failed,
   when ``systemd-analyze`` is absent.
3. **security**: ``systemd-analyze security --offline=true`` rates the unit's exposure at
   most :data:`MAX_EXPOSURE` (0 = locked down, 10 = unprotected). Skipped when the
   installed systemd lacks ``--offline`` (before 250).

Standard library only, so it runs with the system ``python3`` before any venv exists.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Highest acceptable ``systemd-analyze security`` exposure level (measured: 1.4).
MAX_EXPOSURE = 2.5

#: Directive (section, key) -> predicate on the list of values given for it.
REQUIRED: dict[tuple[str, str], tuple[str, object]] = {
    ("Service", "Type"): ("notify", lambda v: v[-1] == "notify"),
    ("Service", "WatchdogSec"): ("a positive duration", lambda v: bool(re.fullmatch(r"[1-9]\d*(s|min)?", v[-1]))),
    ("Service", "NotifyAccess"): ("main", lambda v: v[-1] == "main"),
    ("Service", "Restart"): ("on-failure", lambda v: v[-1] == "on-failure"),
    ("Service", "User"): ("a dedicated user (or DynamicUser=yes)", None),
    ("Service", "StateDirectory"): ("school-monitor", lambda v: v[-1] == "school-monitor"),
    ("Service", "ProtectSystem"): ("strict", lambda v: v[-1] == "strict"),
    ("Service", "ProtectHome"): ("yes", lambda v: v[-1] in ("yes", "true")),
    ("Service", "PrivateTmp"): ("yes", lambda v: v[-1] in ("yes", "true")),
    ("Service", "NoNewPrivileges"): ("yes", lambda v: v[-1] in ("yes", "true")),
    ("Service", "CapabilityBoundingSet"): ("empty", lambda v: v[-1] == ""),
    ("Service", "RestrictAddressFamilies"): (
        "AF_INET AF_INET6 AF_UNIX", lambda v: sorted(v[-1].split()) == ["AF_INET", "AF_INET6", "AF_UNIX"]),
    ("Service", "SystemCallFilter"): ("@system-service", lambda v: "@system-service" in v[0].split()),
    ("Service", "LoadCredential"): ("at least one NAME:PATH", lambda v: all(re.fullmatch(r"[\w.-]+:/\S+", x) for x in v)),
    ("Service", "ExecStart"): ("school-monitor run", lambda v: " run" in v[-1] and "school-monitor" in v[-1]),
}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Parse a systemd unit file: ``{section: {key: [values in order]}}``.

    Repeated keys accumulate (as ``LoadCredential=`` does); an empty assignment is kept
    as ``""`` (for list settings it resets the list, as systemd does). Comments start
    with ``#`` or ``;``; a trailing ``\\`` continues the line.

    :raises ValueError: naming the line number of an assignment outside a section or a
        line that is neither a section, a comment nor ``key=value``.
    """
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if "=" not in line:
            raise ValueError(f"line {number}: not a 'key=value' assignment: {line!r}")
        if current is None:
            raise ValueError(f"line {number}: assignment before any [section]")
        key, value = (part.strip() for part in line.split("=", 1))
        values = current.setdefault(key, [])
        if value == "" and key not in ("CapabilityBoundingSet", "AmbientCapabilities"):
            values.clear()
        values.append(value)
    return sections


def check_directives(sections: dict[str, dict[str, list[str]]]) -> list[str]:
    """Problems with the required directives (empty list when all are fine)."""
    problems = []
    for (section, key), (expected, ok) in REQUIRED.items():
        values = [v for v in sections.get(section, {}).get(key, [])]
        if key == "User" and not values and sections.get(section, {}).get("DynamicUser", [""])[-1] in ("yes", "true"):
            continue
        if not values:
            problems.append(f"[{section}] {key}= missing (expected {expected})")
        elif ok is not None and not ok(values):  # type: ignore[operator]
            problems.append(f"[{section}] {key}={values[-1]!r} (expected {expected})")
    return problems


def _stubbed_copy(unit: Path, tmp: Path) -> Path:
    text = unit.read_text(encoding="utf-8")
    text = re.sub(r"^ExecStart=\S+", "ExecStart=/bin/true", text, flags=re.M)
    out = tmp / unit.name
    out.write_text(text, encoding="utf-8")
    return out


def systemd_verify(unit: Path, stub_exec: bool = False) -> list[str] | None:
    """Warnings ``systemd-analyze verify`` prints about ``unit`` (empty when clean);
    None when ``systemd-analyze`` is not installed."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        target = _stubbed_copy(unit, Path(tmp)) if stub_exec else unit.resolve()
        proc = subprocess.run([tool, "verify", str(target)], capture_output=True, text=True, timeout=60)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    # Only lines about this unit count (verify also reports on units it pulls in).
    mine = [ln for ln in lines if unit.name in ln or ln.startswith(str(target))]
    if proc.returncode != 0 and not mine:
        mine = lines or [f"systemd-analyze verify exited {proc.returncode}"]
    return mine


def systemd_exposure(unit: Path, stub_exec: bool = False) -> float | None:
    """``systemd-analyze security --offline=true`` overall exposure (0..10) of ``unit``;
    None when the tool or its ``--offline`` option is unavailable."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        target = _stubbed_copy(unit, Path(tmp)) if stub_exec else unit.resolve()
        proc = subprocess.run([tool, "security", "--offline=true", "--no-pager", str(target)],
                              capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", proc.stdout)
    return float(match.group(1)) if match else None


def main(argv: list[str] | None = None) -> int:
    """Run the three checks, print one line each, return 0 if none failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("unit", nargs="?", default=str(Path(__file__).with_name("school-monitor.service")))
    parser.add_argument("--stub-exec", action="store_true",
                        help="verify a copy whose ExecStart is /bin/true (program not installed here)")
    args = parser.parse_args(argv)
    unit = Path(args.unit)
    failed = False
    try:
        problems = check_directives(parse_unit(unit.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        problems = [f"{unit}: {exc}"]
    print(f"directives: {'ok' if not problems else 'FAIL: ' + '; '.join(problems)}")
    failed |= bool(problems)
    warnings = systemd_verify(unit, args.stub_exec)
    if warnings is None:
        print("verify: skipped (systemd-analyze not installed)")
    else:
        print(f"verify: {'ok' if not warnings else 'FAIL: ' + ' | '.join(warnings)}")
        failed |= bool(warnings)
    exposure = systemd_exposure(unit, args.stub_exec)
    if exposure is None:
        print("security: skipped (needs systemd-analyze 250+ with --offline)")
    else:
        ok = exposure <= MAX_EXPOSURE
        print(f"security: {'ok' if ok else 'FAIL'}: exposure {exposure} (at most {MAX_EXPOSURE})")
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

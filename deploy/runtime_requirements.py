"""The pinned requirements an image installs: requirements.lock minus the test-only packages.

Run inside the Dockerfiles' build stage with the base image's python (stdlib only):
    python runtime_requirements.py requirements.lock image-excludes.txt > runtime.txt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def normalise(name: str) -> str:
    """PEP 503 normalised project name: case and runs of -_. do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_names(path: Path) -> set[str]:
    """Project names listed one per line; blank lines and # comments ignored."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(normalise(line))
    return names


def pinned_lines(lock: Path) -> list[tuple[str, str]]:
    """(normalised name, line) for every `name==version` line of a lock file."""
    pins = []
    for raw in lock.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if match is None:
            raise ValueError(f"{lock}: not an exact pin: {raw!r}")
        pins.append((normalise(match.group(1)), line))
    return pins


def runtime_lines(lock: Path, excludes: Path) -> list[str]:
    excluded = read_names(excludes)
    pins = pinned_lines(lock)
    unknown = excluded - {name for name, _ in pins}
    if unknown:
        # A stale exclude list would silently stop excluding anything: fail the build instead.
        raise ValueError(f"{excludes}: not in {lock}: {', '.join(sorted(unknown))}")
    return [line for name, line in pins if name not in excluded]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: runtime_requirements.py LOCK_FILE EXCLUDES_FILE", file=sys.stderr)
        return 2
    for line in runtime_lines(Path(argv[0]), Path(argv[1])):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

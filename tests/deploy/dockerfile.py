"""The repository's one Dockerfile, read as stages: which target inherits what."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


@dataclass
class Stage:
    name: str
    base: str  # an image reference, or the name of an earlier stage
    instructions: list[tuple[str, str]] = field(default_factory=list)


def instructions(dockerfile: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    pairs = []
    for text in logical:
        keyword, _, rest = text.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def stages(dockerfile: Path = DOCKERFILE) -> dict[str, Stage]:
    """Stage name -> Stage, in file order (every stage of this file is named)."""
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for keyword, args in instructions(dockerfile):
        if keyword == "FROM":
            image, as_, name = args.split()
            assert as_.upper() == "AS", f"unnamed stage: FROM {args}"
            current = found[name] = Stage(name, image)
        else:
            assert current is not None, f"{keyword} before the first FROM"
            current.instructions.append((keyword, args))
    return found


def chain(target: str, dockerfile: Path = DOCKERFILE) -> list[Stage]:
    """The stages a target is built from, the root image's stage first."""
    every = stages(dockerfile)
    line = [every[target]]
    while line[-1].base in every:
        line.append(every[line[-1].base])
    return list(reversed(line))


def effective(target: str, dockerfile: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """Every instruction that shapes the target's image, inherited ones first."""
    return [pair for stage in chain(target, dockerfile) for pair in stage.instructions]


def command(target: str, dockerfile: Path = DOCKERFILE) -> list[str] | None:
    """The image's CMD (the last one counts), parsed from its exec form."""
    cmds = [json.loads(args) for keyword, args in effective(target, dockerfile) if keyword == "CMD"]
    return cmds[-1] if cmds else None


def copy_sources(target: str, dockerfile: Path = DOCKERFILE) -> list[str]:
    """Build-context paths the target's COPY instructions read (not --from=stage copies),
    including those of the stages it starts from or copies from."""
    every = stages(dockerfile)
    needed = {stage.name for stage in chain(target, dockerfile)}
    for stage in list(needed):
        for keyword, args in every[stage].instructions:
            if keyword == "COPY" and "--from=" in args:
                origin = args.split("--from=")[1].split()[0]
                needed |= {s.name for s in chain(origin, dockerfile)}
    sources = []
    for name in needed:
        for keyword, args in every[name].instructions:
            if keyword != "COPY" or "--from=" in args:
                continue
            *paths, _destination = shlex.split(args)
            sources += [path.rstrip("/") for path in paths]
    return sorted(set(sources))

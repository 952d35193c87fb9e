"""Which pipeline a change fires: Cloud Build trigger path filters, evaluated offline.

The triggers in deploy/triggers/*.yaml are what `gcloud builds triggers import` loads; this
module applies their includedFiles/ignoredFiles to a list of changed paths the way Cloud Build
does, so the filters can be tested and an operator can ask before pushing:

    git diff --name-only origin/main | python -m deploy.path_filters -
    python -m deploy.path_filters webapp/app.py houseprice/settings.py

Cloud Build's rules (BuildTrigger.ignoredFiles / includedFiles):
- a file matching any ignoredFiles glob is left out; if no changed file is left, no build;
- if includedFiles is empty, any file left fires the build; otherwise at least one file
  left must match an includedFiles glob.
Globs are Go filepath.Match extended with `**`: `*` and `?` stay inside one path segment,
`**` as a whole segment matches any number of segments (zero included), `{a,b}` is an
alternative and `[...]` a character class.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

TRIGGERS_DIR = Path(__file__).resolve().parent / "triggers"


@functools.lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """The compiled regular expression equivalent to a Cloud Build glob."""
    return re.compile(_translate(pattern) + r"\Z")


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        at_segment_start = i == 0 or pattern[i - 1] == "/"
        if pattern.startswith("**", i) and at_segment_start:
            rest = pattern[i + 2 :]
            if rest.startswith("/"):  # "**/": zero or more whole directories
                out.append(r"(?:[^/]+/)*")
                i += 3
                continue
            if rest == "":  # trailing "**": everything below (and the folder itself)
                if out and out[-1] == "/":
                    out[-1] = r"(?:/.*)?"
                else:
                    out.append(r".*")
                i += 2
                continue
        char = pattern[i]
        if char == "*":
            while i < n and pattern[i] == "*":  # "**" inside a segment is just "*"
                i += 1
            out.append(r"[^/]*")
            continue
        if char == "?":
            out.append(r"[^/]")
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                raise ValueError(f"unclosed '[' in glob {pattern!r}")
            body = pattern[i + 1 : end]
            if body[0] in "!^":
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        elif char == "{":
            end = pattern.find("}", i)
            if end == -1:
                raise ValueError(f"unclosed '{{' in glob {pattern!r}")
            choices = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_translate(choice) for choice in choices) + ")")
            i = end
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "/":
            out.append("/")
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def matches(pattern: str, path: str) -> bool:
    return glob_regex(pattern).match(path) is not None


def fires(trigger: Mapping[str, Any], changed: Iterable[str]) -> bool:
    """Whether a push changing `changed` (repository-relative paths) starts this trigger."""
    ignored = trigger.get("ignoredFiles") or []
    included = trigger.get("includedFiles") or []
    remaining = [path for path in changed if not any(matches(g, path) for g in ignored)]
    if not remaining:
        return False
    if not included:
        return True
    return any(matches(g, path) for path in remaining for g in included)


def load_triggers(directory: Path = TRIGGERS_DIR) -> dict[str, dict[str, Any]]:
    """Trigger name -> trigger resource, from every *.yaml in `directory`."""
    import yaml

    triggers = {}
    for path in sorted(directory.glob("*.yaml")):
        trigger = yaml.safe_load(path.read_text())
        triggers[trigger["name"]] = trigger
    return triggers


def pipelines_for(changed: Iterable[str], triggers: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Names of the triggers a change fires, sorted."""
    paths = list(changed)
    return sorted(name for name, trigger in triggers.items() if fires(trigger, paths))


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m deploy.path_filters PATH... | -  (read paths from stdin)")
        return 2
    paths = [line.strip() for line in sys.stdin] if argv == ["-"] else argv
    paths = [path for path in paths if path]
    triggers = load_triggers()
    fired = pipelines_for(paths, triggers)
    for name, trigger in sorted(triggers.items()):
        verdict = "fires" if name in fired else "skips"
        print(f"{name} ({trigger.get('filename')}): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The code blocks of a Markdown file, and the markers that say how to run them.

A marker is an HTML comment alone on the line right before a fence:

- ``<!-- no-run -->``: the block is never run (a server that blocks forever,
  a command that would run the whole suite);
- ``<!-- needs: redis -->`` (or ``s3``, ``azure``, ``gcs``, ``postgres``,
  ``chromium``; several separated by commas): the block runs with that
  service, its environment set (see ``tests/readme/test_readme.py``).

Only ``python`` and ``bash``/``sh``/``console`` blocks are code; other fences
(text, toml, output) are never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SERVICES", "Block", "blocks"]

#: The services a block may need.
SERVICES = frozenset({"redis", "s3", "azure", "gcs", "postgres", "chromium"})
_FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*(no-run|needs:\s*([a-z0-9,\s]+?))\s*-->\s*$")
_LANGUAGES = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash"}


@dataclass(frozen=True)
class Block:
    """One fenced code block.

    Attributes:
        source: the file it comes from.
        line: the line of its opening fence (1-based).
        language: ``python`` or ``bash``.
        code: its text.
        run: ``False`` if marked ``no-run``.
        needs: the services it needs.
    """

    source: Path
    line: int
    language: str
    code: str
    run: bool
    needs: frozenset[str]

    @property
    def name(self) -> str:
        """``README.md:123``, for test ids."""
        return f"{self.source.name}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every python and bash block of the Markdown file ``path``, in order.

    Raises:
        ValueError: a marker names an unknown service, or a fence is not closed.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    number = 0
    while number < len(lines):
        opening = _FENCE.match(lines[number])
        if not opening:
            number += 1
            continue
        start = number
        end = start + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"{path.name}:{start + 1}: code fence never closed")
        language = _LANGUAGES.get(opening.group(1).lower())
        marker = _MARKER.match(lines[start - 1].strip()) if start else None
        run, needs = True, frozenset[str]()
        if marker and marker.group(1) == "no-run":
            run = False
        elif marker:
            needs = frozenset(s.strip() for s in marker.group(2).split(",") if s.strip())
            unknown = needs - SERVICES
            if unknown:
                raise ValueError(f"{path.name}:{start}: unknown service(s) {sorted(unknown)}")
        if language:
            code = "\n".join(lines[start + 1 : end]) + "\n"
            found.append(Block(path, start + 1, language, code, run, needs))
        number = end + 1
    return found

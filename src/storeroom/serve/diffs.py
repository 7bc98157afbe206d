"""Differences between two versions: content lines and metadata, for pages and API.

The content diff is the store's own ``ArtifactStore.diff`` (one place makes
unified diffs); this module only parses it into rows, and pairs removed and
added lines for the side-by-side view. Versions larger than
:data:`DIFF_LIMIT` or binary are compared by size and sha256 only, so a diff
never reads unbounded content. Metadata, content type, size and sha256
changes are listed for every pair.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..artifactstore import ArtifactStore
from .service import Change, VersionInfo, changes, check_name, version_info

__all__ = ["DIFF_LIMIT", "DiffLine", "SideRow", "VersionDiff", "compare"]

#: Versions larger than this are compared by hash only.
DIFF_LIMIT = 1024 * 1024
_HUNK_HEAD = "@@"


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a unified diff: ``kind`` is ``hunk``, ``add``, ``del`` or ``same``."""

    kind: str
    text: str
    old: int | None = None
    new: int | None = None


@dataclass(frozen=True, slots=True)
class SideRow:
    """One row of the side-by-side view (a side is ``None`` where it has no line)."""

    left: DiffLine | None
    right: DiffLine | None


@dataclass(frozen=True, slots=True)
class VersionDiff:
    """What changed from version ``old`` to version ``new``."""

    old: VersionInfo
    new: VersionInfo
    fields: list[Change]
    metadata: list[Change]
    lines: list[DiffLine] = field(default_factory=list)
    comparable: bool = True
    note: str = ""

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.kind == "add")

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.kind == "del")

    def side_by_side(self) -> list[SideRow]:
        """Rows pairing each run of removed lines with the added lines after it."""
        rows: list[SideRow] = []
        dels: list[DiffLine] = []
        adds: list[DiffLine] = []

        def flush() -> None:
            for i in range(max(len(dels), len(adds))):
                rows.append(
                    SideRow(dels[i] if i < len(dels) else None, adds[i] if i < len(adds) else None)
                )
            dels.clear()
            adds.clear()

        for line in self.lines:
            if line.kind == "del":
                if adds:
                    flush()
                dels.append(line)
            elif line.kind == "add":
                adds.append(line)
            else:
                flush()
                rows.append(SideRow(line, line))
        flush()
        return rows


def parse_unified(text: str) -> list[DiffLine]:
    """Rows of a unified diff, with old and new line numbers (file headers dropped)."""
    found: list[DiffLine] = []
    old = new = 0
    for raw in text.splitlines():
        if raw.startswith(("--- ", "+++ ")) and not found:
            continue
        if raw.startswith(_HUNK_HEAD):
            parts = raw.split()
            old = int(parts[1][1:].split(",")[0] or 0)
            new = int(parts[2][1:].split(",")[0] or 0)
            found.append(DiffLine("hunk", raw))
        elif raw.startswith("+"):
            found.append(DiffLine("add", raw[1:], None, new))
            new += 1
        elif raw.startswith("-"):
            found.append(DiffLine("del", raw[1:], old, None))
            old += 1
        elif raw.startswith("\\"):
            found.append(DiffLine("hunk", raw))
        else:
            found.append(DiffLine("same", raw[1:], old, new))
            old += 1
            new += 1
    return found


async def compare(store: ArtifactStore, name: str, a: str, b: str) -> VersionDiff:
    """The difference from version ``a`` to version ``b`` of ``name``.

    Raises:
        InvalidPath: a bad name.
        NotFound: no such artifact, version or alias.
    """
    name = check_name(name)
    old_v, new_v = await asyncio.gather(store.get_version(name, a), store.get_version(name, b))
    old, new = version_info(old_v), version_info(new_v)
    fields = changes(
        {"content_type": old.content_type, "size": old.size, "sha256": old.sha256},
        {"content_type": new.content_type, "size": new.size, "sha256": new.sha256},
    )
    metadata = changes(old.metadata, new.metadata)
    if old.sha256 == new.sha256:
        return VersionDiff(old, new, fields, metadata, note="The content is identical.")
    if not (old.text and new.text):
        return VersionDiff(
            old, new, fields, metadata, comparable=False,
            note="Binary content: compared by size and sha256 only.",
        )  # fmt: skip
    if max(old.size, new.size) > DIFF_LIMIT:
        return VersionDiff(
            old, new, fields, metadata, comparable=False,
            note=f"Larger than {DIFF_LIMIT // 1024} KiB: compared by size and sha256 only.",
        )  # fmt: skip
    text = await store.diff(name, old_v.version, new_v.version)
    return VersionDiff(old, new, fields, metadata, parse_unified(text))

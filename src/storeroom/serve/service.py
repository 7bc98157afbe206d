"""What the pages and the HTTP API both show: one function per question, typed results.

The pages render these results with templates and the API returns them as
JSON; neither reads the store any other way, so the two cannot disagree.

- The artifact list is a snapshot (``listing.py``) refreshed in the
  background and re-read only where heads changed, so a page of a store with
  10,000 artifacts is a slice, not 10,000 head reads.
- Search uses the catalog's ``find`` when the store has one (duck-typed: the
  catalog is optional) and the query looks like a filter; otherwise it is a
  name prefix over the snapshot.
- Every argument from a URL is checked here: names by the store's own rules
  (``InvalidPath``), sort keys and page numbers against fixed sets, so
  nothing from a request reaches a key unchecked.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..artifactstore import ArtifactStore, ArtifactVersion
from ..catalog.query import FilterError
from ..concurrency import map_limited
from ..errors import InvalidPath, NotFound, NotSupported
from ..filestore import FileStore
from ..interfaces import FileInfo
from .listing import Snapshot

__all__ = [
    "SORT_KEYS",
    "ArtifactPage",
    "Browser",
    "Change",
    "FolderPage",
    "ListPage",
    "VersionInfo",
    "version_info",
]

#: Sort keys of the artifact list -> the listing entry field they sort by.
SORT_KEYS: Mapping[str, str] = {
    "name": "name",
    "updated": "updated_at",
    "created": "created_at",
    "size": "size",
    "versions": "versions",
}
#: A query with any of these is a catalog filter, else a name prefix.
_FILTER_HINT = re.compile(r"[=<>!]|\b(like|in|and|or|not)\b", re.IGNORECASE)
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One version as the pages and the API show it (no content)."""

    name: str
    version: str
    created: str
    size: int
    content_type: str
    sha256: str
    text: bool
    inline: bool
    metadata: Mapping[str, Any]
    aliases: tuple[str, ...] = ()
    inputs: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The API's JSON for this version."""
        return {
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "size": self.size,
            "content_type": self.content_type,
            "sha256": self.sha256,
            "text": self.text,
            "inline": self.inline,
            "metadata": dict(self.metadata),
            "aliases": list(self.aliases),
            "inputs": [{"name": n, "version": v} for n, v in self.inputs],
        }


def _inputs(found: ArtifactVersion) -> tuple[tuple[str, str], ...]:
    """Lineage inputs recorded in the manifest, when the store records them (the catalog)."""
    raw = getattr(found, "inputs", None) or ()
    pairs = []
    for item in raw:
        name = item.get("name") if isinstance(item, Mapping) else item[0]
        version = item.get("version") if isinstance(item, Mapping) else item[1]
        if isinstance(version, int):
            version = f"v{version}"
        pairs.append((str(name), str(version)))
    return tuple(pairs)


def version_info(found: ArtifactVersion, aliases: Sequence[str] = ()) -> VersionInfo:
    """The :class:`VersionInfo` of a manifest."""
    return VersionInfo(
        name=found.name,
        version=found.version,
        created=found.created.isoformat(),
        size=found.size,
        content_type=found.content_type,
        sha256=found.sha256,
        text=found.encoding is not None,
        inline=found.inline is not None,
        metadata=dict(found.metadata),
        aliases=tuple(aliases),
        inputs=_inputs(found),
    )


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of the artifact list (or of a catalog search)."""

    entries: list[dict[str, Any]]
    total: int
    offset: int
    limit: int
    sort: str
    descending: bool
    query: str
    searched_with: str  # "prefix" or "catalog"
    age: float  # seconds since the listing was read

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + self.limit
        return nxt if nxt < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None


@dataclass(frozen=True, slots=True)
class ArtifactPage:
    """An artifact: its versions, newest first, and aliases."""

    name: str
    versions: list[VersionInfo]
    aliases: dict[str, str]
    downstream: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Change:
    """One metadata or field change between two versions."""

    key: str
    old: Any
    new: Any
    kind: str  # "added", "removed", "changed"


@dataclass(frozen=True, slots=True)
class FolderPage:
    """One level of a folder of the file store."""

    path: str
    parents: list[tuple[str, str]]  # (label, path) from the top
    entries: list[FileInfo]
    total: int
    offset: int
    limit: int


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Keys added, removed or changed from ``old`` to ``new``, sorted by key."""
    found = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            found.append(Change(key, None, new[key], "added"))
        elif key not in new:
            found.append(Change(key, old[key], None, "removed"))
        elif old[key] != new[key]:
            found.append(Change(key, old[key], new[key], "changed"))
    return found


def check_name(name: str | None) -> str:
    """An artifact name from a request, checked by the store's rules."""
    from ..artifactstore.layout import validate_name

    if not name:
        raise InvalidPath("an artifact name is required (name=...)")
    return validate_name(name)


class Browser:
    """The read side of the server: the functions pages and API call.

    Args:
        artifacts: the artifact store shown.
        files: the file store of the file browser (``None``: no file browser).
        ttl: seconds a listing snapshot is served before it is refreshed.
    """

    def __init__(
        self, artifacts: ArtifactStore, files: FileStore | None = None, *, ttl: float = 5.0
    ) -> None:
        self.artifacts = artifacts
        self.files = files
        self.ttl = ttl
        self._snapshot = Snapshot(artifacts, ttl)

    # -- the artifact list ----------------------------------------------------

    async def listing(self) -> tuple[list[dict[str, Any]], float]:
        """Every artifact's listing entry (by name), and the snapshot's age in seconds."""
        return await self._snapshot.entries()

    def forget(self) -> None:
        """Drop the listing snapshot (after a write through this server)."""
        self._snapshot.forget()

    async def aclose(self) -> None:
        """Stop a listing refresh in flight."""
        await self._snapshot.aclose()

    async def artifact_list(
        self,
        *,
        query: str = "",
        sort: str = "name",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> ListPage:
        """One page of artifacts, sorted, filtered by a name prefix or a catalog filter.

        Raises:
            InvalidPath: an unknown sort key, or an offset/limit out of range.
        """
        if sort not in SORT_KEYS:
            raise InvalidPath(f"unknown sort {sort!r}; one of {', '.join(SORT_KEYS)}")
        if offset < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidPath(f"offset must be >= 0 and limit 1..{MAX_PAGE_SIZE}")
        query = query.strip()
        entries = None
        if query and _FILTER_HINT.search(query):
            try:
                entries = await self._find(query)
            except FilterError:
                entries = None  # not a filter after all: a name prefix (the list says which)
        if entries is not None:
            how, age = "catalog", 0.0
            field_name = SORT_KEYS[sort]
            entries.sort(key=lambda e: (e.get(field_name) or 0, e["name"]), reverse=descending)
            ordered = entries
        else:
            everything, age = await self._snapshot.ordered(SORT_KEYS[sort], descending)
            if query:
                ordered = [e for e in everything if str(e["name"]).startswith(query)]
            else:
                ordered = everything
            how = "prefix"
        return ListPage(
            entries=ordered[offset : offset + limit],
            total=len(ordered),
            offset=offset,
            limit=limit,
            sort=sort,
            descending=descending,
            query=query,
            searched_with=how,
            age=age,
        )

    async def _find(self, query: str) -> list[dict[str, Any]]:
        """Versions the catalog's ``find`` returns (its index if the store has one, else a
        scan), as listing-like entries.

        Raises:
            FilterError: the filter does not parse.
        """
        page = await self.artifacts.find(query, limit=MAX_PAGE_SIZE)
        entries = []
        for entry in page.entries:
            created = entry.created.isoformat()
            entries.append(
                {
                    "name": entry.name,
                    "version": entry.version,
                    "versions": 1,
                    "size": entry.size,
                    "content_type": entry.content_type,
                    "sha256": entry.sha256,
                    "created_at": created,
                    "updated_at": created,
                    "metadata": dict(entry.metadata),
                }
            )
        return entries

    # -- one artifact, one version ---------------------------------------------

    async def artifact(self, name: str) -> ArtifactPage:
        """An artifact's versions (newest first, manifests only) and aliases.

        Raises:
            InvalidPath: a bad name.
            NotFound: no such artifact.
        """
        name = check_name(name)
        aliases = await self.artifacts.get_aliases(name)
        ids = await self.artifacts.get_artifact_versions(name)
        found = await map_limited(
            lambda v: self.artifacts.get_version(name, v), ids, self.artifacts.concurrency
        )
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(version, []).append(alias)
        versions = [version_info(f, by_version.get(f.version, ())) for f in reversed(found)]
        return ArtifactPage(name, versions, aliases, await self._downstream(name, aliases))

    async def _downstream(self, name: str, aliases: Mapping[str, str]) -> list[tuple[str, str]]:
        """Versions that recorded this artifact's latest as an input (the catalog's lineage)."""
        try:
            links = await self.artifacts.lineage(name, direction="down", depth=1)
        except NotFound:
            return []
        return [(link.name, link.version) for link in links]

    async def version(self, name: str, version: str | None) -> VersionInfo:
        """One version's manifest (``None``: the latest).

        Raises:
            InvalidPath: a bad name.
            NotFound: no such artifact, version or alias.
        """
        name = check_name(name)
        found, aliases = await asyncio.gather(
            self.artifacts.get_version(name, version or None), self.artifacts.get_aliases(name)
        )
        return version_info(found, [a for a, v in aliases.items() if v == found.version])

    async def manifest(self, name: str, version: str | None) -> ArtifactVersion:
        """The manifest itself, for reading content.

        Raises:
            InvalidPath: a bad name.
            NotFound: no such artifact, version or alias.
        """
        return await self.artifacts.get_version(check_name(name), version or None)

    # -- the file browser -----------------------------------------------------

    async def folder(self, path: str = "", *, offset: int = 0, limit: int = 200) -> FolderPage:
        """One level of a folder of the file store, folders first.

        Raises:
            NotSupported: this server has no file store.
            InvalidPath: a path that is not a key (``..``, absolute, ...).
            NotFound: no such folder.
        """
        from .. import paths
        from ..errors import NotFound

        if self.files is None:
            raise NotSupported("this server shows no file store")
        if offset < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidPath(f"offset must be >= 0 and limit 1..{MAX_PAGE_SIZE}")
        path = path.strip("/")
        if path:
            paths.validate_prefix(path)
        entries = await self.files.list_directory(path or ".")
        if path and not entries and not await self.files.exists(path):
            raise NotFound(f"no folder {path!r}", path=path)
        parents = [("top", "")]
        parts = path.split("/") if path else []
        for i, part in enumerate(parts):
            parents.append((part, "/".join(parts[: i + 1])))
        return FolderPage(
            path=path,
            parents=parents,
            entries=entries[offset : offset + limit],
            total=len(entries),
            offset=offset,
            limit=limit,
        )

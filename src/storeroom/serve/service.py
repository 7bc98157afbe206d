"""What the pages and the HTTP API both show: one function per question, typed results.

The pages render these results with templates and the API returns them as
JSON; neither reads the store any other way, so the two cannot disagree.

- The artifact list is one snapshot of ``list_artifacts`` kept for ``ttl``
  seconds and refreshed in the background after that (stale while it
  revalidates, one refresh at a time), so a page of a store with 10,000
  artifacts is a sort and a slice, not 10,000 head reads. A write through
  this server drops the snapshot.
- Search uses the catalog's ``find`` when the store has one (duck-typed: the
  catalog is optional) and the query looks like a filter; otherwise it is a
  name prefix over the snapshot.
- Every argument from a URL is checked here: names by the store's own rules
  (``InvalidPath``), sort keys and page numbers against fixed sets, so
  nothing from a request reaches a key unchecked.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..artifactstore import ArtifactStore, ArtifactVersion
from ..errors import InvalidPath, NotSupported
from ..files import FileStore
from ..interfaces import FileInfo

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


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a background refresh's failure as seen (the next request reads again)."""
    if not task.cancelled():
        task.exception()


def check_name(name: str | None) -> str:
    """An artifact name from a request, checked by the store's rules."""
    from ..artifactstore.records import validate_name

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
        self._snapshot: list[dict[str, Any]] | None = None
        self._read_at = 0.0
        self._refresh: asyncio.Task[list[dict[str, Any]]] | None = None
        self._generation = 0

    # -- the artifact list ----------------------------------------------------

    async def _read_listing(self, generation: int) -> list[dict[str, Any]]:
        entries = await self.artifacts.list_artifacts()
        if generation == self._generation:  # no write through this server since it began
            self._snapshot, self._read_at = entries, time.monotonic()
        return entries

    async def listing(self) -> tuple[list[dict[str, Any]], float]:
        """Every artifact's listing entry, and the snapshot's age in seconds."""
        while True:
            snapshot = self._snapshot
            stale = snapshot is None or time.monotonic() - self._read_at > self.ttl
            if stale and (self._refresh is None or self._refresh.done()):
                self._refresh = asyncio.create_task(self._read_listing(self._generation))
                self._refresh.add_done_callback(_retrieve)
            if snapshot is not None:
                return snapshot, time.monotonic() - self._read_at
            assert self._refresh is not None
            entries = await asyncio.shield(self._refresh)
            if self._snapshot is None:  # forgotten meanwhile: this read may miss a write
                continue
            return entries, time.monotonic() - self._read_at

    def forget(self) -> None:
        """Drop the listing snapshot (after a write through this server)."""
        self._generation += 1
        self._snapshot = None
        self._refresh = None

    async def aclose(self) -> None:
        """Stop a refresh in flight."""
        task, self._refresh = self._refresh, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

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
        find = getattr(self.artifacts, "find", None)
        if query and find is not None and _FILTER_HINT.search(query):
            entries = await self._find(find, query)
            how, age = "catalog", 0.0
        else:
            everything, age = await self.listing()
            entries = [e for e in everything if str(e["name"]).startswith(query)]
            how = "prefix"
        field_name = SORT_KEYS[sort]
        ordered = sorted(
            entries, key=lambda e: (e.get(field_name) or 0, e["name"]), reverse=descending
        )
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

    async def _find(self, find: Any, query: str) -> list[dict[str, Any]]:
        """Versions the catalog's ``find`` returns, as listing-like entries."""
        result = find(query, limit=MAX_PAGE_SIZE)
        if inspect.isawaitable(result):
            result = await result
        items = getattr(result, "items", None)
        if items is None or callable(items):
            items = getattr(result, "versions", result)
        entries = []
        for item in items:
            if isinstance(item, ArtifactVersion):
                info = version_info(item)
                entries.append(
                    {
                        "name": info.name,
                        "version": info.version,
                        "versions": 1,
                        "size": info.size,
                        "content_type": info.content_type,
                        "sha256": info.sha256,
                        "created_at": info.created,
                        "updated_at": info.created,
                        "metadata": dict(info.metadata),
                    }
                )
            elif isinstance(item, Mapping):
                entries.append(dict(item))
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
        found = await asyncio.gather(*(self.artifacts.get_version(name, v) for v in ids))
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(version, []).append(alias)
        versions = [version_info(f, by_version.get(f.version, ())) for f in reversed(found)]
        return ArtifactPage(name, versions, aliases, await self._downstream(name, aliases))

    async def _downstream(self, name: str, aliases: Mapping[str, str]) -> list[tuple[str, str]]:
        """Versions that recorded this artifact's latest as an input (with the catalog)."""
        lineage = getattr(self.artifacts, "lineage", None)
        if lineage is None:
            return []
        try:
            result = lineage(name, aliases.get("latest"), direction="down", depth=1)
            if inspect.isawaitable(result):
                result = await result
        except (NotSupported, TypeError, ValueError):
            return []
        found = []
        for item in result or ():
            item_name = getattr(item, "name", None)
            item_version = getattr(item, "version", None)
            if isinstance(item, Mapping):
                item_name, item_version = item.get("name"), item.get("version")
            elif isinstance(item, tuple) and len(item) == 2:
                item_name, item_version = item
            if item_name is not None:
                found.append((str(item_name), str(item_version)))
        return found

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

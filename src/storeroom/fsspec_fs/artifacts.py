"""Versioned artifacts as read-only fsspec paths.

Paths: ``name`` is the latest version, ``name@v3`` (or ``name@3``) a pinned
version, ``name@<alias>`` the version an alias points to (the last ``@``
splits; a name that holds an ``@`` itself is read as ``name@latest``).
Artifact names with ``/`` appear as folders. ``ls`` of a folder lists each
artifact in it (its latest version) and each of its versions (``name@vN``).

How it keeps its promises:

- **Pinned reads cached forever, latest never stale.** A version never
  changes, so its checked content is kept in a bounded LRU keyed by
  ``(name, number)``; ``name`` and ``name@alias`` are resolved to a number on
  every open (one manifest read), so a new version or a moved alias is seen
  at once, and only the resolved version's content is taken from the LRU.
- **Read-only.** Writes are refused with
  :class:`~storeroom.errors.PermissionDenied` (a ``PermissionError``).
"""

from __future__ import annotations

import asyncio
import errno
from collections import OrderedDict
from typing import Any

from ..artifactstore import ArtifactStore
from ..artifactstore.records import ArtifactVersion
from ..errors import InvalidPath, NotFound
from .files import dir_entry, key_of, not_found

__all__ = ["PinnedCache", "split", "version_entry"]


def split(path: str) -> tuple[str, str | None]:
    """``(name, version)`` for a path: ``"a@v3"`` is ``("a", "v3")``, ``"a"`` is ``("a", None)``."""
    key = key_of(path)
    head, sep, ref = key.rpartition("@")
    if sep and head and ref and "/" not in ref:
        return head, ref
    return key, None


def version_entry(path: str, version: ArtifactVersion) -> dict[str, Any]:
    """fsspec's info dict for one artifact version."""
    return {
        "name": path,
        "size": version.size,
        "type": "file",
        "mtime": version.created.timestamp(),
        "version": version.version,
        "sha256": version.sha256,
        "content_type": version.content_type,
    }


class PinnedCache:
    """Contents of versions by ``(name, number)``, at most ``limit`` bytes in all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._size = 0

    def get(self, name: str, number: int) -> bytes | None:
        data = self._entries.get((name, number))
        if data is not None:
            self._entries.move_to_end((name, number))
        return data

    def put(self, name: str, number: int, data: bytes) -> None:
        if len(data) > self.limit or (name, number) in self._entries:
            return
        self._entries[(name, number)] = data
        self._size += len(data)
        while self._size > self.limit:
            _, dropped = self._entries.popitem(last=False)
            self._size -= len(dropped)


class ArtifactView:
    """The fsspec operations on an :class:`~storeroom.artifactstore.ArtifactStore`."""

    def __init__(self, cache: PinnedCache) -> None:
        self.cache = cache

    async def resolve(self, store: ArtifactStore, path: str) -> ArtifactVersion:
        name, ref = split(path)
        if not name:
            raise IsADirectoryError(errno.EISDIR, "is a folder", path)
        try:
            return await store.get_version(name, ref)
        except (NotFound, InvalidPath) as exc:
            raise not_found(path) from exc

    async def content(self, store: ArtifactStore, version: ArtifactVersion) -> bytes:
        data = self.cache.get(version.name, version.number)
        if data is None:
            data = await store.get_artifact_bytes(version.name, version.version)
            self.cache.put(version.name, version.number, data)
        return data

    async def cat(
        self, store: ArtifactStore, path: str, start: int | None, end: int | None
    ) -> bytes:
        data = await self.content(store, await self.resolve(store, path))
        return data[slice(start, end)]

    async def info(self, store: ArtifactStore, path: str) -> dict[str, Any]:
        key = key_of(path)
        if not key:
            return dir_entry("")
        try:
            return version_entry(key, await self.resolve(store, key))
        except FileNotFoundError:
            if await self._is_folder(store, key):
                return dir_entry(key)
            raise

    async def _is_folder(self, store: ArtifactStore, key: str) -> bool:
        return bool(await store.list_artifacts(key + "/"))

    async def ls(self, store: ArtifactStore, path: str) -> list[dict[str, Any]]:
        folder = key_of(path)
        prefix = folder + "/" if folder else ""
        listed = await store.list_artifacts(prefix)
        if not listed:
            if folder:
                return [await self.info(store, folder)]  # an artifact: itself
            return []
        folders: dict[str, dict[str, Any]] = {}
        names: list[str] = []
        for entry in listed:
            name = str(entry["name"])
            rest = name[len(prefix) :]
            if "/" in rest:
                sub = prefix + rest.split("/", 1)[0]
                folders.setdefault(sub, dir_entry(sub))
            else:
                names.append(name)
        files = await asyncio.gather(*(self._versions(store, name) for name in names))
        return list(folders.values()) + [entry for group in files for entry in group]

    async def _versions(self, store: ArtifactStore, name: str) -> list[dict[str, Any]]:
        latest = await store.get_version(name)
        entries = [version_entry(name, latest)]
        for version_id in await store.get_artifact_versions(name):
            entries.append(
                version_entry(f"{name}@{version_id}", await store.get_version(name, version_id))
            )
        return entries

    async def find(self, store: ArtifactStore, path: str) -> dict[str, dict[str, Any]]:
        folder = key_of(path)
        prefix = folder + "/" if folder else ""
        listed = await store.list_artifacts(prefix)
        found: dict[str, dict[str, Any]] = {}
        if not listed and folder:
            try:
                return {folder: await self.info(store, folder)}
            except FileNotFoundError:
                return {}
        for entry in listed:
            name = str(entry["name"])
            found[name] = version_entry(name, await store.get_version(name))
        return found

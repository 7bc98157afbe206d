"""MemoryProvider: a full backend in a dict, held to the same conformance suite.

Every hook completes without awaiting anything that suspends, so each is
atomic with respect to other tasks on the event loop: conditional writes
and renames need no lock. Folders made by ``makedirs`` are recorded by their
marker key (``a/.sr-dir``), so an empty folder exists, is listed and can be
removed with ``remove_folder``. Use it in tests, or as a scratch store that
vanishes with the process.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any

from .. import paths
from ..errors import AlreadyExists, FolderNotEmpty, NotFound, PreconditionFailed
from ..options import reject_unknown, split_options
from .base import (
    LIST_TURN,
    Capabilities,
    GetResult,
    IfMatch,
    Listing,
    ObjectMeta,
    Provider,
    PutMode,
    SkippedKey,
)

__all__ = ["MemoryProvider"]


class MemoryProvider(Provider):
    """Objects in process memory.

    Args:
        name: a label shown in ``repr`` (``memory://name``); two providers
            never share objects, whatever their names.
    """

    capabilities = Capabilities(
        create_if_absent=True,
        compare_and_swap=True,
        atomic_rename=True,
        empty_folders=True,
        metadata=True,
        multipart=False,
    )

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._objects: dict[str, GetResult] = {}
        self._folders: set[str] = set()
        self._etags = itertools.count(1)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryProvider:
        """``memory://`` or ``memory://name``: a fresh, empty store (never a shared one)."""
        url, options = split_options(url, options)
        reject_unknown(options, frozenset(), url)
        return cls(url.split("://", 1)[1].strip("/"))

    def __repr__(self) -> str:
        return f"MemoryProvider('memory://{self.name}')"

    def _found(self, key: str) -> GetResult:
        try:
            return self._objects[key]
        except KeyError:
            raise NotFound(f"no object at {key!r}", path=key) from None

    async def _get(self, key: str) -> GetResult:
        return self._found(key)

    async def _put(
        self,
        key: str,
        data: bytes,
        mode: PutMode,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
    ) -> ObjectMeta:
        current = self._objects.get(key)
        if mode == "create" and current is not None:
            raise AlreadyExists(f"an object exists at {key!r}", path=key)
        if isinstance(mode, IfMatch) and (current is None or current.meta.etag != mode.etag):
            raise PreconditionFailed(f"etag of {key!r} is not {mode.etag!r}", path=key)
        data = bytes(data)
        meta = ObjectMeta(
            path=key,
            size=len(data),
            modified=datetime.now(timezone.utc),
            etag=f"{next(self._etags):x}",
            content_type=content_type,
            metadata=dict(metadata or {}),
        )
        self._objects[key] = GetResult(data, meta)
        return meta

    async def _read_range(self, key: str, start: int, end: int | None) -> bytes:
        return self._found(key).data[start:end]

    async def _head(self, key: str) -> ObjectMeta:
        return self._found(key).meta

    async def _exists(self, key: str) -> bool:
        return key in self._objects

    async def _delete(self, key: str) -> None:
        self._objects.pop(key, None)

    async def _iter(self, folder: str) -> AsyncIterator[ObjectMeta | SkippedKey]:
        keys = sorted(k for k in self._objects if k.startswith(folder))
        for listed, key in enumerate(keys, 1):
            found = self._objects.get(key)
            if found is not None:
                yield found.meta
            if not listed % LIST_TURN:  # let other tasks (and a cancellation) in
                await asyncio.sleep(0)

    async def _list_dir(self, folder: str) -> Listing:
        objects: list[ObjectMeta] = []
        folders: set[str] = set()
        for key in itertools.chain(self._objects, self._folders):
            if not key.startswith(folder):
                continue
            head, sep, _ = key[len(folder) :].partition("/")
            if sep:
                folders.add(folder + head + "/")
            elif key in self._objects:
                objects.append(self._objects[key].meta)
        objects.sort(key=lambda meta: meta.path)
        return Listing(tuple(objects), tuple(sorted(folders)))

    async def _is_dir(self, folder: str) -> bool:
        # Markers count here (a folder made by makedirs exists while empty).
        return any(k.startswith(folder) for k in itertools.chain(self._folders, self._objects))

    async def _copy(self, src: str, dst: str, overwrite: bool) -> None:
        source = self._found(src)
        await self._put(
            dst,
            source.data,
            "overwrite" if overwrite else "create",
            source.meta.content_type,
            source.meta.metadata,
        )

    async def _rename(self, src: str, dst: str, overwrite: bool) -> None:
        await self._copy(src, dst, overwrite)  # no await suspends: atomic on the loop
        del self._objects[src]

    async def _makedirs(self, key: str) -> None:
        while key:
            # A folder is recorded by its marker, a child that list_dir sees as a folder.
            self._folders.add(f"{key}/{paths.FOLDER_MARKER}")
            key = paths.parent(key).rstrip("/")

    async def _remove_folder(self, key: str) -> None:
        folder = key + "/"
        marker = folder + paths.FOLDER_MARKER
        inside = [k for k in itertools.chain(self._objects, self._folders) if k.startswith(folder)]
        if not inside:
            raise NotFound(f"no folder at {key!r}", path=key)
        if inside != [marker]:
            raise FolderNotEmpty(f"the folder {key!r} is not empty", path=key)
        self._folders.discard(marker)

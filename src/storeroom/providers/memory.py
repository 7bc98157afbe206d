"""MemoryProvider: a full backend in a dict, held to the same conformance suite.

Every operation completes without awaiting anything, so each is atomic with
respect to other tasks on the event loop: conditional writes and renames need
no lock. Use it in tests, or as a scratch store that vanishes with the process.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any

from .. import paths
from ..errors import AlreadyExists, NotFound, PreconditionFailed
from ..options import reject_unknown, split_options
from .base import (
    Capabilities,
    GetResult,
    IfMatch,
    Listing,
    ObjectMeta,
    Provider,
    PutMode,
    check_range,
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

    def _get(self, path: str) -> GetResult:
        try:
            return self._objects[paths.validate_key(path)]
        except KeyError:
            raise NotFound(f"no object at {path!r}", path=path) from None

    def _store(
        self,
        path: str,
        data: bytes,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
    ) -> ObjectMeta:
        meta = ObjectMeta(
            path=path,
            size=len(data),
            modified=datetime.now(timezone.utc),
            etag=f"{next(self._etags):x}",
            content_type=content_type,
            metadata=dict(metadata or {}),
        )
        self._objects[path] = GetResult(data, meta)
        return meta

    async def get(self, path: str) -> GetResult:
        return self._get(path)

    async def read(self, path: str) -> bytes:
        return self._get(path).data

    async def put(
        self,
        path: str,
        data: bytes,
        *,
        mode: PutMode = "overwrite",
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        paths.validate_key(path)
        current = self._objects.get(path)
        if mode == "create":
            if current is not None:
                raise AlreadyExists(f"an object exists at {path!r}", path=path)
        elif isinstance(mode, IfMatch):
            if current is None or current.meta.etag != mode.etag:
                raise PreconditionFailed(f"etag of {path!r} is not {mode.etag!r}", path=path)
        elif mode != "overwrite":
            raise ValueError(f"unknown put mode {mode!r}")
        return self._store(path, bytes(data), content_type, metadata)

    async def read_range(self, path: str, start: int, end: int | None = None) -> bytes:
        check_range(start, end)
        return self._get(path).data[start:end]

    async def head(self, path: str) -> ObjectMeta:
        return self._get(path).meta

    async def exists(self, path: str) -> bool:
        return paths.validate_key(path) in self._objects

    async def delete(self, path: str) -> None:
        self._objects.pop(paths.validate_key(path), None)

    async def iter(self, prefix: str = "") -> AsyncIterator[ObjectMeta]:
        folder = paths.validate_prefix(prefix)
        for key in sorted(k for k in self._objects if k.startswith(folder)):
            found = self._objects.get(key)
            if found is not None:
                yield found.meta

    async def list_dir(self, prefix: str = "") -> Listing:
        folder = paths.validate_prefix(prefix)
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

    async def is_dir(self, path: str) -> bool:
        folder = paths.validate_prefix(path)
        if not folder:
            return True  # the top folder always exists
        return any(k.startswith(folder) for k in itertools.chain(self._folders, self._objects))

    async def copy(self, src: str, dst: str, *, overwrite: bool = True) -> None:
        paths.validate_key(dst)  # a bad key is refused before a missing source is reported
        source = self._get(src)
        await self.put(
            dst,
            source.data,
            mode="overwrite" if overwrite else "create",
            content_type=source.meta.content_type,
            metadata=source.meta.metadata,
        )

    async def rename(self, src: str, dst: str, *, overwrite: bool = True) -> None:
        if src == dst:  # as in Provider.rename: a no-op on an existing object
            self._get(src)
            return
        await self.copy(src, dst, overwrite=overwrite)
        del self._objects[src]

    async def makedirs(self, path: str) -> None:
        key = paths.validate_key(path)
        while key:
            # A folder is recorded by its marker, a child that list_dir sees as a folder.
            self._folders.add(f"{key}/{paths.FOLDER_MARKER}")
            key = paths.parent(key).rstrip("/")

"""The provider surface: bytes by key, the same meaning on every backend.

A provider implements the seed's :class:`~storeroom.interfaces.StorageProvider`
(``read``, ``write``, ``exists``, ``delete``, ``list``, ``makedirs``) and the
richer surface the layers above rely on. A backend implements a small core;
everything else is written once here and may be overridden where the backend
does better natively.

Core (abstract): ``get``, ``put``, ``read_range``, ``head``, ``delete``,
``iter``, ``list_dir``, ``copy``, ``makedirs``.

Written once here: ``read``, ``write``, ``exists``, ``list``, ``is_dir``,
``stream``, ``write_stream``, ``rename``, ``aclose`` and ``async with``.

Meaning shared by every backend (and checked by ``tests/conformance``):

- keys follow :mod:`storeroom.paths`; a prefix is a folder (``"a/b"`` lists
  ``a/b/c``, never ``a/bc``); listed paths are full keys, sorted;
- ``put(mode="create")`` raises :class:`~storeroom.errors.AlreadyExists` if the
  key exists, ``put(mode=IfMatch(etag))`` raises
  :class:`~storeroom.errors.PreconditionFailed` if the etag moved or the key is
  gone; both are atomic where ``capabilities`` says so;
- ``delete`` of a missing key is not an error (as on every object store);
- ``read_range(path, start, end)`` returns bytes ``[start, end)`` clipped to
  the object; a range past the end is ``b""``.
"""

from __future__ import annotations

import builtins
from abc import abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Union

from .. import paths
from ..errors import NotFound
from ..interfaces import StorageProvider
from ..resource import AsyncResource

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Capabilities",
    "GetResult",
    "IfMatch",
    "Listing",
    "ObjectMeta",
    "Provider",
    "PutMode",
    "check_range",
]


#: Chunk size of ``stream`` when none is given: 1 MiB.
DEFAULT_CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """What a backend knows about one stored object.

    Attributes:
        path: the full key.
        size: length in bytes.
        modified: last modification, timezone-aware (UTC).
        etag: an opaque token that changes whenever the content is replaced;
            pass it to :class:`IfMatch` for a compare-and-swap.
        content_type: the stored content type, if the backend keeps one.
        metadata: user metadata stored with the object (``{}`` if none).
        version: the backend's own object version id, if it has one.
    """

    path: str
    size: int
    modified: datetime
    etag: str | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None


@dataclass(frozen=True, slots=True)
class GetResult:
    """The bytes of an object and the metadata they were read with (one snapshot)."""

    data: bytes
    meta: ObjectMeta


@dataclass(frozen=True, slots=True)
class IfMatch:
    """Write mode: replace the object only if its etag is still ``etag``."""

    etag: str


#: How ``put`` treats an existing object: replace it, refuse (``"create"``),
#: or replace it only if unchanged (``IfMatch(etag)``).
PutMode = Union[Literal["overwrite", "create"], IfMatch]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Listing:
    """One level of a folder: the objects in it and its sub-folders.

    Attributes:
        objects: objects directly in the folder, sorted by path.
        folders: sub-folders as prefixes ending in ``/`` (``"a/b/"``), sorted.
    """

    objects: tuple[ObjectMeta, ...] = ()
    folders: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do; the layers above refuse what would be unsafe.

    Attributes:
        create_if_absent: ``put(mode="create")`` is atomic among many writers.
        compare_and_swap: ``put(mode=IfMatch(...))`` is atomic among many writers.
        atomic_rename: ``rename`` is one atomic step (else copy, then delete).
        empty_folders: ``makedirs`` makes a folder that exists while empty.
        metadata: user metadata and the content type are stored with objects.
        multipart: ``write_stream`` uploads in parts, never the whole in memory.
        notes: why a capability is missing, in words for a person
            (e.g. "the GCS emulator ignores preconditions").
    """

    create_if_absent: bool = True
    compare_and_swap: bool = True
    atomic_rename: bool = False
    empty_folders: bool = False
    metadata: bool = True
    multipart: bool = False
    notes: str = ""


def check_range(start: int, end: int | None) -> None:
    """Reject a negative start or an end before the start with ``ValueError``."""
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range [{start}, {end})")


class Provider(StorageProvider, AsyncResource):
    """Bytes by key: the seed's ``StorageProvider`` and storeroom's richer surface."""

    #: What this backend can do. Backends override it.
    capabilities: Capabilities = Capabilities()

    # -- core: every backend implements these --------------------------------

    @abstractmethod
    async def get(self, path: str) -> GetResult:
        """Read an object's bytes and metadata in one snapshot.

        Raises:
            NotFound: if there is no object at ``path``.
        """

    @abstractmethod
    async def put(
        self,
        path: str,
        data: bytes,
        *,
        mode: PutMode = "overwrite",
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        """Store ``data`` at ``path`` whole, or not at all.

        Raises:
            AlreadyExists: ``mode="create"`` and the key exists.
            PreconditionFailed: ``mode=IfMatch(etag)`` and the etag moved or the key is gone.
            NotSupported: the backend cannot honour ``mode`` or ``metadata``.
        """

    @abstractmethod
    async def read_range(self, path: str, start: int, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of an object, clipped to its size (``end=None``: to the end)."""

    @abstractmethod
    async def head(self, path: str) -> ObjectMeta:
        """Metadata of one object, without its bytes.

        Raises:
            NotFound: if there is no object at ``path``.
        """

    @abstractmethod
    async def delete(self, path: str) -> None:
        """Delete one object; deleting a missing key is not an error."""

    @abstractmethod
    def iter(self, prefix: str = "") -> AsyncIterator[ObjectMeta]:
        """Every object under the folder ``prefix``, recursively, sorted by path.

        Objects are yielded as they are listed; no full listing is held in memory
        where the backend pages.
        """

    @abstractmethod
    async def list_dir(self, prefix: str = "") -> Listing:
        """One level of the folder ``prefix``: its objects and sub-folders."""

    @abstractmethod
    async def copy(self, src: str, dst: str, *, overwrite: bool = True) -> None:
        """Copy one object (content, content type and metadata).

        Raises:
            NotFound: ``src`` does not exist.
            AlreadyExists: ``overwrite=False`` and ``dst`` exists.
        """

    @abstractmethod
    async def makedirs(self, path: str) -> None:
        """Make the folder ``path`` (and its parents) exist; an existing one is fine."""

    # -- written once ---------------------------------------------------------

    async def read(self, path: str) -> bytes:
        """Read an object's bytes.

        Raises:
            NotFound: if there is no object at ``path``.
        """
        return (await self.get(path)).data

    async def write(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path``, replacing what was there."""
        await self.put(path, data)

    async def exists(self, path: str) -> bool:
        """Whether an object exists at ``path`` (folders: see :meth:`is_dir`)."""
        try:
            await self.head(path)
        except NotFound:
            return False
        return True

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Every key under the folder ``prefix``, sorted."""
        return [meta.path async for meta in self.iter(prefix)]

    async def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a folder: made by ``makedirs`` or holding objects."""
        if not paths.validate_prefix(path):
            return True  # the top folder always exists
        listing = await self.list_dir(path)
        return bool(listing.objects or listing.folders)

    async def stream(
        self, path: str, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of at most ``chunk_size``, never all in memory.

        Raises:
            NotFound: if there is no object at ``path``.
        """
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        meta = await self.head(path)
        for start in range(0, meta.size, chunk_size):
            yield await self.read_range(path, start, min(start + chunk_size, meta.size))

    async def write_stream(
        self,
        path: str,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        """Store the concatenated ``chunks`` at ``path``, whole or not at all.

        Backends with ``capabilities.multipart`` upload part by part; this
        default gathers the chunks first.
        """
        parts: builtins.list[bytes] = []
        if isinstance(chunks, AsyncIterable):
            async for chunk in chunks:
                parts.append(bytes(chunk))
        else:
            parts.extend(bytes(chunk) for chunk in chunks)
        return await self.put(path, b"".join(parts), content_type=content_type, metadata=metadata)

    async def rename(self, src: str, dst: str, *, overwrite: bool = True) -> None:
        """Move one object; atomic where ``capabilities.atomic_rename`` says so.

        Raises:
            NotFound: ``src`` does not exist.
            AlreadyExists: ``overwrite=False`` and ``dst`` exists.
        """
        if src == dst:
            await self.head(src)
            return
        await self.copy(src, dst, overwrite=overwrite)
        await self.delete(src)


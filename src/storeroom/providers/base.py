"""The provider surface: bytes by key, the same meaning on every backend.

A provider implements the seed's :class:`~storeroom.interfaces.StorageProvider`
(``read``, ``write``, ``exists``, ``delete``, ``list``, ``makedirs``) and the
richer surface the layers above rely on.

Rules written once (the split of Rust ``object_store``): every public method
is defined here, checks its arguments and the shared rules once (key rules,
byte ranges, ``chunk_size``, put modes, metadata support, ``rename``/``copy``
of a key onto itself, addressability of listed keys) and then calls a small
backend *hook* (``_get``, ``_put``, ...) with checked arguments. Backends
implement hooks only, so no backend can skip a rule.

Hooks every backend implements: ``_get``, ``_put``, ``_read_range``,
``_head``, ``_delete``, ``_iter``, ``_list_dir``, ``_is_dir``, ``_copy``,
``_makedirs``, ``_remove_folder``. Hooks with a default here, overridden
where a backend does better: ``_read``, ``_exists``, ``_stream``,
``_write_stream``, ``_rename``, ``_read_range_view``.

Names storeroom writes follow :func:`storeroom.paths.validate_key`; names it
reads, lists or deletes need only be addressable
(:func:`storeroom.paths.validate_address`), so objects other tools wrote stay
reachable. A listed key that cannot be addressed safely (``../x``, ``a//b``)
never breaks a listing: ``list_dir`` reports it in ``Listing.skipped``,
``scan`` yields it as a :class:`SkippedKey`, ``iter``/``list`` hand it to the
caller's ``skipped`` list (or log it).

Meaning shared by every backend (and checked by ``tests/conformance``):

- keys follow :mod:`storeroom.paths`; a prefix is a folder (``"a/b"`` lists
  ``a/b/c``, never ``a/bc``); listed paths are full keys, sorted;
- ``put(mode="create")`` raises :class:`~storeroom.errors.AlreadyExists` if the
  key exists, ``put(mode=IfMatch(etag))`` raises
  :class:`~storeroom.errors.PreconditionFailed` if the etag moved or the key is
  gone; both are atomic where ``capabilities`` says so;
- ``delete`` of a missing key is not an error (as on every object store);
  ``delete`` removes objects only; ``remove_folder`` removes an empty folder
  (markers included) and refuses a non-empty one with
  :class:`~storeroom.errors.FolderNotEmpty`;
- ``read_range(path, start, end)`` returns bytes ``[start, end)`` clipped to
  the object; a range past the end is ``b""``.
"""

from __future__ import annotations

import builtins
import logging
from abc import abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Union

from .. import paths
from ..errors import AlreadyExists, NotFound, NotSupported, PreconditionFailed
from ..interfaces import StorageProvider
from ..resource import AsyncResource

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "LIST_TURN",
    "Capabilities",
    "GetResult",
    "IfMatch",
    "Listing",
    "ObjectMeta",
    "Provider",
    "PutMode",
    "SkippedKey",
    "check_range",
    "listed_meta",
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


#: A listing that runs without awaiting (local, memory) hands the event loop a turn
#: after this many objects, so a long listing never starves other tasks.
LIST_TURN = 256


class _OpenMeta:
    """:class:`ObjectMeta`'s slots, without its frozen guard (see :func:`listed_meta`)."""

    __slots__ = ObjectMeta.__slots__


def listed_meta(
    path: str, size: int, modified: datetime, etag: str | None, content_type: str | None
) -> ObjectMeta:
    """An :class:`ObjectMeta` without user metadata or version, built two and a half
    times as fast as through ``__init__`` (a listing builds thousands).

    The slots are filled on an :class:`_OpenMeta` (plain attribute stores, where a
    frozen dataclass pays a call per field), which then becomes an ObjectMeta:
    the layouts are the same, so Python allows the ``__class__`` assignment, and
    the result is the same value, frozen like any other.
    """
    meta: Any = _OpenMeta()  # (an ObjectMeta by the end)
    meta.path = path
    meta.size = size
    meta.modified = modified
    meta.etag = etag
    meta.content_type = content_type
    meta.metadata = {}  # a dict of its own, as ``__init__`` gives (it pickles)
    meta.version = None
    meta.__class__ = ObjectMeta
    built: ObjectMeta = meta
    return built


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
class SkippedKey:
    """A listed name that is not listed as an object: it cannot be addressed safely,
    or (a local folder) it cannot be read.

    Attributes:
        path: the name as the backend listed it (``"../x"``, ``"a//b"``, ``"/abs"``,
            a folder ``"private/"``).
        reason: which addressing rule it breaks, or why it cannot be read, in words.
    """

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Listing:
    """One level of a folder: the objects in it and its sub-folders.

    Attributes:
        objects: objects directly in the folder, sorted by path.
        folders: sub-folders as prefixes ending in ``/`` (``"a/b/"``), sorted.
        skipped: names found in the folder that cannot be addressed safely
            (:class:`SkippedKey`), in the order found; neither objects nor folders.
    """

    objects: tuple[ObjectMeta, ...] = ()
    folders: tuple[str, ...] = ()
    skipped: tuple[SkippedKey, ...] = ()


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


def _check_put(key: str, data: object, mode: object) -> None:
    """The rules of every put: bytes (a ``str`` is never read as a file name, as
    obstore would), a known mode, and an ``IfMatch`` that can match something."""
    if type(data) is not bytes and not isinstance(data, (bytearray, memoryview)):
        raise TypeError(f"put stores bytes, not {type(data).__name__}")
    if mode == "overwrite" or mode == "create":
        return
    if not isinstance(mode, IfMatch):
        raise ValueError(f"unknown put mode {mode!r}")
    if not mode.etag or not isinstance(mode.etag, str):
        # No object has an empty etag; some servers take an empty condition as none.
        raise PreconditionFailed(f"etag of {key!r} is not {mode.etag!r}", path=key)


_log = logging.getLogger("storeroom")


class Provider(StorageProvider, AsyncResource):
    """Bytes by key: the seed's ``StorageProvider`` and storeroom's richer surface.

    Public methods check arguments and shared rules here, once; backends
    implement the ``_``-prefixed hooks, which receive checked keys.
    """

    #: What this backend can do. Backends override it.
    capabilities: Capabilities = Capabilities()

    # -- hooks: every backend implements these (arguments already checked) ----

    @abstractmethod
    async def _get(self, key: str) -> GetResult:
        """Bytes and metadata of the object ``key``; ``NotFound`` if none."""

    @abstractmethod
    async def _put(
        self,
        key: str,
        data: bytes,
        mode: PutMode,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
    ) -> ObjectMeta:
        """Store ``data`` whole or not at all; ``mode`` is a known mode and
        ``metadata`` is empty unless ``capabilities.metadata``."""

    @abstractmethod
    async def _read_range(self, key: str, start: int, end: int | None) -> bytes:
        """Bytes ``[start, end)`` clipped to the object (a checked range)."""

    async def _read_range_view(self, key: str, start: int, end: int | None) -> memoryview:
        """``_read_range`` as a view (backends that receive a buffer hand it over)."""
        return memoryview(await self._read_range(key, start, end))

    @abstractmethod
    async def _head(self, key: str) -> ObjectMeta:
        """Metadata of the object ``key``; ``NotFound`` if none."""

    @abstractmethod
    async def _delete(self, key: str) -> None:
        """Delete the object ``key`` (a missing one is fine; folders are not objects)."""

    @abstractmethod
    def _iter(self, folder: str) -> AsyncIterator[ObjectMeta | SkippedKey]:
        """Every object under ``folder`` (``""`` or ``"a/b/"``), recursively, sorted."""

    @abstractmethod
    async def _list_dir(self, folder: str) -> Listing:
        """One level of ``folder`` (``""`` or ``"a/b/"``)."""

    @abstractmethod
    async def _is_dir(self, folder: str) -> bool:
        """Whether anything is under ``folder`` (``"a/b/"``), an empty folder made by
        ``makedirs`` included (listings hide the markers that keep those)."""

    @abstractmethod
    async def _copy(self, src: str, dst: str, overwrite: bool) -> None:
        """Copy the object ``src`` to ``dst`` (never the same key)."""

    @abstractmethod
    async def _makedirs(self, key: str) -> None:
        """Make the folder ``key`` and its parents exist."""

    @abstractmethod
    async def _remove_folder(self, key: str) -> None:
        """Remove the empty folder ``key`` (its marker too).

        Raises ``NotFound`` if there is no folder, ``FolderNotEmpty`` if it holds anything.
        """

    # -- hooks with a default -------------------------------------------------

    async def _read(self, key: str) -> bytes:
        return (await self._get(key)).data

    async def _exists(self, key: str) -> bool:
        try:
            await self._head(key)
        except NotFound:
            return False
        return True

    async def _stream(self, key: str, chunk_size: int) -> AsyncIterator[bytes]:
        meta = await self._head(key)
        for start in range(0, meta.size, chunk_size):
            yield await self._read_range(key, start, min(start + chunk_size, meta.size))

    async def _write_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        content_type: str | None,
        metadata: Mapping[str, str] | None,
    ) -> ObjectMeta:
        """Gathers the chunks, then one put (backends with ``multipart`` do better)."""
        parts: builtins.list[bytes] = []
        if isinstance(chunks, AsyncIterable):
            async for chunk in chunks:
                parts.append(bytes(chunk))
        else:
            parts.extend(bytes(chunk) for chunk in chunks)
        return await self._put(key, b"".join(parts), "overwrite", content_type, metadata)

    async def _rename(self, src: str, dst: str, overwrite: bool) -> None:
        """Copy, then delete (backends with ``atomic_rename`` do it in one step)."""
        await self._copy(src, dst, overwrite)
        await self._delete(src)

    # -- the public surface: checks once, then a hook -------------------------

    def _check_metadata(self, key: str, metadata: Mapping[str, str] | None) -> None:
        if metadata and not self.capabilities.metadata:
            raise NotSupported(f"{type(self).__name__} does not store user metadata", path=key)

    async def get(self, path: str) -> GetResult:
        """Read an object's bytes and metadata in one snapshot.

        Raises:
            NotFound: if there is no object at ``path``.
        """
        return await self._get(paths.validate_address(path))

    async def read(self, path: str) -> bytes:
        """Read an object's bytes.

        Raises:
            NotFound: if there is no object at ``path``.
        """
        return await self._read(paths.validate_address(path))

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
            ValueError: ``mode`` is not a put mode.
            TypeError: ``data`` is not bytes.
        """
        key = paths.validate_key(path)
        _check_put(key, data, mode)
        self._check_metadata(key, metadata)
        return await self._put(key, data, mode, content_type, metadata)

    async def write(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path``, replacing what was there."""
        await self.put(path, data)

    async def read_range(self, path: str, start: int, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of an object, clipped to its size (``end=None``: to the end)."""
        check_range(start, end)
        return await self._read_range(paths.validate_address(path), start, end)

    async def read_range_view(self, path: str, start: int, end: int | None = None) -> memoryview:
        """``read_range``'s bytes as a read-only view, not copied where it can be.

        A backend that receives a buffer (the object stores) hands it over as it
        came, for callers that pass the bytes on (the fsspec files give them to
        pyarrow).
        """
        check_range(start, end)
        return await self._read_range_view(paths.validate_address(path), start, end)

    async def head(self, path: str) -> ObjectMeta:
        """Metadata of one object, without its bytes.

        Raises:
            NotFound: if there is no object at ``path``.
        """
        return await self._head(paths.validate_address(path))

    async def exists(self, path: str) -> bool:
        """Whether an object exists at ``path`` (folders: see :meth:`is_dir`)."""
        return await self._exists(paths.validate_address(path))

    async def delete(self, path: str) -> None:
        """Delete one object; deleting a missing key is not an error.

        A folder is not an object: remove an empty one with :meth:`remove_folder`.
        """
        await self._delete(paths.validate_address(path))

    async def remove_folder(self, path: str) -> None:
        """Remove the empty folder ``path`` (made by ``makedirs`` or left empty).

        Raises:
            NotFound: there is no folder at ``path``.
            FolderNotEmpty: the folder still holds objects or folders.
        """
        await self._remove_folder(paths.validate_address(path))

    async def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a folder: made by ``makedirs`` or holding objects."""
        folder = paths.validate_prefix(path)
        return not folder or await self._is_dir(folder)

    async def scan(self, prefix: str = "") -> AsyncIterator[ObjectMeta | SkippedKey]:
        """Every object under the folder ``prefix``, recursively, sorted by path;
        a name that cannot be addressed safely comes as a :class:`SkippedKey`."""
        async for item in self._iter(paths.validate_prefix(prefix)):
            yield _checked(item)

    async def iter(
        self, prefix: str = "", *, skipped: builtins.list[SkippedKey] | None = None
    ) -> AsyncIterator[ObjectMeta]:
        """Every object under the folder ``prefix``, recursively, sorted by path.

        Objects are yielded as they are listed; no full listing is held in memory
        where the backend pages. Names that cannot be addressed safely are not
        yielded: they are appended to ``skipped`` if given, else logged.
        """
        problem_of = paths.address_problem
        async for item in self._iter(paths.validate_prefix(prefix)):
            if type(item) is ObjectMeta and problem_of(item.path) is None:
                yield item
                continue
            item = _checked(item)
            if isinstance(item, ObjectMeta):
                yield item
            elif skipped is not None:
                skipped.append(item)
            else:
                _log.warning("skipped %r while listing: %s", item.path, item.reason)

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Every key under the folder ``prefix``, sorted."""
        return [meta.path async for meta in self.iter(prefix)]

    async def list_dir(self, prefix: str = "") -> Listing:
        """One level of the folder ``prefix``: its objects, sub-folders and skipped names."""
        listing = await self._list_dir(paths.validate_prefix(prefix))
        if all(paths.address_problem(meta.path) is None for meta in listing.objects) and all(
            paths.address_problem(folder[:-1]) is None for folder in listing.folders
        ):
            return listing
        skipped = list(listing.skipped)
        objects: builtins.list[ObjectMeta] = []
        for meta in listing.objects:
            item = _checked(meta)
            if isinstance(item, ObjectMeta):
                objects.append(item)
            else:
                skipped.append(item)
        folders = []
        for folder in listing.folders:
            problem = paths.address_problem(folder[:-1])
            if problem is None:
                folders.append(folder)
            else:
                skipped.append(SkippedKey(folder, problem))
        return Listing(tuple(objects), tuple(folders), tuple(skipped))

    async def stream(
        self, path: str, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of at most ``chunk_size``, never all in memory.

        Raises:
            NotFound: if there is no object at ``path``.
            ValueError: ``chunk_size`` is not positive.
        """
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        async for chunk in self._stream(paths.validate_address(path), chunk_size):
            yield chunk

    async def write_stream(
        self,
        path: str,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        """Store the concatenated ``chunks`` at ``path``, whole or not at all.

        Backends with ``capabilities.multipart`` upload part by part.
        """
        key = paths.validate_key(path)
        self._check_metadata(key, metadata)
        return await self._write_stream(key, chunks, content_type, metadata)

    async def copy(self, src: str, dst: str, *, overwrite: bool = True) -> None:
        """Copy one object (content, content type and metadata).

        Raises:
            NotFound: ``src`` does not exist.
            AlreadyExists: ``overwrite=False`` and ``dst`` exists (also ``dst == src``).
        """
        target = paths.validate_key(dst)  # a bad key is refused before a missing source
        source = paths.validate_address(src)
        if source == target:
            await self._head(source)
            if not overwrite:
                raise AlreadyExists(f"an object exists at {target!r}", path=target)
            return
        await self._copy(source, target, overwrite)

    async def rename(self, src: str, dst: str, *, overwrite: bool = True) -> None:
        """Move one object; atomic where ``capabilities.atomic_rename`` says so.

        Raises:
            NotFound: ``src`` does not exist.
            AlreadyExists: ``overwrite=False`` and ``dst`` exists.
        """
        target = paths.validate_key(dst)
        source = paths.validate_address(src)
        if source == target:
            await self._head(source)
            return
        await self._rename(source, target, overwrite)

    async def makedirs(self, path: str) -> None:
        """Make the folder ``path`` (and its parents) exist; an existing one is fine."""
        await self._makedirs(paths.validate_key(path))


def _checked(item: ObjectMeta | SkippedKey) -> ObjectMeta | SkippedKey:
    """``item``, or a :class:`SkippedKey` if its path cannot be addressed safely."""
    if isinstance(item, ObjectMeta):
        problem = paths.address_problem(item.path)
        if problem is not None:
            return SkippedKey(item.path, problem)
    return item

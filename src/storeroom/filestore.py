"""FileStore: the seed's ``FileStorage`` on any provider.

Writes return a :class:`~storeroom.interfaces.StorageResult`: success, or
``success=False`` with ``error`` and a machine-readable ``metadata["code"]``
(the error's :attr:`~storeroom.errors.StorageError.code`), never an unhandled
storage exception and never a silent success. Reads raise the typed errors of
:mod:`storeroom.errors`.

Paths are keys (``notes/today.md``); a leading ``./``, and ``.`` for the top
folder, are accepted as file-system code writes them. Absolute paths are not.

Whoever opens a resource closes it: a ``FileStore`` made by
:func:`storeroom.files` opened its provider and closes it in ``aclose()``; one
handed a provider (``FileStore(provider)``) leaves it to its owner.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from . import paths
from .errors import NotFound, NotSupported, PreconditionFailed, StorageError
from .interfaces import FileInfo, FileStorage, StorageResult
from .providers.base import IfMatch, ObjectMeta, Provider
from .resource import AsyncResource
from .retry import Backoff

__all__ = ["FileStore"]

#: How ``append_text`` waits between compare-and-swap attempts that lost a race.
APPEND_BACKOFF = Backoff(initial=0.002, maximum=0.25, retries=200, timeout=60.0)


def _key(path: str) -> str:
    """The key for a file path: ``./a/b`` is ``a/b``."""
    while path.startswith("./"):
        path = path[2:]
    return path


def _folder(path: str) -> str:
    return "" if path in ("", ".", "./") else _key(path)


#: ``StorageResult.metadata["code"]`` of a write refused for its arguments (content
#: that is not bytes or text, artifact metadata that is not JSON, ...).
INVALID_ARGUMENT = "invalid_argument"


def failure(exc: StorageError | ValueError | TypeError, path: object) -> StorageResult:
    """The ``StorageResult`` of a write that failed with ``exc`` (a ``ValueError`` or
    ``TypeError``: an argument that cannot be stored, code ``invalid_argument``)."""
    code = exc.code if isinstance(exc, StorageError) else INVALID_ARGUMENT
    return StorageResult(success=False, path=str(path), error=str(exc), metadata={"code": code})


def file_info(meta: ObjectMeta) -> FileInfo:
    """The seed's ``FileInfo`` for one object."""
    extra: dict[str, Any] = dict(meta.metadata)
    if meta.etag is not None:
        extra["etag"] = meta.etag
    return FileInfo(
        path=meta.path,
        size=meta.size,
        created_at=meta.modified,
        modified_at=meta.modified,
        content_type=meta.content_type,
        metadata=extra,
    )


def folder_info(prefix: str, meta: ObjectMeta | None = None) -> FileInfo:
    """The seed's ``FileInfo`` for a folder (``is_directory=True``)."""
    when = meta.modified if meta else datetime.fromtimestamp(0, timezone.utc)
    return FileInfo(
        path=prefix.rstrip("/"), size=0, created_at=when, modified_at=when, is_directory=True
    )


class FileStore(FileStorage, AsyncResource):
    """Files on any :class:`~storeroom.providers.base.Provider`.

    Args:
        provider: where the bytes live (local folder, memory, S3, ...).
        owns_provider: close ``provider`` in :meth:`aclose` (``True`` when this
            store opened it, as :func:`storeroom.files` does); a provider handed
            in by its owner is left open for that owner to close.
    """

    def __init__(self, provider: Provider, *, owns_provider: bool = False) -> None:
        self.provider = provider
        self.owns_provider = owns_provider

    def __repr__(self) -> str:
        return f"FileStore({self.provider!r})"

    async def aclose(self) -> None:
        """Close the provider if this store opened it (see ``owns_provider``)."""
        if self.owns_provider:
            await self.provider.aclose()

    async def load_json(self, path: str) -> Any:
        """The file parsed as JSON (UTF-8), raising where ``read_json`` answers ``None``.

        Raises:
            NotFound: there is no such file.
            ValueError: the file is not UTF-8 JSON (``json.JSONDecodeError``,
                ``UnicodeDecodeError``).
        """
        return json.loads(await self.read_text(path))

    async def _write(
        self, path: str, action: Callable[[str], Awaitable[ObjectMeta]]
    ) -> StorageResult:
        """Run a write; any failure becomes a ``StorageResult`` with its code."""
        try:
            meta = await action(_key(path))
        except (StorageError, TypeError) as exc:  # TypeError: content that is not bytes
            return failure(exc, path)
        return StorageResult(
            success=True, path=meta.path, size=meta.size, metadata={"etag": meta.etag}
        )

    async def _write_text(
        self,
        path: str,
        content: str,
        encoding: str,
        action: Callable[[str, bytes], Awaitable[ObjectMeta]],
    ) -> StorageResult:
        """Encode ``content`` and run a write with the bytes; text that cannot be encoded
        is a failure with code ``encoding_error``."""
        if not isinstance(content, str):
            return failure(TypeError(f"content must be a str, not {type(content).__name__}"), path)
        try:
            data = content.encode(encoding)
        except (UnicodeEncodeError, LookupError) as exc:
            return StorageResult(
                success=False, path=path, error=str(exc), metadata={"code": "encoding_error"}
            )
        return await self._write(path, lambda key: action(key, data))

    # -- StorageBackend -------------------------------------------------------

    async def exists(self, path: str) -> bool:
        """Whether a file or a folder exists at ``path``."""
        folder = _folder(path)
        if not folder:
            return True
        return await self.provider.exists(folder) or await self.provider.is_dir(folder)

    async def get_info(self, path: str) -> FileInfo | None:
        """Information about a file or folder; ``None`` if there is neither."""
        folder = _folder(path)
        if not folder:
            return folder_info("")
        try:
            return file_info(await self.provider.head(folder))
        except NotFound:
            if await self.provider.is_dir(folder):
                return folder_info(folder)
            return None

    async def list_directory(self, path: str = ".") -> list[FileInfo]:
        """One level of a folder: its folders first, then its files, each sorted."""
        listing = await self.provider.list_dir(_folder(path))
        return [folder_info(prefix) for prefix in listing.folders] + [
            file_info(meta) for meta in listing.objects
        ]

    # -- FileStorage ----------------------------------------------------------

    async def read_bytes(self, path: str) -> bytes:
        """The file's bytes. Raises ``NotFound`` (a ``FileNotFoundError``) if missing."""
        return await self.provider.read(_key(path))

    async def read_text(self, path: str, encoding: str = "utf-8") -> str:
        """The file decoded as ``encoding``. Raises ``UnicodeDecodeError`` on bad bytes."""
        return (await self.read_bytes(path)).decode(encoding)

    async def write_bytes(self, path: str, content: bytes) -> StorageResult:
        """Replace the file with ``content``, atomically."""
        return await self._write(path, lambda key: self.provider.put(key, content))

    async def write_text(self, path: str, content: str, encoding: str = "utf-8") -> StorageResult:
        """Replace the file with ``content`` encoded as ``encoding``, atomically."""
        return await self._write_text(path, content, encoding, self.provider.put)

    async def append_text(
        self, path: str, content: str, encoding: str = "utf-8"
    ) -> StorageResult:
        """Append ``content`` to the file (made if missing).

        Safe with many concurrent appenders on every backend that declares
        compare-and-swap: each append is a create-if-absent or an ``IfMatch``
        replace, retried when another writer got there first.
        """
        return await self._write_text(path, content, encoding, self._append)

    async def _append(self, key: str, data: bytes) -> ObjectMeta:
        caps = self.provider.capabilities
        if not (caps.create_if_absent and caps.compare_and_swap):
            raise NotSupported(
                f"{type(self.provider).__name__} cannot append safely "
                "(no atomic create-if-absent and compare-and-swap)",
                path=key,
            )
        attempts = 1
        for delay in APPEND_BACKOFF.delays():
            meta = await self._try_append(key, data)
            if meta is not None:
                return meta
            attempts += 1
            await asyncio.sleep(delay)  # another writer got there first: back off, try again
        meta = await self._try_append(key, data)
        if meta is not None:
            return meta
        raise PreconditionFailed(
            f"append to {key!r} lost the race {attempts} times; try again", path=key
        )

    async def _try_append(self, key: str, data: bytes) -> ObjectMeta | None:
        """One create-or-compare-and-swap; ``None`` if another writer got there first."""
        try:
            current = await self.provider.get(key)
        except NotFound:
            current = None
        if current is None:
            meta = await self._create_for_append(key, data)
            if meta is None and not await self.provider.exists(key):
                # Taken, yet no object: a writer that made and removed it (then this
                # succeeds at once), or what is no object (a folder, a pipe) for good.
                meta = await self._create_for_append(key, data)
                if meta is None and not await self.provider.exists(key):
                    raise NotSupported(
                        f"{key!r} is taken by something that is not a file "
                        "(a folder, a pipe or a device): nothing can be appended to it",
                        path=key,
                    )
            return meta
        etag = current.meta.etag
        if etag is None:
            raise NotSupported(f"{key!r} has no etag to append against", path=key)
        try:
            return await self.provider.put(
                key,
                current.data + data,
                mode=IfMatch(etag),
                content_type=current.meta.content_type,
                metadata=current.meta.metadata or None,
            )
        except PreconditionFailed:
            return None

    async def _create_for_append(self, key: str, data: bytes) -> ObjectMeta | None:
        """Create ``key`` with ``data``; ``None`` if the name is taken."""
        try:
            return await self.provider.put(key, data, mode="create")
        except StorageError as exc:
            if exc.code != "already_exists":
                raise
            return None

    async def delete(self, path: str) -> StorageResult:
        """Delete the file, or the folder if it is empty.

        A missing path is a failure with code ``not_found``; a folder that still
        holds anything is a failure with code ``folder_not_empty`` (removing a
        folder with its contents is an explicit, recursive operation elsewhere).
        """
        key = _key(path)
        try:
            if await self.provider.exists(key):
                await self.provider.delete(key)
                return StorageResult(success=True, path=key)
            if not await self.provider.is_dir(key):
                raise NotFound(f"no file or folder at {path!r}", path=path)
            await self.provider.remove_folder(key)
        except StorageError as exc:
            return failure(exc, path)
        return StorageResult(success=True, path=key, size=0)

    async def create_directory(self, path: str) -> StorageResult:
        """Make the folder ``path`` and its parents; an existing folder is fine."""
        key = _key(path)
        try:
            await self.provider.makedirs(paths.validate_key(key))
        except StorageError as exc:
            return failure(exc, path)
        return StorageResult(success=True, path=key, size=0)

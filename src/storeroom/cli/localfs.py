"""Plain local files: the other end of ``put``, ``get`` and ``cp`` for paths without a scheme.

A path such as ``./photos`` on the command line means the user's own files,
not a storeroom store: :class:`LocalFiles` reads and writes them as ``cp``
would, leaving no storeroom bookkeeping (lock files, reserved names) behind.
It offers the part of the provider surface that copies use (``head``,
``is_dir``, ``iter``, ``get``, ``stream``, ``put``, ``write_stream``), so the
copy engine treats both ends alike. Writes are atomic: a temp file beside the
target, then ``os.replace``. Keys are ``/``-separated paths under ``root``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import itertools
import os
import re
import secrets
import stat
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass

from .. import paths
from ..errors import NotFound, NotSupported
from ..providers.base import DEFAULT_CHUNK_SIZE, Capabilities, GetResult, ObjectMeta
from ..providers.local.fds import SharedFd, use_and_close
from ..providers.local.posix import (
    mapped,
    object_meta,
    os_error,
    read_all,
    stream_fd,
    write_all,
)

__all__ = ["LocalFiles", "Skip"]

#: Reads and writes up to this size run on the event loop; larger ones in a thread.
INLINE_LIMIT = 256 * 1024
_TEMP_PREFIX = ".storeroom-tmp-"
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Skip:
    """An entry of a listing that is not copied, and why (shown to the user)."""

    path: str
    reason: str


class LocalFiles:
    """The files under a local folder, addressed by ``/``-separated relative keys.

    Args:
        root: the folder; it need not exist until something is written.
        follow_symlinks: copy what symbolic links point to (else they are skipped).
    """

    capabilities = Capabilities(metadata=False)

    def __init__(self, root: str, *, follow_symlinks: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.follow_symlinks = follow_symlinks
        self._token = f"{os.getpid():x}-{secrets.token_hex(3)}"
        self._serial = itertools.count()

    def __repr__(self) -> str:
        return f"LocalFiles({self.root!r})"

    def path(self, key: str) -> str:
        """The file system path of ``key`` (``""`` is the root itself)."""
        return os.path.join(self.root, *key.split("/")) if key else self.root

    async def head(self, key: str) -> ObjectMeta:
        """The file's size and times. Raises ``NotFound`` for a missing file or a folder."""
        try:
            st = os.stat(self.path(key))
        except OSError as exc:
            raise os_error(exc, self.path(key)) from exc
        if not stat.S_ISREG(st.st_mode):
            raise NotFound(f"{self.path(key)!r} is not a file", path=key)
        return object_meta(key, st)

    async def is_dir(self, key: str) -> bool:
        """Whether ``key`` is a folder."""
        return os.path.isdir(self.path(key))

    async def iter(self, prefix: str = "") -> AsyncIterator[ObjectMeta]:
        """Every regular file under the folder ``prefix`` (see :meth:`entries`)."""
        async for entry in self.entries(prefix):
            if isinstance(entry, ObjectMeta):
                yield entry

    async def entries(self, prefix: str = "") -> AsyncIterator[ObjectMeta | Skip]:
        """Every file under the folder ``prefix``, folder by folder, names sorted.

        What cannot be copied as a file is a :class:`Skip` with its reason: a
        symbolic link (unless ``follow_symlinks``; a link to a folder already
        on the way down is never followed again), a FIFO, socket or device,
        a name that is not UTF-8.
        """
        top = self.path(prefix)
        if not os.path.isdir(top):
            return
        stack = [prefix]
        visited: set[tuple[int, int]] = set()
        while stack:
            folder = stack.pop()
            try:
                st = os.stat(self.path(folder))
                with os.scandir(self.path(folder)) as scan:
                    entries = sorted(scan, key=lambda entry: entry.name, reverse=True)
            except OSError as exc:
                raise os_error(exc, self.path(folder)) from exc
            if (st.st_dev, st.st_ino) in visited:
                yield Skip(folder, "a symbolic link to a folder already copied (a loop)")
                continue
            visited.add((st.st_dev, st.st_ino))
            found: list[ObjectMeta | Skip] = []
            for entry in entries:
                key = f"{folder}/{entry.name}" if folder else entry.name
                if entry.name.startswith(_TEMP_PREFIX):
                    continue
                kind = self._kind(entry)
                if kind == "folder":
                    stack.append(key)
                elif kind == "file":
                    with contextlib.suppress(FileNotFoundError):
                        found.append(object_meta(key, entry.stat()))
                elif kind:
                    found.append(Skip(key, kind))
            for item in reversed(found):
                if isinstance(item, ObjectMeta) and _SURROGATE.search(item.path):
                    yield Skip(item.path, "its name is not UTF-8, so it cannot be a key")
                else:
                    yield item

    def _kind(self, entry: os.DirEntry[str]) -> str:
        """``"file"``, ``"folder"``, ``""`` (vanished) or why ``entry`` is skipped."""
        try:
            if entry.is_symlink():
                if not self.follow_symlinks:
                    return "a symbolic link (--follow-symlinks copies what it points to)"
                try:
                    st = os.stat(entry.path)
                except FileNotFoundError:
                    return "a symbolic link to nothing"
            else:
                st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return ""
        if stat.S_ISDIR(st.st_mode):
            return "folder"
        if stat.S_ISREG(st.st_mode):
            return "file"
        if stat.S_ISFIFO(st.st_mode):
            return "a FIFO (named pipe), not a file"
        if stat.S_ISSOCK(st.st_mode):
            return "a socket, not a file"
        return "a device, not a file"

    async def get(self, key: str) -> GetResult:
        """The whole file and its metadata (one open, one ``fstat``)."""
        target = self.path(key)
        with mapped(target):
            fd = os.open(target, _READ_FLAGS)
            try:
                st = os.fstat(fd)
            except BaseException:
                os.close(fd)
                raise
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                raise NotFound(f"{target!r} is not a file", path=key)
            data = await use_and_close(fd, st.st_size <= INLINE_LIMIT, read_all, st.st_size)
        return GetResult(data=data, meta=object_meta(key, st))

    async def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The file in chunks of at most ``chunk_size`` bytes."""
        target = self.path(key)
        with mapped(target):
            fd = os.open(target, _READ_FLAGS)
        async with contextlib.aclosing(stream_fd(fd, target, chunk_size, inline=False)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        """Replace the file at ``key`` with ``data``, atomically; folders are made as needed."""
        return await self.write_stream(key, [data], content_type=content_type, metadata=metadata)

    async def write_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        """Write the concatenated ``chunks`` to a temp file, then move it over ``key``.

        As ``cp`` does, a symbolic link at ``key`` is written through (the file
        it names is replaced, the link stays) and a device or a named pipe is
        written into, never replaced by a file; a pipe must have a reader.
        A local file's content type is its extension's; ``content_type`` is not kept.
        """
        if metadata:
            raise NotSupported("local files do not keep user metadata", path=key)
        target = self.path(paths.validate_address(key))
        with mapped(target, writing=True):
            if os.path.islink(target):
                target = os.path.realpath(target)
            try:
                mode = os.stat(target).st_mode
            except (FileNotFoundError, NotADirectoryError):
                mode = stat.S_IFREG  # (a new file)
        if stat.S_ISSOCK(mode):
            raise NotSupported(f"{target!r} is a socket: nothing can be written into it", path=key)
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            return await self._write_into(key, target, chunks)
        folder = os.path.dirname(target)
        temp = os.path.join(folder, f"{_TEMP_PREFIX}{self._token}-{next(self._serial)}")
        with mapped(target, writing=True):
            try:
                fd = os.open(temp, _TEMP_FLAGS, 0o666)
            except FileNotFoundError:  # the first file of its folder
                os.makedirs(folder, exist_ok=True)
                fd = os.open(temp, _TEMP_FLAGS, 0o666)
            try:
                # The last user of the fd closes it: never under a running thread.
                with SharedFd(fd) as shared:
                    await _fill(shared, chunks, INLINE_LIMIT)
                    st = os.fstat(fd)
                os.replace(temp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        return object_meta(key, st)

    async def _write_into(
        self, key: str, target: str, chunks: AsyncIterable[bytes] | Iterable[bytes]
    ) -> ObjectMeta:
        """Write ``chunks`` into the device or named pipe ``target`` (no temp file)."""
        with mapped(target, writing=True):
            try:  # (non-blocking: a pipe without a reader fails now, not never)
                fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                raise NotFound(f"{target!r} is a named pipe that nobody reads", path=key) from None
            with SharedFd(fd) as shared:
                os.set_blocking(fd, True)
                size = await _fill(shared, chunks, 0)  # in a thread: a device or pipe may block
                st = os.fstat(fd)
        return dataclasses.replace(object_meta(key, st), size=size)

    async def aclose(self) -> None:
        """Nothing to release: every file is closed after each operation."""


async def _fill(
    shared: SharedFd, chunks: AsyncIterable[bytes] | Iterable[bytes], inline_limit: int
) -> int:
    """Write every chunk to ``shared``'s fd (inline up to ``inline_limit`` bytes, else
    in a thread); how many bytes."""
    size = 0
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            await shared.run(len(chunk) <= inline_limit, write_all, chunk)
            size += len(chunk)
    else:
        for chunk in chunks:
            await shared.run(len(chunk) <= inline_limit, write_all, chunk)
            size += len(chunk)
    return size


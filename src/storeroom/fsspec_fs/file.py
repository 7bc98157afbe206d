"""Files opened through the fsspec filesystem: read-ahead reads, streamed writes.

How it keeps its promises:

- **Reads** fetch what is asked, and at least one block (read-ahead for
  small reads), with one ranged ``cat_file``; never the whole object, and
  never a block more than a large random read asks for (fsspec's
  ``readahead`` cache adds a block to every miss: twice the bytes for
  pyarrow's column chunks). A read that goes on where the last fetch ended
  is sequential: the fetch doubles, up to ``MAX_WINDOW`` (64 MiB), so
  reading a file through (pyarrow's coalesced column chunks, a CSV) takes a
  few requests, not one per read.
- **Writes** stream: a file that stays below one block is one ``put`` at
  ``close()``; a larger one starts a ``write_stream`` (multipart on object
  stores) on storeroom.sync's loop and feeds it block by block through a
  queue of two, so at most a few blocks are in memory. The object appears
  whole at ``close()`` or not at all: ``discard()``, and an exception
  inside a ``with`` block (where fsspec's files would write what they
  have), cancel the upload; a failed upload raises at the next ``write``
  or at ``close()`` instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from typing import TYPE_CHECKING, Any

from fsspec.caching import BaseCache
from fsspec.spec import AbstractBufferedFile

from ..errors import NotSupported
from ..sync.runner import run
from . import files

if TYPE_CHECKING:
    from ..providers.base import Provider

__all__ = ["StoreroomFile"]


class _Upload:
    """One ``write_stream`` running on the loop, fed chunk by chunk."""

    def __init__(self, provider: Provider, key: str) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=2)
        self._task: asyncio.Task[Any] = run(self._start(provider, key))

    async def _start(self, provider: Provider, key: str) -> asyncio.Task[Any]:
        return asyncio.ensure_future(provider.write_stream(key, self._chunks()))

    async def _chunks(self) -> Any:
        while True:
            chunk = await self._queue.get()
            if chunk is None:
                return
            yield chunk

    async def _feed(self, item: bytes | None) -> None:
        put = asyncio.ensure_future(self._queue.put(item))
        done, _ = await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if put not in done:  # the upload ended (failed) while we waited for room
            put.cancel()
            self._task.result()
            raise NotSupported("the upload ended before the file was closed")

    def send(self, data: bytes) -> None:
        run(self._feed(data))

    def finish(self) -> None:
        async def end() -> None:
            await self._feed(None)
            await self._task

        run(end())

    def abort(self) -> None:
        async def cancel() -> None:
            self._task.cancel()
            with contextlib.suppress(BaseException):  # the cancelled upload's end
                await self._task

        run(cancel())


#: The most a sequential reader's read-ahead grows to (bytes held per open file).
MAX_WINDOW = 64 * 2**20


class ReadAhead(BaseCache):  # type: ignore[misc]
    """The last range fetched; a miss fetches ``max(asked, one block)`` from its start,
    or, when it goes on where the last fetch ended, up to twice that fetch
    (at most ``MAX_WINDOW``)."""

    name = "storeroom-readahead"

    def __init__(self, blocksize: int, fetcher: Any, size: int) -> None:
        super().__init__(blocksize, fetcher, size)
        self.cache = memoryview(b"")
        self.start = self.end = 0

    def _fetch(self, start: int | None, end: int | None) -> bytes:
        out = self.view(start, end)
        whole = out.obj
        if type(whole) is bytes and len(out) == len(whole):
            return whole  # the whole of what was fetched, as it came: no copy
        return bytes(out)

    def view(self, start: int | None, end: int | None) -> memoryview:
        """Bytes ``start`` to ``end``: a view of the fetched buffer (no copy) when
        one fetch holds them, a new buffer when they join a cached front to a
        fetch."""
        start = start or 0
        end = self.size if end is None or end > self.size else end
        if start >= self.size or start >= end:
            return memoryview(b"")
        cached = self.cache
        if self.start <= start and end <= self.end:
            return cached[start - self.start : end - self.start]
        front = cached[:0]
        ahead = self.blocksize
        if self.start < self.end and self.start <= start <= self.end:
            # Sequential: the read goes on where the last fetch ended. Fetch
            # twice as far as last time (as an OS's read-ahead does), so a
            # file read through from start to end takes few requests.
            ahead = max(ahead, min(2 * (self.end - self.start), MAX_WINDOW))
            front = cached[start - self.start :]  # the front is cached: fetch the rest
            start = self.end
        stop = min(self.size, max(end, start + ahead))
        self.cache = memoryview(self.fetcher(start, stop))
        self.start, self.end = start, start + len(self.cache)
        rest = self.cache[: end - start]
        return memoryview(b"".join((front, rest))) if front else rest


class StoreroomFile(AbstractBufferedFile):  # type: ignore[misc]
    """A file of a :class:`~storeroom.fsspec_fs.StoreroomFileSystem` (``rb``, ``wb``, ``xb``)."""

    def __init__(self, fs: Any, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> None:
        if mode not in ("rb", "wb", "xb"):
            raise NotSupported(f"mode {mode!r} is not supported (rb, wb, xb)", path=path)
        self._upload: _Upload | None = None
        key = files.key_of(path, reading=mode == "rb")
        if mode == "xb" and fs.exists(key):
            raise FileExistsError(f"{path!r} exists")
        self._exclusive: list[bytes] = []  # "xb": the whole file, created at close
        super().__init__(fs, key, mode, *args, **kwargs)
        if mode == "rb":
            if self.details.get("type") == "directory":
                raise IsADirectoryError(errno.EISDIR, "is a folder", path)
            self.cache = ReadAhead(self.blocksize, self._fetch_range, self.size)

    def _fetch_range(self, start: int, end: int) -> memoryview:
        return run(self.fs._cat_file_view(self.path, start, end))

    def read_buffer(self, length: int = -1) -> memoryview:
        """``read``, as a read-only view of the fetched bytes instead of a copy.

        pyarrow's ``PythonFile`` (behind ``FSSpecHandler``, so pandas and
        ``pyarrow.dataset``) reads through this when a file has it: a column
        chunk reaches Arrow without being copied on the way.
        """
        if self.mode != "rb":
            raise ValueError("File not in read mode")
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        length = self.size - self.loc if length is None or length < 0 else int(length)
        out = self.cache.view(self.loc, self.loc + length) if length else memoryview(b"")
        self.loc += len(out)
        return out

    def _upload_chunk(self, final: bool = False) -> bool:
        data = self.buffer.getvalue()
        if self.mode == "xb":
            # Held until close: only one create-if-absent of the whole file is exclusive
            # (a stream overwrites what another writer made meanwhile).
            self._exclusive.append(data)
            if final:
                self.fs.pipe_file(self.path, b"".join(self._exclusive), mode="create")
                self._exclusive = []
            return True
        if self._upload is None:
            if final:
                self.fs.pipe_file(self.path, data, mode="overwrite")
                return True
            self._upload = _Upload(self.fs.provider, self.path)
        self._upload.send(data)
        if final:
            self._upload.finish()
        return True

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        open_for_writing = self.writable() and not getattr(self, "closed", True)
        if exc_type is not None and open_for_writing:
            self.discard()  # an error inside ``with``: nothing is written
            self.closed = True
            return
        self.close()

    def discard(self) -> None:
        self._exclusive = []
        if self._upload is not None:
            self._upload.abort()
            self._upload = None
        super().discard()

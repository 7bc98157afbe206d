"""LocalProvider: a folder on local disk, with the semantics of an object store.

How it keeps its promises:

- **Atomic writes.** Bytes go to a unique temp file in the target's folder,
  which then replaces the target with ``rename(2)``: a reader sees the old
  object or the new one, never a torn one. ``durable=True`` adds ``fsync`` of
  the file before and of the folder after the rename.
- **Create-if-absent** by ``link(2)`` of the finished temp file: the kernel lets
  exactly one of many racing writers, in any process, win the name.
- **Compare-and-swap** (``IfMatch``) and every other replacement of an existing
  name happen under a striped ``flock`` lock (files in ``.sr-locks/``), held for
  a stat and a rename only, so they are linearizable across processes.
- **Etags** are ``mtime_ns-size-inode``; each write stamps a fresh nanosecond
  mtime on its new inode, so an etag is never reused within the same folder.
- **Confinement.** Every key is validated by :mod:`storeroom.paths` and then
  opened component by component from the root with ``O_NOFOLLOW``, relative to
  the parent's file descriptor: no key and no symlink, even one swapped in
  during an operation, can reach outside the root.
- **Speed.** Small reads and writes run inline on the event loop (a page-cache
  hit costs less than the ~250 us of a thread hop); reads and writes larger
  than ``inline_limit`` bytes, and every ``durable`` write, run in a thread.

Temp files (``.sr-tmp-*``) are hidden from listings and swept when a provider
opens the folder, if the process that made them is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import secrets
import stat
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from ... import paths
from ...errors import AlreadyExists, NotSupported, PreconditionFailed
from ...options import option_bool, reject_unknown, split_options
from ..base import (
    DEFAULT_CHUNK_SIZE,
    Capabilities,
    GetResult,
    IfMatch,
    Listing,
    ObjectMeta,
    Provider,
    PutMode,
    check_range,
)
from . import posix
from .posix import (
    TEMP_FLAGS,
    TEMP_PREFIX,
    RootDir,
    Stripes,
    etag_of,
    object_meta,
    os_error,
    pread_range,
    read_all,
    sweep_temps,
    write_all,
)

__all__ = ["TEMP_PREFIX", "LocalProvider"]

_T = TypeVar("_T")


class LocalProvider(Provider):
    """Objects as files under ``root``.

    Args:
        root: the folder; made if missing.
        durable: fsync every write (file and folder) before returning.
        inline_limit: reads and writes up to this many bytes run on the event
            loop; larger ones run in a thread.
        sweep: remove temp files left by dead processes when opening.
    """

    capabilities = Capabilities(
        create_if_absent=True,
        compare_and_swap=True,
        atomic_rename=True,
        empty_folders=True,
        metadata=False,
        multipart=False,
    )

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        durable: bool = False,
        inline_limit: int = 256 * 1024,
        sweep: bool = True,
    ) -> None:
        self.root = os.path.realpath(os.fspath(root))
        self.durable = durable
        self.inline_limit = inline_limit
        try:
            self._dir = RootDir(self.root)
        except OSError as exc:
            raise os_error(exc, self.root) from exc
        self._stripes = Stripes(self._dir)
        self._temp_token = secrets.token_hex(4)
        self._temp_count = itertools.count()  # next() on it is atomic: threads share it
        self._last_stamp = 0
        if sweep:
            sweep_temps(self.root)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> LocalProvider:
        """A plain path or ``file:///abs/path``; option ``durable`` (true/false)."""
        url, options = split_options(url, options)
        reject_unknown(options, frozenset({"durable"}), url)
        durable = option_bool("durable", options.get("durable", False))
        root = url[len("file://") :] if url.startswith("file://") else url
        return cls(root or ".", durable=durable)

    def __repr__(self) -> str:
        return f"LocalProvider({self.root!r}, durable={self.durable})"

    # -- plumbing -------------------------------------------------------------

    async def _run(self, inline: bool, func: Callable[..., _T], *args: Any) -> _T:
        """Run blocking ``func`` inline when cheap, else in a thread."""
        if inline:
            return func(*args)
        return await asyncio.to_thread(func, *args)

    def _stamp(self) -> int:
        """A fresh nanosecond mtime, strictly increasing within this provider."""
        stamp = max(time.time_ns(), self._last_stamp + 1)
        self._last_stamp = stamp
        return stamp

    # -- reads ----------------------------------------------------------------

    async def _read_open(self, fd: int, size: int) -> bytes:
        try:
            return await self._run(size <= self.inline_limit, read_all, fd, size)
        finally:
            os.close(fd)

    async def get(self, path: str) -> GetResult:
        key = paths.validate_key(path)
        try:
            fd, st = self._dir.open_file(key)
            return GetResult(await self._read_open(fd, st.st_size), object_meta(key, st))
        except OSError as exc:
            raise os_error(exc, path) from exc

    async def read(self, path: str) -> bytes:
        key = paths.validate_key(path)
        try:
            fd, st = self._dir.open_file(key)
            return await self._read_open(fd, st.st_size)
        except OSError as exc:
            raise os_error(exc, path) from exc

    def _head_sync(self, key: str) -> ObjectMeta:
        st = self._dir.stat(key)
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a file")
        return object_meta(key, st)

    async def head(self, path: str) -> ObjectMeta:
        key = paths.validate_key(path)
        try:
            return self._head_sync(key)
        except OSError as exc:
            raise os_error(exc, path) from exc

    async def exists(self, path: str) -> bool:
        key = paths.validate_key(path)
        try:
            return stat.S_ISREG(self._dir.stat(key).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise os_error(exc, path) from exc

    async def is_dir(self, path: str) -> bool:
        folder = paths.validate_prefix(path)
        if not folder:
            return True
        try:
            return stat.S_ISDIR(self._dir.stat(folder[:-1]).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise os_error(exc, path) from exc

    async def read_range(self, path: str, start: int, end: int | None = None) -> bytes:
        check_range(start, end)
        key = paths.validate_key(path)
        try:
            fd, st = self._dir.open_file(key)
            try:
                stop = st.st_size if end is None else min(end, st.st_size)
                inline = stop - start <= self.inline_limit
                return await self._run(inline, pread_range, fd, start, stop)
            finally:
                os.close(fd)
        except OSError as exc:
            raise os_error(exc, path) from exc

    async def stream(
        self, path: str, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        key = paths.validate_key(path)
        inline = chunk_size <= self.inline_limit
        try:
            fd, _ = self._dir.open_file(key)
        except OSError as exc:
            raise os_error(exc, path) from exc
        try:
            offset = 0
            while True:
                try:
                    chunk = await self._run(inline, os.pread, fd, chunk_size, offset)
                except OSError as exc:
                    raise os_error(exc, path) from exc
                if not chunk:
                    return
                offset += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    # -- writes ---------------------------------------------------------------

    @contextlib.contextmanager
    def _temp(self, fd_dir: int) -> Iterator[tuple[str, int]]:
        """A new temp file in the folder ``fd_dir``, as ``(name, fd)``.

        The block writes it, seals it (:meth:`_seal` closes the fd) and commits it;
        if anything in the block fails, the temp file is removed.
        """
        temp = f"{TEMP_PREFIX}{os.getpid():x}-{self._temp_token}-{next(self._temp_count):x}"
        fd = os.open(temp, TEMP_FLAGS, 0o666, dir_fd=fd_dir)
        try:
            yield temp, fd
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=fd_dir)
            raise

    def _seal(self, fd: int) -> os.stat_result:
        """Stamp a fresh mtime (so a fresh etag) on a written temp file, fsync if
        durable, and close it (also when that fails); return its stat."""
        try:
            stamp = self._stamp()
            os.utime(fd, ns=(stamp, stamp))
            if self.durable:
                os.fsync(fd)
            return os.fstat(fd)
        finally:
            os.close(fd)

    def _commit(
        self, key: str, fd_dir: int, temp: str, name: str, mode: PutMode, st: os.stat_result
    ) -> ObjectMeta:
        """Move the sealed temp file ``temp`` (stat ``st``) to ``name`` as ``mode`` says.

        Called inside :meth:`_temp`, which removes the temp file if this fails.
        """
        if mode == "create":
            try:
                os.link(temp, name, src_dir_fd=fd_dir, dst_dir_fd=fd_dir, follow_symlinks=False)
            finally:
                os.unlink(temp, dir_fd=fd_dir)
        else:
            with self._stripes.hold(key):
                if isinstance(mode, IfMatch):
                    try:
                        current = etag_of(os.stat(name, dir_fd=fd_dir, follow_symlinks=False))
                    except FileNotFoundError:
                        current = None
                    if current != mode.etag:
                        raise PreconditionFailed(
                            f"etag of {key!r} is not {mode.etag!r}", path=key
                        )
                elif mode != "overwrite":
                    raise ValueError(f"unknown put mode {mode!r}")
                os.replace(temp, name, src_dir_fd=fd_dir, dst_dir_fd=fd_dir)
        if self.durable:
            os.fsync(fd_dir)
        return object_meta(key, st)

    def _put_sync(self, key: str, data: bytes, mode: PutMode) -> ObjectMeta:
        fd_dir, name = self._dir.open_parent(key, create=True)
        try:
            with self._temp(fd_dir) as (temp, fd):
                try:
                    write_all(fd, data)
                except BaseException:
                    os.close(fd)
                    raise
                return self._commit(key, fd_dir, temp, name, mode, self._seal(fd))
        finally:
            self._dir.release(fd_dir)

    def _check_put(self, mode: PutMode, metadata: Mapping[str, str] | None) -> None:
        if metadata:
            raise NotSupported("LocalProvider does not store user metadata")
        if not (mode in ("overwrite", "create") or isinstance(mode, IfMatch)):
            raise ValueError(f"unknown put mode {mode!r}")

    async def put(
        self,
        path: str,
        data: bytes,
        *,
        mode: PutMode = "overwrite",
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        key = paths.validate_key(path)
        self._check_put(mode, metadata)
        inline = not self.durable and len(data) <= self.inline_limit
        try:
            return await self._run(inline, self._put_sync, key, data, mode)
        except OSError as exc:
            raise os_error(exc, path, writing=True) from exc

    async def write_stream(
        self,
        path: str,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        key = paths.validate_key(path)
        self._check_put("overwrite", metadata)
        try:
            fd_dir, name = self._dir.open_parent(key, create=True)
        except OSError as exc:
            raise os_error(exc, path, writing=True) from exc
        try:
            with self._temp(fd_dir) as (temp, fd):
                try:
                    if isinstance(chunks, AsyncIterable):
                        async for chunk in chunks:
                            await self._run(len(chunk) <= self.inline_limit, write_all, fd, chunk)
                    else:
                        for chunk in chunks:
                            await self._run(len(chunk) <= self.inline_limit, write_all, fd, chunk)
                except BaseException:
                    os.close(fd)
                    raise
                st = await self._run(not self.durable, self._seal, fd)
                return self._commit(key, fd_dir, temp, name, "overwrite", st)
        except OSError as exc:
            raise os_error(exc, path, writing=True) from exc
        finally:
            self._dir.release(fd_dir)

    def _delete_sync(self, key: str) -> None:
        fd_dir, name = self._dir.open_parent(key, create=False)
        try:
            with self._stripes.hold(key):
                try:
                    os.unlink(name, dir_fd=fd_dir)
                except IsADirectoryError:
                    # A folder is not an object; an empty one (makedirs) goes away.
                    with contextlib.suppress(OSError):
                        os.rmdir(name, dir_fd=fd_dir)
        finally:
            self._dir.release(fd_dir)

    async def delete(self, path: str) -> None:
        key = paths.validate_key(path)
        try:
            self._delete_sync(key)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise os_error(exc, path) from exc

    def _copy_sync(self, fd_in: int, dst: str, overwrite: bool) -> None:
        try:
            fd_dir, name = self._dir.open_parent(dst, create=True)
            try:
                with self._temp(fd_dir) as (temp, fd_out):
                    try:
                        while os.copy_file_range(fd_in, fd_out, DEFAULT_CHUNK_SIZE * 16):
                            pass
                    except BaseException:
                        os.close(fd_out)
                        raise
                    mode: PutMode = "overwrite" if overwrite else "create"
                    self._commit(dst, fd_dir, temp, name, mode, self._seal(fd_out))
            finally:
                self._dir.release(fd_dir)
        finally:
            os.close(fd_in)

    async def copy(self, src: str, dst: str, *, overwrite: bool = True) -> None:
        source, target = paths.validate_key(src), paths.validate_key(dst)
        try:
            fd_in, st = self._dir.open_file(source)
        except OSError as exc:
            raise os_error(exc, src) from exc
        inline = not self.durable and st.st_size <= self.inline_limit
        try:
            await self._run(inline, self._copy_sync, fd_in, target, overwrite)
        except OSError as exc:
            raise os_error(exc, dst, writing=True) from exc

    def _rename_sync(self, src: str, dst: str, overwrite: bool) -> None:
        src_dir, src_name = self._dir.open_parent(src, create=False)
        try:
            if not stat.S_ISREG(os.stat(src_name, dir_fd=src_dir, follow_symlinks=False).st_mode):
                raise FileNotFoundError(errno.ENOENT, "not a file")
            dst_dir, dst_name = self._dir.open_parent(dst, create=True)
            try:
                with self._stripes.hold(src, dst):
                    if overwrite:
                        os.replace(src_name, dst_name, src_dir_fd=src_dir, dst_dir_fd=dst_dir)
                    else:
                        os.link(
                            src_name,
                            dst_name,
                            src_dir_fd=src_dir,
                            dst_dir_fd=dst_dir,
                            follow_symlinks=False,
                        )
                        os.unlink(src_name, dir_fd=src_dir)
                if self.durable:
                    os.fsync(dst_dir)
                    os.fsync(src_dir)
            finally:
                self._dir.release(dst_dir)
        finally:
            self._dir.release(src_dir)

    async def rename(self, src: str, dst: str, *, overwrite: bool = True) -> None:
        source, target = paths.validate_key(src), paths.validate_key(dst)
        if source == target:
            await self.head(source)
            return
        try:
            await self._run(not self.durable, self._rename_sync, source, target, overwrite)
        except FileExistsError as exc:
            raise AlreadyExists(f"an object exists at {dst!r}", path=dst) from exc
        except OSError as exc:
            raise os_error(exc, src) from exc

    async def makedirs(self, path: str) -> None:
        key = paths.validate_key(path)
        try:
            # Opening the parent of a child of ``key`` makes every folder down to ``key``.
            fd_dir, _ = self._dir.open_parent(key + "/child", create=True)
            self._dir.release(fd_dir)
        except OSError as exc:
            raise os_error(exc, path, writing=True) from exc

    # -- listings -------------------------------------------------------------

    async def iter(self, prefix: str = "") -> AsyncIterator[ObjectMeta]:
        folder = paths.validate_prefix(prefix)
        try:
            fd = self._dir.open_folder(folder)
        except OSError as exc:
            raise os_error(exc, prefix) from exc
        if fd is None:
            return
        stack: list[tuple[str, int, Iterator[tuple[str, os.DirEntry[str]]]]] = []
        try:
            stack.append((folder, fd, iter(self._dir.entries(fd))))
            while stack:
                base, fd_dir, entries = stack[-1]
                pair = next(entries, None)
                if pair is None:
                    os.close(fd_dir)
                    stack.pop()
                    continue
                sort_name, entry = pair
                if sort_name.endswith("/"):
                    try:
                        child = os.open(entry.name, posix.DIR_FLAGS, dir_fd=fd_dir)
                    except OSError:
                        continue
                    stack.append((base + sort_name, child, iter(self._dir.entries(child))))
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield object_meta(base + entry.name, st)
        finally:
            for _, fd_dir, _ in stack:
                os.close(fd_dir)

    async def list_dir(self, prefix: str = "") -> Listing:
        folder = paths.validate_prefix(prefix)
        try:
            fd = self._dir.open_folder(folder)
            if fd is None:
                return Listing()
            try:
                objects, folders = [], []
                for sort_name, entry in self._dir.entries(fd):
                    if sort_name.endswith("/"):
                        folders.append(folder + sort_name)
                    else:
                        with contextlib.suppress(FileNotFoundError):
                            objects.append(
                                object_meta(folder + entry.name, entry.stat(follow_symlinks=False))
                            )
                return Listing(tuple(objects), tuple(folders))
            finally:
                os.close(fd)
        except OSError as exc:
            raise os_error(exc, prefix) from exc

    async def aclose(self) -> None:
        self._stripes.close()
        self._dir.close()

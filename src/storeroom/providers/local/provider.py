"""LocalProvider: a folder on local disk, with the semantics of an object store.

How it keeps its promises:

- **Atomic writes.** Bytes go to a unique temp file in the target's folder,
  which then replaces the target with ``rename(2)``: a reader sees the old
  object or the new one, never a torn one. ``durable=True`` adds ``fsync`` of
  the file before and of the folder after the rename.
- **Create-if-absent** by ``link(2)`` of the finished temp file: the kernel lets
  exactly one of many racing writers, in any process, win the name.
- **Compare-and-swap** (``IfMatch``) and every other replacement or removal of
  an existing name happen under the lock of its folder (``flock`` on the
  folder itself, :class:`~.posix.FolderLocks`: no lock file), held for a stat
  and a rename only, so they are linearizable across processes.
- **Etags** are ``mtime_ns-size-inode``; each write stamps a fresh nanosecond
  mtime on its new inode, so an etag is never reused within the same folder.
- **Confinement.** Every key is checked by :mod:`storeroom.paths` (in
  :class:`~storeroom.providers.base.Provider`) and then opened below the root's
  descriptor without following any symbolic link (:class:`~.posix.RootDir`):
  no key and no symlink, even one swapped in during an operation, reaches
  outside the root. If the root folder is removed and made again, the next
  operation that meets ``ENOENT`` opens the new one (again refusing links).
- **Descriptors and threads.** A descriptor handed to a worker thread is a
  :class:`~.fds.SharedFd`: closed by its last user, so a cancelled caller never
  closes it under the thread (the number could be reused by another open).
- **Errors.** Every hook runs inside :class:`~.posix.mapped`, the one boundary
  where ``OSError`` becomes a storeroom error.
- **Speed.** Small reads and writes run inline on the event loop (a page-cache
  hit costs less than the ~250 us of a thread hop); reads and writes larger
  than ``inline_limit`` bytes, and every ``durable`` write, run in a thread.

Temp files (``.sr-tmp-<pid>-...``) are hidden from listings. Those of dead
writers are swept from a folder the first time this provider writes into it;
:meth:`LocalProvider.sweep` walks the whole tree. Opening never scans
anything, however many files the root holds.
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
from contextlib import suppress
from typing import Any, TypeVar

from ... import paths
from ...errors import FolderNotEmpty, NotFound, PreconditionFailed
from ...options import option_bool, reject_unknown, split_options
from ..base import (
    DEFAULT_CHUNK_SIZE,
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
from .fds import SharedFd, use_and_close
from .posix import (
    DIR_FLAGS,
    TEMP_FLAGS,
    TEMP_PREFIX,
    FolderLocks,
    RootDir,
    entry_meta,
    etag_of,
    mapped,
    object_meta,
    os_error,
    pread_range,
    read_all,
    stream_fd,
    sweep_folder,
    sweep_tree,
    write_all,
)

__all__ = ["TEMP_PREFIX", "LocalProvider"]

_T = TypeVar("_T")
#: How often (seconds) a read that found nothing checks whether the root was replaced.
_STALE_CHECK_INTERVAL = 1.0
#: Folders remembered as swept (then the memory is cleared and sweeping starts over).
_SWEPT_LIMIT = 65536


class LocalProvider(Provider):
    """Objects as files under ``root``.

    Args:
        root: the folder; made if missing.
        durable: fsync every write (file and folder) before returning.
        inline_limit: reads and writes up to this many bytes run on the event
            loop; larger ones run in a thread.
        sweep: remove temp files left by dead writers from each folder the
            first time this provider writes into it (opening never walks).
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
        with mapped(self.root, writing=True):
            self._dir = RootDir(self.root)
        self._locks = FolderLocks()
        self._temp_token = secrets.token_hex(4)
        self._temp_count = itertools.count()  # next() on it is atomic: threads share it
        self._last_stamp = 0
        self._next_stale_check = 0.0
        self._sweep = sweep
        self._swept: set[str] = set()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> LocalProvider:
        """A plain path or ``file:///abs/path``; option ``durable`` (true/false)."""
        url, options = split_options(url, options)
        reject_unknown(options, frozenset({"durable"}), url)
        durable = option_bool("durable", options.get("durable", False))
        return cls(cls.folder_of(url), durable=durable)

    @staticmethod
    def folder_of(url: str) -> str:
        """The folder a plain path or ``file://`` URL names (its options split off
        by :func:`~storeroom.options.split_options`)."""
        return url.removeprefix("file://") or "."

    def __repr__(self) -> str:
        return f"LocalProvider({self.root!r}, durable={self.durable})"

    async def sweep(self) -> int:
        """Remove every temp file under the root whose writer is gone; how many."""
        with mapped(self.root):
            return await asyncio.to_thread(sweep_tree, self._dir.fd)

    # -- plumbing -------------------------------------------------------------

    async def _run(self, inline: bool, func: Callable[..., _T], *args: Any) -> _T:
        """Run blocking ``func`` inline when cheap, else in a thread (which owns
        every descriptor it opens)."""
        if inline:
            return func(*args)
        return await asyncio.to_thread(func, *args)

    def _again(self, exc: OSError, *, writing: bool) -> bool:
        """Whether to try once more: ``exc`` is ``ENOENT`` and the root folder was
        replaced (now reopened). Reads that miss check at most once a second."""
        if exc.errno != errno.ENOENT:
            return False
        if not writing:
            now = time.monotonic()
            if now < self._next_stale_check:
                return False
            self._next_stale_check = now + _STALE_CHECK_INTERVAL
        return self._dir.reopen_if_stale()

    def _fresh(self, writing: bool, func: Callable[..., _T], *args: Any) -> _T:
        """``func(*args)``, once more if it met ``ENOENT`` in a root since replaced."""
        try:
            return func(*args)
        except FileNotFoundError as exc:
            if not self._again(exc, writing=writing):
                raise
            return func(*args)

    def _open_file(self, key: str) -> tuple[int, os.stat_result]:
        return self._fresh(False, self._dir.open_file, key)

    def _stat(self, key: str) -> os.stat_result:
        return self._fresh(False, self._dir.stat, key)

    async def _written(self, func: Callable[..., _T], *args: Any) -> _T:
        """Run the write ``func(*args)`` in a thread; if it met ``ENOENT`` (so has not
        landed) in a root since replaced, once more on the new root. (Inline, a
        write is ``_fresh(True, ...)``.)"""
        try:
            return await asyncio.to_thread(func, *args)
        except FileNotFoundError as exc:
            if not self._again(exc, writing=True):
                raise
            return await asyncio.to_thread(func, *args)

    def _stamp(self) -> int:
        """A fresh nanosecond mtime, strictly increasing within this provider."""
        stamp = time.time_ns()
        if stamp <= self._last_stamp:
            stamp = self._last_stamp + 1
        self._last_stamp = stamp
        return stamp

    # -- reads ----------------------------------------------------------------

    async def _get(self, key: str) -> GetResult:
        with mapped(key):
            fd, st = self._open_file(key)
            data = await use_and_close(fd, st.st_size <= self.inline_limit, read_all, st.st_size)
        return GetResult(data, object_meta(key, st))

    async def _read(self, key: str) -> bytes:
        with mapped(key):
            fd, st = self._open_file(key)
            return await use_and_close(fd, st.st_size <= self.inline_limit, read_all, st.st_size)

    async def _head(self, key: str) -> ObjectMeta:
        with mapped(key):
            st = self._stat(key)
            if not stat.S_ISREG(st.st_mode):
                raise NotFound(f"no object at {key!r}", path=key)
        return object_meta(key, st)

    async def _exists(self, key: str) -> bool:
        with mapped(key):
            try:
                return stat.S_ISREG(self._stat(key).st_mode)
            except (FileNotFoundError, NotADirectoryError):
                return False

    async def _is_dir(self, folder: str) -> bool:
        with mapped(folder):
            try:
                return stat.S_ISDIR(self._stat(folder[:-1]).st_mode)
            except (FileNotFoundError, NotADirectoryError):
                return False

    async def _read_range(self, key: str, start: int, end: int | None) -> bytes:
        with mapped(key):
            fd, st = self._open_file(key)
            stop = st.st_size if end is None else min(end, st.st_size)
            inline = stop - start <= self.inline_limit
            return await use_and_close(fd, inline, pread_range, start, stop)

    async def _stream(self, key: str, chunk_size: int) -> AsyncIterator[bytes]:
        inline = chunk_size <= self.inline_limit
        with mapped(key):
            fd, _ = self._open_file(key)
        # closed with this generator, not left to the garbage collector
        async with contextlib.aclosing(stream_fd(fd, key, chunk_size, inline=inline)) as chunks:
            async for chunk in chunks:
                yield chunk

    # -- writes ---------------------------------------------------------------

    def _new_temp(self, fd_dir: int) -> tuple[str, int]:
        """A new temp file in the folder ``fd_dir``, as ``(name, fd)``."""
        temp = f"{TEMP_PREFIX}{os.getpid():x}-{self._temp_token}-{next(self._temp_count):x}"
        return temp, os.open(temp, TEMP_FLAGS, 0o666, dir_fd=fd_dir)

    def _open_parent(self, key: str) -> tuple[int, str]:
        """The folder of ``key`` (made if missing), swept of dead temp files once."""
        fd_dir, name = self._dir.open_parent(key, create=True)
        if self._sweep:
            folder = key[: len(key) - len(name)]  # paths.parent(key), without a call: hot
            if folder not in self._swept:
                if len(self._swept) >= _SWEPT_LIMIT:
                    self._swept.clear()
                self._swept.add(folder)
                with suppress(OSError):
                    sweep_folder(fd_dir)
        return fd_dir, name

    def _seal(self, fd: int) -> os.stat_result:
        """Stamp a fresh mtime (so a fresh etag) on a written temp file, fsync if
        durable; return its stat."""
        stamp = self._stamp()
        os.utime(fd, ns=(stamp, stamp))
        if self.durable:
            os.fsync(fd)
        return os.fstat(fd)

    def _commit(
        self, key: str, fd_dir: int, temp: str, name: str, mode: PutMode, st: os.stat_result
    ) -> ObjectMeta:
        """Move the sealed temp file ``temp`` (stat ``st``) to ``name`` as ``mode`` says.

        The caller removes the temp file if this fails.
        """
        if mode == "create":
            try:
                os.link(temp, name, src_dir_fd=fd_dir, dst_dir_fd=fd_dir, follow_symlinks=False)
            finally:
                os.unlink(temp, dir_fd=fd_dir)
        else:
            lock = self._locks.acquire(key[: len(key) - len(name)], fd_dir)  # (its folder)
            try:
                if isinstance(mode, IfMatch):
                    try:
                        current = etag_of(os.stat(name, dir_fd=fd_dir, follow_symlinks=False))
                    except FileNotFoundError:
                        current = None
                    if current != mode.etag:
                        raise PreconditionFailed(
                            f"etag of {key!r} is not {mode.etag!r}", path=key
                        )
                os.replace(temp, name, src_dir_fd=fd_dir, dst_dir_fd=fd_dir)
            finally:
                self._locks.release(lock, fd_dir)
        if self.durable:
            os.fsync(fd_dir)
        return object_meta(key, st)

    def _write_sync(
        self, key: str, mode: PutMode, fill: Callable[[int], None]
    ) -> ObjectMeta:
        """Make a temp file in ``key``'s folder, ``fill`` it, seal and commit it."""
        fd_dir, name = self._open_parent(key)
        try:
            temp, fd = self._new_temp(fd_dir)
            try:
                try:
                    fill(fd)
                    st = self._seal(fd)
                finally:
                    os.close(fd)
                return self._commit(key, fd_dir, temp, name, mode, st)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temp, dir_fd=fd_dir)
                raise
        finally:
            self._dir.release(fd_dir)

    def _put_sync(self, key: str, data: bytes, mode: PutMode) -> ObjectMeta:
        return self._write_sync(key, mode, lambda fd: write_all(fd, data))

    async def _put(
        self,
        key: str,
        data: bytes,
        mode: PutMode,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
    ) -> ObjectMeta:
        with mapped(key, writing=True):
            if not self.durable and len(data) <= self.inline_limit:
                return self._fresh(True, self._put_sync, key, data, mode)  # no await: cheap
            return await self._written(self._put_sync, key, data, mode)

    async def _write_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        content_type: str | None,
        metadata: Mapping[str, str] | None,
    ) -> ObjectMeta:
        with mapped(key, writing=True):
            fd_dir, name = self._fresh(True, self._open_parent, key)
            try:
                temp, fd = self._new_temp(fd_dir)
                try:
                    with SharedFd(fd) as shared:
                        if isinstance(chunks, AsyncIterable):
                            async for chunk in chunks:
                                await shared.run(len(chunk) <= self.inline_limit, write_all, chunk)
                        else:
                            for chunk in chunks:
                                await shared.run(len(chunk) <= self.inline_limit, write_all, chunk)
                        st = await shared.run(not self.durable, self._seal)
                    return self._commit(key, fd_dir, temp, name, "overwrite", st)
                except BaseException:
                    with suppress(OSError):
                        os.unlink(temp, dir_fd=fd_dir)
                    raise
            finally:
                self._dir.release(fd_dir)

    async def _delete(self, key: str) -> None:
        with mapped(key):
            try:
                fd_dir, name = self._dir.open_parent(key, create=False)
            except (FileNotFoundError, NotADirectoryError):
                return
            try:
                with self._locks.hold((paths.parent(key), fd_dir)):
                    os.unlink(name, dir_fd=fd_dir)
            except (FileNotFoundError, IsADirectoryError):
                return  # missing, or a folder (not an object: see remove_folder)
            finally:
                self._dir.release(fd_dir)

    async def _remove_folder(self, key: str) -> None:
        with mapped(key):
            fd_dir, name = self._dir.open_parent(key, create=False)
            try:
                with self._locks.hold((paths.parent(key), fd_dir)):
                    self._rmdir(key, fd_dir, name)
            finally:
                self._dir.release(fd_dir)

    def _rmdir(self, key: str, fd_dir: int, name: str) -> None:
        try:
            os.rmdir(name, dir_fd=fd_dir)
            return
        except NotADirectoryError:
            raise NotFound(f"no folder at {key!r} (it is an object)", path=key) from None
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        # Not empty: if only dead writers' temp files are left, they go first.
        fd = os.open(name, DIR_FLAGS, dir_fd=fd_dir)
        try:
            sweep_folder(fd)
            with os.scandir(fd) as scan:
                empty = next(iter(scan), None) is None
        finally:
            os.close(fd)
        if not empty:
            raise FolderNotEmpty(f"the folder {key!r} is not empty", path=key)
        os.rmdir(name, dir_fd=fd_dir)

    def _copy_sync(self, fd_in: int, dst: str, overwrite: bool) -> None:
        def fill(fd_out: int) -> None:
            while os.copy_file_range(fd_in, fd_out, DEFAULT_CHUNK_SIZE * 16):
                pass

        self._write_sync(dst, "overwrite" if overwrite else "create", fill)

    async def _copy(self, src: str, dst: str, overwrite: bool) -> None:
        with mapped(src):
            fd_in, st = self._open_file(src)
        inline = not self.durable and st.st_size <= self.inline_limit
        with mapped(dst, writing=True):
            await use_and_close(fd_in, inline, self._copy_sync, dst, overwrite)

    def _rename_sync(self, src: str, dst: str, overwrite: bool) -> None:
        with mapped(src):
            src_dir, src_name = self._dir.open_parent(src, create=False)
        try:
            with mapped(src):
                st = os.stat(src_name, dir_fd=src_dir, follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    raise NotFound(f"no object at {src!r}", path=src)
            with mapped(dst, writing=True):  # a parent of dst that is a file is about dst
                dst_dir, dst_name = self._open_parent(dst)
            try:
                with self._locks.hold((paths.parent(src), src_dir), (paths.parent(dst), dst_dir)):
                    try:
                        if overwrite and _same_file(src_dir, src_name, dst_dir, dst_name):
                            # rename(2) between two names of one file does nothing at all
                            os.unlink(src_name, dir_fd=src_dir)
                        elif overwrite:
                            os.replace(src_name, dst_name, src_dir_fd=src_dir, dst_dir_fd=dst_dir)
                        else:
                            os.link(src_name, dst_name, src_dir_fd=src_dir,
                                    dst_dir_fd=dst_dir, follow_symlinks=False)  # fmt: skip
                            os.unlink(src_name, dir_fd=src_dir)
                    except FileNotFoundError as exc:  # the source went meanwhile
                        raise os_error(exc, src) from exc
                    except OSError as exc:
                        raise os_error(exc, dst, writing=True) from exc
                if self.durable:
                    with mapped(dst, writing=True):
                        os.fsync(dst_dir)
                        os.fsync(src_dir)
            finally:
                self._dir.release(dst_dir)
        finally:
            self._dir.release(src_dir)

    async def _rename(self, src: str, dst: str, overwrite: bool) -> None:
        await self._run(not self.durable, self._rename_sync, src, dst, overwrite)

    def _makedirs_sync(self, key: str) -> None:
        # Opening the parent of a child of ``key`` makes every folder down to ``key``.
        fd_dir, _ = self._dir.open_parent(key + "/child", create=True)
        self._dir.release(fd_dir)

    async def _makedirs(self, key: str) -> None:
        with mapped(key, writing=True):
            self._fresh(True, self._makedirs_sync, key)

    # -- listings -------------------------------------------------------------

    def _open_folder(self, folder: str) -> int | None:
        with mapped(folder):
            return self._fresh(False, self._dir.open_folder, folder)

    async def _iter(self, folder: str) -> AsyncIterator[ObjectMeta | SkippedKey]:
        fd = self._open_folder(folder)
        if fd is None:
            return
        # Depth first in key order: each level is (its key, its fd, the rest of its entries).
        stack: list[tuple[str, int, Iterator[tuple[str, os.DirEntry[str]]]]] = []
        listed = 0
        try:
            with mapped(folder):
                stack.append((folder, fd, iter(self._dir.entries(fd))))
            while stack:
                base, fd_dir, entries = stack[-1]
                finished = True  # unless a sub-folder is to be listed first
                for sort_name, entry in entries:
                    if sort_name[-1] == "/":  # a folder: its objects come next
                        below = self._open_below(fd_dir, base + sort_name, entry.name)
                        if isinstance(below, SkippedKey):
                            yield below
                        elif below is not None:
                            stack.append(below)
                            finished = False
                            break
                        continue
                    try:
                        meta = entry_meta(base, entry)
                    except PermissionError as exc:  # a folder that may be read, not searched:
                        if base == folder:  # (the one asked for, as list_dir says)
                            raise os_error(exc, folder) from exc
                        yield SkippedKey(base, f"its files cannot be read: {exc.strerror}")
                        break  # the same for every entry left
                    if meta is None:
                        continue
                    yield meta
                    listed += 1
                    if not listed % LIST_TURN:  # let other tasks (and a cancellation) in
                        await asyncio.sleep(0)
                if finished:
                    os.close(fd_dir)
                    stack.pop()
        finally:
            for _, fd_dir, _ in stack:
                os.close(fd_dir)

    def _open_below(
        self, fd_dir: int, key: str, name: str
    ) -> tuple[str, int, Iterator[tuple[str, os.DirEntry[str]]]] | SkippedKey | None:
        """The sub-folder ``name`` (key ``key``, ending in ``/``) of a listing, opened
        with its entries; a :class:`SkippedKey` if it cannot be read, None if it is
        gone or no longer a folder."""
        with mapped(key):
            try:
                child = os.open(name, DIR_FLAGS, dir_fd=fd_dir)
            except (FileNotFoundError, NotADirectoryError):
                return None  # removed, or replaced by a file, since the folder was read
            except PermissionError as exc:
                return SkippedKey(key, f"the folder cannot be read: {exc.strerror}")
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    return None  # replaced by a symbolic link: not a folder of the store
                raise
            try:
                return key, child, iter(self._dir.entries(child))
            except BaseException:
                os.close(child)
                raise

    async def _list_dir(self, folder: str) -> Listing:
        fd = self._open_folder(folder)
        if fd is None:
            return Listing()
        try:
            objects, folders = [], []
            with mapped(folder):
                for sort_name, entry in self._dir.entries(fd):
                    if sort_name[-1] == "/":
                        folders.append(folder + sort_name)
                        continue
                    meta = entry_meta(folder, entry)
                    if meta is not None:
                        objects.append(meta)
            return Listing(tuple(objects), tuple(folders))
        finally:
            os.close(fd)

    async def aclose(self) -> None:
        self._dir.close()


def _same_file(dir_a: int, name_a: str, dir_b: int, name_b: str) -> bool:
    """Whether two names are links to one file (hard links another tool made)."""
    try:
        a = os.stat(name_a, dir_fd=dir_a, follow_symlinks=False)
        b = os.stat(name_b, dir_fd=dir_b, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

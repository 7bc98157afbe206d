"""The POSIX plumbing under :class:`~storeroom.providers.local.LocalProvider`.

- :func:`os_error`: the one place where local ``OSError`` becomes a storeroom error;
- :class:`RootDir`: a folder opened once, whose paths are walked component by
  component with ``O_NOFOLLOW`` relative to each parent's descriptor, so that no
  key and no symlink (even one swapped in mid-operation) reaches outside it;
- :class:`FolderLocks`: per-folder locks (``flock`` on the folder itself) that
  exclude threads and other processes, with no lock file;
- :func:`sweep_folder` / :func:`sweep_tree`: removal of temp files whose writer died;
- :class:`mapped`: the error boundary every local operation runs in;
- small fd helpers (:func:`read_all`, :func:`write_all`, :func:`pread_range`)
  and the stat-to-:class:`~storeroom.providers.base.ObjectMeta` mapping.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import mimetypes
import operator
import os
import stat
import sys
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Iterator
from datetime import datetime, timezone
from functools import cache, lru_cache

from ... import paths
from ...errors import (
    AlreadyExists,
    InvalidPath,
    NotFound,
    NotSupported,
    PermissionDenied,
    StorageError,
)
from ..base import DEFAULT_CHUNK_SIZE, ObjectMeta, listed_meta
from .fds import SharedFd

__all__ = [
    "TEMP_PREFIX",
    "FolderLocks",
    "RootDir",
    "entry_meta",
    "etag_of",
    "mapped",
    "object_meta",
    "open_absolute",
    "os_error",
    "pread_range",
    "read_all",
    "stream_fd",
    "sweep_folder",
    "sweep_tree",
    "write_all",
]

#: Temp files are ``.sr-tmp-<writer pid, hex>-<token>-<n>`` in the target's folder.
TEMP_PREFIX = paths.RESERVED_PREFIX + "tmp-"
LOCK_STRIPES = 64
#: Temp files older than this are swept even if their writer's pid is alive.
STALE_TEMP_SECONDS = 24 * 3600

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: ``O_NONBLOCK``: opening a named pipe (no object: refused after the ``fstat``) must not
#: wait for a writer; it changes nothing for a regular file.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def os_error(exc: OSError, path: str, *, writing: bool = False) -> StorageError:
    """Map an ``OSError`` met while handling ``path`` into the storeroom tree.

    This is the one place where local file system errors become storeroom errors.
    """
    code = exc.errno
    # (ENXIO: what opening a socket gives; a socket is no object)
    if code in (errno.ENOENT, errno.ENXIO) or (code == errno.ENOTDIR and not writing):
        return NotFound(f"no object at {path!r}", path=path)
    if code == errno.EEXIST:
        return AlreadyExists(f"an object exists at {path!r}", path=path)
    if code == errno.EINVAL and exc.filename == path:
        return InvalidPath(f"{path!r} is not a name under the root", path=path)
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDenied(f"permission denied for {path!r}: {exc.strerror}", path=path)
    if code == errno.ELOOP:
        return InvalidPath(f"{path!r} passes through a symbolic link", path=path)
    if code == errno.ENAMETOOLONG:
        return InvalidPath(f"{path!r} is too long for this file system", path=path)
    if code in (errno.ENOTDIR, errno.EISDIR, errno.ENOTEMPTY):
        return NotSupported(
            f"{path!r}: a local folder cannot hold an object and a folder of the same name",
            path=path,
        )
    return StorageError(f"I/O error on {path!r}: {exc.strerror or exc}", path=path)


class mapped:
    """The error boundary of a local operation: an ``OSError`` raised in the block
    leaves it as the storeroom error :func:`os_error` maps it to.

    A class rather than a generator context manager: it runs on every operation.
    """

    __slots__ = ("path", "writing")

    def __init__(self, path: str, *, writing: bool = False) -> None:
        self.path = path
        self.writing = writing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            raise os_error(exc, self.path, writing=self.writing) from exc


@lru_cache(maxsize=512)
def _type_of_extension(extension: str) -> str | None:
    return mimetypes.guess_type("x" + extension, strict=False)[0]


def etag_of(st: os.stat_result) -> str:
    """The etag of a file: ``mtime_ns-size-inode`` in hex."""
    return "%x-%x-%x" % (st.st_mtime_ns, st.st_size, st.st_ino)  # noqa: UP031 - faster


_sort_name = operator.itemgetter(0)
_UTC = timezone.utc
_from_timestamp = datetime.fromtimestamp


def object_meta(path: str, st: os.stat_result, name: str | None = None) -> ObjectMeta:
    """The :class:`ObjectMeta` of the file at key ``path`` with stat ``st`` (a
    listing passes the last segment, ``name``, which it has at hand)."""
    if name is None:
        name = path[path.rfind("/") + 1 :]
    dot = name.find(".", 1)  # a leading dot (".profile") starts no extension
    return listed_meta(
        path,
        st.st_size,
        _from_timestamp(st.st_mtime, _UTC),
        "%x-%x-%x" % (st.st_mtime_ns, st.st_size, st.st_ino),  # noqa: UP031 - etag_of, inlined: hot
        _type_of_extension(name[dot:] if dot > 0 else ""),  # "" is None, cached too
    )


def read_all(fd: int, size: int) -> bytes:
    """Everything from ``fd``'s position to its end (``size`` is the expected length)."""
    chunks = [os.read(fd, max(size, 1) + 1)]
    while chunks[-1]:
        chunks.append(os.read(fd, DEFAULT_CHUNK_SIZE))
    return b"".join(chunks)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of ``data`` to ``fd``, however many calls it takes."""
    written = os.write(fd, data)
    if written < len(data):  # a short write (rare): the rest, through a view
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]


async def stream_fd(
    fd: int, path: str, chunk_size: int, *, inline: bool
) -> AsyncGenerator[bytes, None]:
    """The open file ``fd`` in chunks of at most ``chunk_size``; ``fd`` is closed at the end.

    Each chunk is read inline or in a thread; a consumer that stops or is
    cancelled never closes ``fd`` under a read still running (``SharedFd``).
    """
    shared = SharedFd(fd)
    try:
        offset = 0
        while True:
            with mapped(path):
                chunk: bytes = await shared.run(inline, os.pread, chunk_size, offset)
            if not chunk:
                return
            offset += len(chunk)
            yield chunk
    finally:
        shared.close()


def pread_range(fd: int, start: int, stop: int) -> bytes:
    """Bytes ``[start, stop)`` of ``fd`` (fewer if the file ends first)."""
    chunks: list[bytes] = []
    offset = start
    while offset < stop:
        chunk = os.pread(fd, stop - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


_SYS_OPENAT2 = 437  # the same number on every Linux architecture
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08

#: ``openat2(dir_fd, path, flags)``: opens ``path`` below ``dir_fd`` in one system call,
#: refusing symlinks (ELOOP) and ``..`` escapes (EXDEV) in the kernel.
OpenAt2 = Callable[[int, str, int], int]


@cache
def openat2() -> OpenAt2 | None:
    """Linux's ``openat2(2)`` if this kernel has it (5.6+), else None (walk instead)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    syscall.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
    resolve = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS
    hows = {flags: _OpenHow(flags, 0, resolve) for flags in (DIR_FLAGS, READ_FLAGS)}
    size = ctypes.sizeof(_OpenHow)

    def call(dir_fd: int, path: str, flags: int) -> int:
        how = hows[flags]
        fd: int = syscall(_SYS_OPENAT2, dir_fd, os.fsencode(path), ctypes.byref(how), size)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(errno.ELOOP if code == errno.EXDEV else code, os.strerror(code), path)
        return fd

    top = os.open("/", DIR_FLAGS)
    try:
        os.close(call(top, ".", DIR_FLAGS))
    except OSError:  # ENOSYS, or refused by a sandbox: walk instead
        return None
    finally:
        os.close(top)
    return call


def open_absolute(path: str) -> int:
    """Open the folder at the absolute ``path`` component by component from ``/``,
    refusing a symbolic link at any step (``ELOOP``)."""
    fd = os.open("/", DIR_FLAGS)
    try:
        for segment in path.strip("/").split("/"):
            if segment:
                child = os.open(segment, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


#: Segments that never name an entry below a folder.
_NOT_NAMES = frozenset({"", ".", ".."})

_ROOTS: weakref.WeakSet[RootDir] = weakref.WeakSet()


def _reopen_after_fork() -> None:
    for root in list(_ROOTS):
        root.reopen_in_child()


os.register_at_fork(after_in_child=_reopen_after_fork)


class RootDir:
    """A folder opened once; keys under it are opened without following links.

    The root's descriptor is replaced (never closed while in use: retired ones
    stay open until :meth:`close`) when the folder at the root's path is no
    longer the one it names (:meth:`reopen_if_stale`: the root was removed and
    made again), and in a forked child (so the child's folder locks are its own).

    Args:
        path: the folder (resolved by the caller: no symbolic links); made if missing.
    """

    def __init__(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        self.path = path
        self.fd = open_absolute(path)
        self._retired: list[int] = []
        self._lock = threading.Lock()
        self._openat2 = openat2()
        _ROOTS.add(self)

    def reopen_if_stale(self) -> bool:
        """Open the root's path again if the folder it names is not the open one.

        Called after an operation met ``ENOENT``: if the root folder was removed
        (and perhaps made again), later operations use the folder now at the
        path, opened without following any symbolic link. True if it changed.
        """
        with self._lock:
            if self.fd < 0:
                return False
            try:
                here = os.stat(self.path, follow_symlinks=False)
                open_now = os.fstat(self.fd)
                if open_now.st_nlink and (here.st_dev, here.st_ino) == (
                    open_now.st_dev,
                    open_now.st_ino,
                ):
                    return False
                fresh = open_absolute(self.path)
            except OSError:
                return False
            self._retired.append(self.fd)
            self.fd = fresh
            return True

    def reopen_in_child(self) -> None:
        """In a forked child: a descriptor of its own, so ``flock`` excludes the parent."""
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            fresh = open_absolute(self.path)
            os.close(self.fd)
            self.fd = fresh

    def open_parent(self, key: str, create: bool) -> tuple[int, str]:
        """Open the folder holding ``key``; return ``(fd, name)``. Release the fd after.

        Raises:
            OSError: ``ELOOP`` if a component is a symbolic link, ``ENOENT`` if a
                folder is missing and ``create`` is false.
        """
        head, _, name = key.rpartition("/")
        if name in _NOT_NAMES:  # keys are checked before; this guards the walk below too
            raise OSError(errno.EINVAL, "not a name under the root", key)
        if not head:
            return self.fd, name
        if "/" not in head and head not in _NOT_NAMES:
            # one folder deep: a single ``os.open`` (cheaper than the ctypes call)
            try:
                return os.open(head, DIR_FLAGS, dir_fd=self.fd), name
            except OSError:
                pass  # the walk below makes it, or tells a link from a file in the way
        elif self._openat2 is not None:  # deeper: the whole path in one call
            try:
                return self._openat2(self.fd, head, DIR_FLAGS), name
            except FileNotFoundError:
                if not create:
                    raise
            except OSError:
                pass  # the walk below tells a link from a file in the way
        fd = self.fd
        try:
            for segment in head.split("/"):
                if segment in _NOT_NAMES:
                    raise OSError(errno.EINVAL, "not a name under the root", key)
                try:
                    child = os.open(segment, DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(segment, dir_fd=fd)
                    child = os.open(segment, DIR_FLAGS, dir_fd=fd)
                except NotADirectoryError:
                    if stat.S_ISLNK(os.stat(segment, dir_fd=fd, follow_symlinks=False).st_mode):
                        raise OSError(errno.ELOOP, "symbolic link", segment) from None
                    raise
                self.release(fd)
                fd = child
        except BaseException:
            self.release(fd)
            raise
        return fd, name

    def release(self, fd: int) -> None:
        """Close a folder fd from :meth:`open_parent` (the root's stays open)."""
        if fd != self.fd and fd not in self._retired:
            os.close(fd)

    def open_file(self, key: str) -> tuple[int, os.stat_result]:
        """Open the regular file ``key`` for reading; ``ENOENT`` if it is not one."""
        try:
            if self._openat2 is None:
                raise OSError(errno.ENOSYS, "no openat2")
            fd = self._openat2(self.fd, key, READ_FLAGS)
        except FileNotFoundError:
            raise
        except OSError:  # the walk tells a link from a file in the way
            fd_dir, name = self.open_parent(key, create=False)
            try:
                fd = os.open(name, READ_FLAGS, dir_fd=fd_dir)
            finally:
                self.release(fd_dir)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise FileNotFoundError(errno.ENOENT, "not a file")
        return fd, st

    def stat(self, key: str) -> os.stat_result:
        """``lstat`` of ``key``."""
        fd_dir, name = self.open_parent(key, create=False)
        try:
            return os.stat(name, dir_fd=fd_dir, follow_symlinks=False)
        finally:
            self.release(fd_dir)

    def open_folder(self, folder: str) -> int | None:
        """Open the folder ``a/b/`` (a new fd on the root for ``""``); None if not a folder."""
        if not folder:
            return os.dup(self.fd)
        try:
            fd_dir, name = self.open_parent(folder[:-1], create=False)
            try:
                return os.open(name, DIR_FLAGS, dir_fd=fd_dir)
            finally:
                self.release(fd_dir)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None
            raise

    @staticmethod
    def entries(fd: int) -> list[tuple[str, os.DirEntry[str]]]:
        """The entries of a folder, sorted as their keys sort (folders as ``name/``).

        storeroom's own files (``.sr-*``) are left out. Folders are real ones
        (never a link to one); the other entries may be anything: a listing
        keeps those whose :func:`entry_meta` finds a regular file.
        """
        entries = []
        reserved = paths.RESERVED_PREFIX
        with os.scandir(fd) as scan:
            for entry in scan:
                name = entry.name
                if name.startswith(reserved):
                    continue
                entries.append((name + "/" if entry.is_dir(follow_symlinks=False) else name, entry))
        entries.sort(key=_sort_name)  # twice as fast as comparing the pairs
        return entries

    def close(self) -> None:
        with self._lock:
            for fd in [self.fd, *self._retired]:
                if fd >= 0:
                    os.close(fd)
            self.fd, self._retired = -1, []


def entry_meta(folder: str, entry: os.DirEntry[str]) -> ObjectMeta | None:
    """The :class:`ObjectMeta` of a listed entry of the folder with key ``folder``
    if it is a regular file (not a link, a pipe or a socket; None too if it went
    since the folder was read)."""
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    name = entry.name
    return object_meta(folder + name, st, name)


class FolderLocks:
    """Locks over folders that exclude threads of this process and other processes.

    Replacing or removing a name happens under the lock of its folder: a
    ``threading.Lock`` (striped by the folder's key) excludes this process's
    threads, then ``flock`` on the folder's own descriptor excludes other
    processes. No lock file is ever made, so nothing of storeroom's shows in
    the user's folders, and every process that can open the folder shares the
    lock (containers too: the lock is on the folder's inode). Two threads never
    ``flock`` one open file description at once (that would not exclude): the
    stripe of a folder is taken first.
    """

    def __init__(self) -> None:
        self._threads = [threading.Lock() for _ in range(LOCK_STRIPES)]

    @staticmethod
    def _stripe(folder: str) -> int:
        """The thread lock of a folder key (``hash`` is stable within the process,
        which is all a thread lock needs)."""
        return hash(folder) % LOCK_STRIPES

    def acquire(self, folder: str, fd: int) -> threading.Lock:
        """Take the lock of one folder (key ``folder``, open as ``fd``); give it to
        :meth:`release` with the same ``fd``."""
        lock = self._threads[self._stripe(folder)]
        lock.acquire()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            lock.release()
            raise
        return lock

    def release(self, lock: threading.Lock, fd: int) -> None:
        """Give back a lock from :meth:`acquire`."""
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass  # closing the fd releases it anyway
        finally:
            lock.release()

    @contextlib.contextmanager
    def hold(self, *folders: tuple[str, int]) -> Iterator[None]:
        """Hold the locks of ``(folder key, folder fd)`` pairs, always in one order
        (so two holders never deadlock)."""
        unique = sorted(dict(folders).items())
        stripes = sorted({self._stripe(folder) for folder, _ in unique})
        taken: list[int] = []
        locked: list[int] = []
        try:
            for stripe in stripes:
                self._threads[stripe].acquire()
                taken.append(stripe)
            for _, fd in unique:
                fcntl.flock(fd, fcntl.LOCK_EX)
                locked.append(fd)
            yield
        finally:
            for fd in reversed(locked):
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
            for stripe in reversed(taken):
                self._threads[stripe].release()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_folder(fd_dir: int, now: float | None = None) -> int:
    """Remove the temp files in one folder whose writer is gone (or a day old); how many."""
    now = time.time() if now is None else now
    removed = 0
    with os.scandir(fd_dir) as scan:
        names = [entry.name for entry in scan if entry.name.startswith(TEMP_PREFIX)]
    for name in names:
        pid_text = name[len(TEMP_PREFIX) :].split("-", 1)[0]
        with contextlib.suppress(OSError, ValueError):
            st = os.stat(name, dir_fd=fd_dir, follow_symlinks=False)
            if not _process_alive(int(pid_text, 16)) or now - st.st_mtime > STALE_TEMP_SECONDS:
                os.unlink(name, dir_fd=fd_dir)
                removed += 1
    return removed


def sweep_tree(fd_root: int) -> int:
    """:func:`sweep_folder` in every folder under ``fd_root`` (never following links)."""
    now = time.time()
    removed = 0
    stack = [os.dup(fd_root)]
    while stack:
        fd = stack.pop()
        try:
            removed += sweep_folder(fd, now)
            with os.scandir(fd) as scan:
                folders = [e.name for e in scan
                           if e.is_dir(follow_symlinks=False)
                           and not e.name.startswith(paths.RESERVED_PREFIX)]  # fmt: skip
            for name in folders:
                with contextlib.suppress(OSError):
                    stack.append(os.open(name, DIR_FLAGS, dir_fd=fd))
        finally:
            os.close(fd)
    return removed

"""``StoreroomFileSystem``: an fsspec ``AsyncFileSystem`` on any provider or artifact store.

How it keeps its promises:

- **A translator only.** Every operation calls the public
  :class:`~storeroom.providers.base.Provider` (or
  :class:`~storeroom.artifactstore.ArtifactStore`) surface through
  ``files.py`` (or ``artifacts.py``); errors are storeroom's, which are the
  builtins fsspec expects (``NotFound`` is a ``FileNotFoundError``,
  ``AlreadyExists`` a ``FileExistsError``, ...).
- **One loop, fork-safe, no needless thread hop.** The blocking methods
  (``cat_file`` for ``_cat_file``, ...) run their coroutine through
  :func:`storeroom.sync.runner.run` instead of fsspec's ``sync()``: a call
  that needs no waiting (a local or memory store) runs in the caller's
  thread, others on storeroom.sync's loop, looked up on each call, so a
  forked child uses its own loop; the store is built again from its URL in
  the child.
- **No instance cache.** ``cachable = False``: every ``fsspec.filesystem(...)``
  is a new instance, so no credentials or listings outlive their owner.
- **Unknown options are an error**, never silently ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import inspect
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from glob import has_magic
from typing import Any

from fsspec.asyn import AsyncFileSystem
from fsspec.callbacks import DEFAULT_CALLBACK
from fsspec.spec import AbstractFileSystem

from .. import urls
from ..artifactstore import ArtifactStore
from ..concurrency import map_limited
from ..errors import ConfigurationError, NotFound, PermissionDenied
from ..providers.base import Provider, PutMode
from ..sync import runner as runner_module
from ..sync.facade import Facade, iterate
from . import files
from .artifacts import ArtifactView, PinnedCache
from .file import StoreroomFile

__all__ = ["StoreroomFileSystem", "filesystem"]

#: Options fsspec itself may pass; accepted and, where they mean nothing here, unused.
_FSSPEC_OPTIONS = frozenset({"skip_instance_cache", "use_listings_cache", "listings_expiry_time"})


class StoreroomFileSystem(AsyncFileSystem):  # type: ignore[misc]
    """fsspec on a storeroom store: ``fsspec.filesystem("storeroom", store=URL)``.

    Args:
        store: a URL (``"s3://bucket/prefix?endpoint=..."``, a folder,
            ``"memory://"``), a :class:`~storeroom.providers.base.Provider`
            or an :class:`~storeroom.artifactstore.ArtifactStore`.
        artifacts: show the artifact store on ``store`` (versioned, read-only
            paths: ``name``, ``name@v3``, ``name@alias``) instead of its keys;
            always so when ``store`` is an ``ArtifactStore``.
        pinned_cache_bytes: how much pinned-version content is kept in memory.
        concurrency: requests in flight at once in ``cat_ranges`` and friends.
        **options: the store's options (as ``storeroom.provider(url, **options)``).

    Raises:
        ConfigurationError: no store, or an option neither fsspec nor the store knows.
    """

    protocol = "storeroom"
    root_marker = ""
    cachable = False
    mirror_sync_methods = False  # done in __init__ by _mirror, on storeroom.sync's runner

    def __init__(
        self,
        store: str | Provider | ArtifactStore | None = None,
        *,
        artifacts: bool = False,
        pinned_cache_bytes: int = 256 * 1024 * 1024,
        concurrency: int = 32,
        asynchronous: bool = False,
        loop: Any = None,
        batch_size: int | None = None,
        **options: Any,
    ) -> None:
        if store is None:
            raise ConfigurationError(
                "the storeroom filesystem needs a store: "
                "fsspec.filesystem('storeroom', store='s3://bucket/prefix') or "
                "storage_options={'store': ...}"
            )
        for name in _FSSPEC_OPTIONS.intersection(options):
            options.pop(name)
        super().__init__(asynchronous=asynchronous, loop=loop, batch_size=batch_size)
        self.concurrency = concurrency
        self.artifact_mode = artifacts = artifacts or isinstance(store, ArtifactStore)
        self._view = ArtifactView(PinnedCache(pinned_cache_bytes))
        self._store = _holder(store, artifacts, options)
        _mirror(self)

    def __repr__(self) -> str:
        return f"StoreroomFileSystem({self._store.aio!r})"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """storeroom.sync's loop in this process (fsspec runs blocking calls on it)."""
        return runner_module.runner().loop

    @property
    def provider(self) -> Provider:
        """The provider whose keys this filesystem shows."""
        store = self._store.aio
        return store.provider if isinstance(store, ArtifactStore) else store

    @property
    def artifact_store(self) -> ArtifactStore:
        """The artifact store (``artifacts=True`` only)."""
        store = self._store.aio
        if not isinstance(store, ArtifactStore):
            raise ConfigurationError("this filesystem shows keys, not artifacts")
        return store

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return files.strip(str(path))

    def _writable(self, path: str) -> None:
        if self.artifact_mode:
            raise PermissionDenied(
                "artifact paths are read-only; store versions with storeroom.artifacts", path=path
            )

    # -- reading ---------------------------------------------------------------

    async def _info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        if self.artifact_mode:
            return await self._view.info(self.artifact_store, path)
        return await files.info(self.provider, path)

    async def _ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        if self.artifact_mode:
            entries = await self._view.ls(self.artifact_store, path)
        else:
            entries = await files.ls(self.provider, path)
        return entries if detail else [entry["name"] for entry in entries]

    async def _find(
        self, path: str, maxdepth: int | None = None, withdirs: bool = False, **kwargs: Any
    ) -> Any:
        detail = kwargs.pop("detail", False)
        kwargs.pop("prefix", None)  # glob's hint for stores that filter names: not needed
        _check_maxdepth(maxdepth)
        if self.artifact_mode:
            if maxdepth is not None or withdirs:  # folders (also empty ones) from walking
                return await super()._find(path, maxdepth, withdirs, detail=detail, **kwargs)
            found = await self._view.find(self.artifact_store, path)
        elif maxdepth is not None or withdirs:
            found = await files.tree(self.provider, path, maxdepth, withdirs, self.concurrency)
        else:
            found = await files.find(self.provider, path)
        names = sorted(found)
        return {name: found[name] for name in names} if detail else names

    async def _expand_path(
        self,
        path: Any,
        recursive: bool = False,
        maxdepth: int | None = None,
        assume_literal: bool = False,
    ) -> list[str]:
        return sorted(await self._expanded(path, recursive, maxdepth, assume_literal))

    async def _expanded(
        self, path: Any, recursive: bool, maxdepth: int | None, literal: bool
    ) -> dict[str, dict[str, Any]]:
        """fsspec's ``expand_path``, each path with its entry where a listing showed it
        (``{}`` where none did), so that ``_rm`` knows files from folders without
        asking again.

        The same answer as fsspec's, with fewer requests: the paths are expanded
        together; a file a glob matched is not walked (the listing that showed it
        would have shown a folder of that name, and the folder would have won),
        nor asked again what a folder it matched is; a path under another one
        walked to any depth is not walked again.
        """
        _check_maxdepth(maxdepth)
        paths: list[str] = self._strip_protocol([path] if isinstance(path, str) else list(path))
        if literal and recursive and maxdepth is None:
            paths = _outermost(paths)

        async def one(p: str) -> dict[str, dict[str, Any]]:
            if not literal and has_magic(p):
                found: dict[str, dict[str, Any]] = await self._glob(
                    p, maxdepth=maxdepth, detail=True
                )
                if recursive and (maxdepth is None or maxdepth > 1):
                    folders = [q for q, entry in found.items() if entry.get("type") != "file"]
                    deeper = None if maxdepth is None else maxdepth - 1
                    if folders:
                        found = _merged([found, await self._below(folders, deeper)])
                return found
            found = {}
            if recursive:
                found = await self._find(p, maxdepth=maxdepth, withdirs=True, detail=True)
            if p not in found and (not recursive or await self._exists(p)):
                found[p] = {}
            return found

        out = _merged(await map_limited(one, paths, self.concurrency))
        if not out:
            raise FileNotFoundError(path)
        return out

    async def _below(self, folders: list[str], maxdepth: int | None) -> dict[str, dict[str, Any]]:
        """What lies under ``folders`` (a glob's listing just showed them), to ``maxdepth``."""
        if self.artifact_mode:
            return await self._expanded(folders, True, maxdepth, True)

        async def walk(folder: str) -> dict[str, dict[str, Any]]:
            return await files.tree(
                self.provider, folder, maxdepth, True, self.concurrency, below=True
            )

        chosen = folders if maxdepth is not None else _outermost(folders)
        return _merged(await map_limited(walk, chosen, self.concurrency))

    async def _cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        if self.artifact_mode:
            return await self._view.cat(self.artifact_store, path, start, end)
        return await files.cat(self.provider, path, start, end)

    async def _cat_file_view(self, path: str, start: int | None, end: int | None) -> memoryview:
        """``_cat_file`` as a read-only view: what the fsspec files fetch (no copy
        where the provider can hand its buffer over)."""
        if self.artifact_mode:
            return memoryview(await self._cat_file(path, start, end))
        return await files.cat_view(self.provider, path, start, end)

    async def _cat_ranges(
        self,
        paths: list[str],
        starts: Any,
        ends: Any,
        max_gap: int | None = None,
        batch_size: int | None = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[Any]:
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        starts = starts if isinstance(starts, list) else [starts] * len(paths)
        ends = ends if isinstance(ends, list) else [ends] * len(paths)
        if not len(starts) == len(ends) == len(paths):
            raise ValueError("paths, starts and ends must have the same length")

        async def one(index: int) -> Any:
            try:
                return await self._cat_file(paths[index], starts[index], ends[index])
            except Exception as exc:
                if on_error != "return":
                    raise
                return exc

        return await map_limited(one, range(len(paths)), self.concurrency)

    async def _get_file(
        self, rpath: str, lpath: str, callback: Any = DEFAULT_CALLBACK, **kwargs: Any
    ) -> None:
        if self.artifact_mode:
            data = await self._cat_file(rpath)
            await asyncio.to_thread(_write_local, lpath, data)
            return
        await files.get_file(self.provider, rpath, lpath, callback)

    # -- writing ---------------------------------------------------------------

    async def _pipe_file(
        self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any
    ) -> None:
        self._writable(path)
        key = files.key_of(path, reading=False)
        put_mode: PutMode = "create" if mode == "create" else "overwrite"
        await self.provider.put(key, bytes(value), mode=put_mode)

    async def _put_file(
        self,
        lpath: str,
        rpath: str,
        callback: Any = DEFAULT_CALLBACK,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        self._writable(rpath)
        if mode == "create" and await self._exists(rpath):
            raise FileExistsError(errno.EEXIST, "file exists", rpath)
        await files.put_file(self.provider, lpath, rpath, callback)

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        self._writable(path2)
        src, dst = files.key_of(path1), files.key_of(path2, reading=False)
        try:
            await self.provider.copy(src, dst)
        except NotFound:
            if not await self.provider.is_dir(src):
                raise
            # a folder: it comes into being with the files copied into it (as on S3)

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        self._writable(path)
        key = files.key_of(path, reading=False)
        if key:
            await self.provider.delete(key)

    async def _rm(
        self,
        path: Any,
        recursive: bool = False,
        batch_size: int | None = None,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        self._writable(str(path))
        expanded = await self._expanded(path, recursive, maxdepth, False)
        # deepest first, level by level: a folder goes after what was in it
        for depth in sorted({p.count("/") for p in expanded}, reverse=True):
            level = [(p, entry) for p, entry in expanded.items() if p.count("/") == depth]
            await map_limited(self._rm_entry, level, self.concurrency)

    async def _rm_entry(self, item: tuple[str, dict[str, Any]]) -> None:
        """Delete a file, or remove a folder that is empty by now (markers included):
        a provider's ``delete`` is for objects only. A listing already said which
        it is, except for a path named outright (then the provider is asked)."""
        path, entry = item
        key = files.key_of(path, reading=False)
        kind = entry.get("type")
        if kind is None and key:
            kind = "directory" if await self.provider.is_dir(key) else "file"
        if kind == "directory":
            if key:
                with contextlib.suppress(NotFound):  # a folder only while it held objects
                    await self.provider.remove_folder(key)
        else:
            await self._rm_file(path)

    async def _mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        self._writable(path)
        key = files.key_of(path, reading=False)
        if not create_parents and key and "/" in key:
            parent = key.rsplit("/", 1)[0]
            if not await self.provider.is_dir(parent):
                raise FileNotFoundError(errno.ENOENT, "no parent folder", path)
        if key:
            await self.provider.makedirs(key)

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        self._writable(path)
        key = files.key_of(path, reading=False)
        if not exist_ok and key and await self._exists(key):
            raise FileExistsError(errno.EEXIST, "exists", path)
        if key:
            await self.provider.makedirs(key)

    def modified(self, path: str) -> datetime:
        """When the file was last written (UTC); folders have no time.

        Raises:
            FileNotFoundError: no such file.
            IsADirectoryError: ``path`` is a folder.
        """
        entry = self.info(path)
        if "mtime" not in entry:
            raise IsADirectoryError(errno.EISDIR, "a folder has no modification time", path)
        return datetime.fromtimestamp(entry["mtime"], timezone.utc)

    def created(self, path: str) -> datetime:
        """When the file was written (objects are written whole: the same as ``modified``)."""
        return self.modified(path)

    # -- files -----------------------------------------------------------------

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> StoreroomFile:
        if "r" not in mode:
            self._writable(path)
        return StoreroomFile(
            self, path, mode, block_size or "default", autocommit,
            cache_options=cache_options, **kwargs,
        )


def _check_maxdepth(maxdepth: int | None) -> None:
    """fsspec's rule for ``find`` and ``expand_path``: no limit, or at least one level."""
    if maxdepth is not None and maxdepth < 1:
        raise ValueError("maxdepth must be at least 1")


def _merged(results: Iterable[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The union of expansions; an entry a listing gave beats ``{}``."""
    out: dict[str, dict[str, Any]] = {}
    for result in results:
        for path, entry in result.items():
            if entry or path not in out:
                out[path] = entry
    return out


def _outermost(paths: list[str]) -> list[str]:
    """``paths`` without those under another of them."""
    chosen = set(paths)

    def under_another(path: str) -> bool:
        parts = path.split("/")
        return bool(path and "" in chosen) or any(
            "/".join(parts[:end]) in chosen for end in range(1, len(parts))
        )

    return sorted(path for path in chosen if not under_another(path))


def _blocking(method: Any) -> Any:
    """``method`` (a coroutine function) as a blocking call on storeroom.sync's runner."""

    @functools.wraps(method)
    def call(*args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        coro = method(*args, **kwargs)
        return runner_module.run(asyncio.wait_for(coro, timeout) if timeout else coro)

    return call


def _blocking_iterator(method: Any) -> Any:
    """``method`` (an async generator function) as a blocking generator."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        return iterate(method(*args, **kwargs))

    return call


def _mirror(fs: StoreroomFileSystem) -> None:
    """Give ``fs`` a blocking ``name`` for each ``_name`` coroutine where fsspec's
    ``AbstractFileSystem`` would otherwise run its own default."""
    cls = type(fs)
    for private in dir(cls):
        if not private.startswith("_") or private.startswith("__"):
            continue
        public = private[1:]
        default = getattr(AbstractFileSystem, public, None)
        if default is None or getattr(cls, public, None) is not default:
            continue  # not an fsspec method, or one this class writes itself
        method = getattr(fs, private)
        if inspect.iscoroutinefunction(method):
            setattr(fs, public, _blocking(method))
        elif inspect.isasyncgenfunction(method):
            setattr(fs, public, _blocking_iterator(method))


def _write_local(lpath: str, data: bytes) -> None:
    with open(lpath, "wb") as handle:
        handle.write(data)


async def _close(resource: Any) -> None:
    await resource.aclose()


def _holder(
    store: str | Provider | ArtifactStore, artifacts: bool, options: dict[str, Any]
) -> Facade[Provider | ArtifactStore]:
    """The store, in a holder that builds it again in a forked child (URLs only)."""
    if isinstance(store, str):
        url = store

        def build() -> Provider | ArtifactStore:
            return urls.artifacts(url, **options) if artifacts else urls.provider(url, **options)

        carried = url.lower().startswith("memory://")
        return Facade(build(), reopen=None if carried else build, closer=_close)
    if options:
        raise ConfigurationError(
            f"unknown storage options {sorted(options)} (options go with a store URL)"
        )
    if artifacts and isinstance(store, Provider):
        store = ArtifactStore(store)
    if not isinstance(store, (Provider, ArtifactStore)):
        raise ConfigurationError(
            f"store must be a URL, a Provider or an ArtifactStore, not {type(store).__name__}"
        )
    return Facade(store)


def filesystem(
    store: str | Provider | ArtifactStore | Facade[Any],
    *,
    artifacts: bool = False,
    **options: Any,
) -> StoreroomFileSystem:
    """An fsspec filesystem on ``store``: a URL, a provider or an artifact store,
    async or from :mod:`storeroom.sync`.

    An :class:`~storeroom.artifactstore.ArtifactStore` shows its artifacts;
    pass ``artifacts=True`` to show the artifacts kept on a provider or URL.
    """
    target: str | Provider | ArtifactStore = store.aio if isinstance(store, Facade) else store
    return StoreroomFileSystem(target, artifacts=artifacts, **options)

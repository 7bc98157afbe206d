"""storeroom from plain synchronous code: scripts, notebooks, threads.

``storeroom.sync.provider(url)``, ``files(url)``, ``artifacts(url)`` and
``cache(url)`` take the same URLs and options as the async factories and
return objects whose methods have the same names, signatures and errors, as
ordinary functions; each is a context manager that closes what it opened::

    with storeroom.sync.files("memory://") as store:
        store.write_text("a.txt", "hello")
        assert store.read_text("a.txt") == "hello"

The classes are generated from the async ones (``generate.py`` writes
``api.py``), so the two surfaces cannot drift. Calls run on one background
event loop per process (``runner.py``); a call that needs no waiting runs in
the caller's thread without touching it. The rules: any thread may call;
inside a running loop (Jupyter) calls still work; after ``os.fork()`` the
child gets a fresh loop and fresh clients (an object store whose runtime
did not survive the fork raises :class:`ForkedRuntimeError`); async code storeroom is running
must await the async API instead (a blocking call there raises
:class:`LoopThreadError`).
"""

from __future__ import annotations

from typing import Any, overload

from .. import urls
from ..artifactstore import ArtifactStore as _AsyncArtifactStore
from ..caches.base import Cache as _AsyncCache
from ..filestore import FileStore as _AsyncFileStore
from ..providers.base import Provider as _AsyncProvider
from .api import ArtifactStore, Cache, FileStore, Provider
from .facade import Facade
from .forkcheck import ForkedRuntimeError
from .runner import LoopThreadError

__all__ = [
    "ArtifactStore",
    "Cache",
    "Facade",
    "FileStore",
    "ForkedRuntimeError",
    "LoopThreadError",
    "Provider",
    "artifacts",
    "cache",
    "files",
    "provider",
    "wrap",
]


def _carried(url: str) -> bool:
    """Whether a forked child keeps the parent's object (memory: fork copied it)."""
    return url.lower().startswith("memory://")


async def _close(resource: Any) -> None:
    await resource.aclose()


async def _close_provider(store: _AsyncFileStore) -> None:
    await store.provider.aclose()


def provider(url: str, **options: Any) -> Provider:
    """The blocking :class:`Provider` for ``url`` (as :func:`storeroom.provider`)."""
    def build() -> _AsyncProvider:
        return urls.provider(url, **options)

    return Provider(build(), reopen=None if _carried(url) else build, closer=_close)


def files(url: str, **options: Any) -> FileStore:
    """The blocking :class:`FileStore` for ``url`` (as :func:`storeroom.files`)."""
    def build() -> _AsyncFileStore:
        return urls.files(url, **options)

    return FileStore(build(), reopen=None if _carried(url) else build, closer=_close_provider)


def artifacts(url: str, **options: Any) -> ArtifactStore:
    """The blocking :class:`ArtifactStore` for ``url`` (as :func:`storeroom.artifacts`)."""
    def build() -> _AsyncArtifactStore:
        return urls.artifacts(url, **options)

    return ArtifactStore(build(), reopen=None if _carried(url) else build, closer=_close)


def cache(url: str, **options: Any) -> Cache:
    """The blocking :class:`Cache` for ``url`` (as :func:`storeroom.cache`)."""
    def build() -> _AsyncCache:
        return urls.cache(url, **options)

    return Cache(build(), reopen=None if _carried(url) else build, closer=_close)


@overload
def wrap(obj: _AsyncProvider) -> Provider: ...
@overload
def wrap(obj: _AsyncFileStore) -> FileStore: ...
@overload
def wrap(obj: _AsyncArtifactStore) -> ArtifactStore: ...
@overload
def wrap(obj: _AsyncCache) -> Cache: ...
def wrap(obj: Any) -> Facade[Any]:
    """A blocking face on an async object you already have.

    The facade does not close ``obj`` (whoever opened it closes it), and a
    forked child keeps using ``obj``: build objects that hold connections in
    the child instead.

    Raises:
        TypeError: ``obj`` is none of Provider, FileStore, ArtifactStore, Cache.
    """
    if isinstance(obj, _AsyncProvider):
        return Provider(obj)
    if isinstance(obj, _AsyncFileStore):
        return FileStore(obj)
    if isinstance(obj, _AsyncArtifactStore):
        return ArtifactStore(obj)
    if isinstance(obj, _AsyncCache):
        return Cache(obj)
    raise TypeError(f"cannot wrap {type(obj).__name__}: not a storeroom store, provider or cache")

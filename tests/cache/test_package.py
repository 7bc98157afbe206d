"""The public face of ``storeroom.caches``: ``__all__`` complete, Redis loaded lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import storeroom

package = importlib.import_module("storeroom.caches")


def test_package_and_factory_names_never_meet() -> None:
    # One name, one thing: the factories are functions whatever was imported before.
    import storeroom.artifactstore
    import storeroom.caches  # noqa: F401

    assert callable(storeroom.cache) and callable(storeroom.artifacts)
    assert not hasattr(storeroom.cache, "__path__")
    assert not hasattr(storeroom.artifacts, "__path__")


def test_all_names_resolve_and_nothing_public_is_left_out() -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations", "TYPE_CHECKING", "Any"} == set(package.__all__)


def test_the_url_factory_keeps_its_name_after_the_package_loads() -> None:
    importlib.import_module("storeroom.caches.redis")  # loading a submodule must not rebind it

    assert callable(storeroom.cache)
    assert type(storeroom.cache("memory://")).__name__ == "MemoryCache"


def test_importing_storeroom_does_not_load_redis() -> None:
    code = "import sys, storeroom; print('redis' in sys.modules, 'msgpack' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]

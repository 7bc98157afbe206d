"""The public face of ``storeroom.cache``: ``__all__`` complete, Redis loaded lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import storeroom

# ``storeroom.cache`` is the URL factory; the package is reached through import_module.
package = importlib.import_module("storeroom.cache")


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
    importlib.import_module("storeroom.cache.redis")  # loading a submodule must not rebind it

    assert callable(storeroom.cache)
    assert type(storeroom.cache("memory://")).__name__ == "MemoryCache"


def test_importing_storeroom_does_not_load_redis() -> None:
    code = "import sys, storeroom; print('redis' in sys.modules, 'msgpack' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]

"""The sync surface is the async one: same names, same signatures, and api.py is current."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import storeroom.sync
from storeroom.sync import generate


def test_api_module_is_what_the_generator_writes() -> None:
    written = (Path(generate.__file__).with_name("api.py")).read_text(encoding="utf-8")
    assert written == generate.render(), "run: python -m storeroom.sync.generate"


@pytest.mark.parametrize("sync_name", sorted(generate.SURFACES))
def test_every_public_name_has_the_same_signature(sync_name: str) -> None:
    async_cls = generate.load(generate.SURFACES[sync_name])
    sync_cls = getattr(storeroom.sync, sync_name)
    for name in generate.public_names(async_cls):
        async_attr = inspect.getattr_static(async_cls, name)
        sync_attr = inspect.getattr_static(sync_cls, name)
        if not callable(async_attr):
            assert isinstance(sync_attr, property), name
            continue
        async_sig = inspect.signature(getattr(async_cls, name))
        sync_sig = inspect.signature(getattr(sync_cls, name))
        assert list(sync_sig.parameters) == list(async_sig.parameters), name
        for param in async_sig.parameters.values():
            twin = sync_sig.parameters[param.name]
            assert (twin.kind, twin.default, twin.annotation) == (
                param.kind,
                param.default,
                param.annotation,
            ), f"{sync_name}.{name}({param.name})"
        assert sync_sig.return_annotation == generate.sync_annotation(
            str(async_sig.return_annotation)
        ), name
        assert not inspect.iscoroutinefunction(getattr(sync_cls, name)), name


def test_no_public_name_is_missing_or_extra() -> None:
    own = {"aio", "close"}
    for sync_name, target in generate.SURFACES.items():
        async_names = set(generate.public_names(generate.load(target)))
        sync_cls = getattr(storeroom.sync, sync_name)
        sync_names = {n for n in dir(sync_cls) if not n.startswith("_")} - own
        assert sync_names == async_names, sync_name


def test_a_surface_change_changes_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """The drift check can fail: a new async method shows up in the rendered module."""
    from storeroom.filestore import FileStore

    async def brand_new(self: FileStore, path: str, *, flag: bool = False) -> int:
        """A method added to the async class."""
        return 1

    monkeypatch.setattr(FileStore, "brand_new", brand_new, raising=False)
    rendered = generate.render()
    assert "def brand_new(self, path: str, *, flag: bool = False) -> int:" in rendered
    assert "return run(self.aio.brand_new(path, flag=flag))" in rendered


def test_names_imported_for_type_checkers_only_are_found() -> None:
    """An annotation naming a ``TYPE_CHECKING`` import still renders (urls.py has some)."""
    imports = generate._Imports()
    imports.need("Cache | None", {}, "storeroom.urls")
    assert "from storeroom.caches.base import Cache" in imports.lines
    with pytest.raises(NameError, match="Nowhere"):
        imports.need("Nowhere", {}, "storeroom.urls")

"""Whoever opens a resource closes it: a store opened from a URL closes its
provider; a store handed a provider leaves it open for its owner.

Checked by behaviour: a local provider that was closed cannot be used any
more, one that was not still reads and writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import storeroom
from storeroom.artifactstore import ArtifactStore
from storeroom.errors import StorageError
from storeroom.filestore import FileStore
from storeroom.providers.base import Provider
from storeroom.providers.memory import MemoryProvider


class Probe(MemoryProvider):
    """A memory provider that refuses work once closed, as a real one does."""

    def __init__(self) -> None:
        super().__init__("probe")
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1
        await super().aclose()


async def _usable(provider: Provider) -> bool:
    try:
        await provider.put("probe.txt", b"x")
        return await provider.read("probe.txt") == b"x"
    except StorageError:  # what a closed provider answers
        return False


@pytest.mark.parametrize("factory", [storeroom.files, storeroom.artifacts])
async def test_a_store_opened_from_a_url_closes_its_provider(
    factory: object, tmp_path: Path
) -> None:
    assert callable(factory)
    async with factory(str(tmp_path / "root")) as store:
        provider = store.provider
        assert await _usable(provider)
    assert not await _usable(provider)


@pytest.mark.parametrize("make", [FileStore, ArtifactStore])
async def test_a_store_handed_a_provider_leaves_it_open(make: object, tmp_path: Path) -> None:
    assert callable(make)
    async with storeroom.provider(str(tmp_path / "root")) as provider:
        async with make(provider) as store:
            assert store.provider is provider
        assert await _usable(provider)  # still the owner's to use ...
    assert not await _usable(provider)  # ... and to close


@pytest.mark.parametrize("make", [FileStore, ArtifactStore])
async def test_ownership_can_be_handed_over(make: object) -> None:
    assert callable(make)
    kept, handed = Probe(), Probe()
    await make(kept).aclose()
    await make(handed, owns_provider=True).aclose()
    assert (kept.closed, handed.closed) == (0, 1)

"""A hypothesis state machine of every backend, checked against a dict.

Each example opens a fresh provider from the registry on an event loop the
machine owns (hypothesis drives steps synchronously), runs up to 30 random
operations and closes it. The number of examples comes from the registry
(fewer on remote backends).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from storeroom import AlreadyExists, IfMatch, NotFound, PreconditionFailed, Provider, paths
from tests.conformance.support import LoopedProvider

if TYPE_CHECKING:
    from tests.conformance.conftest import Backend

_T = TypeVar("_T")

# No key is a folder of another key: a local folder cannot hold an object and a
# folder of the same name, and the contract leaves that case open.
KEYS = st.sampled_from(["a", "b.txt", "d/x", "d/y", "d/e/z", "f/g/h"])
FOLDERS = st.sampled_from(["d", "d/e", "f", "f/g", "m", "m/n"])
PREFIXES = st.sampled_from(["", "d", "d/", "d/e", "f", "f/g", "m", "nothing"])
DATA = st.binary(max_size=48)


class ProviderMachine(RuleBasedStateMachine):
    """Random operations on a provider, each checked against ``self.model``."""

    def __init__(self, backend: Backend, request: pytest.FixtureRequest) -> None:
        super().__init__()
        self.looped = LoopedProvider(backend.open(request))
        self.provider: Provider = self.looped.provider
        self.capabilities = self.provider.capabilities
        self.model: dict[str, bytes] = {}
        self.etags: dict[str, str | None] = {}
        #: Every (etag, data) a key has had, for stale compare-and-swaps.
        self.history: dict[str, list[tuple[str, bytes]]] = {}
        self.made: set[str] = set()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return self.looped.run(coroutine)

    def teardown(self) -> None:
        self.looped.close()

    def stored(self, key: str, data: bytes, etag: str | None) -> None:
        self.model[key] = data
        self.etags[key] = etag
        if etag is not None:
            self.history.setdefault(key, []).append((etag, data))

    def learn(self, key: str) -> None:
        """Record the etag of ``key`` after a copy or a rename made it."""
        self.stored(key, self.model[key], self.run(self.provider.head(key)).etag)

    # -- writes ---------------------------------------------------------------

    @rule(key=KEYS, data=DATA)
    def put(self, key: str, data: bytes) -> None:
        meta = self.run(self.provider.put(key, data))
        assert (meta.path, meta.size) == (key, len(data))
        self.stored(key, data, meta.etag)

    @precondition(lambda self: self.capabilities.create_if_absent)
    @rule(key=KEYS, data=DATA)
    def create(self, key: str, data: bytes) -> None:
        if key in self.model:
            with pytest.raises(AlreadyExists):
                self.run(self.provider.put(key, data, mode="create"))
        else:
            self.stored(key, data, self.run(self.provider.put(key, data, mode="create")).etag)

    @precondition(lambda self: self.capabilities.compare_and_swap)
    @rule(key=KEYS, data=DATA)
    def compare_and_swap(self, key: str, data: bytes) -> None:
        etag = self.etags.get(key)
        if key in self.model and etag is not None:
            self.stored(key, data, self.run(self.provider.put(key, data, mode=IfMatch(etag))).etag)
        else:
            with pytest.raises(PreconditionFailed):
                self.run(self.provider.put(key, data, mode=IfMatch(etag or "no-such-etag")))

    @precondition(lambda self: self.capabilities.compare_and_swap)
    @rule(key=KEYS, data=DATA, choice=st.data())
    def stale_compare_and_swap(self, key: str, data: bytes, choice: st.DataObject) -> None:
        current = self.model.get(key)
        # Etags of identical bytes may be equal (an MD5 on S3): only older, other contents.
        stale = [etag for etag, old in self.history.get(key, []) if old != current]
        if not stale:
            return
        etag = choice.draw(st.sampled_from(stale))
        with pytest.raises(PreconditionFailed):
            self.run(self.provider.put(key, data, mode=IfMatch(etag)))

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        self.run(self.provider.delete(key))
        self.model.pop(key, None)
        self.etags.pop(key, None)

    @rule(src=KEYS, dst=KEYS, overwrite=st.booleans())
    def copy(self, src: str, dst: str, overwrite: bool) -> None:
        if src not in self.model:
            with pytest.raises(NotFound):
                self.run(self.provider.copy(src, dst, overwrite=overwrite))
        elif dst in self.model and not overwrite:
            with pytest.raises(AlreadyExists):
                self.run(self.provider.copy(src, dst, overwrite=overwrite))
        else:
            self.run(self.provider.copy(src, dst, overwrite=overwrite))
            self.model[dst] = self.model[src]
            self.learn(dst)

    @rule(src=KEYS, dst=KEYS, overwrite=st.booleans())
    def rename(self, src: str, dst: str, overwrite: bool) -> None:
        if src not in self.model:
            with pytest.raises(NotFound):
                self.run(self.provider.rename(src, dst, overwrite=overwrite))
        elif src == dst:
            self.run(self.provider.rename(src, dst, overwrite=overwrite))
        elif dst in self.model and not overwrite:
            with pytest.raises(AlreadyExists):
                self.run(self.provider.rename(src, dst, overwrite=overwrite))
        else:
            self.run(self.provider.rename(src, dst, overwrite=overwrite))
            self.model[dst] = self.model.pop(src)
            self.etags.pop(src, None)
            self.learn(dst)

    @rule(folder=FOLDERS)
    def makedirs(self, folder: str) -> None:
        self.run(self.provider.makedirs(folder))
        if self.capabilities.empty_folders:
            self.made.add(folder)

    # -- reads ----------------------------------------------------------------

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        if key not in self.model:
            with pytest.raises(NotFound):
                self.run(self.provider.get(key))
            assert not self.run(self.provider.exists(key))
            return
        got = self.run(self.provider.get(key))
        assert got.data == self.model[key]
        assert (got.meta.path, got.meta.size) == (key, len(self.model[key]))
        assert got.meta.etag == self.etags[key]

    @rule(key=KEYS)
    def head(self, key: str) -> None:
        if key not in self.model:
            with pytest.raises(NotFound):
                self.run(self.provider.head(key))
            return
        meta = self.run(self.provider.head(key))
        assert (meta.path, meta.size, meta.etag) == (key, len(self.model[key]), self.etags[key])

    @rule(key=KEYS, start=st.integers(0, 60), length=st.none() | st.integers(0, 60))
    def read_range(self, key: str, start: int, length: int | None) -> None:
        end = None if length is None else start + length
        if key not in self.model:
            with pytest.raises(NotFound):
                self.run(self.provider.read_range(key, start, end))
            return
        assert self.run(self.provider.read_range(key, start, end)) == self.model[key][start:end]

    @rule(prefix=PREFIXES)
    def list(self, prefix: str) -> None:
        folder = paths.validate_prefix(prefix)
        expected = sorted(key for key in self.model if key.startswith(folder))
        assert self.run(self.provider.list(prefix)) == expected

    @rule(prefix=PREFIXES)
    def list_dir(self, prefix: str) -> None:
        folder = paths.validate_prefix(prefix)
        listing = self.run(self.provider.list_dir(prefix))
        direct = sorted(k for k in self.model if paths.parent(k) == folder)
        assert [(m.path, m.size) for m in listing.objects] == [
            (key, len(self.model[key])) for key in direct
        ]
        required = set()
        for entry in [*self.model, *(made + "/" for made in self.made)]:
            rest = entry[len(folder) :] if entry.startswith(folder) else ""
            if "/" in rest:
                required.add(folder + rest.split("/")[0] + "/")
        assert required <= set(listing.folders)
        # Folders left empty by deletes and renames may linger where folders are real.
        for extra in set(listing.folders) - required:
            assert self.capabilities.empty_folders, extra
            assert not any(key.startswith(extra) for key in self.model), extra
        assert list(listing.folders) == sorted(listing.folders)

    @rule(folder=FOLDERS)
    def is_dir(self, folder: str) -> None:
        inside = [*self.model, *(made + "/" for made in self.made)]
        expected = any(entry.startswith(folder + "/") for entry in inside)
        found = self.run(self.provider.is_dir(folder))
        if expected:
            assert found
        elif found:  # a folder left empty may linger where folders are real
            assert self.capabilities.empty_folders

    @invariant()
    def listing_matches(self) -> None:
        assert self.run(self.provider.list()) == sorted(self.model)


def test_state_machine(backend: Backend, request: pytest.FixtureRequest) -> None:
    class Machine(ProviderMachine):
        def __init__(self) -> None:
            super().__init__(backend, request)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=backend.state_machine_examples,
            stateful_step_count=30,
            deadline=None,
        ),
    )

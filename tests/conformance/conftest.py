"""The backend registry of the conformance suite, and the ``provider`` fixture.

Every test in ``tests/conformance`` that takes ``provider`` runs once per entry
of :data:`BACKENDS`, each time on a fresh, empty store under a random prefix
(a fresh folder for ``local``), closed after the test.

Adding a backend is one entry in :data:`BACKENDS`. A backend served by a test
service (a session fixture whose value has ``.url(prefix)`` returning a
storeroom URL, e.g. ``s3_server`` from ``tests/services``) needs no code::

    "s3": Backend(from_server("s3_server"), remote=True),

A backend that needs more writes a factory: an async context manager that is
given the pytest ``request`` (to ask for fixtures with
``request.getfixturevalue``) and yields a fresh :class:`~storeroom.Provider`.
``remote=True`` marks a backend that talks to a server: the suite then runs
fewer race rounds and fewer hypothesis examples on it. :func:`local` takes
provider options, so a variant is one entry too (``local(durable=True)``).

Tests that need processes sharing one store (the cross-process races) or the
file system around a root (symlinks) are local-only and open their own
provider; everything else takes ``provider`` and runs on every backend.

Tests skip by declared capability (``provider.capabilities``), never by
backend name; the skip reason says which capability is missing and why the
test needs it.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

import storeroom
from storeroom import MemoryProvider, Provider
from tests.cache.support import open_cached_provider

#: A backend factory: given the pytest request, a context yielding a fresh provider.
Factory = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[Provider]]


class ServerFixture(Protocol):
    """What a service fixture offers to :func:`from_server`."""

    def url(self, prefix: str) -> str:
        """A storeroom URL for a fresh store under ``prefix``."""


@dataclass(frozen=True)
class Backend:
    """One entry of the registry.

    Attributes:
        open: the factory of fresh, empty providers.
        remote: the backend talks to a server (slower): fewer rounds and examples.
    """

    open: Factory
    remote: bool = False

    @property
    def race_rounds(self) -> int:
        """Rounds of the create-if-absent race (each with 32 writers)."""
        return 25 if self.remote else 100

    @property
    def state_machine_examples(self) -> int:
        """Examples of the hypothesis state machine."""
        return 10 if self.remote else 100


def random_prefix() -> str:
    """A fresh prefix for one test's store (short: keys count toward backend limits)."""
    return f"cf-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def open_memory(request: pytest.FixtureRequest) -> AsyncIterator[Provider]:
    """A fresh :class:`MemoryProvider`."""
    async with MemoryProvider(random_prefix()) as provider:
        yield provider


def local(**options: Any) -> Factory:
    """A factory of :class:`LocalProvider` on a fresh folder ``<tmp_path>/root-*``.

    Everything else under ``tmp_path`` is "outside the root": tests that pass
    hostile keys check that nothing appears there. ``options`` go to
    :func:`storeroom.provider` (e.g. ``durable=True``).
    """

    @asynccontextmanager
    async def open_local(request: pytest.FixtureRequest) -> AsyncIterator[Provider]:
        tmp_path: Path = request.getfixturevalue("tmp_path")
        root = tempfile.mkdtemp(prefix="root-", dir=tmp_path)
        async with storeroom.provider(root, **options) as provider:
            yield provider

    return open_local


def from_server(fixture: str) -> Factory:
    """A factory for a backend whose test service is the session fixture ``fixture``."""

    @asynccontextmanager
    async def open_remote(request: pytest.FixtureRequest) -> AsyncIterator[Provider]:
        server: ServerFixture = request.getfixturevalue(fixture)
        async with storeroom.provider(server.url(random_prefix())) as provider:
            yield provider

    return open_remote


#: Every backend the conformance suite runs on: name -> :class:`Backend`.
BACKENDS: dict[str, Backend] = {
    "memory": Backend(open_memory),
    "cached": Backend(open_cached_provider),
    "local": Backend(local()),
    # durable=True runs every write in a thread: the in-process races become real.
    "local-durable": Backend(local(durable=True)),
    "s3": Backend(from_server("s3_server"), remote=True),
    "azure": Backend(from_server("azure_server"), remote=True),
    "gcs": Backend(from_server("gcs_server"), remote=True),
}


@pytest.fixture(params=list(BACKENDS))
def backend_name(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test (one run per registry entry)."""
    name: str = request.param
    return name


@pytest.fixture
def backend(backend_name: str) -> Backend:
    """The registry entry of the backend under test."""
    return BACKENDS[backend_name]


@pytest.fixture
async def provider(backend: Backend, request: pytest.FixtureRequest) -> AsyncIterator[Provider]:
    """A fresh, empty provider of the backend under test, closed after the test."""
    async with backend.open(request) as fresh:
        yield fresh

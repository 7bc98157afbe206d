"""Remote faults: S3 and Azure through a proxy that throttles, resets and stalls.

The fault proxy (``tests/services/faultproxy.py``) sits between the provider and
the emulator. ``tests/cloud/test_retry.py`` covers 1,000 plain puts and gets on
S3; this module runs, on S3 and Azure: puts and gets; creates (``mode="create"``)
and a compare-and-swap counter, where a reset after the server applied the
request makes the retry meet its own write; versioned stores; and stalls.

Pass: every operation succeeds within the retry budget or fails with
``BackendUnavailable`` (a create or an ``IfMatch`` refused because of its own
earlier try is a failure); no read returns wrong bytes; read back without the
proxy, the store holds exactly what the acknowledged writes say; the artifact
has versions v1..vN, each stored content once, every acknowledged version
with its content.

About 150 operations per backend by default (one stall), 1,000 with
``--soak`` (six stalls). Stalls last 2 s; the client gives up on a request
after 1 s and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

import storeroom
from storeroom import (
    AlreadyExists,
    BackendUnavailable,
    IfMatch,
    NotFound,
    PreconditionFailed,
    Provider,
)
from storeroom.artifactstore import ArtifactStore
from tests.cloud.support import run_limited, unique_prefix
from tests.reliability.conftest import Budget
from tests.services.cloud import CloudServer
from tests.services.faultproxy import FaultProxy

_T = TypeVar("_T")

#: The production retry logic with a short request timeout (a 2 s stall is
#: noticed after 1 s); :func:`through_proxy` adds short backoffs.
CLIENT = {
    "timeout": "1",
    "connect_timeout": "1",
    "max_retries": "8",
}
CONCURRENCY = 8
ARTIFACT = "faulty/report.bin"


@pytest.fixture(params=["s3", "azure"])
def server(request: pytest.FixtureRequest) -> CloudServer:
    """The emulator of each backend that declares conditional writes."""
    found: CloudServer = request.getfixturevalue(f"{request.param}_server")
    return found


def server_direct(server: CloudServer, prefix: str) -> Provider:
    """A provider for ``prefix`` on ``server``, not through any proxy (for checking)."""
    return storeroom.provider(server.url(prefix))


@asynccontextmanager
async def through_proxy(
    server: CloudServer, prefix: str, rate: float, kinds: list[str], backoff: str = "0.01"
) -> AsyncIterator[tuple[Provider, FaultProxy]]:
    """A provider for ``prefix`` on ``server`` whose requests all pass a fresh fault proxy
    (faults of ``kinds`` in a fraction ``rate`` of the requests; stalls last 2 s;
    retries wait up to ``backoff`` seconds at first)."""
    endpoint = urlsplit(server.endpoint)
    upstream = f"{endpoint.scheme}://{endpoint.netloc}"
    with FaultProxy(upstream, rate=rate, kinds=kinds, stall_seconds=2.0) as proxy:
        parts = urlsplit(server.url(prefix))
        query = dict(parse_qsl(parts.query))
        query.update(endpoint=proxy.endpoint + endpoint.path, **CLIENT)
        query.update(backoff_initial=backoff, backoff_max=str(max(float(backoff), 0.2)))
        async with storeroom.provider(parts._replace(query=urlencode(query)).geturl()) as provider:
            yield provider, proxy


def payload(label: str) -> bytes:
    """Distinct bytes (1-16 KiB) for ``label``, so a mix-up or a truncation shows."""
    seed = hashlib.sha256(label.encode()).digest()
    size = random.Random(label).randint(1024, 16 * 1024)
    return (seed * (size // len(seed) + 1))[:size]


@dataclass
class Tally:
    """Outcomes of the operations through the proxy."""

    ok: Counter[str] = field(default_factory=Counter)
    unavailable: Counter[str] = field(default_factory=Counter)

    async def run(self, what: str, operation: Callable[[], Awaitable[_T]]) -> _T | None:
        """Run ``operation``: its result, or None if it ended in ``BackendUnavailable``.

        Any other exception is a failure of the test.
        """
        try:
            result = await operation()
        except BackendUnavailable:
            self.unavailable[what] += 1
            return None
        self.ok[what] += 1
        return result


@dataclass
class Faulty:
    """One test's store: a provider through the fault proxy, and the same store direct."""

    provider: Provider
    proxy: FaultProxy
    server: CloudServer
    prefix: str
    tally: Tally

    def direct(self) -> Provider:
        """A provider for the same store, not through the proxy (for checking)."""
        return server_direct(self.server, self.prefix)


@pytest.fixture
async def faulty(server: CloudServer, figures: Counter[str]) -> AsyncIterator[Faulty]:
    """A fresh store on each backend behind a proxy failing 20% of requests.

    The faults are 503 SlowDown and resets mid-body; stalls have their own test.
    """
    prefix = unique_prefix("faults")
    tally = Tally()
    kinds = ["slowdown", "reset"]
    async with through_proxy(server, prefix, 0.2, kinds) as (provider, proxy):
        yield Faulty(provider, proxy, server, prefix, tally)
    record(figures, server, tally, proxy)


def record(figures: Counter[str], server: CloudServer, tally: Tally, proxy: FaultProxy) -> None:
    """Add one test's counts to the figures printed at the end of the run."""
    label = f"remote faults ({server.scheme})"
    figures[f"{label}: operations"] += sum((tally.ok + tally.unavailable).values())
    figures[f"{label}: ended in BackendUnavailable"] += sum(tally.unavailable.values())
    for kind, count in proxy.injected.items():
        figures[f"{label}: {kind} injected"] += count


async def test_puts_and_gets_return_whole_acknowledged_bytes(
    faulty: Faulty, budget: Budget
) -> None:
    count = budget.remote_operations * 3 // 10
    provider, tally = faulty.provider, faulty.tally
    acked: dict[str, bytes] = {}

    async def put(number: int) -> None:
        key = f"put/{number}"
        if await tally.run("put", lambda: provider.put(key, payload(key))) is not None:
            acked[key] = payload(key)

    async def get(number: int) -> None:
        key = f"put/{number}"
        try:
            data = await tally.run("get", lambda: provider.read(key))
        except NotFound:
            assert key not in acked, f"acknowledged {key} is gone"
            return
        assert data is None or data == payload(key), f"wrong bytes for {key}"

    await run_limited(range(count), CONCURRENCY, put)
    await run_limited(range(count), CONCURRENCY, get)
    async with faulty.direct() as direct:
        for key, data in acked.items():
            assert await direct.read(key) == data, f"{key} does not hold its acknowledged bytes"
    assert faulty.proxy.injected["slowdown"], "no 503 was injected"
    assert faulty.proxy.injected["reset"], "no reset was injected"


async def test_create_if_absent_is_not_refused_by_its_own_retry(
    faulty: Faulty, budget: Budget
) -> None:
    """A create whose first try landed but whose answer was lost must not say AlreadyExists."""
    count = budget.remote_operations * 15 // 100
    provider, tally = faulty.provider, faulty.tally
    refused: list[str] = []

    async def create(number: int) -> None:
        key = f"create/{number}"
        try:
            await tally.run("create", lambda: provider.put(key, payload(key), mode="create"))
        except AlreadyExists:
            refused.append(key)

    await run_limited(range(count), CONCURRENCY, create)
    async with faulty.direct() as direct:
        for number in range(count):
            key = f"create/{number}"
            with contextlib.suppress(NotFound):
                assert await direct.read(key) == payload(key), f"wrong bytes at {key}"
    assert not refused, f"creates refused by their own earlier try: {refused}"


async def test_compare_and_swap_counter_counts_every_acknowledged_add(
    faulty: Faulty, budget: Budget
) -> None:
    """One writer adds 1 by ``IfMatch``: no add lost, none reported lost that landed."""
    count = budget.remote_operations // 10
    provider, tally = faulty.provider, faulty.tally
    async with faulty.direct() as direct:
        await direct.put("counter", b"0")
    acked = unavailable = 0
    refused = 0
    for _ in range(count):
        current = await tally.run("get", lambda: provider.get("counter"))
        if current is None:
            continue
        etag = current.meta.etag
        assert etag is not None
        add = partial(provider.put, "counter", b"%d" % (int(current.data) + 1), mode=IfMatch(etag))
        try:
            done = await tally.run("ifmatch", add)
        except PreconditionFailed:
            refused += 1  # a lone writer's etag cannot have moved: only its own retry moved it
            continue
        if done is None:
            unavailable += 1
        else:
            acked += 1
    async with faulty.direct() as direct:
        total = int(await direct.read("counter"))
    assert acked <= total <= acked + unavailable + refused, (total, acked, unavailable, refused)
    assert refused == 0, f"{refused} adds refused by their own earlier try (counter {total})"


async def test_versioned_stores_allocate_each_version_once(
    faulty: Faulty, budget: Budget
) -> None:
    count = budget.remote_operations * 15 // 100
    store, tally = ArtifactStore(faulty.provider), faulty.tally
    acked: dict[str, bytes] = {}

    async def store_one(number: int) -> None:
        data = payload(f"version/{number}")
        result = await store.store_artifact(ARTIFACT, data, "application/octet-stream")
        if result.success:
            assert result.data is not None
            tally.ok["store_artifact"] += 1
            acked[result.data["version"]] = data
        else:
            assert result.metadata["code"] == "backend_unavailable", result.error
            tally.unavailable["store_artifact"] += 1

    await run_limited(range(count), CONCURRENCY, store_one)
    async with faulty.direct() as direct:
        checked = ArtifactStore(direct)
        found = await checked.get_artifact_versions(ARTIFACT)
        assert found == [f"v{n}" for n in range(1, len(found) + 1)], f"gap in {found}"
        contents = [await checked.get_artifact_bytes(ARTIFACT, version) for version in found]
    for version, data in acked.items():
        assert contents[found.index(version)] == data, f"{version} lost its content"
    duplicated = [v for v, c in zip(found, contents, strict=True) if contents.count(c) > 1]
    assert not duplicated, f"one store became several versions: {duplicated}"


async def test_stalls_end_in_a_retry_or_backend_unavailable(
    server: CloudServer, budget: Budget, figures: Counter[str]
) -> None:
    prefix = unique_prefix("stalls")
    tally = Tally()
    async with through_proxy(server, prefix, 0.5, ["stall"]) as (provider, proxy):
        data = payload("stalled")
        await tally.run("put", lambda: provider.put("stalled", data))
        while proxy.injected["stall"] < budget.stalls:
            read = await tally.run("get", lambda: provider.read("stalled"))
            assert read is None or read == data, "wrong bytes after a stall"
        record(figures, server, tally, proxy)


@pytest.mark.parametrize("replacement", ["shorter", "longer"])
async def test_a_read_cut_short_while_the_object_is_replaced_is_whole(
    server: CloudServer, replacement: str
) -> None:
    """A GET reset mid-body is resumed by the client with a range request; if the
    object was replaced in between (by a shorter or a longer one), the read must
    return one whole version or raise ``BackendUnavailable``: never a mix of
    the two, never another error.

    The proxy resets the first GET, then answers 503 to the resumed requests
    until the object has been replaced, then lets them through.
    """
    prefix = unique_prefix("resume")
    old = payload("old") * 4
    new = b"new and much shorter" if replacement == "shorter" else payload("new") * 8
    async with server_direct(server, prefix) as direct:
        await direct.put("obj", old)
        async with through_proxy(server, prefix, 1.0, ["reset"], backoff="0.05") as (
            provider,
            proxy,
        ):
            reading = asyncio.ensure_future(provider.read("obj"))
            while not proxy.injected["reset"]:  # noqa: ASYNC110 (the proxy has no event)
                await asyncio.sleep(0.001)
            proxy.kinds = ("slowdown",)
            await asyncio.sleep(0.1)  # the cut-short body has reached the client
            await direct.put("obj", new)
            proxy.rate = 0.0
            try:
                data = await reading
            except BackendUnavailable:
                return
    assert proxy.injected["slowdown"], "the read was not resumed while the object changed"
    assert data in (old, new), f"a torn read: {len(data)} bytes"

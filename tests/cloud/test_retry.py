"""Transient faults are retried with bounded backoff, then surface as BackendUnavailable.

A fault-injecting proxy (``tests/services/faultproxy.py``) sits between the
S3 provider and moto's server: 503 SlowDown, connections reset in the middle
of a body, and stalls longer than the client's timeout.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

import storeroom
from storeroom import BackendUnavailable, IfMatch, Provider
from tests.services.cloud import CloudServer
from tests.services.faultproxy import FAULT_KINDS, FaultProxy

from .support import run_limited, unique_prefix

#: Client settings of these tests: a short timeout (so stalls are noticed
#: quickly) and short backoffs (so the test is quick); the retry logic is the
#: production one.
_FAST_RETRIES = {
    "timeout": "0.5",
    "connect_timeout": "0.5",
    "backoff_initial": "0.01",
    "backoff_max": "0.2",
}


def _through(proxy: FaultProxy, url: str, **options: str) -> str:
    """``url`` with its endpoint replaced by the proxy's, plus ``options``."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(endpoint=proxy.endpoint, **_FAST_RETRIES, **options)
    return parts._replace(query=urlencode(query)).geturl()


@pytest.fixture
def proxy(s3_server: CloudServer) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.endpoint, rate=0.2, stall_seconds=0.8, seed=7) as running:
        yield running


def _payload(index: int) -> bytes:
    """A distinct payload of 1-16 KiB, so a mix-up or a truncated body shows."""
    size = random.Random(index).randint(1024, 16 * 1024)
    seed = hashlib.sha256(str(index).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


async def test_a_thousand_puts_and_gets_survive_twenty_percent_faults(
    s3_server: CloudServer, proxy: FaultProxy
) -> None:
    url = _through(proxy, s3_server.url(unique_prefix("faults")), max_retries="10")
    count = 1000
    async with storeroom.provider(url) as provider:

        async def put(index: int) -> None:
            await provider.put(f"obj/{index:04d}", _payload(index))

        await run_limited(range(count), 32, put)
        wrong: list[int] = []

        async def get(index: int) -> None:
            key = f"obj/{index:04d}"
            if index % 10 == 0:  # every tenth object streamed, in small chunks
                data = b"".join([chunk async for chunk in provider.stream(key, chunk_size=4096)])
            else:
                data = await provider.read(key)
            if data != _payload(index):
                wrong.append(index)

        await run_limited(range(count), 32, get)

    assert wrong == []
    # The faults really happened, about one request in five, of every kind.
    assert proxy.requests >= 2 * count
    assert 0.1 < sum(proxy.injected.values()) / proxy.requests < 0.3
    assert set(proxy.injected) == set(FAULT_KINDS)


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_persistent_faults_end_in_backend_unavailable(
    s3_server: CloudServer, kind: str
) -> None:
    prefix = unique_prefix("down")
    async with storeroom.provider(s3_server.url(prefix)) as direct:
        await direct.put("there", b"x")
    with FaultProxy(s3_server.endpoint, rate=1.0, kinds=[kind], stall_seconds=0.8) as proxy:
        url = _through(proxy, s3_server.url(prefix), max_retries="2")
        provider: Provider
        async with storeroom.provider(url) as provider:
            with pytest.raises(BackendUnavailable) as caught:
                await provider.read("there")
            assert caught.value.transient
            assert "there" in str(caught.value)
            # One try and two retries: bounded, not forever.
            assert proxy.requests == 3
            with pytest.raises(BackendUnavailable):
                await provider.put("new", b"y")


async def test_conditional_puts_are_not_refused_by_their_own_retries(
    s3_server: CloudServer,
) -> None:
    # A reset after the server applied a put makes its retry meet its own write.
    with FaultProxy(s3_server.endpoint, rate=0.3, kinds=["slowdown", "reset"], seed=3) as proxy:
        url = _through(proxy, s3_server.url(unique_prefix("conditional")), max_retries="10")
        async with storeroom.provider(url) as provider:

            async def create(index: int) -> None:
                await provider.put(f"created/{index}", _payload(index), mode="create")

            await run_limited(range(100), 16, create)
            await provider.put("counter", b"0")
            for _ in range(30):
                current = await provider.get("counter")
                assert current.meta.etag is not None
                new = b"%d" % (int(current.data) + 1)
                await provider.put("counter", new, mode=IfMatch(current.meta.etag))
            assert await provider.read("counter") == b"30"
            for index in range(100):
                assert await provider.read(f"created/{index}") == _payload(index)
                assert (await provider.head(f"created/{index}")).metadata == {}
    assert proxy.injected["reset"] > 10

"""A conditional put lands, its answer is lost, another writer writes before the retry.

Issue 10: ``append_text`` on S3 and Azure appended the text twice while
reporting one success, because the retry only recognised its own write while
it was still the current one. Here a scripted fault proxy
(``tests/services/faultproxy.py``) orders the requests exactly: the
appender's conditional PUT is applied and its connection dropped before the
answer; the retry is held at the proxy until another client (not through the
proxy) has written; then it goes on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from aiohttp import web

import storeroom
from storeroom import FileStore, Provider
from tests.services.cloud import CloudServer
from tests.services.faultproxy import FaultProxy

from .support import unique_prefix

KEY = "log.txt"


@pytest.fixture(params=["s3", "azure"])
def server(request: pytest.FixtureRequest) -> CloudServer:
    found: CloudServer = request.getfixturevalue(f"{request.param}_server")
    return found


class LoseFirstPut:
    """Script: the first PUT of ``KEY`` gets ``fault``; its retry sets ``retrying``
    (the first try is over) and waits for ``release``."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.puts = 0
        self.retrying = threading.Event()
        self.release = threading.Event()

    async def __call__(self, request: web.Request) -> str | None:
        if request.method != "PUT" or not request.path.endswith("/" + KEY):
            return None
        self.puts += 1
        if self.puts == 1:
            return self.fault
        self.retrying.set()
        await asyncio.to_thread(self.release.wait, 10)  # the proxy's loop is another thread
        return None


@asynccontextmanager
async def appender_and_other(
    server: CloudServer, script: LoseFirstPut
) -> AsyncIterator[tuple[FileStore, Provider]]:
    """A FileStore through the scripted proxy, and a provider on the same store direct."""
    prefix = unique_prefix("lost")
    endpoint = urlsplit(server.endpoint)
    upstream = f"{endpoint.scheme}://{endpoint.netloc}"
    with FaultProxy(upstream, script=script, stall_seconds=0.05) as proxy:
        parts = urlsplit(server.url(prefix))
        query = dict(parse_qsl(parts.query))
        query.update(endpoint=proxy.endpoint + endpoint.path, timeout="10", backoff_max="0.05")
        through = storeroom.provider(parts._replace(query=urlencode(query)).geturl())
        async with through, storeroom.provider(server.url(prefix)) as direct:
            yield FileStore(through), direct


async def _other_writes_after_the_fault(
    script: LoseFirstPut, write: Callable[[], Awaitable[object]]
) -> None:
    """Wait until the first try is over and its retry held, run ``write``, release the retry."""
    assert await asyncio.to_thread(script.retrying.wait, 10)
    await write()
    script.release.set()


@pytest.mark.parametrize("existing", [b"0", None], ids=["replace", "create"])
async def test_an_append_whose_answer_is_lost_lands_once(
    server: CloudServer, existing: bytes | None
) -> None:
    script = LoseFirstPut("reset")  # applied upstream, connection dropped before the answer
    async with appender_and_other(server, script) as (files, direct):
        if existing is not None:
            await direct.put(KEY, existing)
        appending = asyncio.create_task(files.append_text(KEY, "a"))
        other = FileStore(direct)
        await _other_writes_after_the_fault(script, partial(other.append_text, KEY, "b"))
        result = await appending
        assert result.success, result
        assert await direct.read(KEY) == (existing or b"") + b"ab"


@pytest.mark.parametrize("fault", ["slowdown", "stall"])
async def test_an_append_that_did_not_land_is_retried_once(server: CloudServer, fault: str) -> None:
    # slowdown: a 503, so certainly not applied; stall: no answer at all, and the
    # stored chain shows that another writer replaced what this put meant to replace.
    script = LoseFirstPut(fault)
    async with appender_and_other(server, script) as (files, direct):
        await direct.put(KEY, b"0", mode="create")
        appending = asyncio.create_task(files.append_text(KEY, "a"))
        other = FileStore(direct)
        await _other_writes_after_the_fault(script, partial(other.append_text, KEY, "b"))
        assert (await appending).success
        assert await direct.read(KEY) == b"0ba"


async def test_an_outcome_nobody_can_know_is_outcome_unknown(server: CloudServer) -> None:
    # After the lost answer, a plain overwrite (no lineage) replaces the object: whether
    # the append landed cannot be told, and appending again could double it.
    script = LoseFirstPut("reset")
    async with appender_and_other(server, script) as (files, direct):
        await direct.put(KEY, b"0")
        appending = asyncio.create_task(files.append_text(KEY, "a"))
        await _other_writes_after_the_fault(script, partial(direct.put, KEY, b"x"))
        result = await appending
        assert not result.success
        assert result.metadata["code"] == "outcome_unknown"
        assert "read the object" in (result.error or "")
        assert await direct.read(KEY) == b"x"

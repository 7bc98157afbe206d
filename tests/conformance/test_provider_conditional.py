"""Conditional writes: ``mode="create"`` and ``IfMatch``, alone and under races.

Races run as asyncio tasks on every backend that declares the capability, and
for the local backend also across OS processes (its locks must hold there too).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import storeroom
from storeroom import AlreadyExists, IfMatch, PreconditionFailed, Provider
from tests.conformance.support import require
from tests.conformance.workers import (
    create_race_worker,
    increment,
    increment_worker,
    race_create,
    run_processes,
)

if TYPE_CHECKING:
    from tests.conformance.conftest import Backend


async def test_create_if_absent(provider: Provider) -> None:
    require(provider, "create_if_absent")
    meta = await provider.put("c/new", b"first", mode="create")
    assert meta.size == 5
    with pytest.raises(AlreadyExists) as raised:
        await provider.put("c/new", b"second", mode="create")
    assert isinstance(raised.value, FileExistsError)
    assert raised.value.code == "already_exists"
    assert await provider.read("c/new") == b"first"
    assert (await provider.head("c/new")).etag == meta.etag
    await provider.delete("c/new")
    await provider.put("c/new", b"third", mode="create")
    assert await provider.read("c/new") == b"third"
    assert await provider.list() == ["c/new"]


async def test_if_match(provider: Provider) -> None:
    require(provider, "compare_and_swap")
    first = await provider.put("m", b"1")
    assert first.etag is not None
    second = await provider.put("m", b"2", mode=IfMatch(first.etag))
    assert second.etag is not None
    assert second.etag != first.etag
    assert await provider.read("m") == b"2"
    with pytest.raises(PreconditionFailed) as raised:
        await provider.put("m", b"3", mode=IfMatch(first.etag))
    assert raised.value.code == "precondition_failed"
    assert await provider.read("m") == b"2"
    assert (await provider.head("m")).etag == second.etag
    with pytest.raises(PreconditionFailed):
        await provider.put("m", b"4", mode=IfMatch("not-an-etag-at-all"))
    await provider.delete("m")
    with pytest.raises(PreconditionFailed):
        await provider.put("m", b"5", mode=IfMatch(second.etag))
    assert not await provider.exists("m")


async def test_if_match_on_a_missing_key_writes_nothing(provider: Provider) -> None:
    require(provider, "compare_and_swap")
    with pytest.raises(PreconditionFailed):
        await provider.put("never/there", b"x", mode=IfMatch("0"))
    assert not await provider.exists("never/there")
    assert await provider.list() == []


async def test_an_empty_etag_matches_nothing(provider: Provider) -> None:
    """(S3 and Azure take an empty condition as none: it must not get that far.)"""
    await provider.put("m", b"1")
    for key in ("m", "missing"):
        with pytest.raises(PreconditionFailed):
            await provider.put(key, b"2", mode=IfMatch(""))
    assert await provider.read("m") == b"1"
    assert not await provider.exists("missing")


async def test_etag_of_get_is_usable_for_if_match(provider: Provider) -> None:
    require(provider, "compare_and_swap")
    await provider.put("g", b"a")
    got = await provider.get("g")
    assert got.meta.etag is not None
    await provider.put("g", b"b", mode=IfMatch(got.meta.etag))
    assert await provider.read("g") == b"b"


async def test_create_race_exactly_one_of_32_wins(provider: Provider, backend: Backend) -> None:
    require(provider, "create_if_absent")
    tokens = [f"writer-{n}" for n in range(32)]
    for round_ in range(backend.race_rounds):
        key = f"race/{round_}"
        winners = await race_create(provider, key, tokens)
        assert len(winners) == 1, f"round {round_}: winners {winners}"
        assert await provider.read(key) == winners[0].encode()
    assert len(await provider.list("race")) == backend.race_rounds


async def test_compare_and_swap_counter_16_writers_25_increments(provider: Provider) -> None:
    require(provider, "compare_and_swap")
    await provider.put("counter", b"0")
    await asyncio.gather(*(increment(provider, "counter", 25) for _ in range(16)))
    assert await provider.read("counter") == b"400"


# -- the local backend across OS processes --------------------------------------


def test_local_create_race_across_processes(tmp_path: Path) -> None:
    processes, tasks, rounds = 4, 8, 25
    won = run_processes(create_race_worker, processes, str(tmp_path), rounds, tasks)
    by_round: dict[int, list[str]] = {}
    for pairs in won:
        for round_, token in pairs:
            by_round.setdefault(round_, []).append(token)
    assert sorted(by_round) == list(range(rounds))
    assert all(len(tokens) == 1 for tokens in by_round.values()), by_round

    async def check() -> None:
        async with storeroom.provider(str(tmp_path)) as provider:
            for round_, (token,) in by_round.items():
                assert await provider.read(f"race/{round_}") == token.encode()
            assert len(await provider.list()) == rounds

    asyncio.run(check())


def test_local_compare_and_swap_counter_across_processes(tmp_path: Path) -> None:
    processes, tasks, times = 4, 4, 25

    async def read_counter(write: bytes | None = None) -> bytes:
        async with storeroom.provider(str(tmp_path)) as provider:
            if write is not None:
                await provider.put("counter", write)
            return await provider.read("counter")

    asyncio.run(read_counter(b"0"))
    run_processes(increment_worker, processes, str(tmp_path), tasks, times)
    assert asyncio.run(read_counter()) == b"%d" % (processes * tasks * times)

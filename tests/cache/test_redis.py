"""RedisCache against the real Redis: namespaces, serializers, pipelining, outages.

Every key is under the run's random ``redis_namespace``; raw clients here only
read or plant keys under it.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
import redis.exceptions as redis_exceptions
from redis.asyncio.connection import Connection

import storeroom
from storeroom import (
    BackendUnavailable,
    ConfigurationError,
    InvalidPath,
    PermissionDenied,
    StorageError,
)
from storeroom.caches import MISSING, MsgpackSerializer, RedisCache, SignedPickleSerializer
from storeroom.caches.pipeline import pack_commands
from storeroom.caches.redis import map_error
from tests.cache.support import make_cache, open_cache, redis_cache_namespace

SIGNING_KEY = b"a test signing key of 32 bytes!!"


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis_asyncio.Redis]:
    """A plain redis-py client, to look at and plant keys."""
    client = redis_asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[RedisCache]:
    async with open_cache("redis", request) as fresh:
        assert isinstance(fresh, RedisCache)
        yield fresh


@pytest.fixture
async def pickled(request: pytest.FixtureRequest) -> AsyncIterator[RedisCache]:
    """A cache with the signed pickle serializer."""
    serializer = SignedPickleSerializer(SIGNING_KEY)
    async with open_cache("redis", request, serializer=serializer) as fresh:
        assert isinstance(fresh, RedisCache)
        yield fresh


class Planted:
    """Unpickling this creates a marker file: proof that a payload was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


# -- namespaces ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("app", "1:x"), ("app1", ":x")),
        (("a:b", "c"), ("a", "b:c")),
        (("a\\", ":b"), ("a", "\\:b")),
    ],
)
async def test_namespaces_never_collide(
    request: pytest.FixtureRequest, first: tuple[str, str], second: tuple[str, str]
) -> None:
    base = redis_cache_namespace(request)
    async with open_cache("redis", request, namespace=base + first[0]) as one, open_cache(
        "redis", request, namespace=base + second[0]
    ) as two:
        assert isinstance(one, RedisCache)
        assert isinstance(two, RedisCache)
        assert one.key(first[1]) != two.key(second[1])
        await one.set(first[1], "one")
        await two.set(second[1], "two")
        assert await one.get(first[1]) == "one"
        assert await two.get(second[1]) == "two"
        await one.clear()
        assert await two.get(second[1]) == "two"


@pytest.mark.parametrize(
    ("namespace", "neighbour"),
    [("g*", "gZZ"), ("q?", "qX"), ("[ab]", "a"), ("[ab]", "b"), ("back\\", "back"),
     ("all*?[]\\", "allX?[]\\"), ("x]", "x")],
)
async def test_clear_escapes_glob_characters_in_the_namespace(
    request: pytest.FixtureRequest, namespace: str, neighbour: str
) -> None:
    base = redis_cache_namespace(request)
    async with open_cache("redis", request, namespace=base + namespace) as mine, open_cache(
        "redis", request, namespace=base + neighbour
    ) as theirs:
        await mine.set("k", "mine")
        await theirs.set("k", "theirs")
        await theirs.set("k:deeper", "theirs too")
        await mine.clear()
        assert await mine.get("k", MISSING) is MISSING
        assert await theirs.get("k") == "theirs"
        assert await theirs.get("k:deeper") == "theirs too"


async def test_clear_touches_no_key_outside_its_namespace(
    cache: RedisCache, raw: redis_asyncio.Redis, redis_namespace: str
) -> None:
    outside = [f"{redis_namespace}-outside", cache.namespace, cache.namespace + "x:k"]
    for key in outside:
        await raw.set(key, b"not the cache's", ex=60)
    await cache.set_many({f"k{n}": n for n in range(3000)})
    await cache.clear()
    assert await raw.exists(*outside) == len(outside)
    assert [key async for key in raw.scan_iter(match=cache.key("*"))] == []
    await raw.unlink(*outside)


def test_an_empty_namespace_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="namespace"):
        RedisCache(namespace="")


# -- TTLs as Redis holds them -----------------------------------------------------


async def test_ttls_are_stored_in_redis(cache: RedisCache, raw: redis_asyncio.Redis) -> None:
    await cache.set("default", 1)
    await cache.set("short", 1, ttl=1.5)
    await cache.set("none", 1, ttl=None)
    await cache.set("zero", 1, ttl=0)
    await cache.set_many({"many": 1}, ttl=20)
    assert 290_000 < await raw.pttl(cache.key("default")) <= 300_000
    assert 0 < await raw.pttl(cache.key("short")) <= 1500
    assert await raw.pttl(cache.key("none")) == -1
    assert await raw.pttl(cache.key("zero")) == -1
    assert 0 < await raw.pttl(cache.key("many")) <= 20_000


# -- serializers -------------------------------------------------------------------


async def test_msgpack_keeps_the_documented_types(cache: RedisCache) -> None:
    await cache.set("tuple", (1, "two", (3,)))
    assert await cache.get("tuple") == [1, "two", [3]]  # tuples come back as lists
    with pytest.raises(TypeError, match="SignedPickleSerializer"):
        await cache.set("set", {1, 2})
    assert await cache.get("set", MISSING) is MISSING
    keyed = {(1, (2, "x")): ["v"], "plain": {3: None}}
    await cache.set("tuple keys", keyed)  # tuples as dict keys come back as tuples
    assert await cache.get("tuple keys") == keyed
    with pytest.raises(TypeError, match="not valid Unicode"):
        await cache.set("lone", "\ud800")
    assert cache.stats().rejected == 0


async def test_signed_pickle_round_trips_any_picklable(pickled: RedisCache) -> None:
    value = {"set": {1, 2}, "tuple": (1, 2), "path": Path("/x")}
    await pickled.set("obj", value)
    assert await pickled.get("obj") == value


def test_a_short_signing_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="16 bytes"):
        SignedPickleSerializer(b"short")
    assert "key" not in repr(SignedPickleSerializer(SIGNING_KEY)).replace("key=***", "")


async def test_planted_and_forged_pickles_are_never_loaded(
    cache: RedisCache,
    pickled: RedisCache,
    raw: redis_asyncio.Redis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    marker = tmp_path / "unpickled"
    body = pickle.dumps(Planted(marker))
    wrong_key = SignedPickleSerializer(b"another key, not the cache's one").dumps(Planted(marker))
    genuine = SignedPickleSerializer(SIGNING_KEY).dumps("harmless")
    payloads = {
        "raw-pickle": body,
        "zero-signature": b"p" + bytes(32) + body,
        "wrong-key": wrong_key,
        "truncated-signature": b"p" + wrong_key[1:20],
        "signature-of-another-body": genuine[:33] + body,
        "flipped-byte": genuine[:-3] + bytes([genuine[-3] ^ 1]) + genuine[-2:],
        "msgpack-tag-on-pickle": b"m" + body,
    }
    caplog.set_level(logging.WARNING, logger="storeroom.caches.redis")
    for victim in (cache, pickled):
        for name, payload in payloads.items():
            await raw.set(victim.key(name), payload, ex=60)
        for name in payloads:
            assert await victim.get(name, MISSING) is MISSING, name
        assert await victim.get_many(list(payloads)) == {}
        assert victim.stats().rejected == 2 * len(payloads)
    assert not marker.exists()
    assert "refused" in caplog.text


# -- pipelining ------------------------------------------------------------------


async def test_concurrent_commands_share_round_trips(cache: RedisCache) -> None:
    await cache.set_many({f"k{n}": n for n in range(64)})
    before = cache.writes
    results = await asyncio.gather(*(cache.get(f"k{n}") for n in range(64)))
    assert results == list(range(64))
    assert cache.writes - before == 1  # 64 GETs issued in one iteration: one write
    before = cache.writes
    await cache.set_many({f"many{n}": n for n in range(1000)})
    assert len(await cache.get_many([f"many{n}" for n in range(1000)])) == 1000
    assert cache.writes - before == 2  # one write for 1,000 SETs, one for the MGET


async def test_an_error_reply_fails_only_its_own_command(
    cache: RedisCache, raw: redis_asyncio.Redis
) -> None:
    await raw.rpush(cache.key("a-list"), b"x")  # GET on a list: WRONGTYPE
    await cache.set_many({f"k{n}": n for n in range(10)})
    results = await asyncio.gather(
        *(cache.get(f"k{n}") for n in range(5)),
        cache.get("a-list"),
        *(cache.get(f"k{n}") for n in range(5, 10)),
        return_exceptions=True,
    )
    assert results[:5] == list(range(5))
    assert results[6:] == list(range(5, 10))
    assert isinstance(results[5], StorageError)
    assert "WRONGTYPE" in str(results[5])
    assert await cache.get("k3") == 3


async def test_a_cancelled_caller_does_not_shift_the_replies(cache: RedisCache) -> None:
    await cache.set_many({f"k{n}": n for n in range(20)})
    tasks = [asyncio.ensure_future(cache.get(f"k{n}")) for n in range(20)]
    await asyncio.sleep(0)
    for task in tasks[::3]:
        task.cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    for n, result in enumerate(done):
        if n % 3 == 0:
            assert isinstance(result, asyncio.CancelledError)
        else:
            assert result == n
    assert await cache.get_many(["k1", "k2"]) == {"k1": 1, "k2": 2}


async def test_a_killed_connection_is_replaced_and_its_commands_sent_again(
    cache: RedisCache, raw: redis_asyncio.Redis
) -> None:
    await cache.set("k", "v")
    name = f"sr-kill-{cache.namespace}"
    await cache._call("CLIENT", "SETNAME", name)  # find our connection among others
    clients = await raw.client_list()
    ours = [client["id"] for client in clients if client.get("name") == name]
    assert len(ours) == 1
    await raw.client_kill_filter(_id=ours[0])
    # The GETs go out on the dead connection, fail, and are sent again on a new one.
    assert await asyncio.gather(*(cache.get("k") for _ in range(10))) == ["v"] * 10
    assert await cache.get("k") == "v"


# -- Redis down --------------------------------------------------------------------


async def test_unreachable_redis_raises_by_default(dead_redis_url: str) -> None:
    secret_url = dead_redis_url.replace("redis://", "redis://:hunter2-secret@")
    async with RedisCache(secret_url, timeout=2) as cache:
        for attempt in (cache.get("k"), cache.set("k", 1), cache.delete("k"), cache.clear(),
                        cache.get_many(["a", "b"]), cache.set_many({"a": 1})):
            with pytest.raises(BackendUnavailable) as caught:
                await attempt
            assert "hunter2" not in str(caught.value)
        assert "hunter2" not in repr(cache)


async def test_unreachable_redis_fails_open_when_asked(
    dead_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="storeroom.caches.redis")
    secret_url = dead_redis_url.replace("redis://", "redis://user:hunter2-secret@")
    async with RedisCache(secret_url, fail_open=True, timeout=2) as cache:
        assert await cache.get("k", MISSING) is MISSING
        await cache.set("k", 1)
        await cache.set_many({"a": 1, "b": 2})
        await cache.delete("k")
        await cache.clear()
        assert await cache.get_many(["a", "b"]) == {}
        stats = cache.stats()
        assert stats.errors == 6  # one per failed call (set_many is one call)
        assert (stats.hits, stats.misses, stats.sets) == (0, 3, 0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # the outage is logged once, then at DEBUG
    assert "failing open" in warnings[0].getMessage()
    assert "hunter2" not in caplog.text


async def test_a_refused_login_is_permission_denied_and_secret(redis_url: str) -> None:
    url = redis_url.replace("redis://", "redis://nobody-sr-test:hunter2-secret@")
    async with RedisCache(url, fail_open=True) as cache:  # fail_open covers outages only
        with pytest.raises(PermissionDenied) as caught:
            await cache.get("k")
    assert "hunter2" not in str(caught.value)
    assert "nobody-sr-test:***@" in str(caught.value)


async def test_a_server_that_never_answers_times_out() -> None:
    async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads until the client gives up; answers nothing
        writer.close()

    server = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with RedisCache(f"redis://127.0.0.1:{port}/0", timeout=0.3) as cache:
            with pytest.raises(BackendUnavailable):
                await cache.get("k")
    finally:
        server.close()
        await server.wait_closed()


async def test_a_reply_that_does_not_come_in_time_gives_the_connection_up(
    request: pytest.FixtureRequest,
) -> None:
    async with open_cache("redis", request, timeout=0.3) as cache:
        assert isinstance(cache, RedisCache)
        await cache.set("k", "v")
        # BLPOP on an empty list holds the reply for 2 s: longer than the timeout.
        blocked = asyncio.ensure_future(cache._call("BLPOP", cache.key("empty"), 2))
        behind = asyncio.ensure_future(cache.get("k"))
        with pytest.raises(BackendUnavailable, match="no reply"):
            await blocked
        with pytest.raises(BackendUnavailable):
            await behind  # sent on the same connection: its reply was due too
        assert await cache.get("k") == "v"  # a fresh connection


async def test_a_closed_cache_refuses_commands(request: pytest.FixtureRequest) -> None:
    cache = make_cache("redis", request)
    await cache.set("k", 1)
    await cache.delete("k")
    await cache.aclose()
    await cache.aclose()  # closing twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        await cache.get("k")


# -- construction -------------------------------------------------------------------


async def test_a_borrowed_client_is_used_and_left_open(
    redis_url: str, request: pytest.FixtureRequest
) -> None:
    client = redis_asyncio.Redis.from_url(redis_url)
    async with RedisCache(client, namespace=redis_cache_namespace(request)) as cache:
        await cache.set("k", "v")
        assert await cache.get("k") == "v"
        assert "127.0.0.1" in repr(cache)
        await cache.clear()
    assert await client.ping()
    await client.aclose()


def test_a_decoding_client_is_refused(redis_url: str) -> None:
    with pytest.raises(ConfigurationError, match="decode_responses"):
        RedisCache(redis_asyncio.Redis.from_url(redis_url, decode_responses=True))


async def test_from_url_reads_its_options(redis_url: str, request: pytest.FixtureRequest) -> None:
    namespace = redis_cache_namespace(request)
    built = storeroom.cache(
        f"{redis_url}?namespace={namespace}&fail_open=true&timeout=3&serializer=pickle"
        "&signing_key=a-url-signing-key-of-some-length"
    )
    assert isinstance(built, RedisCache)
    async with built as cache:
        assert cache.namespace == namespace
        assert cache.fail_open is True
        await cache.set("obj", {1, 2})
        assert await cache.get("obj") == {1, 2}
        assert "signing" not in repr(cache)
        await cache.clear()


@pytest.mark.parametrize(
    ("query", "message"),
    [("colour=red", "known: fail_open, local, namespace"), ("serializer=yaml", "msgpack, pickle"),
     ("serializer=pickle", "signing_key"), ("fail_open=maybe", "boolean"),
     ("timeout=soon", "number")],
)
def test_from_url_errors_are_clear(query: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        storeroom.cache(f"redis://:pw-secret@127.0.0.1:6379/0?{query}")
    assert "pw-secret" not in str(caught.value)


# -- the wire format ------------------------------------------------------------------


@pytest.mark.parametrize(
    "commands",
    [
        [("GET", "k")],
        [("SET", "ns:ünï", b"\x00\xff" * 10, "PX", 300_000), ("UNLINK", "a", "b", "c")],
        [("SET", "big", b"x" * 200_000), ("GET", "big"), ("MGET", *[f"k{n}" for n in range(50)])],
        [("SCAN", b"0", "MATCH", "a\\*:*", "COUNT", 1000)],
    ],
)
def test_commands_are_packed_as_redis_py_packs_them(commands: list[tuple[Any, ...]]) -> None:
    expected = b"".join(Connection().pack_commands(commands))
    assert b"".join(pack_commands(commands)) == expected


async def test_an_argument_redis_cannot_take_is_the_callers_error(cache: RedisCache) -> None:
    with pytest.raises(InvalidPath, match="float"):
        await cache._call("GET", 1.5)
    assert await cache.get("k", MISSING) is MISSING  # the pipeline carries on


# -- one bad command fails alone (issue 10) ----------------------------------------


async def test_a_key_that_cannot_be_encoded_fails_alone(cache: RedisCache) -> None:
    await cache.set_many({f"k{n}": n for n in range(10)})
    bad = "bad-\ud800-key"  # a lone surrogate: no UTF-8 for it
    results = await asyncio.wait_for(  # before the fix, the good ones waited forever
        asyncio.gather(
            *(cache.get(f"k{n}") for n in range(5)),
            cache.get(bad),
            cache.set(bad, 1),
            *(cache.get(f"k{n}") for n in range(5, 10)),
            return_exceptions=True,
        ),
        5,
    )
    assert results[:5] == list(range(5))
    assert results[7:] == list(range(5, 10))
    for failed in results[5:7]:
        assert isinstance(failed, InvalidPath)
        assert "not valid Unicode" in str(failed)
    assert await asyncio.wait_for(cache.get_many(["k1", "k9"]), 5) == {"k1": 1, "k9": 9}
    with pytest.raises(InvalidPath):
        await asyncio.wait_for(cache.set_many({"fine": 1, bad: 2}), 5)
    assert await cache.get("fine", MISSING) is MISSING  # none of the batch was queued


async def test_a_key_that_cannot_be_encoded_fails_alone_even_failing_open(
    request: pytest.FixtureRequest,
) -> None:
    async with open_cache("redis", request, fail_open=True, timeout=1) as cache:
        await cache.set("ok", 1)
        good, bad = await asyncio.wait_for(
            asyncio.gather(cache.get("ok"), cache.get("\udfff"), return_exceptions=True), 5
        )
        assert good == 1
        assert isinstance(bad, InvalidPath)  # a bad key is not an outage


class _BrokenSerializer(MsgpackSerializer):
    def dumps(self, value: Any) -> bytes:
        return 42  # type: ignore[return-value]  # the bug under test


async def test_a_serializer_returning_the_wrong_type_fails_alone(
    request: pytest.FixtureRequest,
) -> None:
    async with open_cache("redis", request, serializer=_BrokenSerializer()) as broken, \
            open_cache("redis", request) as fine:
        await fine.set("k", "v")
        results = await asyncio.wait_for(
            asyncio.gather(
                fine.get("k"), broken.set("x", 1), fine.get("k"), return_exceptions=True
            ),
            5,
        )
        assert results[0] == results[2] == "v"
        assert isinstance(results[1], ConfigurationError)
        assert "returned a int, not bytes" in str(results[1])


async def test_random_cancellations_never_misroute_a_reply(cache: RedisCache) -> None:
    rng = random.Random(1234)
    keys = [f"key-{n}" for n in range(200)]
    await cache.set_many({key: key for key in keys})
    wrong: list[tuple[str, Any]] = []

    async def check(key: str) -> None:
        value = await cache.get(key)
        if value != key:
            wrong.append((key, value))

    answered = cancelled = 0
    for _ in range(30):
        tasks = [asyncio.ensure_future(check(rng.choice(keys))) for _ in range(rng.randint(20, 80))]
        for _ in range(rng.randint(0, 3)):  # cancel some at random points
            await asyncio.sleep(0)
            for task in rng.sample(tasks, k=len(tasks) // 4):
                task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, asyncio.CancelledError):
                cancelled += 1
            else:
                assert outcome is None
                answered += 1
    assert wrong == []
    assert answered > 300
    assert cancelled > 100


# -- clear messages for connection failures (issue 12) ------------------------------


async def test_a_refused_connection_says_so(dead_redis_url: str) -> None:
    url = dead_redis_url.replace("redis://", "redis://u:hunter2-secret@")
    async with RedisCache(url, timeout=2) as cache:
        with pytest.raises(BackendUnavailable) as caught:
            await cache.get("k")
    message = str(caught.value)
    assert "connection refused" in message
    assert "start Redis" in message
    assert "u:***@127.0.0.1" in message
    assert "hunter2" not in message


async def test_tls_to_a_server_without_tls_says_so(redis_url: str) -> None:
    url = redis_url.replace("redis://", "rediss://:hunter2-secret@")
    async with RedisCache(url, timeout=1) as cache:
        with pytest.raises(BackendUnavailable) as caught:
            await cache.get("k")
    message = str(caught.value)
    assert "TLS" in message, message
    assert "redis:// instead of rediss://" in message
    assert "hunter2" not in message
    assert "(TimeoutError: )" not in message


def test_an_unknown_host_says_so() -> None:
    # No lookup here (tests send nothing beyond loopback): the error as redis-py raises it.
    error = redis_exceptions.ConnectionError("Error connecting to nowhere.invalid:6379.")
    error.__cause__ = socket.gaierror(-2, "Name or service not known")
    mapped = map_error(error, "redis://:***@nowhere.invalid:6379/0")
    assert isinstance(mapped, BackendUnavailable)
    assert "does not resolve" in str(mapped)
    assert "check the host" in str(mapped)


async def test_a_wrong_password_says_what_to_check(redis_url: str) -> None:
    url = redis_url.replace("redis://", "redis://nobody-sr-test:hunter2-secret@")
    async with RedisCache(url) as cache:
        with pytest.raises(PermissionDenied) as caught:
            await cache.get("k")
    assert "check the user name and password" in str(caught.value)
    assert "hunter2" not in str(caught.value)

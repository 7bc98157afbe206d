"""``storeroom cache ...`` on the shared Redis, run as the real program."""

from __future__ import annotations

import redis

from tests.cli.conftest import Storeroom


def test_cache_commands_on_redis(
    storeroom: Storeroom, redis_url: str, redis_namespace: str
) -> None:
    namespace = f"{redis_namespace}-cli"
    url = f"{redis_url}?namespace={namespace}"
    other = f"{redis_namespace}-other"
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(f"{other}:keep", b"x")  # another namespace: never touched

        def cache(*args: str) -> str:
            return storeroom("cache", *args, "--cache", url).ok().text

        assert cache("set", "greeting", "hello world") == "Cached greeting for 300 s.\n"
        assert 0 < client.pttl(f"{namespace}:greeting") <= 300_000
        cache("set", "config", '{"retries": 3, "hosts": ["a", "b"]}', "--json-value", "--ttl", "0")
        assert client.pttl(f"{namespace}:config") == -1  # no expiry
        assert cache("get", "greeting") == "hello world\n"
        assert storeroom("cache", "get", "config", "--json", "--cache", url).json() == {
            "key": "config",
            "value": {"retries": 3, "hosts": ["a", "b"]},
        }
        stats = storeroom("cache", "stats", "--json", env={"STOREROOM_CACHE_URL": url}).json()
        assert stats["namespace"] == namespace
        assert "hits" in stats["this_process"]

        cache("delete", "greeting", "never-set")
        assert "nothing cached at 'greeting'" in storeroom(
            "cache", "get", "greeting", "--cache", url
        ).failed(1)
        assert "needs --yes" in storeroom("cache", "clear", "--cache", url).failed(2)
        cache("clear", "--yes")
        assert client.exists(f"{namespace}:config") == 0
        assert client.get(f"{other}:keep") == b"x"

        assert "--cache" in storeroom("cache", "get", "x").failed(2)  # no cache given
        assert "not JSON" in storeroom(
            "cache", "set", "k", "{oops", "--json-value", "--cache", url
        ).failed(2)
        assert "unknown cache scheme" in storeroom("cache", "stats", "--cache", "ftp://x").failed(2)
        for ttl in ("nan", "inf", "-1"):
            refused = storeroom("cache", "set", "k", "v", "--ttl", ttl, "--cache", url)
            assert "--ttl" in refused.failed(2)
        closed = "redis://127.0.0.1:1/0"  # nothing listens: stats must say so, not print zeros
        assert "unavailable" in storeroom("cache", "stats", "--cache", closed).failed(1)
    finally:
        client.delete(f"{other}:keep")
        client.close()


def test_memory_cache_lives_in_one_process(storeroom: Storeroom) -> None:
    run = storeroom("cache", "stats", "--cache", "memory://", "--json")
    assert run.json()["entries"] == 0
    assert "memory:// is a cache in this process's memory" in run.err
    assert storeroom("cache", "get", "k", "--cache", "memory://").code == 1

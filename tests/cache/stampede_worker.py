"""One process of the stampede test: waits for "go" on stdin, then calls a locked ``@cached``.

Run as ``python -m tests.cache.stampede_worker URL NAMESPACE COUNTER``; prints
"ready", then one JSON line with the value it got and what its lock did.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import redis.asyncio as redis_asyncio

from storeroom.caches import RedisCache, cached
from storeroom.caches.stampede import StampedeLock


async def main(url: str, namespace: str, counter: str) -> None:
    cache = RedisCache(url, namespace=namespace)
    raw = redis_asyncio.Redis.from_url(url)
    lock = StampedeLock(cache, lease=1.0, wait=20.0, poll=0.01)

    @cached(cache, ttl=60, lock=lock, key=lambda: "the-key")
    async def expensive() -> dict[str, int]:
        await raw.incr(counter)
        await asyncio.sleep(1.5)  # longer than the lease: it must be renewed
        return {"pid": os.getpid()}

    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    value = await expensive()
    print(json.dumps({"value": value, "computed": lock.computed, "waited": lock.waited}))
    await raw.aclose()
    await cache.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

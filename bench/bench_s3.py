"""S3 throughput: storeroom's S3Provider vs obstore directly vs aiobotocore directly.

Against moto's server, started here in its own process on 127.0.0.1 (so the
server does not share this process's interpreter with the clients):

- 500 objects of 4 KiB: put, get, list and delete, at concurrency 32;
- one 64 MiB object: put and get.

Each contender works under its own prefix of one bucket; the harness alternates
contenders and keeps the best of ``--repeat`` runs; ratios are against obstore.
Run::

    .venv/bin/python bench/bench_s3.py [--objects 500] [--concurrency 32] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import obstore
from aiobotocore.session import get_session
from obstore.store import S3Store

import storeroom

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Case, gather_limited, print_table, run_case

KIB = 1024
MIB = 1024 * KIB
BUCKET = "bench"
REGION = "us-east-1"
KEY_ID = "bench"
SECRET = "bench-secret"  # moto accepts any credentials


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in a child process on 127.0.0.1 with the bucket; yields its endpoint."""
    port = _free_port()
    moto = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request = urllib.request.Request(f"{endpoint}/{BUCKET}", data=b"", method="PUT")
                with urllib.request.urlopen(request, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


class StoreroomClient:
    """storeroom's S3Provider under the prefix ``storeroom``."""

    name = "storeroom S3Provider"

    def __init__(self, endpoint: str) -> None:
        self.provider = storeroom.provider(
            f"s3://{BUCKET}/storeroom", endpoint=endpoint, allow_http="true", region=REGION,
            access_key_id=KEY_ID, secret_access_key=SECRET,
        )  # fmt: skip

    async def put(self, key: str, data: bytes) -> None:
        await self.provider.put(key, data)

    async def get(self, key: str) -> bytes:
        return await self.provider.read(key)

    async def count(self, prefix: str) -> int:
        return len(await self.provider.list(prefix))

    async def delete(self, key: str) -> None:
        await self.provider.delete(key)


class ObstoreClient:
    """obstore's S3Store used directly, under the prefix ``obstore``."""

    name = "obstore"

    def __init__(self, endpoint: str) -> None:
        self.store = S3Store(
            BUCKET, prefix="obstore", endpoint=endpoint, client_options={"allow_http": True},
            region=REGION, access_key_id=KEY_ID, secret_access_key=SECRET,
        )  # fmt: skip

    async def put(self, key: str, data: bytes) -> None:
        await obstore.put_async(self.store, key, data)

    async def get(self, key: str) -> bytes:
        result = await obstore.get_async(self.store, key)
        return bytes(await result.bytes_async())

    async def count(self, prefix: str) -> int:
        return len(await obstore.list(self.store, prefix, chunk_size=1000).collect_async())

    async def delete(self, key: str) -> None:
        await obstore.delete_async(self.store, key)


class BotoClient:
    """aiobotocore's S3 client used directly, under the prefix ``aiobotocore``."""

    name = "aiobotocore"

    def __init__(self, client: Any) -> None:
        self.client = client

    async def put(self, key: str, data: bytes) -> None:
        await self.client.put_object(Bucket=BUCKET, Key=f"aiobotocore/{key}", Body=data)

    async def get(self, key: str) -> bytes:
        response = await self.client.get_object(Bucket=BUCKET, Key=f"aiobotocore/{key}")
        async with response["Body"] as body:
            data: bytes = await body.read()
        return data

    async def count(self, prefix: str) -> int:
        found = 0
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=BUCKET, Prefix=f"aiobotocore/{prefix}/"):
            found += len(page.get("Contents", []))
        return found

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=BUCKET, Key=f"aiobotocore/{key}")


Client = StoreroomClient | ObstoreClient | BotoClient
Work = Callable[[], Awaitable[object]]


def _cases(clients: list[Client], objects: int, concurrency: int) -> list[Case]:
    small = [os.urandom(4 * KIB) for _ in range(objects)]
    big = os.urandom(64 * MIB)
    keys = [f"small/{index:05d}" for index in range(objects)]

    def per_client(make: Callable[[Client], Work]) -> dict[str, Work]:
        return {client.name: make(client) for client in clients}

    def put_small(client: Client) -> Work:
        jobs: list[Work] = [partial(client.put, k, d) for k, d in zip(keys, small, strict=True)]
        return lambda: gather_limited(jobs, concurrency)

    def get_small(client: Client) -> Work:
        jobs: list[Work] = [partial(client.get, k) for k in keys]
        return lambda: gather_limited(jobs, concurrency)

    def list_small(client: Client) -> Work:
        async def run() -> None:
            assert await client.count("small") == objects, client.name

        return run

    def delete_small(client: Client) -> Work:
        jobs: list[Work] = [partial(client.delete, k) for k in keys]
        return lambda: gather_limited(jobs, concurrency)

    def put_big(client: Client) -> Work:
        async def run() -> None:
            await client.put("big/64mib", big)

        return run

    def get_big(client: Client) -> Work:
        async def run() -> None:
            assert len(await client.get("big/64mib")) == len(big), client.name

        return run

    label = f"{objects} x 4 KiB @{concurrency}"
    return [
        Case(f"put {label}", objects, per_client(put_small), "obstore"),
        Case(f"get {label}", objects, per_client(get_small), "obstore"),
        Case(f"list {objects} keys", 1, per_client(list_small), "obstore"),
        Case(f"delete {label}", objects, per_client(delete_small), "obstore",
             setup=per_client(put_small)),
        Case("put 64 MiB x1", 1, per_client(put_big), "obstore"),
        Case("get 64 MiB x1", 1, per_client(get_big), "obstore"),
    ]  # fmt: skip


async def main(objects: int, concurrency: int, repeat: int) -> None:
    with moto_server() as endpoint:
        await _run(endpoint, objects, concurrency, repeat)


async def _run(endpoint: str, objects: int, concurrency: int, repeat: int) -> None:
    async with AsyncExitStack() as stack:
        boto = await stack.enter_async_context(
            get_session().create_client(
                "s3", endpoint_url=endpoint, region_name=REGION,
                aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
            )
        )  # fmt: skip
        ours = StoreroomClient(endpoint)
        stack.push_async_callback(ours.provider.aclose)
        clients: list[Client] = [ours, ObstoreClient(endpoint), BotoClient(boto)]
        cases = _cases(clients, objects, concurrency)
        for case in cases:
            await run_case(case, repeat=repeat)
    print_table("S3 on moto's server: ops/s, best of runs, ratio to obstore", cases)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="S3 throughput against moto's server.")
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.objects, arguments.concurrency, arguments.repeat))

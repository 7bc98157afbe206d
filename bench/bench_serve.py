"""``storeroom serve``: a 64 MiB download against Starlette's FileResponse, and the list page.

1. Download: one server process serves the same 64 MiB two ways, side by side:
   ``/api/content`` (storeroom: streamed from the artifact store, checked against
   its sha256 as it goes) and ``/raw`` (Starlette's own ``FileResponse`` of the
   blob's file on disk, the baseline). The same httpx client downloads each in
   turn, alternating, best of ``--repeat``; target: storeroom >= 0.8x.
2. List page: 10,000 artifacts; 1,000 requests for ``/`` (sorted, 50 per page),
   one after another; p50 and p99 latency (target: p99 < 100 ms). Without the
   catalog there is no index: the page is a sort of the server's listing snapshot
   (refreshed in the background every few seconds), not a scan per request.

The server runs in a child process (uvicorn, one worker), so client and server
do not share an interpreter.

Run: ``.venv/bin/python bench/bench_serve.py [--size-mib 64] [--artifacts 10000]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import httpx

from storeroom.artifactstore import ArtifactStore
from storeroom.artifactstore.layout import blob_key
from storeroom.concurrency import map_limited
from storeroom.providers.local import LocalProvider


def _serve(root: str, port: int) -> None:
    """The child process: storeroom's app plus a FileResponse route, on uvicorn."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse
    from starlette.routing import Mount, Route

    from storeroom.serve import ServeSettings, create_app

    store = ArtifactStore(LocalProvider(os.path.join(root, "artifacts")))
    raw_path = open(os.path.join(root, "raw-path")).read()  # noqa: SIM115

    async def raw(_request: Request) -> FileResponse:
        return FileResponse(raw_path, media_type="application/octet-stream")

    app = Starlette(
        routes=[Route("/raw", raw), Mount("/", app=create_app(store, None, ServeSettings()))]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


async def _prepare(root: str, size: int, artifacts: int) -> None:
    store = ArtifactStore(LocalProvider(os.path.join(root, "artifacts")), concurrency=64)
    big = os.urandom(size)
    result = await store.store_artifact("models/big.bin", big, "application/octet-stream")
    assert result.success, result.error
    sha = (result.data or {})["sha256"]
    with open(os.path.join(root, "raw-path"), "w") as out:
        out.write(os.path.join(root, "artifacts", blob_key(sha)))

    async def one(n: int) -> None:
        meta = {"team": f"t{n % 7}", "n": n}
        await store.store_artifact(
            f"runs/r{n // 100:03d}/a{n:05d}.json", f'{{"n": {n}}}', "application/json", meta
        )

    await map_limited(one, range(artifacts - 1), 32)
    await store.aclose()


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _download(http: httpx.AsyncClient, path: str) -> int:
    total = 0
    async with http.stream("GET", path) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw(1024 * 1024):
            total += len(chunk)
    return total


async def _bench(url: str, size: int, repeat: int, requests: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        best = {"FileResponse (baseline)": float("inf"), "storeroom serve": float("inf")}
        paths = {
            "FileResponse (baseline)": "/raw",
            "storeroom serve": "/api/content?name=models/big.bin",
        }
        for path in paths.values():  # warm both
            assert await _download(http, path) == size
        for _ in range(repeat):
            for name, path in paths.items():
                started = time.perf_counter()
                await _download(http, path)
                best[name] = min(best[name], time.perf_counter() - started)
        base = best["FileResponse (baseline)"]
        print(f"\ndownload {size // 2**20} MiB, best of {repeat}, same client, loopback:")
        for name, seconds in best.items():
            rate = size / seconds / 2**20
            print(
                f"  {name:<26} {seconds * 1000:8.1f} ms  {rate:8.1f} MiB/s  {base / seconds:5.2f}x"
            )

        first = await http.get("/")  # the first page reads the listing
        first.raise_for_status()
        latencies = []
        for n in range(requests):
            started = time.perf_counter()
            page = await http.get("/", params={"offset": (n * 50) % 9950})
            latencies.append(time.perf_counter() - started)
            assert page.status_code == 200
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[int(len(latencies) * 0.99)] * 1000
        print(f"\nlist page, {requests} requests one after another (no index: listing snapshot):")
        print(f"  p50 {p50:.1f} ms   p99 {p99:.1f} ms   max {latencies[-1] * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--artifacts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--root", help="a folder prepared by an earlier run (kept; else made and removed)"
    )
    parser.add_argument("--serve", nargs=2, metavar=("ROOT", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve[0], int(args.serve[1]))
        return
    root = args.root or tempfile.mkdtemp(prefix="bench-serve-")
    server = None
    try:
        if not os.path.exists(os.path.join(root, "raw-path")):
            started = time.perf_counter()
            asyncio.run(_prepare(root, args.size_mib * 2**20, args.artifacts))
            print(f"stored {args.artifacts} artifacts in {time.perf_counter() - started:.1f} s")
        port = _port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", root, str(port)])
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(url + "/api/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(_bench(url, args.size_mib * 2**20, args.repeat, args.requests))
        print(f"\nload average: {os.getloadavg()[0]:.2f} (figures under load are noisy)")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

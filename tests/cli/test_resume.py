"""Ctrl-C in ``cp -r`` of 2,000 files, then ``--skip-existing``: only the rest is sent.

The real program runs in a subprocess against moto's S3 behind a counting
proxy; SIGINT arrives once a few hundred objects are up. The interrupted run
must say what it copied and how to resume; the rerun's object uploads (PUT
requests, counted at the proxy) must be exactly the objects still missing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from tests.cli.conftest import BIN, Storeroom
from tests.services.cloud import CloudServer
from tests.services.faultproxy import FaultProxy

_FILES = 2000


class CountingProxy(FaultProxy):
    """A proxy that injects no fault and counts requests by method."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, rate=0.0)
        self.methods: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.methods[request.method] += 1
        return await super().handle(request)


def _objects(run: Storeroom, url: str) -> int:
    listed = run("ls", "-r", url, "--json", store=False)
    return len(listed.json())


def test_interrupted_copy_resumes_sending_only_the_rest(
    tmp_path: Path, s3_server: CloudServer
) -> None:
    source = tmp_path / "many"
    for number in range(_FILES):
        folder = source / f"d{number % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{number:05d}.txt").write_bytes(b"%05d" % number)
    run = Storeroom(tmp_path)
    with CountingProxy(s3_server.endpoint) as proxy:
        options = {**s3_server.options, "endpoint": proxy.endpoint}
        url = f"s3://{s3_server.bucket}/resume-{uuid.uuid4().hex[:8]}?{urlencode(options)}"
        args = [str(BIN), "cp", "-r", "-j", "4", "many", url]
        child = subprocess.Popen(
            args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
        )
        deadline = time.monotonic() + 120
        while proxy.methods["PUT"] < 300 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        _, err_bytes = child.communicate(timeout=60)
        err = err_bytes.decode()
        assert child.returncode == 130, err
        assert "Traceback" not in err
        assert "interrupted: copied " in err
        assert "--skip-existing" in err
        landed = _objects(run, url)
        assert 300 <= landed < _FILES
        reported = int(err.split("interrupted: copied ", 1)[1].split(" ", 1)[0])
        assert reported <= landed  # a put in flight may land after it was cancelled

        proxy.methods.clear()
        rerun = run("cp", "-r", "--skip-existing", "many", url, "--json", store=False)
        summary = rerun.json()
        assert proxy.methods["PUT"] == _FILES - landed  # only what was missing was sent
        assert (summary["files"], summary["unchanged"]) == (_FILES - landed, landed)
        assert _objects(run, url) == _FILES


def test_interrupted_copy_summary_under_json(tmp_path: Path, s3_server: CloudServer) -> None:
    source = tmp_path / "some"
    source.mkdir()
    for number in range(400):
        (source / f"f{number:04d}.txt").write_bytes(b"x")
    with CountingProxy(s3_server.endpoint) as proxy:
        options = {**s3_server.options, "endpoint": proxy.endpoint}
        url = f"s3://{s3_server.bucket}/resume-{uuid.uuid4().hex[:8]}?{urlencode(options)}"
        child = subprocess.Popen(
            [str(BIN), "--json", "cp", "-r", "-j", "2", "some", url],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
        )  # fmt: skip
        while proxy.methods["PUT"] < 20 and child.poll() is None:
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    error = json.loads(err)["error"]
    assert error["code"] == "interrupted"
    assert error["copied"]["files"] >= 1
    assert "--skip-existing" in error["copied"]["resume"]


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("STOREROOM_")}

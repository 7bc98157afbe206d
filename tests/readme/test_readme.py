"""Every code block of the README runs, as a reader would run it.

Python blocks are written to a file in a fresh temporary working folder and
run with this interpreter, as pasted; bash blocks run under ``bash -e -o
pipefail`` in such a folder, with the virtual environment's ``bin`` first on
``PATH`` (so ``storeroom`` is the real command). A block marked
``<!-- needs: SERVICE -->`` gets that service from ``tests/services`` and
its environment (below); one marked ``<!-- no-run -->`` is never run. A
missing service skips the block with the reason (fails under ``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.readme.blocks import Block, blocks

_REPO = Path(__file__).resolve().parents[2]
_README = _REPO / "README.md"
_TIMEOUT = 180
_ALL = blocks(_README)


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def _service_env(service: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment a block that needs ``service`` runs with."""
    if service == "redis":
        url = request.getfixturevalue("redis_url")
        namespace = request.getfixturevalue("redis_namespace")
        return {"REDIS_URL": url, "STOREROOM_CACHE_URL": f"{url}?namespace={namespace}-readme"}
    if service in ("s3", "azure", "gcs"):
        server = request.getfixturevalue(f"{service}_server")
        env = {"STOREROOM_URL": server.url(f"readme-{uuid.uuid4().hex[:8]}")}
        if service == "s3":
            env.update(
                S3_ENDPOINT=server.endpoint,
                AWS_ENDPOINT_URL=server.endpoint,
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
                AWS_REGION="us-east-1",
                AWS_ALLOW_HTTP="true",
            )
        return env
    if service == "postgres":
        try:
            socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
        except OSError:
            _skip_or_fail("no PostgreSQL answers on 127.0.0.1:5432")
        return {"PGHOST": "127.0.0.1", "PGUSER": "postgres"}
    if service == "chromium":
        if not any(shutil.which(name) for name in ("chromium", "chromium-browser", "chrome")):
            _skip_or_fail("Chromium is not installed")
        return {}
    raise AssertionError(service)


def _environment(block: Block, request: pytest.FixtureRequest) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOREROOM_", "AWS_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # no request ever leaves the loopback
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(_REPO / "src")
    env.pop("COLUMNS", None)
    for service in sorted(block.needs):
        env.update(_service_env(service, request))
    return env


@pytest.mark.parametrize("block", _ALL, ids=[block.name for block in _ALL])
def test_readme_block_runs(block: Block, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if not block.run:
        pytest.skip("marked <!-- no-run -->")
    env = _environment(block, request)
    if block.language == "python":
        script = tmp_path / "block.py"
        command = [sys.executable, str(script)]
    else:
        script = tmp_path / "block.sh"
        command = ["bash", "-e", "-o", "pipefail", str(script)]
    script.write_text(block.code, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        command, cwd=work, env=env, capture_output=True, timeout=_TIMEOUT, check=False
    )
    output = (done.stdout + done.stderr).decode("utf-8", "replace")
    assert done.returncode == 0, f"{block.name} exited {done.returncode}:\n{block.code}\n{output}"
    assert "Traceback" not in output, output


def test_markers_are_known_and_blocks_exist() -> None:
    assert _ALL, "no code blocks found in README.md"
    assert any(block.language == "python" for block in _ALL)
    assert sum(not block.run for block in _ALL) <= 6, "no-run is for blocks that cannot run"


def test_the_readme_presents_exactly_two_commands() -> None:
    first = next(block for block in _ALL if "./run" in block.code)
    commands = [line.split("#")[0].strip() for line in first.code.splitlines() if line.strip()]
    assert commands == ["./run demo", "./run test"]

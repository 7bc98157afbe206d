"""Run the real ``storeroom`` program, on each kind of store.

:class:`Storeroom` runs ``.venv/bin/storeroom`` (the console script next to
``sys.executable``) in a subprocess, in a temporary working folder, with no
``STOREROOM_*`` variable inherited. The ``where`` fixture gives the same
tests three stores: the embedded default (``./.storeroom`` in that folder),
an explicit local folder (``--store``) and the S3 emulator (``STOREROOM_URL``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.services.cloud import CloudServer

BIN = Path(sys.executable).with_name("storeroom")
_TIMEOUT = 120


@dataclass
class Result:
    """What one run of ``storeroom`` did."""

    args: Sequence[str]
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        """Standard output as text."""
        return self.out.decode("utf-8")

    def json(self) -> Any:
        """Standard output parsed as JSON (after checking the run succeeded)."""
        assert self.code == 0, self.err
        return json.loads(self.out)

    def ok(self) -> Result:
        """This result, after checking the exit status is 0 and stderr holds no traceback."""
        assert self.code == 0, f"{self.args}: exit {self.code}\n{self.err}"
        assert "Traceback" not in self.err
        return self

    def failed(self, code: int) -> str:
        """Check the run failed with ``code`` and one line on stderr; return that line."""
        assert self.code == code, f"{self.args}: exit {self.code}, wanted {code}\n{self.err}"
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("storeroom: ")
        assert "Traceback" not in self.err
        return lines[0]


@dataclass
class Storeroom:
    """Runs ``storeroom`` in ``cwd`` with ``env`` (plus ``os.environ`` minus STOREROOM_*)."""

    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    store_args: tuple[str, ...] = ()

    def __call__(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        store: bool = True,
    ) -> Result:
        """Run ``storeroom [--store URL] ARGS`` (``store=False`` leaves ``--store`` out)."""
        full = [str(BIN), *(self.store_args if store else ()), *args]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("STOREROOM_")}
        environ.update(self.env)
        environ.update(env or {})
        environ.pop("COLUMNS", None)
        done = subprocess.run(
            full,
            cwd=self.cwd,
            env=environ,
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
        return Result(args, done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))


@dataclass
class Where:
    """One kind of store the tests run on.

    Attributes:
        kind: ``default``, ``folder`` or ``s3``.
        run: runs ``storeroom`` on this store.
        folder: the local folder of the store (``None`` for S3).
        url: the store's URL as given to the program (``None`` for the default).
    """

    kind: str
    run: Storeroom
    folder: Path | None
    url: str | None

    def url_of(self, key: str) -> str:
        """A URL for ``key`` in this store that ``cp`` understands."""
        if self.kind == "s3":
            assert self.url is not None
            base, _, query = self.url.partition("?")
            return f"{base}/{key}?{query}"
        assert self.folder is not None
        return f"file://{self.folder}/{key}"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working folder for the program."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def storeroom(workdir: Path) -> Storeroom:
    """``storeroom`` on the embedded default store of ``workdir``."""
    return Storeroom(workdir)


@pytest.fixture(params=["default", "folder", "s3"])
def where(request: pytest.FixtureRequest, workdir: Path, tmp_path: Path) -> Iterator[Where]:
    """The same test on the default store, an explicit folder and the S3 emulator."""
    if request.param == "default":
        yield Where("default", Storeroom(workdir), workdir / ".storeroom", None)
    elif request.param == "folder":
        folder = tmp_path / "explicit store"
        yield Where("folder", Storeroom(workdir, store_args=("--store", str(folder))), folder, None)
    else:
        server: CloudServer = request.getfixturevalue("s3_server")
        url = server.url(f"cli-{uuid.uuid4().hex[:10]}")
        yield Where("s3", Storeroom(workdir, env={"STOREROOM_URL": url}), None, url)


def write_tree(root: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (relative path -> bytes) under ``root``."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` as relative path -> bytes."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }

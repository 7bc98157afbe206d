"""``storeroom demo`` (what ``./run demo`` runs), on a temporary folder and on S3."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.cli.conftest import Storeroom
from tests.services.cloud import CloudServer

STEPS = [
    "1. Keep every version of a file (artifacts)",
    "2. List the versions",
    "3. See what changed between two versions",
    "4. Copy a folder into the store and back",
    "5. Read through a memory cache",
]


def _check_story(text: str) -> None:
    for step in STEPS:
        assert step in text
    for said in (
        "stored report.md v3",
        "$ storeroom artifacts diff report.md v1 v3",
        "+Outlook: steady.",
        "copied 12 files",
        "byte for byte identical",
        "read 1: miss: fetched from the store",
        "read 5: hit: served from memory",
        "Cache statistics: 4 hits, 2 misses.",
        "Done.",
    ):
        assert said in text, said


def test_demo_on_a_temporary_folder(storeroom: Storeroom, workdir: Path) -> None:
    result = storeroom("demo").ok()
    _check_story(result.text)
    where = re.search(r"for real, on (\S+)", result.text)
    assert where is not None
    assert "temporary local folder" in result.text
    assert not Path(where.group(1)).exists()  # cleaned up
    assert list(workdir.iterdir()) == []  # and nothing left where it ran

    kept = storeroom("demo", "--keep").ok()
    store = re.search(r"for real, on (\S+)", kept.text)
    assert store is not None
    assert Path(store.group(1)).is_dir()
    versions = storeroom("--store", store.group(1), "artifacts", "versions", "report.md", "--json")
    assert [v["version"] for v in versions.json()] == ["v1", "v2", "v3"]
    assert "site/" in storeroom("--store", store.group(1), "ls").ok().text
    shutil.rmtree(Path(store.group(1)).parent)


def test_demo_runs_unchanged_on_s3(storeroom: Storeroom, s3_server: CloudServer) -> None:
    url = s3_server.url("cli-demo")
    result = storeroom("demo", env={"STOREROOM_URL": url}).ok()
    _check_story(result.text)
    assert "on s3://storeroom-test/cli-demo/storeroom-demo-" in result.text
    assert "secret_access_key=***" in result.text
    assert storeroom("ls", "-r", "--json", env={"STOREROOM_URL": url}).json() == []

"""``storeroom artifacts find | lineage | reindex`` and ``--index`` / ``STOREROOM_INDEX``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import storeroom

BIN = Path(sys.executable).with_name("storeroom")


def cli(folder: Path, *args: str, index: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREROOM_")}
    if index:
        env["STOREROOM_INDEX"] = index
    return subprocess.run(
        [str(BIN), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.lstrip().startswith("{") else result.stdout


def test_find_lineage_reindex(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b\n")
    index = f"sqlite:///{tmp_path / 'catalog.db'}"
    ok(cli(tmp_path, "artifacts", "--index", index, "put", "data/d.csv", "d.csv", "--meta",
           "rows=1"))

    async def derive() -> None:  # lineage recorded from Python
        store = storeroom.artifacts(str(tmp_path / ".storeroom" / "artifacts"), index=index)
        await store.store_artifact("data/d.csv", "a,b\n", "text/csv", {"rows": "2"})
        result = await store.store_artifact("model", "m", inputs=["data/d.csv@v1"])
        assert result.success
        await store.aclose()

    asyncio.run(derive())
    (tmp_path / "r.txt").write_text("report")  # and from the command line
    ok(cli(tmp_path, "artifacts", "put", "report", "r.txt", "-i", "model", "--input",
           "data/d.csv@v2", index=index))  # fmt: skip
    report_up = ok(cli(tmp_path, "artifacts", "lineage", "report", "--json", index=index))
    assert sorted(link["artifact"] for link in report_up["links"] if link["depth"] == 1) == [
        "data/d.csv@v2", "model@v1",
    ]  # fmt: skip
    unknown = cli(tmp_path, "artifacts", "put", "report", "r.txt", "-i", "nope@v9")
    assert unknown.returncode != 0
    assert "nope" in unknown.stderr
    found = ok(cli(tmp_path, "artifacts", "find", "metadata.rows = '2'", "--json", index=index))
    assert found["source"] == "sqlite"
    assert [(e["name"], e["version"]) for e in found["entries"]] == [("data/d.csv", "v2")]
    scanned = ok(cli(tmp_path, "artifacts", "find", "--json", "--limit", "1", "--all"))
    assert scanned["source"] == "scan"
    assert len(scanned["entries"]) == 4
    up = ok(cli(tmp_path, "artifacts", "lineage", "model", "--json"))
    assert up["links"] == [{"depth": 1, "artifact": "data/d.csv@v1", "via": "model@v1"}]
    down = ok(cli(tmp_path, "artifacts", "lineage", "data/d.csv@v1", "--down", index=index))
    assert "model@v1" in down
    rebuilt = ok(cli(tmp_path, "artifacts", "reindex", "--json", "--index", index))
    assert (rebuilt["artifacts"], rebuilt["versions"]) == (3, 4)

    bad = cli(tmp_path, "artifacts", "find", "name = ", index=index)
    assert bad.returncode == 2
    assert "at position 7: expected a value" in bad.stderr
    missing = cli(tmp_path, "artifacts", "reindex")
    assert missing.returncode == 2
    assert "STOREROOM_INDEX" in missing.stderr

"""The change message vibex passes to ``store_artifact`` is shown by the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import storeroom
from tests.cli.conftest import Storeroom


def test_versions_shows_each_change_message(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    store = tmp_path / "store"
    run = Storeroom(work, store_args=("--store", str(store)))

    async def vibex_writes() -> None:  # as vibex's file tool does, through the store
        async with storeroom.artifacts(str(store / "artifacts")) as artifacts:
            meta, message = {"tool": "file_tool"}, "Updated plan.md"
            await artifacts.store_artifact("plan.md", "a\n", "text/markdown", meta, message)

    asyncio.run(vibex_writes())
    (work / "plan.md").write_text("b\n")
    run("artifacts", "put", "plan.md", "plan.md", "-m", "second pass").ok()
    run("artifacts", "put", "plan.md", "plan.md").ok()
    records = run("artifacts", "versions", "plan.md", "--json").json()
    assert [r["message"] for r in records] == ["Updated plan.md", "second pass", None]
    table = run("artifacts", "versions", "plan.md").ok().text
    assert "MESSAGE" in table
    assert "Updated plan.md" in table
    assert "second pass" in table

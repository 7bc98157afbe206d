"""Lineage: inputs resolved to numbers at store time, refused if missing, walked both ways."""

from __future__ import annotations

import json

import pytest

from storeroom.artifactstore import ArtifactStore, ArtifactVersion
from storeroom.artifactstore.layout import manifest_key
from storeroom.errors import NotFound
from storeroom.providers.memory import MemoryProvider


async def test_inputs_are_resolved_now_and_recorded_in_the_manifest() -> None:
    provider = MemoryProvider()
    store = ArtifactStore(provider)
    await store.store_artifact("data", "1")
    await store.store_artifact("data", "2")
    await store.set_alias("data", "gold", "v1")
    result = await store.store_artifact(
        "model", "m", inputs=["data", ("data", "gold"), ("data", 2), "data@v1"]
    )
    assert result.success, result
    record = json.loads(await provider.read(manifest_key("model", 1)))
    assert record["inputs"] == [{"name": "data", "version": 2}, {"name": "data", "version": 1}]
    await store.set_alias("data", "gold", "v2")  # moving the alias later changes nothing
    await store.store_artifact("data", "3")
    assert (await store.get_version("model")).inputs == (("data", 2), ("data", 1))


@pytest.mark.parametrize(
    "inputs", [["nope"], [("data", "v9")], [("data", "missing-alias")], ["data@v7"]]
)
async def test_a_missing_input_fails_the_store(inputs: list[object]) -> None:
    store = ArtifactStore(MemoryProvider())
    await store.store_artifact("data", "1")
    result = await store.store_artifact("model", "m", inputs=inputs)  # type: ignore[arg-type]
    assert not result.success
    assert result.metadata["code"] == "not_found"
    assert "does not exist" in (result.error or "")
    assert await store.get_artifact_versions("model") == []  # nothing was written


async def test_a_malformed_input_is_an_invalid_argument() -> None:
    store = ArtifactStore(MemoryProvider())
    result = await store.store_artifact("model", "m", inputs=[42])  # type: ignore[list-item]
    assert not result.success
    assert result.metadata["code"] == "invalid_argument"


def test_old_manifests_without_inputs_still_read() -> None:
    record = {
        "format": 1, "name": "a", "version": 1, "sha256": "0" * 64, "size": 0,
        "content_type": "text/plain", "encoding": "utf-8", "metadata": {},
        "created": "2026-01-01T00:00:00+00:00",
    }
    version = ArtifactVersion.from_json(json.dumps(record).encode(), manifest_key("a", 1))
    assert version.inputs == ()
    assert "inputs" not in version.to_record()  # and a version without inputs writes none


async def test_walks_follow_depth_and_visit_each_version_once() -> None:
    store = ArtifactStore(MemoryProvider())
    await store.store_artifact("raw", "r")
    await store.store_artifact("clean", "c", inputs=["raw"])
    await store.store_artifact("features", "f", inputs=["clean", "raw"])
    await store.store_artifact("model", "m", inputs=["features", "clean"])
    up = await store.lineage("model", direction="up")
    assert [(link.depth, link.name, link.via_name) for link in up] == [
        (1, "features", "model"), (1, "clean", "model"),
        (2, "clean", "features"), (2, "raw", "features"), (2, "raw", "clean"),
    ]
    assert [link.name for link in await store.lineage("model", depth=1)] == ["features", "clean"]
    down = await store.lineage("raw", "v1", direction="down")
    assert [(link.depth, link.name) for link in down] == [
        (1, "clean"), (1, "features"), (2, "features"), (2, "model"), (2, "model"),
    ]
    assert down[0].to_dict() == {"depth": 1, "artifact": "clean@v1", "via": "raw@v1"}
    with pytest.raises(NotFound):
        await store.lineage("nope")
    with pytest.raises(ValueError, match="direction"):
        await store.lineage("raw", direction="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="depth"):
        await store.lineage("raw", depth=0)

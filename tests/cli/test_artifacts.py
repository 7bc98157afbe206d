"""``storeroom artifacts ...``, run as the real program on each kind of store."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Storeroom, Where

V1 = "# Plan\n\nShip it.\n"
V2 = "# Plan\n\nShip it on Friday.\nTell everyone.\n"
V3 = "# Plan\n\nShip it on Monday.\nTell everyone.\n"
#: Larger than ArtifactStore's inline limit (4 KiB), so it is stored as a shared blob.
BINARY = bytes(range(256)) * 20


def test_versions_metadata_aliases_diff(where: Where, workdir: Path) -> None:
    run = where.run
    for number, text in enumerate((V1, V2, V3), start=1):
        (workdir / f"plan{number}.md").write_text(text)
    first = run("artifacts", "put", "plan.md", "plan1.md", "--meta", "author=ada", "--json").json()
    assert (first["version"], first["content_type"], first["metadata"]) == (
        "v1",
        "text/markdown",
        {"author": "ada"},
    )
    assert "Stored plan.md v2" in run("artifacts", "put", "plan.md", "plan2.md").ok().text
    run("artifacts", "put", "plan.md", "-", "--meta", "state=final", stdin=V3.encode()).ok()
    again = run("artifacts", "put", "plan.md", "plan1.md", "--content-type", "text/x-plan")
    assert "Stored plan.md v4" in again.ok().text  # small content is inline: no blob shared

    versions = run("artifacts", "versions", "plan.md", "--json").json()
    assert [v["version"] for v in versions] == ["v1", "v2", "v3", "v4"]
    assert versions[2]["metadata"] == {"state": "final"}
    assert versions[2]["size"] == len(V3)
    assert versions[3]["aliases"] == ["latest"]
    assert versions[3]["content_type"] == "text/x-plan"
    table = run("artifacts", "versions", "plan.md").ok().text
    assert "VERSION" in table
    assert "author=ada" in table
    assert "latest" in table

    assert run("artifacts", "get", "plan.md").ok().text == V1  # latest (v4) == v1's content
    assert run("artifacts", "get", "plan.md", "--version", "v2").ok().text == V2
    run("artifacts", "get", "plan.md", "-v", "v3", "-o", "out.md").ok()
    assert (workdir / "out.md").read_text() == V3
    record = run("artifacts", "get", "plan.md", "-v", "v3", "--json").json()
    assert (record["content"], record["metadata"]) == (V3, {"state": "final"})

    assert "now names v2" in run("artifacts", "alias", "plan.md", "approved", "v2").ok().text
    assert run("artifacts", "get", "plan.md", "-v", "approved").ok().text == V2
    listing = run("artifacts", "list", "--json").json()
    assert [(a["name"], a["version"], a["versions"]) for a in listing] == [("plan.md", "v4", 4)]
    assert listing[0]["aliases"] == {"latest": "v4", "approved": "v2"}
    assert "plan.md" in run("artifacts", "list", "pl").ok().text
    assert run("artifacts", "list", "other", "--json").json() == []

    plain = run("artifacts", "diff", "plan.md", "v2", "v3").ok().text
    assert "-Ship it on Friday.\n+Ship it on Monday.\n" in plain
    assert "\x1b[" not in plain
    coloured = run("artifacts", "diff", "plan.md", "v2", "v3", "--color").ok().text
    assert "\x1b[32m+Ship it on Monday." in coloured
    assert "\x1b[31m-Ship it on Friday." in coloured
    assert run("artifacts", "diff", "plan.md", "v1", "--json").json()["diff"] == ""


def test_delete_retention_gc_and_errors(where: Where, workdir: Path) -> None:
    run = where.run
    for number in range(1, 6):
        (workdir / f"n{number}.txt").write_text(f"note {number}\n")
        run("artifacts", "put", "notes/today.txt", f"n{number}.txt").ok()
    (workdir / "data.bin").write_bytes(BINARY)
    run("artifacts", "put", "blob.bin", "data.bin").ok()
    again = run("artifacts", "put", "blob.bin", "data.bin").ok().text
    assert "same content as an earlier version" in again  # v2 shares v1's blob

    assert run("artifacts", "get", "blob.bin").ok().out == BINARY
    assert run("artifacts", "get", "blob.bin", "--json").json()["content_base64"]
    assert "binary" in run("artifacts", "diff", "blob.bin", "v1", "v1").failed(1)

    removed = run("artifacts", "rm", "notes/today.txt", "--version", "v2", "--json").json()
    assert removed["deleted"] == ["v2"]
    kept = run("artifacts", "keep", "notes/today.txt", "--last", "2", "--json").json()
    assert kept["deleted"] == ["v1", "v3"]
    versions = run("artifacts", "versions", "notes/today.txt", "--json").json()
    assert [v["version"] for v in versions] == ["v4", "v5"]
    report = run("artifacts", "gc", "--json").json()
    assert report["blobs_checked"] == 1  # the small texts are inline; only blob.bin is a blob
    assert "bytes_freed" in report

    assert "add --yes" in run("artifacts", "rm", "notes/today.txt").failed(2)
    gone = run("artifacts", "rm", "notes/today.txt", "--yes", "--json").json()
    assert gone["deleted"] == ["v4", "v5"]
    assert "no artifact 'notes/today.txt'" in run(
        "artifacts", "versions", "notes/today.txt"
    ).failed(1)
    assert "no version" in run("artifacts", "get", "blob.bin", "-v", "v9").failed(1)
    # Artifacts live in their own folder: the store's files are not mixed with them.
    assert run("ls").ok().text.splitlines() == ["artifacts/"]


def test_artifact_usage_errors(storeroom: Storeroom, workdir: Path) -> None:
    (workdir / "data.bin").write_bytes(b"x")
    assert "invalid alias" in storeroom("artifacts", "alias", "b.bin", "9lives", "v1").failed(2)
    assert "KEY=VALUE" in storeroom("artifacts", "put", "x", "data.bin", "--meta", "oops").failed(2)
    assert "invalid key" in storeroom("artifacts", "versions", "../up").failed(2)

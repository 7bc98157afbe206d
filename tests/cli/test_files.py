"""``ls``, ``cat``, ``stat``, ``put``, ``get``, ``cp`` and ``rm``, run as the real program."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.conftest import Storeroom, Where, read_tree, write_tree
from tests.services.cloud import AZURITE_KEY, CloudServer

TREE = {
    "index.html": b"<h1>hi</h1>\n",
    "pages/one.txt": b"one\n",
    "pages/two.txt": b"two\n" * 100,
    "pages/deep/three.bin": os.urandom(3000),
}


def test_put_ls_cat_stat_get_rm(where: Where, workdir: Path) -> None:
    run = where.run
    (workdir / "note.txt").write_bytes(b"hello\n")
    write_tree(workdir / "site", TREE)

    assert "Copied 1 file" in run("put", "note.txt").ok().text
    copied = run("put", "--recursive", "site", "web", "--json").json()
    assert (copied["files"], copied["bytes"], copied["failed"]) == (
        4,
        sum(map(len, TREE.values())),
        [],
    )
    if where.folder is not None:  # the bytes landed in the store's folder
        assert (where.folder / "note.txt").read_bytes() == b"hello\n"
        assert (where.folder / "web" / "pages" / "two.txt").read_bytes() == TREE["pages/two.txt"]

    assert run("ls").ok().text.splitlines() == ["web/", "note.txt"]
    assert run("ls", "web").ok().text.splitlines() == ["pages/", "index.html"]
    long_listing = run("ls", "-l", "web/pages").ok().text
    assert "SIZE" in long_listing
    assert "400 B" in long_listing
    assert "deep/" in long_listing
    entries = run("ls", "-r", "web", "--json").json()
    assert {e["path"]: e["size"] for e in entries} == {k: len(v) for k, v in TREE.items()}
    assert all(e["type"] == "file" and e["modified"] for e in entries)

    assert run("cat", "note.txt", "web/pages/one.txt").ok().out == b"hello\none\n"
    info = run("stat", "web/index.html", "--json").json()
    assert (info["path"], info["size"], info["type"]) == ("web/index.html", 12, "file")
    assert info["content_type"] == "text/html"
    folder = run("--json", "stat", "web").json()
    assert (folder["type"], folder["files"], folder["size"]) == ("folder", 4, copied["bytes"])
    assert "content type  text/plain" in run("stat", "note.txt").ok().text

    (workdir / "out").mkdir()
    run("get", "web/pages/one.txt", "out").ok()  # into an existing folder
    run("get", "note.txt", "out/renamed.txt").ok()
    run("get", "-r", "web", "restored").ok()
    assert (workdir / "out" / "one.txt").read_bytes() == b"one\n"
    assert (workdir / "out" / "renamed.txt").read_bytes() == b"hello\n"
    assert read_tree(workdir / "restored") == TREE
    assert run("get", "note.txt", "-").ok().out == b"hello\n"

    run("rm", "note.txt", "web/index.html").ok()
    gone = run("rm", "-r", "web", "--yes", "--json").json()
    assert gone["deleted"] == 3
    assert "web/pages/deep/three.bin" in gone["paths"]
    assert run("ls").ok().text == ""


def test_cp_between_urls_and_local_paths(where: Where, workdir: Path) -> None:
    run = where.run
    write_tree(workdir / "src", TREE)
    big = os.urandom(9 * 1024 * 1024 + 17)  # above the one-shot limit: streamed
    (workdir / "big.bin").write_bytes(big)

    run("cp", "-r", "src", where.url_of("copy"), "-j", "4").ok()
    run("cp", "big.bin", where.url_of("blobs/")).ok()  # trailing '/': into the folder
    run("cp", "-r", where.url_of("copy"), "back").ok()
    run("cp", where.url_of("blobs/big.bin"), "big-back.bin").ok()
    assert read_tree(workdir / "back") == TREE
    assert (workdir / "big-back.bin").read_bytes() == big
    assert run("ls", "blobs", "--json").json()[0]["size"] == len(big)
    # Plain paths in cp are local files; the store's keys were reached by URL only.
    assert not (workdir / "copy").exists()
    if where.folder is not None:
        assert (where.folder / "blobs" / "big.bin").read_bytes() == big
    # put from standard input, streamed
    assert run("put", "-", "piped/data.bin", "--json", stdin=big[:5000]).json()["size"] == 5000
    assert run("cat", "piped/data.bin").ok().out == big[:5000]


def test_progress_bar_and_copy_summary(storeroom: Storeroom, workdir: Path) -> None:
    write_tree(workdir / "many", {f"f{n:03d}.txt": b"x" * n for n in range(40)})
    shown = storeroom("put", "-r", "many", "--progress", "-j", "8")
    assert "40/40 files" in shown.ok().err
    assert "bytes" in shown.err
    assert "Copied 40 files" in shown.text
    assert "files/s" in shown.text
    quiet = storeroom("put", "-r", "many", "again", "--progress", "--json")
    assert quiet.ok().err == ""
    assert quiet.json()["files"] == 40


def test_errors_are_one_line_with_the_right_status(where: Where, workdir: Path) -> None:
    run = where.run
    write_tree(workdir / "many", {f"f{n:02d}.txt": b"x" for n in range(12)})
    run("put", "-r", "many", "many").ok()

    assert "no file or folder at 'missing.txt'" in run("ls", "missing.txt").failed(1)
    assert "missing" in run("cat", "missing.txt").failed(1)
    assert "add --recursive" in run("get", "many").failed(2)
    assert "add --recursive" in run("get", ".", "x").failed(2)  # the top of the store
    assert "add --recursive" in run("rm", "many").failed(2)
    assert "add --yes" in run("rm", "-r", "many").failed(2)  # 12 files, stdin not a terminal
    assert "no file or folder" in run("cp", "-r", where.url_of("nothing-here"), "x").failed(1)
    assert len(run("ls", "many", "--json").json()) == 12  # nothing was deleted


def test_usage_errors_and_debug(storeroom: Storeroom) -> None:
    """Mistakes caught before any store is touched: the same on every backend."""
    assert "invalid key" in storeroom("cat", "a/../b").failed(2)
    assert "No such command" in storeroom("frobnicate").failed(2)
    assert "unknown storage scheme 'ftp://'" in storeroom("ls", "ftp://host/x").failed(2)
    assert "Missing argument" in storeroom("cp", "only-one").failed(2)
    write_tree(storeroom.cwd / "mixed", {"ok.txt": b"1", "CON": b"2"})  # CON: not a valid key
    summary = storeroom("put", "-r", "mixed", "m", "--json").json()  # skipped, not failed
    assert (summary["files"], summary["failed"]) == (1, [])
    assert [item["path"] for item in summary["skipped"]] == ["mixed/CON"]
    assert "Windows device names" in summary["skipped"][0]["reason"]
    assert storeroom("cat", "m/ok.txt").ok().out == b"1"
    debug = storeroom("--debug", "cat", "missing.txt")
    assert debug.code == 1
    assert "Traceback" in debug.err


def test_secrets_in_urls_never_shown(s3_server: CloudServer, storeroom: Storeroom) -> None:
    secret = "Sup3rS3cretValue"
    options = {**s3_server.options, "secret_access_key": secret}
    query = "&".join(f"{k}={v}" for k, v in options.items())
    url = f"s3://no-such-bucket/x?{query}"
    for args in (("--store", url, "ls"), ("cp", "-r", url, "here"), ("--store", url, "stat", "k")):
        result = storeroom(*args)
        assert result.code == 2, result.err  # a bucket that does not exist: configuration
        assert "no-such-bucket" in result.err
        assert secret not in result.err + result.text, result.err
        assert "***" in result.err or "no-such-bucket" in result.err
    leaked = storeroom("--store", url, "--debug", "ls")
    assert secret not in leaked.err


def test_cp_from_azure_to_s3_and_back(
    storeroom: Storeroom, workdir: Path, s3_server: CloudServer, azure_server: CloudServer
) -> None:
    write_tree(workdir / "src", TREE)
    prefix = f"cli-{os.urandom(4).hex()}"
    az, s3 = azure_server.url(prefix), s3_server.url(prefix)
    storeroom("cp", "-r", "src", az).ok()
    moved = storeroom("cp", "-r", az, s3, "--json").json()  # cloud to cloud, through this host
    assert (moved["files"], moved["failed"]) == (len(TREE), [])
    assert AZURITE_KEY not in moved["source"]
    storeroom("cp", "-r", s3, "back").ok()
    assert read_tree(workdir / "back") == TREE

"""The CLI at its edges: names it cannot address, links, resumed copies, errors.

Regression tests for the trust issue (one bad key must not fail a whole
listing or copy; aliased keys must not make counts lie; JSON is valid UTF-8;
a malformed URL is a usage error) and the behaviour people expect from aws
s3 / gsutil / rclone (global options anywhere, ``-``, ``--skip-existing``,
skipped items reported). Most run in-process (:mod:`tests.cli.inproc`).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from storeroom.cli.transfer import resume_command
from tests.cli.conftest import write_tree
from tests.cli.inproc import invoke
from tests.services.cloud import CloudServer


def _s3_client(server: CloudServer) -> Any:
    import boto3  # type: ignore[import-untyped]

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def _json(out: bytes) -> Any:
    return json.loads(out.decode("utf-8"))  # strict UTF-8: fails on invalid bytes


def test_malformed_url_is_a_usage_error(tmp_path: Path) -> None:
    for args in (["ls", "s3://[bad/p"], ["cp", "s3://[bad/p", "x"], ["cp", "x", "az://[oops/"]):
        line = invoke(args, cwd=tmp_path).failed(2)
        assert "not a valid URL" in line
        assert "internal error" not in line


def test_a_local_path_with_a_nul_byte_is_a_usage_error(tmp_path: Path) -> None:
    env = {"STOREROOM_URL": str(tmp_path / "store")}
    for args in (
        ["get", "k", "\x00"],
        ["put", "a\x00b", "k"],
        ["artifacts", "put", "report", "a\x00b"],
        ["artifacts", "get", "report", "-o", "\x00"],
    ):
        line = invoke(args, cwd=tmp_path, env=env).failed(2)
        assert "holds a NUL byte" in line, args


def test_names_other_tools_wrote_are_read_as_ls_shows_them(tmp_path: Path) -> None:
    store = tmp_path / "s"
    for name in ("trail.", "con.txt", "dir./in.txt"):
        (store / name).parent.mkdir(parents=True, exist_ok=True)
        (store / name).write_bytes(b"theirs")
    args = ["--store", str(store)]
    listed = invoke([*args, "ls", "-r"], cwd=tmp_path).ok().text.split()
    for name in ("trail.", "con.txt", "dir./in.txt"):
        assert name in listed
        assert invoke([*args, "cat", name], cwd=tmp_path).ok().out == b"theirs"
        invoke([*args, "get", name, str(tmp_path / "got")], cwd=tmp_path).ok()
        assert (tmp_path / "got").read_bytes() == b"theirs"
        invoke([*args, "rm", name], cwd=tmp_path).ok()
    line = invoke([*args, "put", "got", "new."], cwd=tmp_path).failed(1)
    assert "new." in line  # a new name still follows the rules for new keys


def test_a_folder_is_never_copied_into_itself(tmp_path: Path) -> None:
    write_tree(tmp_path / "d", {f"f{n}.txt": b"x" for n in range(3)})
    (tmp_path / "d" / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d")
    store = str(tmp_path / "s")
    for args in (
        ["cp", "-r", "d", "d/sub/copy"],
        ["cp", "-r", "d", "d"],
        ["cp", "-r", "d", "link/sub"],  # (the same folder, through a link)
    ):
        assert "into itself" in invoke(args, cwd=tmp_path).failed(2)
    invoke(["--store", store, "put", "-r", "d", "top"], cwd=tmp_path).ok()
    url = f"file://{store}"  # a store, not local files: the same rule
    line = invoke(["cp", "-r", f"{url}/top", f"{url}/top/in"], cwd=tmp_path)
    assert "into itself" in line.failed(2)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "f0.txt", "f1.txt", "f2.txt", "sub"
    ]  # fmt: skip
    invoke(["cp", "-r", "d", "d2"], cwd=tmp_path).ok()  # beside it is fine


def test_the_resume_command_runs_with_options_before_the_command() -> None:
    assert resume_command(["--store", "S", "put", "-r", "src", "dst"]) == (
        "storeroom --store S put -r src dst --skip-existing"
    )
    assert resume_command(["cp", "-r", "--", "-odd", "dst"]) == (
        "storeroom cp -r --skip-existing -- -odd dst"
    )
    assert resume_command(["cp", "--skip-existing", "a", "b"]) == "storeroom cp --skip-existing a b"


def test_errors_under_json_are_json_on_stderr(tmp_path: Path) -> None:
    result = invoke(["cat", "missing.txt", "--json"], cwd=tmp_path)
    assert (result.code, result.out) == (1, b"")
    error = json.loads(result.err)["error"]
    assert error["code"] == "not_found"
    assert "missing.txt" in error["message"]
    usage = json.loads(invoke(["--json", "ls", "s3://[x"], cwd=tmp_path).err)["error"]
    assert usage["code"] == "usage_error"


def test_global_options_before_or_after_the_command(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    (tmp_path / "f.txt").write_text("hello")
    invoke(["put", "f.txt", "k/f.txt", "--store", store], cwd=tmp_path).ok()
    listed = invoke(["ls", "k", "--json", f"--store={store}"], cwd=tmp_path).json()
    assert [entry["path"] for entry in listed] == ["f.txt"]
    debug = invoke(["cat", "nothing", "--debug", "--store", store], cwd=tmp_path)
    assert debug.code == 1
    assert "Traceback" in debug.err
    # after "--" nothing moves: it is a key named --json
    assert "--json" in invoke(["--store", store, "cat", "--", "--json"], cwd=tmp_path).failed(1)


def test_dash_is_stdout_and_stdin_for_cp(tmp_path: Path) -> None:
    store = tmp_path / "store"
    invoke(["cp", "-", f"file://{store}/in.txt"], cwd=tmp_path, stdin=b"piped").ok()
    out = invoke(["cp", f"file://{store}/in.txt", "-"], cwd=tmp_path).ok()
    assert out.out == b"piped"
    assert not (tmp_path / "-").exists()


def test_ls_of_an_empty_folder_it_just_showed(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    (tmp_path / "f.txt").write_text("x")
    invoke(["--store", store, "put", "f.txt", "d/f.txt"], cwd=tmp_path).ok()
    invoke(["--store", store, "rm", "d/f.txt"], cwd=tmp_path).ok()
    assert invoke(["--store", store, "ls"], cwd=tmp_path).ok().text == "d/\n"
    assert invoke(["--store", store, "ls", "d"], cwd=tmp_path).ok().text == ""


def test_memory_store_warns_it_lasts_one_process(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    result = invoke(["--store", "memory://", "put", "f.txt", "k"], cwd=tmp_path).ok()
    assert "warning: memory:// is a store in this process's memory" in result.err


def test_json_is_valid_utf8_with_names_that_are_not(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    write_tree(folder, {"ok.txt": b"1"})
    with open(os.path.join(os.fsencode(folder), b"bad\xff.txt"), "wb") as handle:
        handle.write(b"2")
    result = invoke(["--store", str(tmp_path / "s"), "put", "-r", "src", "k", "--json"],
                    cwd=tmp_path).ok()  # fmt: skip
    summary = _json(result.out)
    assert summary["files"] == 1
    [skipped] = summary["skipped"]
    assert os.fsencode(skipped["path"]) == b"src/bad\xff.txt"
    assert "not UTF-8" in skipped["reason"]


def test_links_fifos_are_skipped_with_reasons_unless_followed(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("not yours")
    other = tmp_path / "elsewhere"
    write_tree(other, {"in.txt": b"deep"})
    folder = tmp_path / "src"
    write_tree(folder, {"real.txt": b"r"})
    (folder / "file-link").symlink_to(outside)
    (folder / "dir-link").symlink_to(other)
    (folder / "dangling").symlink_to(tmp_path / "nothing")
    os.mkfifo(folder / "pipe")
    store = str(tmp_path / "s")
    summary = invoke(["--store", store, "put", "-r", "src", "a", "--json"], cwd=tmp_path).json()
    assert summary["files"] == 1
    reasons = {item["path"]: item["reason"] for item in summary["skipped"]}
    assert set(reasons) == {"src/file-link", "src/dir-link", "src/dangling", "src/pipe"}
    assert "--follow-symlinks" in reasons["src/file-link"]
    assert "FIFO" in reasons["src/pipe"]
    text = invoke(["--store", store, "put", "-r", "src", "b"], cwd=tmp_path).ok()
    assert "(4 skipped)" in text.text
    assert text.err.count("warning: skipped") == 4
    followed = invoke(
        ["--store", store, "put", "-r", "--follow-symlinks", "src", "c", "--json"], cwd=tmp_path
    ).json()
    assert followed["files"] == 3  # real.txt, file-link, dir-link/in.txt
    got = invoke(["--store", store, "cat", "c/file-link"], cwd=tmp_path).ok()
    assert got.out == b"not yours"
    assert {item["path"] for item in followed["skipped"]} == {"src/dangling", "src/pipe"}


def test_get_writes_through_links_and_into_pipes_and_devices_never_over_them(
    tmp_path: Path,
) -> None:
    store = str(tmp_path / "s")
    (tmp_path / "a.txt").write_text("hello")
    invoke(["--store", store, "put", "a.txt", "a.txt"], cwd=tmp_path).ok()

    (tmp_path / "link").symlink_to("real.txt")
    invoke(["--store", store, "get", "a.txt", "link"], cwd=tmp_path).ok()
    assert (tmp_path / "link").is_symlink()
    assert (tmp_path / "real.txt").read_text() == "hello"

    os.mkfifo(tmp_path / "pipe")
    line = invoke(["--store", store, "get", "a.txt", "pipe"], cwd=tmp_path).failed(1)
    assert "nobody reads" in line  # no reader: refused at once, never waiting
    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit((tmp_path / "pipe").read_bytes)  # blocks until a writer opens
        while not reading.running():
            time.sleep(0.01)
        for _ in range(200):  # until the reader has opened its end
            result = invoke(["--store", store, "get", "a.txt", "pipe"], cwd=tmp_path)
            if result.code == 0:
                break
            time.sleep(0.02)
        assert reading.result(timeout=10) == b"hello"
    assert stat.S_ISFIFO((tmp_path / "pipe").lstat().st_mode)

    if os.geteuid() == 0:  # only root may make a device node
        os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        invoke(["--store", store, "get", "a.txt", "null"], cwd=tmp_path).ok()
        assert stat.S_ISCHR((tmp_path / "null").lstat().st_mode)

    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "sock"))
    try:
        line = invoke(["--store", store, "get", "a.txt", "sock"], cwd=tmp_path).failed(1)
        assert "is a socket" in line
    finally:
        listener.close()
    assert stat.S_ISSOCK((tmp_path / "sock").lstat().st_mode)


def test_rm_r_of_an_artifact_store_asks_first(tmp_path: Path) -> None:
    (tmp_path / "n.md").write_text("one")
    store = str(tmp_path / "s")
    invoke(["--store", store, "artifacts", "put", "notes", "n.md"], cwd=tmp_path).ok()
    line = invoke(["--store", store, "rm", "-r", "artifacts"], cwd=tmp_path).failed(2)
    assert "holds an artifact store" in line
    invoke(["--store", store, "artifacts", "get", "notes"], cwd=tmp_path).ok()  # still there
    invoke(["--store", store, "rm", "-r", "-y", "artifacts"], cwd=tmp_path).ok()


def test_skip_existing_update_and_checksum(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {f"f{n}.txt": b"%03d" % n for n in range(5)})
    store = str(tmp_path / "s")

    def put(*flags: str) -> dict[str, Any]:
        args = ["--store", store, "put", "-r", *flags, "src", "dst", "--json"]
        result: dict[str, Any] = invoke(args, cwd=tmp_path).json()
        return result

    assert put()["files"] == 5
    again = put("--skip-existing")
    assert (again["files"], again["unchanged"]) == (0, 5)
    (tmp_path / "src" / "f1.txt").write_bytes(b"xyz")  # same size, new content
    (tmp_path / "src" / "f2.txt").write_bytes(b"longer")  # new size
    checked = put("--checksum")
    assert (checked["files"], checked["unchanged"]) == (2, 3)
    assert invoke(["--store", store, "cat", "dst/f1.txt"], cwd=tmp_path).ok().out == b"xyz"
    assert put("--update")["files"] == 0  # store copies are newer and the same size


def test_aliased_keys_are_counted_apart(tmp_path: Path, s3_server: CloudServer) -> None:
    """``/abs.txt`` next to ``abs.txt``: one copied, one skipped; rm leaves it and says so."""
    client = _s3_client(s3_server)
    bucket = f"alias-{uuid.uuid4().hex[:8]}"  # a leading '/' is at the top of a bucket
    client.create_bucket(Bucket=bucket)
    url = f"s3://{bucket}?{urlencode(s3_server.options)}"
    for key, body in (("abs.txt", b"plain"), ("/abs.txt", b"slashed")):
        client.put_object(Bucket=bucket, Key=key, Body=body)
    copied = invoke(["cp", "-r", url, "out", "--json"], cwd=tmp_path).json()
    assert (copied["files"], len(copied["skipped"])) == (1, 1)
    assert (tmp_path / "out" / "abs.txt").read_bytes() in (b"plain", b"slashed")
    removed = invoke(["rm", "-r", "-y", url, "--json"], cwd=tmp_path).json()
    assert (removed["deleted"], len(removed["skipped"])) == (1, 1)
    left = client.list_objects_v2(Bucket=bucket)["KeyCount"]
    assert left == 1  # the count said so


def test_unparseable_keys_are_skipped_per_object(tmp_path: Path, s3_server: CloudServer) -> None:
    client = _s3_client(s3_server)
    prefix = f"bad-{uuid.uuid4().hex[:8]}"
    for name in ("ok.txt", "../x", "a//b", "x/./y", "sub/deep.txt"):
        client.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/{name}", Body=name.encode())
    url = s3_server.url(prefix)
    listed = invoke(["ls", "-r", url, "--json"], cwd=tmp_path).json()
    assert sorted(e["path"] for e in listed if e["type"] == "file") == ["ok.txt", "sub/deep.txt"]
    assert len([e for e in listed if e["type"] == "skipped"]) == 3
    (tmp_path / "out").mkdir()
    copied = invoke(["cp", "-r", url, "out/dst", "--json"], cwd=tmp_path).json()
    assert (copied["files"], len(copied["skipped"])) == (2, 3)
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["deep.txt", "dst", "ok.txt",
                                                                     "sub"]  # fmt: skip


def test_binary_artifact_is_not_written_to_a_terminal(tmp_path: Path) -> None:
    import pty
    import subprocess

    from tests.cli.conftest import BIN

    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x01")
    store = str(tmp_path / "s")
    invoke(["--store", store, "artifacts", "put", "logo", "logo.png"], cwd=tmp_path).ok()

    def on_terminal(*flags: str) -> tuple[int, bytes, str]:
        leader, follower = pty.openpty()
        try:
            done = subprocess.run(
                [str(BIN), "--store", store, "artifacts", "get", "logo", *flags],
                cwd=tmp_path, stdout=follower, stderr=subprocess.PIPE, timeout=60, check=False,
            )  # fmt: skip
            os.close(follower)
            follower = -1
            shown = b""
            try:
                while chunk := os.read(leader, 4096):
                    shown += chunk
            except OSError:  # EIO: the terminal's other end is closed
                pass
            return done.returncode, shown, done.stderr.decode()
        finally:
            os.close(leader)
            if follower >= 0:
                os.close(follower)

    code, shown, err = on_terminal()
    assert code == 2
    assert "is binary" in err
    assert b"PNG" not in shown
    code, shown, _ = on_terminal("--force")
    assert code == 0
    assert b"PNG" in shown

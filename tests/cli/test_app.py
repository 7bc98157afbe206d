"""The program as a whole: help, completion, version, start-up cost."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import click

from tests.cli.conftest import BIN, Storeroom


def _command_paths() -> list[tuple[str, ...]]:
    from storeroom.cli.app import cli

    found: list[tuple[str, ...]] = [()]

    def walk(group: click.Group, path: tuple[str, ...]) -> None:
        context = click.Context(group)
        for name in group.list_commands(context):  # commands load lazily: ask, do not peek
            command = group.get_command(context, name)
            assert command is not None, name
            found.append((*path, name))
            if isinstance(command, click.Group):
                walk(command, (*path, name))

    walk(cli, ())
    return found


def test_every_command_has_help(storeroom: Storeroom) -> None:
    paths = _command_paths()
    assert len(paths) >= 25  # root, 9 file commands + completion + demo, 9 artifacts, 5 cache
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda path: storeroom(*path, "--help"), paths))
    for path, result in zip(paths, results, strict=True):
        assert result.ok().text.startswith(f"Usage: storeroom {' '.join(path)}".rstrip()), path
        assert "Options:" in result.text, path
        assert "-h, --help" in result.text, path
    bare = storeroom().ok()  # no command: the help, status 0
    assert "Commands:" in bare.text
    assert "artifacts" in bare.text
    assert "STOREROOM_URL" in bare.text
    assert "storeroom, version 0.1.0" in storeroom("--version").ok().text


def test_shell_completion(storeroom: Storeroom) -> None:
    for shell in ("bash", "zsh", "fish"):
        script = storeroom("completion", shell).ok().text
        assert "_STOREROOM_COMPLETE" in script
        assert f"{shell}_complete" in script
    assert "is not one of" in storeroom("completion", "tcsh").failed(2)

    words = {
        "COMP_WORDS": "storeroom art",
        "COMP_CWORD": "1",
        "_STOREROOM_COMPLETE": "bash_complete",
    }
    assert "plain,artifacts" in storeroom(env=words).ok().text
    storeroom("put", "-", "reports/q1.md", stdin=b"x").ok()
    keys = {
        "COMP_WORDS": "storeroom cat reports/",
        "COMP_CWORD": "2",
        "_STOREROOM_COMPLETE": "bash_complete",
    }
    assert "plain,reports/q1.md" in storeroom(env=keys).ok().text


def test_import_is_cheap_and_loads_no_backend() -> None:
    code = (
        "import sys, storeroom.cli, storeroom.cli.app\n"
        "heavy = {'obstore', 'redis', 'rich', 'msgpack', 'moto', 'aiohttp'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert BIN.exists()


def test_debug_and_environment(storeroom: Storeroom) -> None:
    plain = storeroom("stat", "nope")
    assert plain.failed(1) == "storeroom: error: no file or folder at 'nope'"
    traced = storeroom("stat", "nope", env={"STOREROOM_DEBUG": "1"})
    assert traced.code == 1
    assert "Traceback" in traced.err
    assert "NotFound" in traced.err
    storeroom("put", "-", "k", stdin=b"v", env={"STOREROOM_URL": "elsewhere"}).ok()
    assert (storeroom.cwd / "elsewhere" / "k").read_bytes() == b"v"
    assert not (storeroom.cwd / ".storeroom" / "k").exists()

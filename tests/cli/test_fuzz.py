"""Fuzz the command line: whatever is typed, one typed error line or success.

Arguments are drawn from commands, options and hostile values (malformed
URLs, bad keys, control characters, non-UTF-8 names); every run must end
with exit status 0, 1 or 2, and a failure must be exactly one line starting
``storeroom:`` (or one JSON error under ``--json``), never a traceback or an
"internal error". Only local folders and ``memory://`` are touched: no URL
here can reach the network (malformed cloud URLs fail before any request).
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.inproc import invoke

_COMMANDS = [
    ["ls"], ["ls", "-r"], ["ls", "-l"], ["cat"], ["stat"], ["rm"], ["rm", "-r"], ["put"],
    ["put", "-r"], ["get"], ["get", "-r"], ["cp"], ["cp", "-r"], ["artifacts", "put"],
    ["artifacts", "get"], ["artifacts", "versions"], ["artifacts", "list"],
    ["artifacts", "alias"], ["artifacts", "rm"], ["artifacts", "diff"], ["artifacts", "keep"],
    ["cache", "get"], ["cache", "set"], ["cache", "delete"], ["cache", "stats"], [],
]  # fmt: skip
_VALUES = [
    "s3://[bad/p", "az://[x", "gs://[", "ftp://host/x", "memory://", "memory://x/y",
    "file:///nonexistent/x", "file://", "a/../b", "a//b", "x/./y", "../x", "/abs", "-",
    ".", "", "k", "f.txt", "dir/", "dir", "CON", "a\nb", "\x00", "\udcff", "é", "v1",
    "latest", "--json", "--store", "--cache", "memory://", "-j", "0", "-1",
    "99999", "--skip-existing", "--update", "--checksum", "--follow-symlinks", "-o", "--meta",
    "a=b", "=", "--version", "--ttl", "nan", "--last", "-y", "--", "x?durable=true",
    "s3://bucket/k?endpoint=notaurl", "memory://?ttl=abc", "--store=memory://",
]  # fmt: skip

_LINE = st.tuples(
    st.sampled_from(_COMMANDS),
    st.lists(st.one_of(st.sampled_from(_VALUES), st.text(max_size=6)), max_size=5),
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(line=_LINE)
def test_any_command_line_ends_in_a_typed_outcome(tmp_path: Path, line: tuple[
    list[str], list[str]]) -> None:  # fmt: skip
    command, rest = line
    work = tmp_path / "w"
    work.mkdir(exist_ok=True)
    (work / "f.txt").write_text("hello")
    (work / "dir").mkdir(exist_ok=True)
    args = [*command, *rest]
    result = invoke(args, cwd=work, env={"STOREROOM_URL": str(tmp_path / "store")})
    assert result.code in (0, 1, 2), (args, result.code, result.err)
    assert "Traceback" not in result.err, (args, result.err)
    assert "internal error" not in result.err, (args, result.err)
    if result.code != 0:
        lines = [line for line in result.err.splitlines() if "warning:" not in line]
        assert len(lines) == 1, (args, result.err)
        if "--json" in args[: args.index("--")] if "--" in args else "--json" in args:
            assert "error" in json.loads(lines[0]), (args, result.err)
        else:
            assert lines[0].startswith("storeroom: "), (args, result.err)

"""Run ``storeroom`` in this process (fast, for many runs): :func:`invoke`.

The same entry point as the console script (:func:`storeroom.cli.app.main`,
error handling included), with click's isolation for stdin/stdout/stderr, the
working folder switched to ``cwd`` and no ``STOREROOM_*`` variable inherited.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from click.testing import CliRunner

from storeroom.cli.app import main
from tests.cli.conftest import Result

__all__ = ["invoke"]


def invoke(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: bytes = b"",
) -> Result:
    """Run ``storeroom ARGS`` in-process; the exit status, stdout and stderr."""
    cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith("STOREROOM_")}
    cleared.update(env or {})
    cleared["AWS_EC2_METADATA_DISABLED"] = "true"
    before = os.getcwd()
    os.chdir(cwd)
    try:
        with CliRunner().isolation(input=stdin, env=cleared) as (out, err, _):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            sys.stdout.flush()
            sys.stderr.flush()
            return Result(args, code, out.getvalue(), err.getvalue().decode("utf-8", "replace"))
    finally:
        os.chdir(before)

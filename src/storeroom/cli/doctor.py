"""``storeroom doctor [URL]``: check a store or a cache and say what to do.

The checks are :func:`storeroom.doctor.diagnose`'s; this module prints them
(text, or one JSON document with ``--json``) and exits 1 if any found a
problem, 0 otherwise. Without URL it checks the store of ``--store`` /
``STOREROOM_URL`` / ``./.storeroom``.
"""

from __future__ import annotations

import sys

import click

from .state import json_option, state, store_option

__all__ = ["COMMANDS", "doctor"]


@click.command("doctor")
@click.argument("url", required=False)
@click.option(
    "--cache", "as_cache", is_flag=True, help="Check URL as a cache (memory://, redis://, ...)."
)
@json_option
@store_option
def doctor(url: str | None, as_cache: bool) -> None:
    """Check a store or cache the way support would, and say what to fix.

    \b
    Checks, in order: the URL parses; credentials are found (and from where);
    the endpoint answers; the bucket exists; create-if-absent and
    compare-and-swap really hold there (on a scratch key under the prefix,
    removed after); the server's clock. Exits 1 if something is wrong.
    """
    import asyncio

    from ..doctor import diagnose

    current = state()
    target = url or current.store
    current.redact.add(target)
    report = asyncio.run(diagnose(target, as_cache=True if as_cache else None))
    out = current.output()
    if out.as_json:
        out.json(report.as_dict())
    else:
        out.lines(report.lines())
    if not report.ok:
        sys.exit(1)


COMMANDS = [doctor]

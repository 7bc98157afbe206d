"""``storeroom cache``: look into and manage a shared cache (Redis, usually).

Each command takes ``--cache URL`` (or ``STOREROOM_CACHE_URL``), e.g.
``redis://localhost:6379/0?namespace=myapp``: only that namespace is read,
written or cleared. Values set here are strings, or JSON with ``--json-value``.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from collections.abc import Awaitable, Callable, Sized
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import NotFound
from .state import Session, json_option, run, state

if TYPE_CHECKING:
    from ..interfaces import CacheBackend

__all__ = ["COMMANDS"]

_T = TypeVar("_T")


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """A ttl is a finite number of seconds (``FloatRange`` lets nan and inf through)."""
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds", ctx, param)
    return value

cache_option = click.option(
    "--cache",
    "cache_url",
    metavar="URL",
    envvar="STOREROOM_CACHE_URL",
    required=True,
    help="The cache: redis://host:port/db?namespace=NAME, memory:// or none:// "
    "(also $STOREROOM_CACHE_URL).",
)


def _with_cache(url: str, body: Callable[[CacheBackend], Awaitable[_T]]) -> _T:
    """Run ``body`` on the cache at ``url``, closed afterwards."""
    from ..resource import AsyncResource
    from ..urls import cache

    state().redact.add(url)
    state().warn_if_memory(url, "cache")

    async def main(_session: Session) -> _T:
        opened = cache(url)
        try:
            return await body(opened)
        finally:
            if isinstance(opened, AsyncResource):
                await opened.aclose()

    return run(main)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.dumps(value, ensure_ascii=False, default=str)


@click.group("cache")
def cache_group() -> None:
    """Read and manage a shared cache (Redis, say), one namespace at a time."""


@cache_group.command("get")
@click.argument("key")
@cache_option
@json_option
def get(key: str, cache_url: str) -> None:
    """Print the value cached at KEY (exit status 1 if there is none)."""
    from ..caches import MISSING

    value = _with_cache(cache_url, lambda found: found.get(key, MISSING))  # type: ignore[call-arg]
    if value is MISSING:
        raise NotFound(f"nothing cached at {key!r}")
    out = state().output()
    if out.as_json:
        if isinstance(value, bytes):
            out.json({"key": key, "value_base64": base64.b64encode(value).decode("ascii")})
        else:
            out.json({"key": key, "value": value})
    elif isinstance(value, bytes):
        sys.stdout.buffer.write(value)
    else:
        out.line(_shown(value))


@cache_group.command("set")
@click.argument("key")
@click.argument("value")
@click.option(
    "--ttl", type=click.FloatRange(min=0), callback=_finite, default=300, show_default=True,
    help="Seconds to keep it (0: no expiry).",
)  # fmt: skip
@click.option("--json-value", is_flag=True, help="VALUE is JSON (a number, a list, ...).")
@cache_option
@json_option
def set_(key: str, value: str, ttl: float, json_value: bool, cache_url: str) -> None:
    """Cache VALUE at KEY for --ttl seconds."""
    stored: Any = value
    if json_value:
        try:
            stored = json.loads(value)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="VALUE") from None
    _with_cache(cache_url, lambda found: found.set(key, stored, ttl))  # type: ignore[arg-type]
    out = state().output()
    expiry = f"for {ttl:g} s" if ttl else "with no expiry"
    out.result(
        {"key": key, "value": stored, "ttl": ttl}, lambda: out.line(f"Cached {key} {expiry}.")
    )


@cache_group.command("delete")
@click.argument("keys", nargs=-1, required=True)
@cache_option
@json_option
def delete(keys: tuple[str, ...], cache_url: str) -> None:
    """Remove KEYS from the cache (missing keys are fine)."""

    async def body(found: CacheBackend) -> None:
        for key in keys:
            await found.delete(key)

    _with_cache(cache_url, body)
    out = state().output()
    out.result({"deleted": list(keys)}, lambda: out.line(f"Removed {len(keys)} key(s)."))


@cache_group.command("clear")
@click.option("-y", "--yes", is_flag=True, help="Do not ask first.")
@cache_option
@json_option
def clear(yes: bool, cache_url: str) -> None:
    """Remove every entry of the cache's namespace (nothing outside it)."""
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("clearing a shared cache needs --yes")
        click.confirm("Remove every entry of this cache?", abort=True, err=True)
    _with_cache(cache_url, lambda found: found.clear())
    out = state().output()
    out.result({"cleared": True}, lambda: out.line("Cache cleared."))


#: A key read by ``cache stats`` to learn that the cache answers (never written).
_PROBE = "storeroom:cache-stats:probe"


async def _stats(found: CacheBackend) -> dict[str, Any]:
    """What the cache says about itself through its public surface only.

    Its description, its namespace (if it has one), how many entries it
    holds (if it can be measured with ``len``) and this process's counts.
    """
    from ..caches import Cache

    record: dict[str, Any] = {"cache": repr(found)}
    namespace = getattr(found, "namespace", None)
    if isinstance(namespace, str):
        record["namespace"] = namespace
    if isinstance(found, Sized):
        record["entries"] = len(found)
    if isinstance(found, Cache):
        record["this_process"] = asdict(found.stats())
    await found.get(_PROBE)  # reaches the server: an unreachable cache fails here, not later
    return record


@cache_group.command("stats")
@cache_option
@json_option
def stats(cache_url: str) -> None:
    """Show what the cache is, the entries it holds where it can tell, and hit/miss counts."""
    record = _with_cache(cache_url, _stats)
    out = state().output()

    def text() -> None:
        for name, value in record.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            out.line(f"{name:<14} {value}")

    out.result(record, text)


COMMANDS = [cache_group]

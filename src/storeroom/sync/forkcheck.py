"""After ``fork``: refuse, with a clear error, an object store the child cannot use.

The object stores run on obstore, whose requests run on one tokio runtime per
process. tokio does not survive ``fork`` (tokio-rs/tokio#4301): if the parent
ever started that runtime, every request of the child waits forever, however
fresh its client. So in a forked child, before a facade builds an object store
again, one request is sent to an in-memory obstore store with a short
timeout; if it does not come back, the facade raises
:class:`ForkedRuntimeError` instead of letting the caller hang. Local and
memory stores need no runtime and are never refused.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from ..errors import BackendUnavailable

__all__ = ["ForkedRuntimeError", "check_child"]

#: How long the probe request may take before the runtime is declared dead.
PROBE_SECONDS = 2.0

_OBJECT_MODULES = "storeroom.providers.object"
_alive: bool | None = None  # this child's verdict, once probed


class ForkedRuntimeError(BackendUnavailable):
    """An object store used in a forked child after the parent started obstore's runtime."""

    code = "forked_runtime"


def _uses_obstore(obj: Any, depth: int = 4) -> bool:
    """Whether ``obj`` (or what it wraps: ``provider``) is an obstore-backed provider."""
    for _ in range(depth):
        if type(obj).__module__.startswith(_OBJECT_MODULES):
            return True
        obj = getattr(obj, "provider", None)
        if obj is None:
            return False
    return False


async def _probe() -> bool:
    import obstore
    from obstore.store import MemoryStore

    try:
        await asyncio.wait_for(obstore.put_async(MemoryStore(), "probe", b"1"), PROBE_SECONDS)
    except asyncio.TimeoutError:
        return False
    return True


def check_child(obj: Any) -> None:
    """Raise :class:`ForkedRuntimeError` if ``obj`` needs a runtime this child lacks."""
    global _alive
    if "obstore" not in sys.modules or not _uses_obstore(obj):
        return
    if _alive is None:
        from .runner import run

        _alive = run(_probe())
    if not _alive:
        raise ForkedRuntimeError(
            "this process was forked after its parent used an object store: obstore's "
            "runtime (tokio) does not survive fork. Start workers with the 'spawn' or "
            "'forkserver' method, or fork before the first object-store request"
        )


def forget_in_child() -> None:
    global _alive
    _alive = None


os.register_at_fork(after_in_child=forget_in_child)

"""A provider that runs a one-shot hook before a chosen operation on a chosen key.

Races become deterministic: the hook runs the concurrent operation to
completion at exactly the point where it would hurt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from storeroom.providers.base import GetResult, ObjectMeta, PutMode
from storeroom.providers.memory import MemoryProvider

Hook = Callable[[], Awaitable[object]]


class HookedProvider(MemoryProvider):
    """A MemoryProvider that runs a one-shot hook before a chosen operation on a chosen key."""

    def __init__(self) -> None:
        super().__init__("hooked")
        self.hooks: dict[tuple[str, str], Hook] = {}

    async def _fire(self, operation: str, path: str) -> None:
        hook = self.hooks.pop((operation, path), None)
        if hook is not None:
            await hook()

    async def put(
        self,
        path: str,
        data: bytes,
        *,
        mode: PutMode = "overwrite",
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        await self._fire("put", path)
        return await super().put(
            path, data, mode=mode, content_type=content_type, metadata=metadata
        )

    async def get(self, path: str) -> GetResult:
        await self._fire("get", path)
        return await super().get(path)

    async def delete(self, path: str) -> None:
        await self._fire("delete", path)
        await super().delete(path)

    async def copy(self, src: str, dst: str, *, overwrite: bool = True) -> None:
        await self._fire("copy", dst)
        await super().copy(src, dst, overwrite=overwrite)

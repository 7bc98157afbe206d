"""ClusterPipeline: the automatic pipeline of :mod:`.pipeline`, one per primary of a Redis Cluster.

A command is routed by the hash slot of its key (``CRC16`` of the key, or of
its ``{hash tag}``, modulo 16384) to the primary that serves the slot, and
queued on that node's :class:`~.pipeline.AutoPipeline`: commands that 64
tasks issue in one loop iteration still leave in one write per node.

The slot map comes from ``CLUSTER SLOTS``, asked of the seed nodes (then of
every node known) when the first command is queued. Commands queued before
the map is known, or while it is being refreshed after a failure, wait in one
list and are dispatched (or failed with the reason) when the refresh ends. So
no caller ever waits on a map that will not come: a refresh is bounded by the
timeout of each node it asks.

Redirections and failures:

- ``MOVED slot host:port``: the slot has moved for good. The map is patched
  at once, the command is sent to the new owner, and a full refresh is
  scheduled (a resharding usually moves many slots).
- ``ASK slot host:port``: the slot is being migrated. ``ASKING`` and the
  command are queued together on the target's connection (so they leave in
  that order) and the map is left as it is.
- A connection failure, ``CLUSTERDOWN`` or ``TRYAGAIN`` (a primary died and
  its replica is taking over): the command waits for a refresh of the map,
  after a short pause that grows with each attempt, and is sent again, at
  most :data:`MAX_ATTEMPTS` times in all; then it fails with the last error.
  A cache only sends commands that may run twice (see :mod:`.pipeline`).

Multi-key commands (``MGET``, ``UNLINK``) must name keys of one slot:
:meth:`ClusterPipeline.groups` splits keys by slot for the cache.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import Any, Final

from redis.asyncio.connection import ConnectionPool
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    DataError,
    MovedError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import ConfigurationError
from .pipeline import AutoPipeline

__all__ = ["MAX_ATTEMPTS", "ClusterPipeline", "slot_of"]

#: Sends of one command at most (redirections and retries after a failover included).
MAX_ATTEMPTS: Final = 5
_SLOTS: Final = 16384
#: Pause before the n-th retry after a failure: the failover needs a moment.
_PAUSE: Final = 0.1

Address = tuple[str, int]


def slot_of(key: str | bytes) -> int:
    """The hash slot of ``key`` (its ``{hash tag}`` when it has one)."""
    if isinstance(key, str):
        try:
            key = key.encode()
        except UnicodeEncodeError as exc:
            raise DataError(f"a key is not valid Unicode text ({exc.reason})") from None
    return int(key_slot(key))


class NotACluster(ConfigurationError):
    """A seed node answered, but it is not a Redis Cluster node."""


class ClusterPipeline:
    """Routes each command to the primary of its key's slot, pipelined per node.

    Args:
        seeds: addresses to ask for the slot map (any node of the cluster).
        pool_for: makes the connection pool of one node.
        timeout: seconds to wait for one node's reply (``None``: forever).
    """

    def __init__(
        self,
        seeds: Sequence[Address],
        pool_for: Callable[[str, int], ConnectionPool],
        *,
        timeout: float | None,
    ) -> None:
        if not seeds:
            raise ConfigurationError("a Redis Cluster URL needs at least one host:port")
        self._seeds = list(seeds)
        self._pool_for = pool_for
        self._timeout = timeout
        self._nodes: dict[Address, AutoPipeline] = {}
        self._slots: list[Address] | None = None
        self._waiting: list[tuple[tuple[Any, ...], asyncio.Future[Any], int]] = []
        self._refresh: asyncio.Task[None] | None = None
        self._pause = 0.0
        self._closed = False

    @property
    def writes(self) -> int:
        """Writes sent so far, summed over the nodes."""
        return sum(node.writes for node in self._nodes.values())

    def groups(self, keys: Sequence[str]) -> list[list[int]]:
        """The positions of ``keys`` grouped by slot: each group fits one multi-key command."""
        by_slot: dict[int, list[int]] = {}
        for position, key in enumerate(keys):
            by_slot.setdefault(slot_of(key), []).append(position)
        return list(by_slot.values())

    async def primaries(self) -> list[AutoPipeline]:
        """The pipeline of every primary (the slot map is loaded first if needed)."""
        if self._slots is None:
            await self.call("PING")  # routed anywhere: it waits for the map
        assert self._slots is not None
        return [self._node(address) for address in dict.fromkeys(self._slots)]

    def call(self, *args: Any) -> asyncio.Future[Any]:
        """Queue one command on the node of its key; the future holds its reply."""
        if self._closed:
            raise RuntimeError("this Redis cache is closed")
        if len(args) > 1:
            slot_of(args[1])  # a key that cannot be sent fails here, alone
        outer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._send(args, outer, 1)
        return outer

    def call_many(self, commands: Sequence[Sequence[Any]]) -> list[asyncio.Future[Any]]:
        """Queue several commands; those of one node leave in the same write."""
        for command in commands:
            if len(command) > 1:
                slot_of(command[1])
        return [self.call(*command) for command in commands]

    def _node(self, address: Address) -> AutoPipeline:
        node = self._nodes.get(address)
        if node is None:
            pool = self._pool_for(*address)
            node = self._nodes[address] = AutoPipeline(pool, owns_pool=True, timeout=self._timeout)
        return node

    def _send(self, args: tuple[Any, ...], outer: asyncio.Future[Any], attempt: int) -> None:
        if self._slots is None or self._refresh is not None:
            self._wait(args, outer, attempt)
            return
        address = self._slots[slot_of(args[1]) if len(args) > 1 else 0]
        self._dispatch(self._node(address), args, outer, attempt)

    def _dispatch(
        self,
        node: AutoPipeline,
        args: tuple[Any, ...],
        outer: asyncio.Future[Any],
        attempt: int,
        *,
        asking: bool = False,
    ) -> None:
        try:
            if asking:
                node.call("ASKING").add_done_callback(_consume)
            inner = node.call(*args)
        except Exception as exc:  # a closed node pipeline: this command's error
            if not outer.done():
                outer.set_exception(exc)
            return
        inner.add_done_callback(functools.partial(self._answered, args, outer, attempt))

    def _answered(
        self,
        args: tuple[Any, ...],
        outer: asyncio.Future[Any],
        attempt: int,
        inner: asyncio.Future[Any],
    ) -> None:
        if inner.cancelled():
            outer.cancel()
            return
        error = inner.exception()
        if outer.done():  # the caller gave up; the reply is dropped
            return
        if error is None:
            outer.set_result(inner.result())
            return
        if attempt < MAX_ATTEMPTS and not self._closed:
            if isinstance(error, AskError):  # MovedError is one too
                host, port = error.node_addr
                address = (host or self._seeds[0][0], int(port))
                moved = isinstance(error, MovedError)
                if moved:
                    if self._slots is not None:
                        self._slots[error.slot_id] = address
                    self._start_refresh(0.0)
                self._dispatch(self._node(address), args, outer, attempt + 1, asking=not moved)
                return
            if isinstance(
                error,
                (ClusterDownError, TryAgainError, RedisConnectionError, RedisTimeoutError, OSError),
            ):
                self._wait(args, outer, attempt + 1)
                self._start_refresh(_PAUSE * attempt)
                return
        outer.set_exception(error)

    def _wait(self, args: tuple[Any, ...], outer: asyncio.Future[Any], attempt: int) -> None:
        self._waiting.append((args, outer, attempt))
        self._start_refresh(0.0)

    def _start_refresh(self, pause: float) -> None:
        self._pause = max(self._pause, pause)
        if self._refresh is None and not self._closed:
            self._refresh = asyncio.get_running_loop().create_task(
                self._refreshed(), name="storeroom-redis-cluster-slots"
            )

    async def _refreshed(self) -> None:
        """Load the slot map, then dispatch (or fail) every command waiting for it."""
        failure: BaseException | None = None
        try:
            if self._pause:
                await asyncio.sleep(self._pause)
            self._slots = await self._load_slots()
        except Exception as exc:  # handed to the waiting commands
            failure = exc
        finally:
            self._refresh = None
            self._pause = 0.0
        waiting, self._waiting = self._waiting, []
        for args, outer, attempt in waiting:
            if outer.done():
                continue
            if failure is None:
                self._send(args, outer, attempt)
            else:
                outer.set_exception(failure)

    async def _load_slots(self) -> list[Address]:
        """The owner of every slot, from the first node that answers ``CLUSTER SLOTS``."""
        known = list(dict.fromkeys([*self._seeds, *self._nodes]))
        last: BaseException | None = None
        for address in known:
            try:
                reply = await self._node(address).call("CLUSTER", "SLOTS")
            except ResponseError as exc:
                if "cluster support disabled" in str(exc):
                    raise NotACluster(
                        f"{address[0]}:{address[1]} is not a Redis Cluster node (cluster "
                        "support disabled); use redis:// for a single server"
                    ) from None
                last = exc
                continue
            except (RedisError, OSError) as exc:
                last = exc
                continue
            slots = _slot_table(reply, address)
            if slots is not None:
                return slots
            last = RedisConnectionError(
                f"the cluster at {address[0]}:{address[1]} does not cover every slot yet"
            )
        assert last is not None
        raise last

    async def aclose(self) -> None:
        """Fail what waits and close every node's pipeline."""
        self._closed = True
        if self._refresh is not None:
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)
        closed = RedisConnectionError("the cache was closed")
        for _, outer, _ in self._waiting:
            if not outer.done():
                outer.set_exception(closed)
        self._waiting = []
        await asyncio.gather(*(node.aclose() for node in self._nodes.values()))


def _slot_table(reply: Any, asked: Address) -> list[Address] | None:
    """The owner of each slot from a ``CLUSTER SLOTS`` reply, or ``None`` if slots are missing."""
    table: list[Address | None] = [None] * _SLOTS
    for entry in reply:
        start, end, primary = int(entry[0]), int(entry[1]), entry[2]
        host = primary[0].decode() if isinstance(primary[0], bytes) else str(primary[0])
        address = (host or asked[0], int(primary[1]))
        for slot in range(start, end + 1):
            table[slot] = address
    if any(address is None for address in table):
        return None
    return [address for address in table if address is not None]


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve a reply nobody awaits (``ASKING``'s), so it is not reported as lost."""
    if not future.cancelled():
        future.exception()

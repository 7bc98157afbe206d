"""RedisCache: a namespaced cache on redis-py's asyncio client, pipelined automatically.

Every key is stored as ``<namespace>:<key>``, the namespace escaped (``\\`` and
``:`` get a backslash) so that namespace ``app`` with key ``1:x`` and
namespace ``app1`` with key ``:x`` never meet. ``clear()`` walks only its own
namespace with ``SCAN MATCH`` (glob characters escaped) and ``UNLINK``: never
``FLUSHDB``, never ``KEYS``.

Values go through a :mod:`~storeroom.caches.serializers` serializer: msgpack
by default (safe), signed pickle only when asked for. An entry the serializer
refuses (planted, tampered, another format) is a miss, logged and counted in
``stats().rejected``; it is never loaded.

Commands from all tasks share one connection with automatic pipelining
(:mod:`~storeroom.caches.pipeline`). When Redis cannot be reached, the cache
raises :class:`~storeroom.errors.BackendUnavailable` (the default), or with
``fail_open=True`` it behaves as a miss (lookups) or a skipped write (``set``,
``delete``, ``clear``), logs the outage once at WARNING and counts each
failure in ``stats().errors``. ``stats()`` counts what this client saw:
evictions and expirations inside Redis are Redis's own (see ``INFO stats``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import SSLConnection
from redis.asyncio.sentinel import MasterNotFoundError, SentinelConnectionPool
from redis.exceptions import (
    AskError,
    AuthenticationError,
    AuthorizationError,
    BusyLoadingError,
    ClusterDownError,
    DataError,
    MasterDownError,
    NoPermissionError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import (
    BackendUnavailable,
    ConfigurationError,
    IntegrityError,
    InvalidPath,
    PermissionDenied,
    StorageError,
)
from ..options import mask, option_bool, option_float, reject_unknown, split_options
from .base import DEFAULT_TTL, Cache, item_pairs, ttl_seconds
from .pipeline import AutoPipeline
from .serializers import MsgpackSerializer, Serializer, SignedPickleSerializer
from .topology import Pipeline, connect
from .tracking import Endpoint, Tracker

__all__ = ["RedisCache"]

log = logging.getLogger("storeroom.caches.redis")

DEFAULT_URL: Final = "redis://127.0.0.1:6379/0"
DEFAULT_NAMESPACE: Final = "storeroom"
_OPTIONS = frozenset(
    {"namespace", "fail_open", "timeout", "serializer", "signing_key", "local"}
)
_GLOB = re.compile(r"([*?\[\]\\])")
_SCAN_COUNT = 1000
_FAILED: Final = object()  # a command that failed open


def namespace_prefix(namespace: str) -> str:
    """The key prefix of ``namespace``: escaped so that no two namespaces overlap."""
    if not namespace:
        raise ConfigurationError("a Redis cache namespace must not be empty")
    return namespace.replace("\\", "\\\\").replace(":", "\\:") + ":"


def glob_escape(text: str) -> str:
    """``text`` with the glob characters of ``SCAN MATCH`` (``*?[]\\``) escaped."""
    return _GLOB.sub(r"\\\1", text)


def map_error(exc: BaseException, where: str) -> StorageError:
    """The storeroom error for a redis-py error (the one mapping point of this backend).

    Connection failures say what went wrong (refused, unknown host, TLS,
    timeout) and what to do next; ``where`` is already masked.
    """
    name = type(exc).__name__
    if isinstance(exc, (AuthenticationError, AuthorizationError, NoPermissionError)) or (
        isinstance(exc, ResponseError) and str(exc).startswith(("NOAUTH", "WRONGPASS", "NOPERM"))
    ):
        return PermissionDenied(
            f"Redis at {where} refused access ({name}: {_first_line(exc)}); "
            "check the user name and password in the URL and that user's ACL"
        )
    if isinstance(exc, DataError):
        return InvalidPath(f"cannot send this to Redis at {where}: {exc}")
    if isinstance(exc, _UNAVAILABLE_REPLIES):
        reply = getattr(exc, "status_code", None) or name
        return BackendUnavailable(
            f"Redis at {where} cannot serve now ({reply}: {_first_line(exc)}); "
            "a failover may be under way: try again shortly"
        )
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)):
        return BackendUnavailable(f"Redis at {where} is unavailable: {_why(exc, where)}")
    return StorageError(f"Redis at {where} failed ({name}: {_first_line(exc)})")


#: Error replies that mean "not now" (a failover, a loading replica), not "never".
_UNAVAILABLE_REPLIES = (
    ReadOnlyError,
    BusyLoadingError,
    MasterDownError,
    ClusterDownError,
    TryAgainError,
    AskError,  # MOVED and ASK left over after the redirections allowed
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _why(exc: BaseException, where: str) -> str:
    """What a connection failure means and the next step, from the whole cause chain."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(error) for error in chain)
    tls = where.startswith("rediss") or "+tls" in where.split("://")[0]
    if any(isinstance(error, MasterNotFoundError) for error in chain):
        return (
            f"no sentinel names a primary for this service ({_first_line(exc)}); "
            "check the service name in the URL and that the sentinels monitor it"
        )
    if any(isinstance(error, ssl.SSLError) for error in chain) or "SSL" in text:
        return (
            f"the TLS handshake failed ({_first_line(exc)}); if the server does not "
            "speak TLS use redis:// instead of rediss://, else check its certificate"
        )
    if any(isinstance(error, ConnectionRefusedError) for error in chain) or "refused" in text:
        return "connection refused: nothing listens there; start Redis or fix the host and port"
    if any(isinstance(error, socket.gaierror) for error in chain) or (
        "Name or service not known" in text or "nodename nor servname" in text
    ):
        return "the host name does not resolve; check the host in the URL"
    timed_out = any(
        isinstance(error, (TimeoutError, RedisTimeoutError, asyncio.TimeoutError))
        for error in chain
    )
    if timed_out and tls:
        return (
            "no TLS handshake in time: the server may not speak TLS (then use redis:// "
            "instead of rediss://), or it is too slow to answer"
        )
    if timed_out:
        return (
            f"no answer in time ({_first_line(exc)}); check that the host and port are "
            "those of a Redis server and that it is not overloaded, or raise ?timeout="
        )
    return f"{type(exc).__name__}: {_first_line(exc)}"


class RedisCache(Cache):
    """A cache in Redis under one namespace.

    Args:
        url: a ``redis://[[user]:password@]host:port/db`` (or ``rediss://``) URL,
            or a ``redis.asyncio.Redis`` client to borrow a connection from
            (it must not decode responses; it is not closed by :meth:`aclose`).
        namespace: the prefix of every key; ``clear()`` removes only this namespace.
        serializer: default :class:`MsgpackSerializer`; pass
            :class:`SignedPickleSerializer` for arbitrary objects.
        fail_open: on an unreachable Redis, act as a miss instead of raising
            :class:`~storeroom.errors.BackendUnavailable`.
        timeout: seconds to wait for a connection or a reply (``None``: forever).
    """

    def __init__(
        self,
        url: str | Redis = DEFAULT_URL,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        serializer: Serializer | None = None,
        fail_open: bool = False,
        timeout: float | None = 5.0,
    ) -> None:
        super().__init__()
        self._prefix = namespace_prefix(namespace)
        self.namespace = namespace
        self.fail_open = fail_open
        self._serializer: Serializer = serializer or MsgpackSerializer()
        if isinstance(url, Redis):
            pool = url.connection_pool
            self._where = mask(_pool_url(pool))
            if pool.connection_kwargs.get("decode_responses"):
                raise ConfigurationError("RedisCache needs a client with decode_responses=False")
            self._pipe: Pipeline = AutoPipeline(pool, owns_pool=False, timeout=timeout)
        else:
            self._where = mask(url)
            self._pipe = connect(url, timeout)
        self._timeout = timeout
        self._healthy = True

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Cache:
        """``redis://host:port/db?namespace=app&fail_open=true&timeout=5``.

        Options: ``namespace``, ``fail_open``, ``timeout`` (seconds),
        ``serializer`` (``msgpack`` or ``pickle``), ``signing_key`` (required
        for ``pickle``; better passed as a keyword than in the URL) and
        ``local`` (keep that many hot keys in process, kept correct by
        invalidation pushes: the result is a :class:`~.tiered.TieredCache`).
        The URL may name a cluster (``redis+cluster://``) or sentinels
        (``redis+sentinel://``): see :mod:`~.topology`.
        """
        url, options = split_options(url, options)
        reject_unknown(options, _OPTIONS, url)
        serializer: Serializer | None = options.get("serializer")
        if isinstance(serializer, str):
            if serializer == "pickle":
                key = options.get("signing_key")
                if not key:
                    raise ConfigurationError("serializer=pickle needs a signing_key")
                serializer = SignedPickleSerializer(key)
            elif serializer == "msgpack":
                serializer = MsgpackSerializer()
            else:
                raise ConfigurationError(
                    f"unknown serializer {serializer!r}; known: msgpack, pickle"
                )
        local = option_float("local", options.get("local"))
        if local is not None and (local < 1 or local != int(local)):
            raise ConfigurationError(f"local must be a whole number of keys >= 1, not {local:g}")
        cache = cls(
            url,
            namespace=str(options.get("namespace", DEFAULT_NAMESPACE)),
            serializer=serializer,
            fail_open=option_bool("fail_open", options.get("fail_open", False)),
            timeout=option_float("timeout", options.get("timeout", 5.0)),
        )
        if local is None:
            return cache
        from .tiered import TieredCache  # (it imports this module)

        return TieredCache(cache, max_entries=int(local))

    def __repr__(self) -> str:
        return (
            f"RedisCache({self._where!r}, namespace={self.namespace!r}, "
            f"fail_open={self.fail_open})"
        )

    @property
    def writes(self) -> int:
        """Writes sent to Redis so far; each carries every command queued since the last."""
        return self._pipe.writes

    def key(self, key: str) -> str:
        """The Redis key that holds ``key``."""
        return self._prefix + key

    async def _call(self, *args: Any, via: AutoPipeline | None = None) -> Any:
        """Run one command (on the node ``via``, else by its key): its reply, or ``_FAILED``."""
        try:
            reply = await (via or self._pipe).call(*args)
        except (RedisError, OSError) as exc:
            return self._failed(exc)
        if not self._healthy:
            self._healthy = True
            log.info("Redis cache at %s is reachable again", self._where)
        return reply

    async def execute(self, *args: Any) -> Any:
        """Run one raw command in this cache's pipeline (on a cluster, routed by ``args[1]``).

        Failures are mapped like every command's; failing open gives ``None``.
        Keys are not prefixed: use :meth:`key`.
        """
        reply = await self._call(*args)
        return None if reply is _FAILED else reply

    def _failed(self, exc: BaseException) -> Any:
        error = map_error(exc, self._where)
        if not (self.fail_open and isinstance(error, BackendUnavailable)):
            raise error from exc
        self._errors += 1
        if self._healthy:
            self._healthy = False
            log.warning("Redis cache at %s failing open: %s", self._where, error)
        else:
            log.debug("Redis cache at %s still failing open: %s", self._where, error)
        return _FAILED

    def _decode(self, raw: bytes) -> Any:
        try:
            return self._serializer.loads(raw)
        except IntegrityError as exc:
            self._rejected += 1
            log.warning("Redis cache at %s refused an entry: %s", self._where, exc)
            raise

    def _set_args(self, key: str, value: Any, seconds: float | None) -> tuple[Any, ...]:
        data = self._serializer.dumps(value)
        if not isinstance(data, (bytes, bytearray)):
            raise ConfigurationError(
                f"the serializer {type(self._serializer).__name__} returned a "
                f"{type(data).__name__}, not bytes"
            )
        if seconds is None:
            return ("SET", self._prefix + key, data)
        return ("SET", self._prefix + key, data, "PX", max(1, round(seconds * 1000)))

    async def get(self, key: str, default: Any = None) -> Any:
        raw = await self._call("GET", self._prefix + key)
        return self._found(raw, default)

    async def get_expiring(self, key: str, default: Any = None) -> tuple[Any, float | None]:
        """``get``, and the seconds the entry has left (``None``: no expiry or a miss).

        ``GET`` and ``PTTL`` go out together: one round trip.
        """
        replies = await self._gather(
            self._queue_many([("GET", self._prefix + key), ("PTTL", self._prefix + key)])
        )
        if replies is None:
            return self._found(_FAILED, default), None
        value = self._found(replies[0], default)
        left = int(replies[1])
        return value, (left / 1000 if left > 0 else None)

    def _found(self, raw: Any, default: Any) -> Any:
        """The value of a ``GET`` reply (counted as a hit or a miss)."""
        if raw is None or raw is _FAILED:
            self._misses += 1
            return default
        try:
            value = self._decode(raw)
        except IntegrityError:
            self._misses += 1
            return default
        self._hits += 1
        return value

    async def set(self, key: str, value: Any, ttl: float | None = DEFAULT_TTL) -> None:
        args = self._set_args(key, value, ttl_seconds(ttl))
        if await self._call(*args) is not _FAILED:
            self._sets += 1

    async def delete(self, key: str) -> None:
        self._deletes += 1
        await self._call("UNLINK", self._prefix + key)

    async def clear(self) -> None:
        """``SCAN MATCH`` this namespace on every primary and ``UNLINK`` what it finds."""
        pattern = glob_escape(self._prefix) + "*"
        try:
            nodes = await self._pipe.primaries()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return
        for node in nodes:
            cursor: Any = b"0"
            while True:
                reply = await self._call(
                    "SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT, via=node
                )
                if reply is _FAILED:
                    return
                cursor, keys = reply
                if keys and await self._each_group("UNLINK", keys) is None:
                    return
                if int(cursor) == 0:
                    break

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """One ``MGET`` for all ``keys`` (one per hash slot on a cluster): one round trip."""
        wanted = list(keys)
        if not wanted:
            return {}
        replies = await self._each_group("MGET", [self._prefix + key for key in wanted])
        if replies is None:
            self._misses += len(wanted)
            return {}
        found: dict[str, Any] = {}
        for positions, raws in replies:
            for position, raw in zip(positions, raws, strict=True):
                if raw is not None:
                    try:
                        found[wanted[position]] = self._decode(raw)
                    except IntegrityError:
                        continue
        self._hits += len(found)
        self._misses += len(wanted) - len(found)
        return found

    async def set_many(
        self,
        items: Mapping[str, Any] | Iterable[tuple[str, Any]],
        ttl: float | None = DEFAULT_TTL,
    ) -> None:
        """One ``SET`` per item, all sent in one write (per node): one round trip."""
        seconds = ttl_seconds(ttl)
        commands = [self._set_args(key, value, seconds) for key, value in item_pairs(items)]
        replies = await self._gather(self._queue_many(commands))
        if replies is not None:
            self._sets += len(replies)

    async def delete_many(self, keys: Iterable[str]) -> None:
        """One ``UNLINK`` for all ``keys`` (one per hash slot on a cluster)."""
        wanted = [self._prefix + key for key in keys]
        if wanted:
            self._deletes += len(wanted)
            await self._each_group("UNLINK", wanted)

    async def _each_group(
        self, command: str, keys: list[Any]
    ) -> list[tuple[list[int], Any]] | None:
        """``command`` once per slot group of ``keys``, all queued at once.

        Returns ``(positions, reply)`` per group, or ``None`` when it failed open.
        """
        try:
            groups = self._pipe.groups(keys)
        except DataError as exc:
            raise map_error(exc, self._where) from exc
        futures = self._queue_many([(command, *[keys[i] for i in group]) for group in groups])
        replies = await self._gather(futures)
        return None if replies is None else list(zip(groups, replies, strict=True))

    def _queue_many(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        try:
            return self._pipe.call_many(commands)
        except DataError as exc:  # none was queued
            raise map_error(exc, self._where) from exc

    async def _gather(self, futures: list[Any]) -> list[Any] | None:
        """Every reply, or ``None`` when one failed open; waits for all, reports the first error."""
        error: BaseException | None = None
        replies: list[Any] = []
        for future in futures:
            try:
                replies.append(await future)
            except (RedisError, OSError) as exc:
                error = error or exc
        if error is not None:
            self._failed(error)
            return None
        return replies

    def tracker(
        self, *, on_keys: Callable[[list[bytes]], None], on_lost: Callable[[], None]
    ) -> Tracker:
        """A :class:`~.tracking.Tracker` of this namespace on every primary (not started)."""
        return Tracker(
            self._tracking_endpoints,
            self._prefix.encode(),
            on_keys=on_keys,
            on_lost=on_lost,
            timeout=self._timeout or 5.0,
        )

    async def _tracking_endpoints(self) -> list[Endpoint]:
        return [await _endpoint(node.pool) for node in await self._pipe.primaries()]

    async def aclose(self) -> None:
        """Close the connection (and the pool, when this cache made it)."""
        await self._pipe.aclose()


async def _endpoint(pool: ConnectionPool) -> Endpoint:
    """Where the connections of ``pool`` go now (a Sentinel pool asks the sentinels)."""
    kwargs = pool.connection_kwargs
    tls: ssl.SSLContext | None = None
    if issubclass(pool.connection_class, SSLConnection):
        tls = ssl.create_default_context(cafile=kwargs.get("ssl_ca_certs"))
        if kwargs.get("ssl_cert_reqs") in ("none", ssl.CERT_NONE):
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
    username, password = kwargs.get("username"), kwargs.get("password")
    if isinstance(pool, SentinelConnectionPool):
        host, port = await pool.get_master_address()  # type: ignore[no-untyped-call]
        return Endpoint(host, int(port), tls=tls, username=username, password=password)
    if "path" in kwargs:
        return Endpoint(path=kwargs["path"], username=username, password=password)
    host, port = kwargs.get("host", "127.0.0.1"), int(kwargs.get("port", 6379))
    return Endpoint(host, port, tls=tls, username=username, password=password)


def _pool_url(pool: ConnectionPool) -> str:
    kwargs = pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    host, port = kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379)
    return f"redis://{host}:{port}/{kwargs.get('db', 0)}"

"""How a :class:`~.redis.RedisCache` reaches Redis: one server, Sentinel, or a Cluster.

The topology is a connection strategy, chosen by the URL's scheme; the cache
above it (keys, namespace, serializer, error mapping) is the same for all:

- ``redis://[[user]:password@]host:port/db`` (``rediss://`` for TLS,
  ``unix://path``): one server, one :class:`~.pipeline.AutoPipeline`.
- ``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]``
  (``rediss+sentinel://``): the sentinels are asked for the primary of
  ``service``; the pipeline's connection is redis-py's Sentinel-managed one,
  so a reconnection (after a failover, or a ``READONLY`` reply from a demoted
  primary) asks the sentinels again. The user and password are those of the
  data nodes; the sentinels are asked without credentials.
- ``redis+cluster://[[user]:password@]host:port[,host:port...]``
  (``rediss+cluster://``): any nodes of the cluster as seeds, one pipeline
  per primary (:mod:`.cluster`).

Every URL is parsed here, once, and a malformed one is a
:class:`~storeroom.errors.ConfigurationError` naming the URL with its
password masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.sentinel import (
    Sentinel,
    SentinelConnectionPool,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)

from ..errors import ConfigurationError
from ..options import mask
from .cluster import Address, ClusterPipeline
from .pipeline import AutoPipeline

__all__ = ["CLUSTER_SCHEMES", "SENTINEL_SCHEMES", "Pipeline", "connect", "parse_hosts"]

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


class Pipeline(Protocol):
    """What the cache needs of a topology (see :class:`~.pipeline.AutoPipeline`)."""

    @property
    def writes(self) -> int: ...

    def call(self, *args: Any) -> Any: ...

    def call_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]: ...

    def groups(self, keys: Sequence[str]) -> list[list[int]]: ...

    async def primaries(self) -> list[AutoPipeline]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class _Target:
    tls: bool
    username: str | None
    password: str | None
    hosts: tuple[Address, ...]
    path: str


def connect(url: str, timeout: float | None) -> Pipeline:
    """The pipeline for ``url`` (one server, Sentinel or Cluster; see the module)."""
    scheme = url.split("://", 1)[0].lower()
    if scheme in CLUSTER_SCHEMES:
        return _cluster(url, _parse(url), timeout)
    if scheme in SENTINEL_SCHEMES:
        return _sentinel(url, _parse(url), timeout)
    try:
        # Replies are timed by the pipeline's watchdog, not per read.
        pool = ConnectionPool.from_url(url, socket_timeout=None, socket_connect_timeout=timeout)
    except ValueError:
        raise ConfigurationError(f"bad Redis URL {mask(url)!r}") from None
    return AutoPipeline(pool, owns_pool=True, timeout=timeout)


def parse_hosts(netloc_hosts: str, url: str) -> tuple[Address, ...]:
    """``host:port[,host:port...]`` as addresses (``[v6]:port`` allowed)."""
    hosts: list[Address] = []
    for item in netloc_hosts.split(","):
        item = item.strip()
        host, sep, port = item.rpartition(":")
        if item.startswith("[") and "]" in item:
            host, _, rest = item[1:].partition("]")
            sep, port = (":", rest[1:]) if rest.startswith(":") else ("", "")
        if not item or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(
                f"bad Redis URL {mask(url)!r}: every node must be host:port, not {item!r}"
            )
        hosts.append((host, int(port)))
    return tuple(hosts)


def _parse(url: str) -> _Target:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigurationError(f"bad Redis URL {mask(url)!r}") from None
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, has_password, password = userinfo.partition(":")
    return _Target(
        tls=parts.scheme.lower().startswith("rediss"),
        username=unquote(username) or None,
        password=unquote(password) if has_password else None,
        hosts=parse_hosts(hosts, url),
        path=parts.path.strip("/"),
    )


def _cluster(url: str, target: _Target, timeout: float | None) -> ClusterPipeline:
    if target.path:
        raise ConfigurationError(
            f"bad Redis Cluster URL {mask(url)!r}: a cluster has one database, "
            "so the URL takes no /db path"
        )

    def pool_for(host: str, port: int) -> ConnectionPool:
        return ConnectionPool(
            host=host,
            port=port,
            username=target.username,
            password=target.password,
            socket_timeout=None,
            socket_connect_timeout=timeout,
            connection_class=SSLConnection if target.tls else Connection,
        )

    return ClusterPipeline(target.hosts, pool_for, timeout=timeout)


def _sentinel(url: str, target: _Target, timeout: float | None) -> AutoPipeline:
    service, _, db = target.path.partition("/")
    if not service or (db and not db.isdigit()) or "/" in db:
        raise ConfigurationError(
            f"bad Redis Sentinel URL {mask(url)!r}: expected "
            "redis+sentinel://host:port[,host:port...]/service[/db]"
        )
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.hosts),
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    )
    pool = SentinelConnectionPool(  # type: ignore[no-untyped-call]
        service,
        sentinel,
        username=target.username,
        password=target.password,
        db=int(db or 0),
        socket_timeout=None,
        socket_connect_timeout=timeout,
        connection_class=SentinelManagedSSLConnection if target.tls else SentinelManagedConnection,
    )
    return AutoPipeline(pool, owns_pool=True, timeout=timeout, also_close=sentinel.aclose)

"""Configuration shared by the object stores: URLs, endpoints, credentials, transport.

``s3.py``, ``azure.py`` and ``gcs.py`` parse ``scheme://bucket/prefix?options``
with :func:`parse_bucket_url` into their typed config (the options a config
takes are its dataclass fields: :func:`~storeroom.options.option_specs`) and
take their HTTP, retry and multipart settings from :class:`TransportOptions`,
so every cloud accepts the same option names.

Before any request: :func:`check_endpoint` refuses an endpoint that is not a
server (the cloud metadata address in any spelling, or a host name that
resolves to it), plain ``http`` without ``allow_http`` and no credentials
found anywhere (:func:`require_credentials`), each with what to do. A host
name is checked when the provider is built; a DNS answer that changes later
(rebinding) is not seen, since the HTTP client resolves again.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ... import paths
from ...errors import ConfigurationError, InvalidPath
from ...options import mask, option_specs, parse_typed, reject_unknown, split_options
from ...retry import Backoff

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

__all__ = [
    "MIN_PART_SIZE",
    "MissingCredentials",
    "TransportOptions",
    "check_endpoint",
    "from_environment",
    "given",
    "parse_bucket_url",
    "require_credentials",
]

#: Smallest multipart part that S3 accepts (all parts but the last).
MIN_PART_SIZE = 5 * 1024 * 1024


#: Cloud metadata services that are not link-local (AWS's IPv6 instance metadata).
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("fd00:ec2::254", "fd00:ec2::23"))
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form a client accepts, or None for a name.

    Besides the usual forms, IPv4 has the ``inet_aton`` spellings that HTTP
    clients also resolve: ``2852039166``, ``0xa9fea9fe``, ``0251.0376.0251.0376``,
    ``169.254.43518``.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host.replace(".", "").isalnum() and host[:1].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _forbidden(address: IPAddress) -> bool:
    """Link-local (the metadata address 169.254.169.254), multicast, unspecified."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None and _forbidden(embedded):
            return True
    return (
        address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address in _METADATA
    )


def _resolved(host: str, port: int | None) -> list[IPAddress]:
    """The addresses ``host`` resolves to now (none if it does not resolve).

    Raises:
        ConfigurationError: the name certainly does not exist.
    """
    try:
        answers = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME:
            raise ConfigurationError(
                f"the endpoint's host {host!r} does not resolve: check the endpoint option "
                "(or the environment variable that set it) and the network"
            ) from None
        return []  # a temporary failure: the request will say so
    found: list[IPAddress] = []
    for *_, sockaddr in answers:
        try:
            found.append(ipaddress.ip_address(str(sockaddr[0]).partition("%")[0]))
        except ValueError:
            continue
    return found


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` if it is the ``http(s)://host[:port][/path]`` URL of a server.

    Refused: other schemes, credentials in the URL (give them as options, where
    they are kept secret), queries and fragments, and hosts that are or resolve
    to link-local, multicast or unspecified addresses, such as the cloud
    metadata address ``169.254.169.254`` in any spelling (never an object store).

    Raises:
        ConfigurationError: naming the rule, with the URL masked.
    """
    shown = mask(endpoint) if "://" in endpoint else repr(endpoint[:60])
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"endpoint {shown} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigurationError(f"endpoint {shown} must be an http:// or https:// URL of a server")
    if "@" in parts.netloc:
        raise ConfigurationError(
            f"endpoint {shown} must not carry credentials: give them as options"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"endpoint {shown} must not have a query or a fragment")
    literal = _literal_address(host)
    addresses = [literal] if literal is not None else _resolved(host, port)
    if any(_forbidden(address) for address in addresses):
        raise ConfigurationError(
            f"endpoint {shown} is not an address an object store serves on "
            "(link-local, such as the cloud metadata service)"
        )
    return endpoint


def from_environment(environ: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    """The first of the variables ``names`` that is set (not empty): its name and value."""
    for name in names:
        if environ.get(name):
            return name, environ[name]
    return None


class MissingCredentials(ConfigurationError):
    """No credentials were found for a store, in its options or in the environment."""


def require_credentials(source: str | None, url: str, advice: str) -> str:
    """``source`` (where the credentials come from), or a clear error before any request.

    Raises:
        ConfigurationError: ``source`` is None: no credentials were found anywhere.
    """
    if source is None:
        raise MissingCredentials(f"no credentials found for {mask(url)}: {advice}")
    return source


def given(**settings: Any) -> dict[str, Any]:
    """The settings that are not ``None`` (to pass on to an obstore store)."""
    return {name: value for name, value in settings.items() if value is not None}


def parse_bucket_url(
    url: str, options: dict[str, Any], config: type
) -> tuple[str, str, dict[str, Any]]:
    """``scheme://bucket/some/prefix?...`` as the bucket, the prefix and the options.

    Options come from the query and from ``options`` (which win); any that is
    not an option of the typed ``config`` (:func:`~storeroom.options.option_specs`)
    is refused.

    Raises:
        ConfigurationError: no bucket, an invalid prefix, or an unknown option.
    """
    url, merged = split_options(url, options)
    reject_unknown(merged, frozenset(option_specs(config)), url)
    try:
        parts = urlsplit(url)
        bucket = parts.netloc
    except ValueError as exc:
        raise ConfigurationError(f"{mask(url)!r} is not a valid URL: {exc}") from None
    prefix = parts.path.strip("/")
    if not bucket or "@" in bucket:
        raise ConfigurationError(f"no bucket or container name in {mask(url)!r}")
    if prefix:
        try:
            paths.validate_key(prefix)
        except InvalidPath as exc:
            raise ConfigurationError(f"invalid prefix in {mask(url)!r}: {exc}") from exc
    return bucket, prefix, merged


@dataclass(frozen=True)
class TransportOptions:
    """HTTP client, retry and multipart settings shared by every object store.

    Attributes:
        allow_http: allow ``http://`` endpoints (emulators, MinIO without TLS).
        timeout: seconds for one whole request, body included.
        connect_timeout: seconds to establish a connection.
        max_retries: retries of a transient failure (5xx, reset, timeout).
        retry_timeout: seconds after the first try when no retry starts any more.
        backoff_initial: first backoff in seconds; doubles (with jitter) per retry.
        backoff_max: longest backoff in seconds.
        part_size: bytes per part of a multipart upload (at least 5 MiB).
        multipart_threshold: ``put`` sends bytes up to this size in one request
            and larger ones in parallel parts (AWS advises parts from ~100 MB).
        multipart_concurrency: parts uploaded at once by ``write_stream``.
    """

    allow_http: bool = False
    timeout: float = 30.0
    connect_timeout: float = 5.0
    max_retries: int = 10
    retry_timeout: float = 180.0
    backoff_initial: float = 0.1
    backoff_max: float = 15.0
    part_size: int = 8 * 1024 * 1024
    multipart_threshold: int = 100 * 1024 * 1024
    multipart_concurrency: int = 8

    @classmethod
    def pop_from(cls, options: dict[str, Any]) -> TransportOptions:
        """Take this class's options out of ``options`` (strings or typed values).

        Raises:
            ConfigurationError: a value of the wrong type, or out of range.
        """
        built = cls(**parse_typed(cls, options))
        if built.part_size < MIN_PART_SIZE:
            raise ConfigurationError(f"option part_size must be at least {MIN_PART_SIZE} bytes")
        if built.multipart_concurrency < 1:
            raise ConfigurationError("option multipart_concurrency must be at least 1")
        return built

    def client_config(self) -> ClientConfig:
        """obstore's HTTP client settings."""
        return {
            "allow_http": self.allow_http,
            "timeout": timedelta(seconds=self.timeout),
            "connect_timeout": timedelta(seconds=self.connect_timeout),
        }

    def backoff(self) -> Backoff:
        """The same retry policy, for the retries storeroom makes itself."""
        return Backoff(self.backoff_initial, self.backoff_max, self.max_retries, self.retry_timeout)

    def retry_config(self) -> RetryConfig:
        """obstore's retry settings: bounded exponential backoff with jitter."""
        return {
            "max_retries": self.max_retries,
            "retry_timeout": timedelta(seconds=self.retry_timeout),
            "backoff": {
                "init_backoff": timedelta(seconds=self.backoff_initial),
                "max_backoff": timedelta(seconds=self.backoff_max),
                "base": 2,
            },
        }

"""Configuration shared by the object stores: URL parsing and transport settings.

``s3.py``, ``azure.py`` and ``gcs.py`` parse ``scheme://bucket/prefix?options``
with :func:`parse_bucket_url` and take their HTTP, retry and multipart settings
from :class:`TransportOptions`, so every cloud accepts the same option names.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ... import paths
from ...errors import ConfigurationError, InvalidPath
from ...options import mask, option_bool, option_float, reject_unknown, split_options
from ...retry import Backoff

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

__all__ = [
    "MIN_PART_SIZE",
    "TransportOptions",
    "check_endpoint",
    "given",
    "parse_bucket_url",
]

#: Smallest multipart part that S3 accepts (all parts but the last).
MIN_PART_SIZE = 5 * 1024 * 1024


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` if it is the ``http(s)://host[:port][/path]`` URL of a server.

    Refused: other schemes, credentials in the URL (give them as options, where
    they are kept secret), queries and fragments, and link-local hosts such as
    the cloud metadata address ``169.254.169.254`` (never an object store).

    Raises:
        ConfigurationError: naming the rule, with the URL masked.
    """
    shown = mask(endpoint) if "://" in endpoint else repr(endpoint[:60])
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
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
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return endpoint  # a host name
    if address.is_link_local or address.is_multicast or address.is_unspecified:
        raise ConfigurationError(f"endpoint {shown} is not an address an object store serves on")
    return endpoint


def given(**settings: Any) -> dict[str, Any]:
    """The settings that are not ``None`` (to pass on to an obstore store)."""
    return {name: value for name, value in settings.items() if value is not None}


def parse_bucket_url(
    url: str, options: dict[str, Any], known: frozenset[str]
) -> tuple[str, str, dict[str, Any]]:
    """``scheme://bucket/some/prefix?...`` as the bucket, the prefix and the options.

    Options come from the query and from ``options`` (which win); any not in
    ``known`` or :attr:`TransportOptions.NAMES` is refused.

    Raises:
        ConfigurationError: no bucket, an invalid prefix, or an unknown option.
    """
    url, merged = split_options(url, options)
    reject_unknown(merged, known | TransportOptions.NAMES, url)
    parts = urlsplit(url)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if not bucket or "@" in bucket:
        raise ConfigurationError(f"no bucket or container name in {mask(url)!r}")
    if prefix:
        try:
            paths.validate_key(prefix)
        except InvalidPath as exc:
            raise ConfigurationError(f"invalid prefix in {mask(url)!r}: {exc}") from exc
    return bucket, prefix, merged


def _parse_number(name: str, value: object, kind: type[int] | type[float]) -> Any:
    number = option_float(name, value)
    if number is None or number < 0 or (kind is int and not number.is_integer()):
        raise ConfigurationError(f"option {name} must be a number >= 0, not {value!r}")
    return kind(number)


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

    #: The option names these settings take in URLs and keywords.
    NAMES = frozenset(
        {
            "allow_http",
            "timeout",
            "connect_timeout",
            "max_retries",
            "retry_timeout",
            "backoff_initial",
            "backoff_max",
            "part_size",
            "multipart_threshold",
            "multipart_concurrency",
        }
    )

    @classmethod
    def pop_from(cls, options: dict[str, Any]) -> TransportOptions:
        """Take this class's options out of ``options`` (strings or typed values)."""
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name not in options:
                continue
            raw = options.pop(spec.name)
            if spec.type == "bool":
                values[spec.name] = option_bool(spec.name, raw)
            else:
                values[spec.name] = _parse_number(
                    spec.name, raw, int if spec.type == "int" else float
                )
        built = cls(**values)
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

"""One table of URL schemes, and the four factories built on it.

``provider(url)`` picks the backend from the scheme; ``files``, ``artifacts``
and ``cache`` wrap it. Each table entry names a class (imported only when its
scheme is used, so ``memory://`` never loads a cloud SDK) with a
``from_url(url, **options)`` classmethod. Options come as query parameters or
keyword arguments (keywords win); each class rejects options it does not know
with a :class:`~storeroom.errors.ConfigurationError` that lists the known ones.

Secrets never leave this module unmasked: :func:`mask` is applied to every URL
that reaches an error message or a ``repr``.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .artifacts import ArtifactStore
    from .cache.base import Cache
    from .files import FileStore
    from .providers.base import Provider

__all__ = [
    "CACHE_SCHEMES",
    "PROVIDER_SCHEMES",
    "artifacts",
    "cache",
    "files",
    "mask",
    "option_bool",
    "option_float",
    "provider",
    "reject_unknown",
    "split_options",
]

#: Storage schemes: scheme -> "module:Class" (the class has ``from_url``).
PROVIDER_SCHEMES: dict[str, str] = {
    "file": "storeroom.providers.local:LocalProvider",
    "memory": "storeroom.providers.memory:MemoryProvider",
    "s3": "storeroom.providers.s3:S3Provider",
    "az": "storeroom.providers.azure:AzureProvider",
    "azure": "storeroom.providers.azure:AzureProvider",
    "gs": "storeroom.providers.gcs:GCSProvider",
}

#: Cache schemes: scheme -> "module:Class" (the class has ``from_url``).
CACHE_SCHEMES: dict[str, str] = {
    "memory": "storeroom.cache.memory:MemoryCache",
    "redis": "storeroom.cache.redis:RedisCache",
    "rediss": "storeroom.cache.redis:RedisCache",
    "none": "storeroom.cache.noop:NoOpCache",
}

_SECRET_WORDS = re.compile(
    r"(secret|password|passwd|token|key|sig|signature|sas|credential|auth|connection)",
    re.IGNORECASE,
)
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def mask(url: str) -> str:
    """``url`` with its password and any secret-looking query values replaced by ``***``."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
        query = "&".join(
            f"{name}=***" if _SECRET_WORDS.search(name) else f"{name}={value}"
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        )
        if netloc == parts.netloc and query == parts.query:
            return url
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparsable url>"


def split_options(url: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Split ``url``'s query parameters off and merge them under ``options`` (keywords win).

    A plain path (no ``scheme://``) has no query: a ``?`` in it is part of the path.
    """
    if "://" not in url or _WINDOWS_DRIVE.match(url):
        return url, dict(options)
    base, _, query = url.partition("?")
    merged: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    merged.update(options)
    return base.partition("#")[0], merged


def option_bool(name: str, value: object) -> bool:
    """A boolean option from a keyword or a query string (``true``/``false``, ``1``/``0``, ...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"option {name}={value!r} is not a boolean (true/false)")


def option_float(name: str, value: object) -> float | None:
    """A number option from a keyword or a query string; ``none`` or ``""`` is ``None``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(f"option {name}={value!r} is not a number") from None


def reject_unknown(options: dict[str, Any], known: frozenset[str], url: str) -> None:
    """Raise :class:`ConfigurationError` naming any option not in ``known``."""
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {', '.join(unknown)} for {mask(url)!r}; "
            f"known: {', '.join(sorted(known)) or 'none'}"
        )


def _scheme_of(url: str) -> str:
    if "://" not in url or _WINDOWS_DRIVE.match(url):
        return "file"
    return url.split("://", 1)[0].lower()


def _load(table: dict[str, str], url: str, kind: str) -> Any:
    scheme = _scheme_of(url)
    target = table.get(scheme)
    if target is None:
        known = ", ".join(f"{name}://" for name in sorted(table))
        raise ConfigurationError(
            f"unknown {kind} scheme {scheme + '://'!r} in {mask(url)!r}; known: {known}"
        )
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def provider(url: str, **options: Any) -> Provider:
    """The storage provider for ``url``.

    A plain path or ``file://`` is a local folder, ``memory://`` a fresh
    in-memory store; cloud schemes are listed in :data:`PROVIDER_SCHEMES`.

    Raises:
        ConfigurationError: unknown scheme or option (the message lists the known ones).
    """
    built: Provider = _load(PROVIDER_SCHEMES, url, "storage").from_url(url, **options)
    return built


def files(url: str, **options: Any) -> FileStore:
    """A :class:`~storeroom.files.FileStore` on the provider for ``url``."""
    from .files import FileStore

    return FileStore(provider(url, **options))


def artifacts(url: str, **options: Any) -> ArtifactStore:
    """An :class:`~storeroom.artifacts.ArtifactStore` on the provider for ``url``."""
    from .artifacts import ArtifactStore

    return ArtifactStore(provider(url, **options))


def cache(url: str, **options: Any) -> Cache:
    """The cache for ``url``: ``memory://``, ``redis://host:port/db`` or ``none://``."""
    built: Cache = _load(CACHE_SCHEMES, url, "cache").from_url(url, **options)
    return built

"""One table of URL schemes, and the four factories built on it.

``provider(url)`` picks the backend from the scheme; ``files``, ``artifacts``
and ``cache`` wrap it. Each table entry names a class (imported only when its
scheme is used, so ``memory://`` never loads a cloud SDK) with a
``from_url(url, **options)`` classmethod. Options come as query parameters or
keyword arguments (keywords win); each class rejects options it does not know
with a :class:`~storeroom.errors.ConfigurationError` that lists the known ones.

Secrets never leave this module unmasked: :func:`mask` is applied to every URL
that reaches an error message or a ``repr``.

No URL or option reaches an internal error: building a store does no I/O, so
a ``ValueError`` or ``TypeError`` raised while building one can only come from
the input; the factories turn it into a ``ConfigurationError`` naming the URL
(masked). ``artifacts(url, **options)`` gives the artifact store its own
options (``allow_unsafe_writes``, ``gc_grace``, ``inline_limit``,
``concurrency``: :class:`~storeroom.artifactstore.ArtifactStore`'s keywords)
and the rest to the provider, from keywords and from the URL's query alike.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ConfigurationError, StorageError
from .options import (
    WINDOWS_DRIVE,
    OptionSpec,
    docstring_entries,
    keyword_options,
    mask,
    option_specs,
    pop_keywords,
    split_options,
)

if TYPE_CHECKING:
    from .artifactstore import ArtifactStore
    from .caches.base import Cache
    from .filestore import FileStore
    from .providers.base import Provider

_T = TypeVar("_T")

__all__ = [
    "CACHE_SCHEMES",
    "PROVIDER_SCHEMES",
    "artifacts",
    "cache",
    "files",
    "option_reference",
    "option_reference_markdown",
    "provider",
]

#: Storage schemes: scheme -> "module:Class" (the class has ``from_url``).
PROVIDER_SCHEMES: dict[str, str] = {
    "file": "storeroom.providers.local:LocalProvider",
    "memory": "storeroom.providers.memory:MemoryProvider",
    "s3": "storeroom.providers.object.s3:S3Provider",
    "az": "storeroom.providers.object.azure:AzureProvider",
    "azure": "storeroom.providers.object.azure:AzureProvider",
    "gs": "storeroom.providers.object.gcs:GCSProvider",
}

#: Cache schemes: scheme -> "module:Class" (the class has ``from_url``).
CACHE_SCHEMES: dict[str, str] = {
    "memory": "storeroom.caches.memory:MemoryCache",
    "redis": "storeroom.caches.redis:RedisCache",
    "rediss": "storeroom.caches.redis:RedisCache",
    "redis+cluster": "storeroom.caches.redis:RedisCache",
    "rediss+cluster": "storeroom.caches.redis:RedisCache",
    "redis+sentinel": "storeroom.caches.redis:RedisCache",
    "rediss+sentinel": "storeroom.caches.redis:RedisCache",
    "none": "storeroom.caches.noop:NoOpCache",
}


def _scheme_of(url: str) -> str:
    if "://" not in url or WINDOWS_DRIVE.match(url):
        return "file"
    return url.split("://", 1)[0].lower()


def _built(url: object, build: Callable[[], _T]) -> _T:
    """``build()``, with input errors (a bad value's ValueError/TypeError) as ConfigurationError."""
    if not isinstance(url, str):
        raise ConfigurationError(f"a store URL must be a str, not {type(url).__name__}")
    try:
        return build()
    except StorageError:
        raise
    except (ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ConfigurationError(f"{mask(url)!r}: {reason}") from exc


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
        ConfigurationError: unknown scheme, a malformed URL, an unknown or invalid
            option (the message lists the known ones).
    """

    def build() -> Provider:
        built: Provider = _load(PROVIDER_SCHEMES, url, "storage").from_url(url, **options)
        return built

    return _built(url, build)


def files(url: str, **options: Any) -> FileStore:
    """A :class:`~storeroom.filestore.FileStore` on the provider for ``url``.

    The store opened the provider, so it closes it (``aclose``, ``async with``).
    """
    from .filestore import FileStore

    return FileStore(provider(url, **options), owns_provider=True)


def artifacts(url: str, *, index: Any = None, **options: Any) -> ArtifactStore:
    """An :class:`~storeroom.artifactstore.ArtifactStore` on the provider for ``url``.

    The store's own options (``allow_unsafe_writes``, ``gc_grace``,
    ``inline_limit``, ``concurrency``) may be keywords or query parameters;
    every other option goes to the provider. ``index``: a catalog index URL
    (``sqlite:///catalog.db``, ``postgresql://...``). The store opened the
    provider, so it closes it (``aclose``, ``async with``).
    """
    from .artifactstore import ArtifactStore

    def build() -> ArtifactStore:
        base, merged = split_options(url, options)
        own = pop_keywords(ArtifactStore.__init__, merged)
        own["owns_provider"] = True
        if index is not None:
            own["index"] = index
        return ArtifactStore(provider(base, **merged), **own)

    return _built(url, build)


def cache(url: str, **options: Any) -> Cache:
    """The cache for ``url``: ``memory://``, ``redis://host:port/db`` or ``none://``."""

    def build() -> Cache:
        built: Cache = _load(CACHE_SCHEMES, url, "cache").from_url(url, **options)
        return built

    return _built(url, build)


#: Typed configs of the schemes whose options are derived from them.
_CONFIGS = {
    "s3": "storeroom.providers.object.s3:S3Config",
    "az": "storeroom.providers.object.azure:AzureConfig",
    "gs": "storeroom.providers.object.gcs:GCSConfig",
}


def option_reference() -> dict[str, dict[str, OptionSpec]]:
    """Every option derived from a typed config, by scheme, plus ``artifacts``' own.

    Each :class:`~storeroom.options.OptionSpec` has the name, type, default and
    help (the config's docstring), so the documentation is generated from the
    code and cannot drift from it.
    """
    from .artifactstore import ArtifactStore

    found: dict[str, dict[str, OptionSpec]] = {}
    for scheme, target in _CONFIGS.items():
        module_name, _, class_name = target.partition(":")
        found[scheme] = option_specs(getattr(importlib.import_module(module_name), class_name))
    helps = docstring_entries(ArtifactStore, "Args:")
    found["artifacts"] = {
        name: OptionSpec(name, spec.type, spec.default, helps.get(name, ""))
        for name, spec in keyword_options(ArtifactStore.__init__).items()
    }
    return found


def option_reference_markdown() -> str:
    """:func:`option_reference` as Markdown tables (what ``docs/options.md`` holds)."""
    titles = {
        "s3": "S3 (`s3://bucket/prefix`)",
        "az": "Azure Blob Storage (`az://container/prefix`, `azure://`)",
        "gs": "Google Cloud Storage (`gs://bucket/prefix`)",
        "artifacts": "Artifact stores (`storeroom.artifacts(url, ...)`, on any scheme)",
    }
    lines = [
        "# Options",
        "",
        "Generated from the typed configs by `storeroom.urls.option_reference_markdown()`;",
        "a test keeps this page equal to its output. Every option may be a query",
        "parameter (`?name=value`) or a keyword argument of the factory (keywords win).",
        "Secret options are kept out of every `repr`, log line and error message.",
    ]
    for scheme, specs in option_reference().items():
        lines += ["", f"## {titles[scheme]}", "", "| option | type | default | meaning |"]
        lines.append("|---|---|---|---|")
        for spec in specs.values():
            default = "" if spec.default is None else f"`{spec.default}`"
            kind = spec.type.__name__ + (", secret" if spec.secret else "")
            meaning = re.sub(r":\w+:`", "`", spec.help).replace("``", "`").replace("|", "\\|")
            lines.append(f"| `{spec.name}` | {kind} | {default} | {meaning} |")
    return "\n".join(lines) + "\n"

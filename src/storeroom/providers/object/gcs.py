"""GCSProvider: Google Cloud Storage on obstore (its XML API).

URL: ``gs://bucket/optional/prefix?option=value``; every key lives under the
prefix and listings are relative to it. Credentials not given as options are
read as Google's tools read them: ``GOOGLE_APPLICATION_CREDENTIALS`` (a
service-account or authorized-user JSON file), the gcloud application-default
credentials file, then the GCE metadata server. ``STORAGE_EMULATOR_HOST``
(as the google-cloud-storage client reads it) points at an emulator.

Compare-and-swap uses GCS generations: ``IfMatch(etag)`` reads the object's
generation, checks the etag, then writes with ``x-goog-if-generation-match``,
so a writer in between makes the write fail; it never races silently.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from obstore.store import GCSStore

from ...errors import NotFound, PreconditionFailed
from ...options import option_bool
from ..base import IfMatch, PutMode
from .config import (
    TransportOptions,
    given,
    parse_bucket_url,
)
from .store import ObjectStoreProvider, normalize_etag

if TYPE_CHECKING:
    from obstore import PutMode as NativePutMode

__all__ = ["GCSConfig", "GCSProvider"]

_OWN_OPTIONS = frozenset(
    {"service_account_path", "service_account_key", "bearer_token", "endpoint", "emulator"}
)


@dataclass(frozen=True)
class GCSConfig:
    """Where and how to reach one GCS bucket; secrets are left out of ``repr``.

    Attributes:
        bucket: the bucket name.
        prefix: a folder in the bucket that scopes every key.
        service_account_path: path of a service-account JSON key file.
        service_account_key: a service-account JSON key itself.
        bearer_token: a static OAuth token (not refreshed).
        endpoint: the service URL (default ``https://storage.googleapis.com``).
        emulator: the endpoint is an emulator: no credentials are looked up
            (a dummy token is sent) and, since emulators ignore generation
            preconditions, conditional puts are checked before writing, not
            atomically; ``capabilities`` says so. Set by ``STORAGE_EMULATOR_HOST``.
        transport: HTTP, retry and multipart settings.
    """

    bucket: str
    prefix: str = ""
    service_account_path: str | None = None
    service_account_key: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    endpoint: str | None = None
    emulator: bool = False
    transport: TransportOptions = field(default_factory=TransportOptions)

    @classmethod
    def from_url(
        cls, url: str, environ: Mapping[str, str] | None = None, **options: Any
    ) -> GCSConfig:
        """Parse ``gs://bucket/prefix`` and its options (query parameters or keywords).

        Args:
            url: the bucket URL.
            environ: where to look for ``STORAGE_EMULATOR_HOST`` (default ``os.environ``).
            **options: options that win over the URL's query parameters.

        Raises:
            ConfigurationError: a malformed URL, or an unknown or invalid option.
        """
        bucket, prefix, merged = parse_bucket_url(url, options, _OWN_OPTIONS)
        environ = os.environ if environ is None else environ
        emulator_host = environ.get("STORAGE_EMULATOR_HOST", "")
        if emulator_host and "endpoint" not in merged:
            scheme = "" if "://" in emulator_host else "http://"
            merged.update(endpoint=scheme + emulator_host, emulator=True)
            merged.setdefault("allow_http", emulator_host.startswith(("http://", "127.", "local")))
        transport = TransportOptions.pop_from(merged)
        emulator = option_bool("emulator", merged.pop("emulator", False))
        strings = {name: str(value) for name, value in merged.items()}
        return cls(bucket=bucket, prefix=prefix, emulator=emulator, transport=transport, **strings)

    @property
    def url(self) -> str:
        """The bucket and prefix as a URL, without secrets."""
        return f"gs://{self.bucket}/{self.prefix}"


class GCSProvider(ObjectStoreProvider):
    """Objects in a Google Cloud Storage bucket.

    Args:
        config: the bucket, prefix, credentials and transport settings.
    """

    def __init__(self, config: GCSConfig) -> None:
        settings = given(
            service_account=config.service_account_path,
            service_account_key=config.service_account_key,
            # An emulator needs no credentials: a dummy token, never a metadata server.
            bearer_token=config.bearer_token or ("emulator" if config.emulator else None),
            base_url=config.endpoint,
        )
        super().__init__(
            partial(GCSStore, config.bucket, **settings),
            url=config.url,
            prefix=config.prefix,
            endpoint=config.endpoint,
            secrets=(config.service_account_key, config.bearer_token),
            conditional=not config.emulator,
            conditional_note="the GCS emulator ignores preconditions (If-Generation-Match)",
            transport=config.transport,
        )
        self.config = config

    @classmethod
    def from_url(cls, url: str, **options: Any) -> GCSProvider:
        """``gs://bucket/prefix?service_account_path=...``: see :class:`GCSConfig` for options."""
        return cls(GCSConfig.from_url(url, **options))

    async def _native_mode(self, key: str, mode: PutMode) -> NativePutMode:
        """GCS matches generations, not etags: look the generation up for ``IfMatch``."""
        if not isinstance(mode, IfMatch):
            return await super()._native_mode(key, mode)
        try:
            current = await self.head(key)
        except NotFound as exc:
            raise PreconditionFailed(f"no object at {key!r} to match", path=key) from exc
        if current.etag != normalize_etag(mode.etag) or current.version is None:
            raise PreconditionFailed(f"etag of {key!r} is not {mode.etag!r}", path=key)
        return {"e_tag": mode.etag, "version": current.version}

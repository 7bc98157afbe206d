"""GCSProvider: Google Cloud Storage on obstore (its XML API).

URL: ``gs://bucket/optional/prefix?option=value``; every key lives under the
prefix and listings are relative to it. Credentials not given as options are
read as Google's tools read them: ``GOOGLE_APPLICATION_CREDENTIALS`` (a
service-account or authorized-user JSON file), ``GOOGLE_SERVICE_ACCOUNT`` /
``GOOGLE_SERVICE_ACCOUNT_PATH`` / ``GOOGLE_SERVICE_ACCOUNT_KEY`` /
``GOOGLE_BEARER_TOKEN``, the gcloud application-default credentials file; the
GCE metadata server only with ``instance_metadata=true`` (with no credentials
found, the provider refuses to start and says what to set, before any
request). ``STORAGE_EMULATOR_HOST`` (as the google-cloud-storage client reads
it) points at an emulator; ``GOOGLE_BASE_URL`` sets the endpoint.

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
from ...options import FROM_URL, parse_typed
from ..base import IfMatch, PutMode
from .config import (
    TransportOptions,
    from_environment,
    given,
    parse_bucket_url,
    require_credentials,
)
from .rawlist import RawLister, XmlLister
from .store import ObjectStoreProvider, normalize_etag

if TYPE_CHECKING:
    from obstore import PutMode as NativePutMode

__all__ = ["GCSConfig", "GCSProvider"]

_NO_CREDENTIALS = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file (or run "
    "`gcloud auth application-default login`), or pass service_account_path=, "
    "service_account_key= or bearer_token=; emulator=true (or STORAGE_EMULATOR_HOST) "
    "for an emulator; instance_metadata=true on GCE"
)
_CREDENTIAL_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_BEARER_TOKEN",
)


def _gcloud_credentials(environ: Mapping[str, str]) -> str | None:
    """gcloud's application-default credentials file, if there is one."""
    folder = environ.get("CLOUDSDK_CONFIG") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".config", "gcloud"
    )
    path = os.path.join(folder, "application_default_credentials.json")
    return path if os.path.isfile(path) else None


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
        instance_metadata: when no other credentials are found, ask the GCE
            metadata server (off: a clear error instead).
        transport: HTTP, retry and multipart settings.
    """

    bucket: str = field(metadata=FROM_URL)
    prefix: str = field(default="", metadata=FROM_URL)
    service_account_path: str | None = None
    service_account_key: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    endpoint: str | None = None
    emulator: bool = False
    instance_metadata: bool = False
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
        bucket, prefix, merged = parse_bucket_url(url, options, cls)
        environ = os.environ if environ is None else environ
        emulator_host = environ.get("STORAGE_EMULATOR_HOST", "")
        if emulator_host and "endpoint" not in merged:
            scheme = "" if "://" in emulator_host else "http://"
            merged.update(endpoint=scheme + emulator_host, emulator=True)
            merged.setdefault("allow_http", emulator_host.startswith(("http://", "127.", "local")))
        elif environ.get("GOOGLE_BASE_URL"):
            merged.setdefault("endpoint", environ["GOOGLE_BASE_URL"])
        transport = TransportOptions.pop_from(merged)
        return cls(bucket=bucket, prefix=prefix, transport=transport, **parse_typed(cls, merged))

    @property
    def url(self) -> str:
        """The bucket and prefix as a URL, without secrets."""
        return f"gs://{self.bucket}/{self.prefix}"

    def credentials(self, environ: Mapping[str, str]) -> str | None:
        """Where this store's credentials come from, or None if nowhere."""
        if self.emulator:
            return "none needed (emulator=true)"
        for name in ("service_account_path", "service_account_key", "bearer_token"):
            if getattr(self, name):
                return f"the {name} option"
        if found := from_environment(environ, *_CREDENTIAL_VARIABLES):
            return f"the environment ({found[0]})"
        if path := _gcloud_credentials(environ):
            return f"gcloud's application-default credentials ({path})"
        if self.instance_metadata:
            return "the GCE metadata server (instance_metadata=true)"
        return None


class GCSProvider(ObjectStoreProvider):
    """Objects in a Google Cloud Storage bucket.

    Args:
        config: the bucket, prefix, credentials and transport settings.
        environ: where credentials not in ``config`` are looked for (default ``os.environ``).

    Raises:
        ConfigurationError: no credentials anywhere, a refused endpoint, or plain
            http without ``allow_http`` (before any request).
    """

    def __init__(self, config: GCSConfig, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        source = require_credentials(config.credentials(environ), config.url, _NO_CREDENTIALS)
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
            credentials=source,
        )
        self.config = config

    def _raw_lister(self) -> RawLister | str:
        config = self.config
        if config.bearer_token:
            headers = {"Authorization": f"Bearer {config.bearer_token}"}
        elif config.emulator:
            headers = {}
        else:
            return self._unsignable()
        base = f"{(config.endpoint or 'https://storage.googleapis.com').rstrip('/')}/{config.bucket}"
        return XmlLister(base, headers, **self._raw_settings())

    @classmethod
    def from_url(
        cls, url: str, environ: Mapping[str, str] | None = None, **options: Any
    ) -> GCSProvider:
        """``gs://bucket/prefix?service_account_path=...``: see :class:`GCSConfig` for options."""
        return cls(GCSConfig.from_url(url, environ, **options), environ)

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

"""AzureProvider: Azure Blob Storage (and Azurite) on obstore.

URL: ``az://container/optional/prefix?option=value`` (``azure://`` too); every
key lives under the prefix and listings are relative to it. What is not given
as an option is read from the environment as Azure's own tools read it, in
this order: ``AZURE_STORAGE_CONNECTION_STRING``; the Azure CLI's
``AZURE_STORAGE_ACCOUNT``, ``AZURE_STORAGE_KEY`` and ``AZURE_STORAGE_SAS_TOKEN``;
then obstore's chain (``AZURE_STORAGE_ACCOUNT_NAME``, ``AZURE_CLIENT_ID`` /
``AZURE_CLIENT_SECRET`` / ``AZURE_TENANT_ID``, workload identity
(``AZURE_FEDERATED_TOKEN_FILE``), ``AZURE_STORAGE_TOKEN``, the Azure CLI with
``AZURE_USE_AZURE_CLI``). The endpoint comes from the connection string's
``BlobEndpoint`` or ``AZURE_STORAGE_ENDPOINT``; ``AZURE_ALLOW_HTTP`` allows
plain http. Managed identity (the instance metadata service) is asked only
with ``instance_metadata=true``: with no credentials found, the provider
refuses to start and says what to set, before any request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from obstore.store import AzureStore

from ...errors import ConfigurationError
from ...options import FROM_URL, option_bool, parse_typed
from .config import (
    TransportOptions,
    from_environment,
    given,
    parse_bucket_url,
    require_credentials,
)
from .rawlist import AzureLister, RawLister
from .store import ObjectStoreProvider

__all__ = ["AzureConfig", "AzureProvider", "parse_connection_string"]

#: Azurite's well-known development account and key (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

_NO_CREDENTIALS = (
    "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY "
    "or AZURE_STORAGE_SAS_TOKEN, or pass account_key= or sas_token=; use_emulator=true "
    "for Azurite; instance_metadata=true to use a managed identity"
)
#: Variables that give obstore credentials by themselves (what it reads beyond ours).
_CREDENTIAL_VARIABLES = (
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_MASTER_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_USE_AZURE_CLI",
)
# Connection-string fields -> AzureConfig fields.
_CONNECTION_FIELDS = {
    "AccountName": "account_name",
    "AccountKey": "account_key",
    "SharedAccessSignature": "sas_token",
    "BlobEndpoint": "endpoint",
}
# The Azure CLI's environment variables -> AzureConfig fields.
_CLI_ENVIRONMENT = {
    "AZURE_STORAGE_ACCOUNT": "account_name",
    "AZURE_STORAGE_KEY": "account_key",
    "AZURE_STORAGE_SAS_TOKEN": "sas_token",
    "AZURE_STORAGE_SAS_KEY": "sas_token",  # obstore's name, read here so it is scrubbed too
}


def parse_connection_string(text: str) -> dict[str, str]:
    """The config fields of an Azure storage connection string (``Name=value;...``).

    Raises:
        ConfigurationError: a part is not ``Name=value`` (the text is not shown).
    """
    found: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ConfigurationError("malformed Azure connection string (expected Name=value;...)")
        if name == "UseDevelopmentStorage" and option_bool(name, value):
            found["use_emulator"] = "true"
        elif name in _CONNECTION_FIELDS:
            found[_CONNECTION_FIELDS[name]] = value
    return found


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    found = parse_connection_string(environ.get("AZURE_STORAGE_CONNECTION_STRING", ""))
    for variable, name in _CLI_ENVIRONMENT.items():
        if environ.get(variable):
            found.setdefault(name, environ[variable])
    if endpoint := from_environment(environ, "AZURE_STORAGE_ENDPOINT", "AZURE_ENDPOINT"):
        found.setdefault("endpoint", endpoint[1])
    if environ.get("AZURE_ALLOW_HTTP"):
        found.setdefault("allow_http", environ["AZURE_ALLOW_HTTP"])
    return found


@dataclass(frozen=True)
class AzureConfig:
    """Where and how to reach one Blob container; secrets are left out of ``repr``.

    Attributes:
        container: the container name.
        prefix: a folder in the container that scopes every key.
        account_name: the storage account.
        account_key: the account's shared key.
        sas_token: a shared access signature (``sv=...&sig=...``).
        endpoint: the blob service URL (``https://<account>.blob.core.windows.net``
            by default; for Azurite ``http://127.0.0.1:10000/devstoreaccount1``).
        connection_string: an Azure storage connection string (its fields fill the
            options not given).
        use_emulator: use Azurite's well-known account on ``127.0.0.1:10000``.
        instance_metadata: when no other credentials are found, use a managed
            identity from the instance metadata service (off: a clear error instead).
        transport: HTTP, retry and multipart settings.
    """

    container: str = field(metadata=FROM_URL)
    prefix: str = field(default="", metadata=FROM_URL)
    account_name: str | None = None
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)
    endpoint: str | None = None
    connection_string: str | None = field(default=None, repr=False, compare=False)
    use_emulator: bool = False
    instance_metadata: bool = False
    transport: TransportOptions = field(default_factory=TransportOptions)

    @classmethod
    def from_url(
        cls, url: str, environ: Mapping[str, str] | None = None, **options: Any
    ) -> AzureConfig:
        """Parse ``az://container/prefix`` and its options (query parameters or keywords).

        Args:
            url: the container URL.
            environ: where to read credentials not given (default ``os.environ``).
            **options: options that win over the URL's query parameters.

        Raises:
            ConfigurationError: a malformed URL, or an unknown or invalid option.
        """
        container, prefix, merged = parse_bucket_url(url, options, cls)
        values: dict[str, Any] = _from_environment(os.environ if environ is None else environ)
        values.update(parse_connection_string(str(merged.pop("connection_string", None) or "")))
        values.update(merged)
        transport = TransportOptions.pop_from(values)
        return cls(
            container=container, prefix=prefix, transport=transport, **parse_typed(cls, values)
        )

    @property
    def url(self) -> str:
        """The container and prefix as a URL, without secrets."""
        return f"az://{self.container}/{self.prefix}"

    def credentials(self, environ: Mapping[str, str]) -> str | None:
        """Where this store's credentials come from, or None if nowhere."""
        if self.use_emulator:
            return "Azurite's development account (use_emulator=true)"
        if self.account_key:
            return "an account key (account_key, a connection string or AZURE_STORAGE_KEY)"
        if self.sas_token:
            return "a SAS token (sas_token, a connection string or AZURE_STORAGE_SAS_TOKEN)"
        if found := from_environment(environ, *_CREDENTIAL_VARIABLES):
            return f"the environment ({found[0]})"
        if self.instance_metadata:
            return "a managed identity (instance_metadata=true)"
        return None

    def secrets(self) -> tuple[str, ...]:
        """The credential values given (and a SAS token's parts), to keep out of any text."""
        found = [self.account_key or "", self.sas_token or ""]
        if self.sas_token:
            found += [value for _, value in parse_qsl(self.sas_token.lstrip("?")) if len(value) > 8]
        return tuple(s for s in found if s)


class AzureProvider(ObjectStoreProvider):
    """Objects in an Azure Blob Storage container (or Azurite).

    Args:
        config: the container, prefix, account, credentials and transport settings.
        environ: where credentials not in ``config`` are looked for (default ``os.environ``).

    Raises:
        ConfigurationError: no credentials anywhere, a refused endpoint, or plain
            http without ``allow_http`` (before any request).
    """

    def __init__(self, config: AzureConfig, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        source = require_credentials(config.credentials(environ), config.url, _NO_CREDENTIALS)
        settings = given(
            account_name=config.account_name,
            account_key=config.account_key,
            sas_key=config.sas_token.lstrip("?") if config.sas_token else None,
            endpoint=config.endpoint,
            use_emulator=config.use_emulator or None,
        )
        super().__init__(
            partial(AzureStore, config.container, **settings),
            url=config.url,
            prefix=config.prefix,
            endpoint=config.endpoint,
            secrets=config.secrets(),
            conditional=True,
            transport=config.transport,
            credentials=source,
            http_hint="AZURE_ALLOW_HTTP=true",
        )
        self.config = config

    def _raw_lister(self) -> RawLister | str:
        config = self.config
        account = config.account_name or (AZURITE_ACCOUNT if config.use_emulator else None)
        key = config.account_key or (AZURITE_KEY if config.use_emulator else None)
        if account is None or not (key or config.sas_token):
            return self._unsignable()
        if config.endpoint:
            endpoint = config.endpoint.rstrip("/")
        elif config.use_emulator:
            endpoint = f"http://127.0.0.1:10000/{account}"
        else:
            endpoint = f"https://{account}.blob.core.windows.net"
        return AzureLister(
            f"{endpoint}/{config.container}", account=account, key=key,
            sas=None if key else config.sas_token, **self._raw_settings(),
        )  # fmt: skip

    @classmethod
    def from_url(
        cls, url: str, environ: Mapping[str, str] | None = None, **options: Any
    ) -> AzureProvider:
        """``az://container/prefix?account_name=...``: see :class:`AzureConfig` for options."""
        return cls(AzureConfig.from_url(url, environ, **options), environ)

"""S3Provider: Amazon S3 and S3-compatible servers (MinIO, Ceph, R2, moto) on obstore.

URL: ``s3://bucket/optional/prefix?option=value``; every key lives under the
prefix and listings are relative to it. What is not given as an option is
read from the environment as the AWS tools read it: ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION`` /
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``
(checked like the ``endpoint`` option), ``AWS_ALLOW_HTTP``, web identity
(``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN``) and container
credentials (``AWS_CONTAINER_CREDENTIALS_*``). The EC2 instance metadata
service is asked only with ``instance_metadata=true``: with no credentials
found, the provider refuses to start and says what to set, before any
request. Shared config/credentials files (``AWS_PROFILE``) are not read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from obstore.store import S3Store

from ...options import FROM_URL, option_bool, parse_typed
from .config import (
    TransportOptions,
    from_environment,
    given,
    parse_bucket_url,
    require_credentials,
)
from .rawlist import RawLister, S3Lister
from .store import ObjectStoreProvider

__all__ = ["S3Config", "S3Provider"]

#: Where the endpoint comes from when the option is not given (AWS's order).
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
_NO_CREDENTIALS = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass access_key_id= and "
    "secret_access_key=; anonymous=true for a public bucket; instance_metadata=true "
    "to use the EC2/ECS instance role"
)


@dataclass(frozen=True)
class S3Config:
    """Where and how to reach one S3 bucket; secrets are left out of ``repr``.

    Attributes:
        bucket: the bucket name.
        prefix: a folder in the bucket that scopes every key (``""``: the whole bucket).
        region: the bucket's region (default: from the environment, else ``us-east-1``).
        endpoint: the server's URL, for S3-compatible servers (MinIO, moto, R2)
            (default: ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``).
        access_key_id: the access key id (default: ``AWS_ACCESS_KEY_ID``).
        secret_access_key: the secret key (default: ``AWS_SECRET_ACCESS_KEY``).
        session_token: a temporary session token (default: ``AWS_SESSION_TOKEN``).
        virtual_hosted_style: address the bucket as ``bucket.endpoint`` instead of
            ``endpoint/bucket``.
        anonymous: send unsigned requests (public buckets).
        instance_metadata: when no other credentials are found, ask the EC2/ECS
            instance metadata service (off: a clear error instead).
        conditional_writes: the server honours ``If-None-Match: *`` and
            ``If-Match`` on PUT (AWS since 2024, MinIO, moto). Set false for a
            server that ignores them: conditional puts are then checked before
            writing, not atomically, and ``capabilities`` says so.
        transport: HTTP, retry and multipart settings.
    """

    bucket: str = field(metadata=FROM_URL)
    prefix: str = field(default="", metadata=FROM_URL)
    region: str | None = None
    endpoint: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    virtual_hosted_style: bool = False
    anonymous: bool = False
    instance_metadata: bool = False
    conditional_writes: bool = True
    transport: TransportOptions = field(default_factory=TransportOptions)

    @classmethod
    def from_url(
        cls, url: str, environ: Mapping[str, str] | None = None, **options: Any
    ) -> S3Config:
        """Parse ``s3://bucket/prefix`` and its options (query parameters or keywords).

        Args:
            url: the bucket URL.
            environ: where to read ``AWS_ENDPOINT_URL*`` and ``AWS_ALLOW_HTTP``
                (default ``os.environ``).
            **options: options that win over the URL's query parameters.

        Raises:
            ConfigurationError: a malformed URL, or an unknown or invalid option.
        """
        environ = os.environ if environ is None else environ
        bucket, prefix, merged = parse_bucket_url(url, options, cls)
        if "endpoint" not in merged and (found := from_environment(environ, *ENDPOINT_VARIABLES)):
            merged["endpoint"] = found[1]
        if "allow_http" not in merged and environ.get("AWS_ALLOW_HTTP"):
            merged["allow_http"] = option_bool("AWS_ALLOW_HTTP", environ["AWS_ALLOW_HTTP"])
        transport = TransportOptions.pop_from(merged)
        return cls(bucket=bucket, prefix=prefix, transport=transport, **parse_typed(cls, merged))

    @property
    def url(self) -> str:
        """The bucket and prefix as a URL, without secrets."""
        return f"s3://{self.bucket}/{self.prefix}"

    def credentials(self, environ: Mapping[str, str]) -> str | None:
        """Where this store's credentials come from, or None if nowhere."""
        if self.anonymous or option_bool(
            "AWS_SKIP_SIGNATURE", environ.get("AWS_SKIP_SIGNATURE") or "0"
        ):
            return "none (anonymous, unsigned requests)"
        if self.access_key_id and self.secret_access_key:
            return "the access_key_id and secret_access_key options"
        if environ.get("AWS_ACCESS_KEY_ID") and (
            self.secret_access_key or environ.get("AWS_SECRET_ACCESS_KEY")
        ):
            return "the environment (AWS_ACCESS_KEY_ID)"
        if environ.get("AWS_WEB_IDENTITY_TOKEN_FILE") and environ.get("AWS_ROLE_ARN"):
            return "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)"
        if found := from_environment(
            environ, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"
        ):
            return f"container credentials ({found[0]})"
        if self.instance_metadata:
            return "the EC2 instance metadata service (instance_metadata=true)"
        return None


class S3Provider(ObjectStoreProvider):
    """Objects in an S3 bucket (or an S3-compatible server).

    Args:
        config: the bucket, prefix, endpoint, credentials and transport settings.
        environ: where credentials not in ``config`` are looked for (default ``os.environ``).

    Raises:
        ConfigurationError: no credentials anywhere, a refused endpoint, or plain
            http without ``allow_http`` (before any request).
    """

    def __init__(self, config: S3Config, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        source = require_credentials(config.credentials(environ), config.url, _NO_CREDENTIALS)
        settings = given(
            region=config.region,
            endpoint=config.endpoint,
            access_key_id=config.access_key_id,
            secret_access_key=config.secret_access_key,
            session_token=config.session_token,
            virtual_hosted_style_request=config.virtual_hosted_style or None,
            skip_signature=config.anonymous or None,
        )
        super().__init__(
            partial(S3Store, config.bucket, **settings),
            url=config.url,
            prefix=config.prefix,
            endpoint=config.endpoint,
            secrets=(config.access_key_id, config.secret_access_key, config.session_token),
            conditional=config.conditional_writes,
            conditional_note="conditional_writes=false: the server ignores If-None-Match/If-Match",
            transport=config.transport,
            credentials=source,
            http_hint="AWS_ALLOW_HTTP=true",
        )
        self.config = config
        self._environ = environ

    def _raw_lister(self) -> RawLister | str:
        config, environ = self.config, self._environ
        region = config.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        region = region or "us-east-1"
        key_id = config.access_key_id or environ.get("AWS_ACCESS_KEY_ID")
        secret = config.secret_access_key or environ.get("AWS_SECRET_ACCESS_KEY")
        credentials: tuple[str, str, str | None] | None = None
        if not (config.anonymous or option_bool(
            "AWS_SKIP_SIGNATURE", environ.get("AWS_SKIP_SIGNATURE") or "0"
        )):  # fmt: skip
            if not (key_id and secret):
                return self._unsignable()
            token = config.session_token or (
                None if config.access_key_id else environ.get("AWS_SESSION_TOKEN")
            )
            credentials = (key_id, secret, token)
        if config.endpoint:
            base = config.endpoint.rstrip("/")
            base = base if config.virtual_hosted_style else f"{base}/{config.bucket}"
        elif config.virtual_hosted_style:
            base = f"https://{config.bucket}.s3.{region}.amazonaws.com"
        else:
            base = f"https://s3.{region}.amazonaws.com/{config.bucket}"
        return S3Lister(base, region=region, credentials=credentials, **self._raw_settings())

    @classmethod
    def from_url(
        cls, url: str, environ: Mapping[str, str] | None = None, **options: Any
    ) -> S3Provider:
        """``s3://bucket/prefix?endpoint=...&region=...``: see :class:`S3Config` for options."""
        return cls(S3Config.from_url(url, environ, **options), environ)

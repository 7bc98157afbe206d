"""S3Provider: Amazon S3 and S3-compatible servers (MinIO, Ceph, R2, moto) on obstore.

URL: ``s3://bucket/optional/prefix?option=value``; every key lives under the
prefix and listings are relative to it. Credentials not given as options are
read from the environment as the AWS tools read them (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION`` /
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``, web
identity and container credentials), then from the EC2 instance metadata
service. Shared config/credentials files (``AWS_PROFILE``) are not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from obstore.store import S3Store

from ...options import option_bool
from .config import (
    TransportOptions,
    given,
    parse_bucket_url,
)
from .store import ObjectStoreProvider

__all__ = ["S3Config", "S3Provider"]

_OWN_OPTIONS = frozenset(
    {
        "region",
        "endpoint",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "virtual_hosted_style",
        "anonymous",
        "conditional_writes",
    }
)


@dataclass(frozen=True)
class S3Config:
    """Where and how to reach one S3 bucket; secrets are left out of ``repr``.

    Attributes:
        bucket: the bucket name.
        prefix: a folder in the bucket that scopes every key (``""``: the whole bucket).
        region: the bucket's region (default: from the environment, else ``us-east-1``).
        endpoint: the server's URL, for S3-compatible servers (MinIO, moto, R2).
        access_key_id: the access key id (default: from the environment).
        secret_access_key: the secret key (default: from the environment).
        session_token: a temporary session token (default: from the environment).
        virtual_hosted_style: address the bucket as ``bucket.endpoint`` instead of
            ``endpoint/bucket``.
        anonymous: send unsigned requests (public buckets).
        conditional_writes: the server honours ``If-None-Match: *`` and
            ``If-Match`` on PUT (AWS since 2024, MinIO, moto). Set false for a
            server that ignores them: conditional puts are then checked before
            writing, not atomically, and ``capabilities`` says so.
        transport: HTTP, retry and multipart settings.
    """

    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    virtual_hosted_style: bool = False
    anonymous: bool = False
    conditional_writes: bool = True
    transport: TransportOptions = field(default_factory=TransportOptions)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3Config:
        """Parse ``s3://bucket/prefix`` and its options (query parameters or keywords).

        Raises:
            ConfigurationError: a malformed URL, or an unknown or invalid option.
        """
        bucket, prefix, merged = parse_bucket_url(url, options, _OWN_OPTIONS)
        transport = TransportOptions.pop_from(merged)
        flags: dict[str, Any] = {
            name: option_bool(name, merged.pop(name))
            for name in ("virtual_hosted_style", "anonymous", "conditional_writes")
            if name in merged
        }
        strings: dict[str, Any] = {name: str(value) for name, value in merged.items()}
        return cls(bucket=bucket, prefix=prefix, transport=transport, **flags, **strings)

    @property
    def url(self) -> str:
        """The bucket and prefix as a URL, without secrets."""
        return f"s3://{self.bucket}/{self.prefix}"


class S3Provider(ObjectStoreProvider):
    """Objects in an S3 bucket (or an S3-compatible server).

    Args:
        config: the bucket, prefix, endpoint, credentials and transport settings.
    """

    def __init__(self, config: S3Config) -> None:
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
        )
        self.config = config

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3Provider:
        """``s3://bucket/prefix?endpoint=...&region=...``: see :class:`S3Config` for options."""
        return cls(S3Config.from_url(url, **options))

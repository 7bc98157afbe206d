"""Listings read from the server's own reply, for the pages obstore refuses.

obstore (Rust ``object_store``) parses every listed key into its ``Path`` type
and fails the whole page when one key is not a valid path there (``../x``,
``a//b``, ``x/./y``, a control character): keys that every object store
accepts and that other tools write. When a listing fails that way,
:class:`~storeroom.providers.object.store.ObjectStoreProvider` lists the same
folder again through a :class:`RawLister`: the cloud's own list request,
signed with the same credentials, every key kept as the server sent it. The
provider's base then reports the keys storeroom cannot address as
:class:`~storeroom.providers.base.SkippedKey` and lists the rest, so one odd
key never hides a folder.

Only what a listing needs is here: the XML ``ListObjectsV2`` of S3 (signed
with AWS Signature Version 4) and of GCS (a bearer token, or none for an
emulator), and Azure's List Blobs (Shared Key or a SAS token). Credentials
that only obstore can resolve (web identity, instance metadata, service-account
files, Azure AD) cannot sign here; :func:`credentials_missing` says so and the
listing fails as before, with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit
from xml.etree import ElementTree

from ...errors import BackendUnavailable, NotFound, PermissionDenied, StorageError
from ...retry import Backoff

__all__ = ["AzureLister", "Listed", "Page", "RawLister", "S3Lister", "XmlLister", "sigv4_headers"]

#: The Blob service version the Shared Key requests name.
AZURE_VERSION = "2021-08-06"
#: HTTP statuses worth another try (throttling and server errors).
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_UNRESERVED = "-_.~"
#: The longest reply read (a page of 1,000 keys is well under 1 MiB).
_MAX_REPLY = 64 * 1024 * 1024


class Listed(NamedTuple):
    """One object as the server listed it (the etag as sent, quoted or not)."""

    key: str
    size: int
    modified: datetime
    etag: str | None
    version: str | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing.

    Attributes:
        objects: the objects of the page.
        prefixes: the common prefixes (a delimiter listing's sub-folders).
        token: where the next page starts, or ``None`` after the last.
    """

    objects: tuple[Listed, ...]
    prefixes: tuple[str, ...]
    token: str | None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A signed request is never sent on to another address."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class RawLister(ABC):
    """Lists one bucket or container by its REST API, key by key as the server names them.

    Args:
        prefix: the provider's own prefix (every key lives under it).
        description: the provider's URL without secrets, for messages.
        timeout: seconds for one request.
        backoff: the retry policy for throttling, server errors and dropped connections.
        page_size: the most keys one reply holds (servers may send fewer).
    """

    def __init__(
        self,
        *,
        prefix: str,
        description: str,
        timeout: float,
        backoff: Backoff,
        page_size: int = 1000,
    ) -> None:
        self._root = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._description = description
        self._timeout = timeout
        self._backoff = backoff
        self.page_size = page_size

    @abstractmethod
    def _request(
        self, prefix: str, delimiter: bool, token: str | None
    ) -> tuple[str, dict[str, str]]:
        """The URL and headers (signature included) of one list request."""

    @abstractmethod
    def _parse(self, body: bytes) -> Page:
        """One page from the server's reply."""

    async def pages(self, folder: str, *, delimiter: bool) -> AsyncIterator[Page]:
        """Every page under ``folder`` (``""`` or ``"a/b/"``), keys relative to the provider."""
        token: str | None = None
        sent: set[str] = set()
        while True:
            page = await self._fetch(self._root + folder, delimiter, token)
            yield Page(
                tuple(
                    item._replace(key=item.key[len(self._root) :])
                    for item in page.objects
                    if item.key.startswith(self._root) and item.key != self._root
                ),
                tuple(p[len(self._root) :] for p in page.prefixes if p.startswith(self._root)),
                page.token,
            )
            if page.token is None:
                return
            if page.token in sent:  # a server that would page forever
                raise BackendUnavailable(
                    f"list {folder!r} on {self._description}: the server sent the same "
                    "continuation again"
                )
            token = page.token
            sent.add(token)

    async def _fetch(self, prefix: str, delimiter: bool, token: str | None) -> Page:
        where = f"list {prefix!r} on {self._description} (read without obstore)"
        delays = self._backoff.delays()
        while True:
            url, headers = self._request(prefix, delimiter, token)
            try:
                body = await asyncio.to_thread(_get, url, headers, self._timeout)
            except urllib.error.HTTPError as exc:
                status = exc.code
                exc.close()
                if status in (401, 403):
                    raise PermissionDenied(f"{where}: the server refused ({status})") from None
                if status == 404:
                    raise NotFound(f"{where}: no such bucket or container (404)") from None
                if status not in _TRANSIENT:
                    raise StorageError(f"{where}: the server answered {status}") from None
                problem = f"the server answered {status}"
            except OSError as exc:  # refused, reset, timed out
                problem = type(exc).__name__
            else:
                if len(body) > _MAX_REPLY:
                    raise BackendUnavailable(f"{where}: the server's reply is over 64 MiB")
                try:
                    return self._parse(body)
                except (ElementTree.ParseError, ValueError, KeyError, TypeError) as exc:
                    raise BackendUnavailable(
                        f"{where}: the server's reply is not a listing ({type(exc).__name__})"
                    ) from None
            delay = next(delays, None)
            if delay is None:
                raise BackendUnavailable(f"{where}: {problem}, retries exhausted")
            await asyncio.sleep(delay)


def _get(url: str, headers: Mapping[str, str], timeout: float) -> bytes:
    request = urllib.request.Request(url, headers=dict(headers))  # noqa: S310 (always http(s))
    with _OPENER.open(request, timeout=timeout) as reply:
        body: bytes = reply.read(_MAX_REPLY + 1)
        return body


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {_local(child.tag): child for child in element}


def _text(element: ElementTree.Element | None) -> str:
    return "" if element is None or element.text is None else element.text


def _url(base: str, params: Mapping[str, str]) -> str:
    """``base`` (its path percent-encoded, ``/`` at least) with ``params`` as its query."""
    parts = urlsplit(base)
    path = quote(unquote(parts.path) or "/", safe="/" + _UNRESERVED)
    query = urlencode(sorted(params.items()), quote_via=quote, safe=_UNRESERVED)
    return f"{parts.scheme}://{parts.netloc}{path}?{query}"


# -- S3 and GCS: ListObjectsV2 ------------------------------------------------------------


class XmlLister(RawLister):
    """``GET <base>?list-type=2``: S3's listing, which GCS's XML API speaks too.

    Args:
        base: the bucket's URL (``https://host/bucket``, or the virtual host).
        headers: headers every request carries (a bearer token), or ``None``.
        **kwargs: see :class:`RawLister`.
    """

    def __init__(self, base: str, headers: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base = base.rstrip("/")
        self._headers = dict(headers or {})

    def _params(self, prefix: str, delimiter: bool, token: str | None) -> dict[str, str]:
        params = {"list-type": "2", "encoding-type": "url", "max-keys": str(self.page_size)}
        if prefix:
            params["prefix"] = prefix
        if delimiter:
            params["delimiter"] = "/"
        if token is not None:
            params["continuation-token"] = token
        return params

    def _request(
        self, prefix: str, delimiter: bool, token: str | None
    ) -> tuple[str, dict[str, str]]:
        return _url(self._base, self._params(prefix, delimiter, token)), dict(self._headers)

    def _parse(self, body: bytes) -> Page:
        root = ElementTree.fromstring(body)  # noqa: S314 (expat: no external entities, bounded expansion)
        encoded = _text(_children(root).get("EncodingType")) == "url"

        def key(text: str) -> str:
            return unquote(text) if encoded else text

        objects = []
        prefixes = []
        token = None
        truncated = False
        for element in root:
            name = _local(element.tag)
            if name == "Contents":
                fields = _children(element)
                objects.append(Listed(
                    key(_text(fields.get("Key"))),
                    int(_text(fields.get("Size")) or 0),
                    _iso_time(_text(fields.get("LastModified"))),
                    _text(fields.get("ETag")) or None,
                    _text(fields.get("VersionId")) or None,
                ))  # fmt: skip
            elif name == "CommonPrefixes":
                prefixes.append(key(_text(_children(element).get("Prefix"))))
            elif name == "IsTruncated":
                truncated = _text(element).lower() == "true"
            elif name == "NextContinuationToken":
                token = _text(element) or None
        return Page(tuple(objects), tuple(prefixes), token if truncated else None)


def _iso_time(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


class S3Lister(XmlLister):
    """S3's ListObjectsV2, signed with AWS Signature Version 4 (unsigned when anonymous).

    Args:
        base: the bucket's URL.
        region: the region the signature names.
        credentials: ``(access_key_id, secret_access_key, session_token)``, or ``None``
            for unsigned requests.
        **kwargs: see :class:`RawLister`.
    """

    def __init__(
        self,
        base: str,
        *,
        region: str,
        credentials: tuple[str, str, str | None] | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(base, **kwargs)
        self._region = region
        self._credentials = credentials

    def _request(
        self, prefix: str, delimiter: bool, token: str | None
    ) -> tuple[str, dict[str, str]]:
        url = _url(self._base, self._params(prefix, delimiter, token))
        if self._credentials is None:
            return url, {}
        return url, sigv4_headers(
            "GET", url, region=self._region, service="s3", credentials=self._credentials,
            now=datetime.now(timezone.utc),
        )  # fmt: skip


def sigv4_headers(
    method: str,
    url: str,
    *,
    region: str,
    service: str,
    credentials: tuple[str, str, str | None],
    now: datetime,
) -> dict[str, str]:
    """The headers that sign a body-less request with AWS Signature Version 4.

    ``url``'s path and query must already be percent-encoded as sent.
    """
    key_id, secret, session = credentials
    parts = urlsplit(url)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    headers = {
        "host": parts.netloc,
        "x-amz-content-sha256": hashlib.sha256(b"").hexdigest(),
        "x-amz-date": stamp,
    }
    if session:
        headers["x-amz-security-token"] = session
    query = "&".join(
        f"{quote(name, safe=_UNRESERVED)}={quote(value, safe=_UNRESERVED)}"
        for name, value in sorted(parse_qsl(parts.query, keep_blank_values=True))
    )
    signed = ";".join(sorted(headers))
    canonical = "\n".join([
        method, parts.path or "/", query,
        "".join(f"{name}:{headers[name].strip()}\n" for name in sorted(headers)),
        signed, headers["x-amz-content-sha256"],
    ])  # fmt: skip
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing_key = ("AWS4" + secret).encode()
    for part in (stamp[:8], region, service, "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={signed}, "
        f"Signature={signature}"
    )
    return headers


# -- Azure: List Blobs ---------------------------------------------------------------------


class AzureLister(RawLister):
    """Azure's List Blobs, with Shared Key or a SAS token.

    Args:
        base: the container's URL (``https://account.blob.core.windows.net/container``).
        account: the storage account (the Shared Key signature names it).
        key: the account key (base64), or ``None`` with a SAS token.
        sas: a SAS token's query (``sv=...&sig=...``), or ``None`` with a key.
        **kwargs: see :class:`RawLister`.
    """

    def __init__(
        self, base: str, *, account: str, key: str | None, sas: str | None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._base = base.rstrip("/")
        self._account = account
        self._key = key
        self._sas = sas.lstrip("?") if sas else None

    def _request(
        self, prefix: str, delimiter: bool, token: str | None
    ) -> tuple[str, dict[str, str]]:
        params = {"restype": "container", "comp": "list", "maxresults": str(self.page_size)}
        if prefix:
            params["prefix"] = prefix
        if delimiter:
            params["delimiter"] = "/"
        if token is not None:
            params["marker"] = token
        url = _url(self._base, params)
        headers = {
            "x-ms-date": format_datetime(datetime.now(timezone.utc), usegmt=True),
            "x-ms-version": AZURE_VERSION,
        }
        if self._sas is not None:
            return f"{url}&{self._sas}", headers
        assert self._key is not None
        canonical = "".join(f"{name}:{value}\n" for name, value in sorted(headers.items()))
        resource = f"/{self._account}{urlsplit(url).path}" + "".join(
            f"\n{name.lower()}:{value}" for name, value in sorted(params.items())
        )
        # The verb, eleven standard headers (all empty for a GET), x-ms-*, the resource.
        to_sign = "GET\n" + "\n" * 11 + canonical + resource
        digest = hmac.new(base64.b64decode(self._key), to_sign.encode(), hashlib.sha256).digest()
        headers["Authorization"] = f"SharedKey {self._account}:{base64.b64encode(digest).decode()}"
        return url, headers

    def _parse(self, body: bytes) -> Page:
        root = ElementTree.fromstring(body)  # noqa: S314 (expat: no external entities, bounded expansion)
        top = _children(root)
        objects = []
        prefixes = []
        for element in top.get("Blobs", ElementTree.Element("Blobs")):
            fields = _children(element)
            name = _blob_name(fields.get("Name"))
            if _local(element.tag) == "BlobPrefix":
                prefixes.append(name)
                continue
            properties = _children(fields["Properties"]) if "Properties" in fields else {}
            objects.append(Listed(
                name,
                int(_text(properties.get("Content-Length")) or 0),
                parsedate_to_datetime(_text(properties.get("Last-Modified"))),
                _text(properties.get("Etag")) or None,
                _text(fields.get("VersionId")) or None,
            ))  # fmt: skip
        return Page(tuple(objects), tuple(prefixes), _text(top.get("NextMarker")) or None)


def _blob_name(element: ElementTree.Element | None) -> str:
    """A blob's name; Azure percent-encodes names XML cannot carry (``Encoded="true"``)."""
    text = _text(element)
    if element is not None and element.get("Encoded", "").lower() == "true":
        return unquote(text)
    return text

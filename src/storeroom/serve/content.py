"""Downloads: streamed, with HTTP ranges, ETags and a safe Content-Disposition.

A download never holds the content in memory: it streams the version with
``ArtifactStore.iter_content`` (which checks a whole read against the sha256
and holds the last chunk back until it matches) or the file with the
provider's ``stream`` / ``read_range``.

- ``ETag`` is the version's sha256 (strong: the bytes are immutable), or the
  provider's etag for a file. ``If-None-Match`` answers ``304``; a single
  ``Range: bytes=...`` answers ``206`` with ``Content-Range`` (``If-Range``
  honoured); an unsatisfiable range ``416``; several ranges are served whole
  (RFC 9110 lets a server ignore ``Range``).
- ``Content-Disposition`` is ``attachment`` with an ASCII ``filename`` (every
  other character replaced) and the exact name in ``filename*`` (RFC 5987
  percent-encoding), so no name can break out of the header; raster images
  asked for ``inline`` are the only exception. Every download also carries
  ``X-Content-Type-Options: nosniff`` and a ``sandbox`` CSP.
- ``--signed-downloads``: where the provider can sign (S3, GCS, Azure), a
  blob's download is a ``307`` redirect to a URL valid for a few minutes,
  with the sha256 in ``X-Storeroom-Sha256`` and ``Repr-Digest``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .. import paths
from ..artifactstore import ArtifactStore, ArtifactVersion
from ..artifactstore.layout import blob_key
from ..filestore import FileStore
from .preview import IMAGE_TYPES

__all__ = [
    "DOWNLOAD_CSP",
    "ByteRange",
    "content_disposition",
    "file_response",
    "parse_range",
    "signed_redirect",
    "version_response",
]

#: The Content-Security-Policy of every download: nothing it holds may run.
DOWNLOAD_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
_CHUNK = 1024 * 1024
#: (At most 18 digits: a longer number is no size, and Python refuses very long ones.)
_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``[start, stop)`` of an object of ``size`` bytes."""

    start: int
    stop: int
    size: int

    @property
    def header(self) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{self.size}"


class RangeNotSatisfiable(Exception):
    """A ``Range`` no byte of the object satisfies (answered with 416)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable (size {size})")
        self.size = size


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range a ``Range`` header asks for; ``None`` to serve the whole.

    Raises:
        RangeNotSatisfiable: a well-formed single range outside the object.
    """
    if not header:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None:  # several ranges, or not bytes: serve the whole (allowed)
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:  # (no byte of an empty version can be sent)
            raise RangeNotSatisfiable(size)
        return ByteRange(max(0, size - count), size, size)
    start = int(first)
    stop = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        return None  # invalid: ignored, as RFC 9110 says
    if start >= size:
        raise RangeNotSatisfiable(size)
    return ByteRange(start, stop, size)


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """A header value no name can break: ASCII ``filename`` plus exact ``filename*``."""
    base = paths.basename(filename) or "download"
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip() or "download"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(base, safe='')}"


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags


def _respond(
    request: Request,
    *,
    size: int,
    etag: str,
    media_type: str,
    disposition: str,
    body: Callable[[int, int], AsyncIterator[bytes]],
    extra: dict[str, str] | None = None,
) -> Response:
    """The download response: 304, 206, 416 or 200 with the streamed body."""
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": disposition,
        "Content-Security-Policy": DOWNLOAD_CSP,
        "Cache-Control": "private, no-cache",
        **(extra or {}),
    }
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    wanted: ByteRange | None = None
    if_range = request.headers.get("if-range")
    if if_range is None or if_range.strip() == etag:
        try:
            wanted = parse_range(request.headers.get("range"), size)
        except RangeNotSatisfiable:
            headers["Content-Range"] = f"bytes */{size}"
            return Response(status_code=416, headers=headers)
    if request.method == "HEAD":
        length = wanted.stop - wanted.start if wanted else size
        headers["Content-Length"] = str(length)
        if wanted:
            headers["Content-Range"] = wanted.header
        return Response(status_code=206 if wanted else 200, headers=headers, media_type=media_type)
    if wanted is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(body(0, size), headers=headers, media_type=media_type)
    headers["Content-Range"] = wanted.header
    headers["Content-Length"] = str(wanted.stop - wanted.start)
    return StreamingResponse(
        body(wanted.start, wanted.stop), status_code=206, headers=headers, media_type=media_type
    )


def _media_type(content_type: str) -> str:
    """The type a download is served as: the stored one, if it is a plain MIME type."""
    base = content_type.split(";", 1)[0].strip().lower()
    if re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", base):
        # its parameters too, if a header can carry them (printable ASCII only)
        return content_type if content_type.isascii() and content_type.isprintable() else base
    return "application/octet-stream"


def version_response(
    request: Request, store: ArtifactStore, version: ArtifactVersion, *, inline: bool = False
) -> Response:
    """A version's content as a download (``inline`` only for raster images)."""
    media_type = _media_type(version.content_type)
    show = inline and media_type.split(";", 1)[0].strip().lower() in IMAGE_TYPES

    def body(start: int, stop: int) -> AsyncIterator[bytes]:
        return store.iter_content(version, start, stop, chunk_size=_CHUNK)

    return _respond(
        request,
        size=version.size,
        etag=f'"{version.sha256}"',
        media_type=media_type,
        disposition=content_disposition(version.name, inline=show),
        body=body,
        extra=_digest_headers(version.sha256),
    )


def _digest_headers(sha256: str) -> dict[str, str]:
    digest = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
    return {"X-Storeroom-Sha256": sha256, "Repr-Digest": f"sha-256=:{digest}:"}


async def signed_redirect(
    store: ArtifactStore, version: ArtifactVersion, expires_in: float
) -> Response | None:
    """A 307 to a signed URL of the version's blob; ``None`` if it cannot be signed here
    (inline content, a provider that cannot sign, a blob set aside by gc)."""
    sign = getattr(store.provider, "sign_url", None)
    if sign is None or version.inline is not None:
        return None
    key = blob_key(version.sha256)
    if not await store.provider.exists(key):
        return None  # in the trash while a gc runs: stream it instead
    url = await sign(key, expires_in=expires_in)
    headers = {"Location": url, "Cache-Control": "no-store", **_digest_headers(version.sha256)}
    headers["ETag"] = f'"{version.sha256}"'
    return Response(status_code=307, headers=headers)


async def file_response(request: Request, files: FileStore, path: str) -> Response:
    """A file of the file store as a download.

    Raises:
        InvalidPath: not a key.
        NotFound: no such file.
    """
    key = paths.validate_key(path)
    provider = files.provider
    meta = await provider.head(key)
    etag = f'"{meta.etag}"' if meta.etag else f'"{meta.size}-{meta.modified.timestamp()}"'

    async def body(start: int, stop: int) -> AsyncIterator[bytes]:
        if start == 0 and stop == meta.size:
            async for chunk in provider.stream(key, _CHUNK):
                yield chunk
            return
        for offset in range(start, stop, _CHUNK):
            yield await provider.read_range(key, offset, min(offset + _CHUNK, stop))

    return _respond(
        request,
        size=meta.size,
        etag=etag.replace("\n", "").replace("\r", ""),
        media_type=_media_type(meta.content_type or "application/octet-stream"),
        disposition=content_disposition(key),
        body=body,
    )

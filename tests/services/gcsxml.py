"""A gateway serving GCS's XML API on gcp-storage-emulator's JSON API.

obstore (Rust ``object_store``) speaks GCS's XML API; ``gcp-storage-emulator``
serves only the JSON API. This gateway translates, one request to one or a few
emulator requests, and keeps no object data: objects, metadata, generations
and listings all live in the emulator. What it translates:

- ``PUT /b/key`` (``x-goog-meta-*``, ``Content-Type``, ``x-goog-if-generation-match``)
  -> a multipart media upload; ``PUT`` with ``x-goog-copy-source`` -> ``copyTo``;
- ``GET`` / ``HEAD /b/key`` (``Range``) -> object resource + ``alt=media`` download;
- ``DELETE /b/key`` -> delete;
- ``GET /b?list-type=2`` (prefix, delimiter, continuation, max-keys) -> ``objects.list``;
- XML multipart uploads: each part is stored in the emulator as a temporary
  object under ``.sr-mpu/<upload id>/``; completion composes them into the
  destination and deletes them; an abort deletes them.

A bucket the emulator does not have is ``404 NoSuchBucket``, as GCS answers.
Preconditions are passed on (``ifGenerationMatch``), and the emulator ignores
them: that is what ``emulator=true`` declares in the GCS provider's capabilities.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, unquote
from xml.etree import ElementTree

from aiohttp import web
from yarl import URL

from .threaded import ThreadedServer

__all__ = ["GcsXmlGateway"]

_API = "/storage/v1/b"
_PARTS = ".sr-mpu"
_PAGE = 1000


def _xml(root: str, fields: dict[str, str]) -> bytes:
    element = ElementTree.Element(root)
    for name, value in fields.items():
        ElementTree.SubElement(element, name).text = value
    return _serialize(element)


def _serialize(element: ElementTree.Element) -> bytes:
    text: bytes = ElementTree.tostring(element, xml_declaration=True, encoding="utf-8")
    return text


def _error(status: int, code: str, message: str) -> web.Response:
    body = _xml("Error", {"Code": code, "Message": message})
    return web.Response(status=status, body=body, content_type="application/xml")


def _when(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _headers(resource: dict[str, Any]) -> dict[str, str]:
    """The XML API's response headers for an object resource of the JSON API."""
    headers = {
        "ETag": f'"{resource["etag"]}"',
        "Last-Modified": format_datetime(_when(resource["updated"]), usegmt=True),
        "x-goog-generation": str(resource["generation"]),
        "x-goog-metageneration": str(resource.get("metageneration", "1")),
        "Content-Type": resource.get("contentType") or "application/octet-stream",
    }
    for name, value in (resource.get("metadata") or {}).items():
        headers[f"x-goog-meta-{name}"] = str(value)
    return headers


class GcsXmlGateway(ThreadedServer):
    """GCS's XML API (as obstore uses it) in front of a gcp-storage-emulator.

    Args:
        upstream: the emulator's base URL (``http://127.0.0.1:port``).
    """

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        #: upload id -> (bucket, key, content type, user metadata)
        self._uploads: dict[str, tuple[str, str, str | None, dict[str, str]]] = {}

    # -- the emulator's JSON API ----------------------------------------------------

    def _object_url(self, bucket: str, key: str, suffix: str = "") -> URL:
        """The JSON API URL of an object, encoded exactly (yarl would decode ``%3B``)."""
        return URL(f"{self.upstream}{_API}/{bucket}/o/{quote(key, safe='')}{suffix}", encoded=True)

    async def _bucket_exists(self, bucket: str) -> bool:
        known: set[str] = self.__dict__.setdefault("_buckets", set())
        if bucket not in known:
            async with self.session.get(f"{self.upstream}{_API}/{quote(bucket, safe='')}") as found:
                if found.status == 404:
                    return False
                known.add(bucket)
        return True

    async def _resource(self, bucket: str, key: str) -> dict[str, Any] | None:
        async with self.session.get(self._object_url(bucket, key)) as response:
            if response.status == 404:
                return None
            response.raise_for_status()
            found: dict[str, Any] = await response.json(content_type=None)
            return found

    async def _upload(
        self, bucket: str, key: str, data: bytes, content_type: str | None,
        metadata: dict[str, str], generation_match: str | None,
    ) -> dict[str, Any]:  # fmt: skip
        boundary = uuid.uuid4().hex
        described: dict[str, Any] = {"name": key, "metadata": metadata}
        if content_type:
            described["contentType"] = content_type
        body = (
            (
                f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
                f"{json.dumps(described)}\r\n--{boundary}\r\n"
                f"Content-Type: {content_type or 'application/octet-stream'}\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        query = {"uploadType": "multipart"}
        if generation_match is not None:
            query["ifGenerationMatch"] = generation_match
        async with self.session.post(
            f"{self.upstream}/upload{_API}/{bucket}/o",
            params=query,
            data=body,
            headers={"Content-Type": f"multipart/related; boundary={boundary}"},
        ) as response:
            response.raise_for_status()
            created: dict[str, Any] = await response.json(content_type=None)
            return created

    async def _delete(self, bucket: str, key: str) -> int:
        async with self.session.delete(self._object_url(bucket, key)) as response:
            return response.status

    async def _list(self, bucket: str, prefix: str, delimiter: str | None) -> dict[str, Any]:
        query = {"prefix": prefix} if prefix else {}
        if delimiter:
            query["delimiter"] = delimiter
        async with self.session.get(f"{self.upstream}{_API}/{bucket}/o", params=query) as response:
            response.raise_for_status()
            listed: dict[str, Any] = await response.json(content_type=None)
            return listed

    # -- the XML API ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw_bucket, _, raw_key = request.rel_url.raw_path.lstrip("/").partition("/")
        bucket, key = unquote(raw_bucket), unquote(raw_key)
        query = request.rel_url.query
        if not await self._bucket_exists(bucket):
            return _error(404, "NoSuchBucket", "The specified bucket does not exist.")
        if not key:
            if request.method == "GET" and query.get("list-type") == "2":
                return await self._list_objects(bucket, request)
            return _error(501, "NotImplemented", f"{request.method} on a bucket")
        if request.method in ("GET", "HEAD"):
            return await self._get(bucket, key, request)
        if request.method == "PUT" and "uploadId" in query:
            return await self._put_part(query["uploadId"], int(query["partNumber"]), request)
        if request.method == "PUT" and "x-goog-copy-source" in request.headers:
            return await self._copy(bucket, key, request)
        if request.method == "PUT":
            return await self._put(bucket, key, request)
        if request.method == "POST" and "uploads" in query:
            return self._initiate(bucket, key, request)
        if request.method == "POST" and "uploadId" in query:
            return await self._complete(query["uploadId"], request)
        if request.method == "DELETE" and "uploadId" in query:
            await self._discard_parts(bucket, query["uploadId"])
            return web.Response(status=204)
        if request.method == "DELETE":
            status = await self._delete(bucket, key)
            if status == 404:
                return _error(404, "NoSuchKey", key)
            return web.Response(status=204)
        return _error(501, "NotImplemented", request.method)

    async def _get(self, bucket: str, key: str, request: web.Request) -> web.StreamResponse:
        resource = await self._resource(bucket, key)
        if resource is None:
            return _error(404, "NoSuchKey", key)
        headers = _headers(resource)
        size = int(resource["size"])
        if request.method == "HEAD":
            headers["Content-Length"] = str(size)
            return web.Response(status=200, headers=headers)
        wanted = request.headers.get("Range")
        if wanted and int(wanted.removeprefix("bytes=").split("-")[0]) >= size:
            return _error(416, "InvalidRange", wanted)
        async with self.session.get(
            self._object_url(bucket, key),
            params={"alt": "media", "generation": str(resource["generation"])},
            headers={"Range": wanted} if wanted else {},
        ) as response:
            body = await response.read()
            if "Content-Range" in response.headers:
                headers["Content-Range"] = response.headers["Content-Range"]
            return web.Response(status=response.status, headers=headers, body=body)

    async def _put(self, bucket: str, key: str, request: web.Request) -> web.Response:
        created = await self._upload(
            bucket, key, await request.read(), request.headers.get("Content-Type"),
            _user_metadata(request), request.headers.get("x-goog-if-generation-match"),
        )  # fmt: skip
        return web.Response(status=200, headers=_headers(created))

    async def _copy(self, bucket: str, key: str, request: web.Request) -> web.Response:
        source_bucket, _, source_key = unquote(
            request.headers["x-goog-copy-source"]
        ).lstrip("/").partition("/")  # fmt: skip
        url = self._object_url(
            source_bucket, source_key, f"/copyTo/b/{bucket}/o/{quote(key, safe='')}"
        )
        async with self.session.post(url, json={}) as response:
            if response.status == 404:
                return _error(404, "NoSuchKey", source_key)
            response.raise_for_status()
            copied: dict[str, Any] = await response.json(content_type=None)
        return web.Response(status=200, headers=_headers(copied))

    async def _list_objects(self, bucket: str, request: web.Request) -> web.Response:
        query = request.rel_url.query
        prefix = query.get("prefix", "")
        listed = await self._list(bucket, prefix, query.get("delimiter"))
        after = query.get("continuation-token") or query.get("start-after") or ""
        entries = sorted(
            [(item["name"], item) for item in listed.get("items") or []]
            + [(folder, None) for folder in listed.get("prefixes") or []],
            key=lambda entry: entry[0],
        )
        entries = [entry for entry in entries if entry[0] > after]
        size = min(_PAGE, int(query.get("max-keys", _PAGE)))
        page, truncated = entries[:size], len(entries) > size
        root = ElementTree.Element("ListBucketResult")
        for name, text in (("Name", bucket), ("Prefix", prefix), ("KeyCount", str(len(page)))):
            ElementTree.SubElement(root, name).text = text
        ElementTree.SubElement(root, "IsTruncated").text = "true" if truncated else "false"
        if truncated:
            ElementTree.SubElement(root, "NextContinuationToken").text = page[-1][0]
        for name, item in page:
            if item is None:
                folder = ElementTree.SubElement(root, "CommonPrefixes")
                ElementTree.SubElement(folder, "Prefix").text = name
                continue
            entry = ElementTree.SubElement(root, "Contents")
            ElementTree.SubElement(entry, "Key").text = name
            ElementTree.SubElement(entry, "Size").text = str(item["size"])
            ElementTree.SubElement(entry, "LastModified").text = (
                _when(item["updated"]).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            )
            ElementTree.SubElement(entry, "ETag").text = f'"{item["etag"]}"'
        return web.Response(status=200, body=_serialize(root), content_type="application/xml")

    # -- multipart uploads ---------------------------------------------------------------

    def _initiate(self, bucket: str, key: str, request: web.Request) -> web.Response:
        upload_id = uuid.uuid4().hex
        content_type = request.headers.get("Content-Type")
        self._uploads[upload_id] = (bucket, key, content_type, _user_metadata(request))
        body = _xml(
            "InitiateMultipartUploadResult", {"Bucket": bucket, "Key": key, "UploadId": upload_id}
        )
        return web.Response(status=200, body=body, content_type="application/xml")

    async def _put_part(self, upload_id: str, number: int, request: web.Request) -> web.Response:
        if upload_id not in self._uploads:
            return _error(404, "NoSuchUpload", upload_id)
        bucket = self._uploads[upload_id][0]
        part = f"{_PARTS}/{upload_id}/{number:05d}"
        created = await self._upload(bucket, part, await request.read(), None, {}, None)
        return web.Response(status=200, headers={"ETag": f'"{created["etag"]}"'})

    async def _complete(self, upload_id: str, request: web.Request) -> web.Response:
        if upload_id not in self._uploads:
            return _error(404, "NoSuchUpload", upload_id)
        bucket, key, content_type, metadata = self._uploads.pop(upload_id)
        numbers = [
            int(text)
            for text in (
                element.text
                for element in ElementTree.fromstring(await request.read()).iter("PartNumber")
            )
            if text
        ]
        destination: dict[str, Any] = {"metadata": metadata}
        if content_type:
            destination["contentType"] = content_type
        sources = [{"name": f"{_PARTS}/{upload_id}/{n:05d}"} for n in sorted(numbers)]
        async with self.session.post(
            self._object_url(bucket, key, "/compose"),
            json={"sourceObjects": sources, "destination": destination},
        ) as response:
            response.raise_for_status()
            composed: dict[str, Any] = await response.json(content_type=None)
        await self._discard_parts(bucket, upload_id)
        body = _xml(
            "CompleteMultipartUploadResult",
            {"Bucket": bucket, "Key": key, "ETag": f'"{composed["etag"]}"'},
        )
        return web.Response(status=200, body=body, headers=_headers(composed))

    async def _discard_parts(self, bucket: str, upload_id: str) -> None:
        self._uploads.pop(upload_id, None)
        listed = await self._list(bucket, f"{_PARTS}/{upload_id}/", None)
        for item in listed.get("items") or []:
            await self._delete(bucket, item["name"])


def _user_metadata(request: web.Request) -> dict[str, str]:
    return {
        name[len("x-goog-meta-") :]: value
        for name, value in request.headers.items()
        if name.lower().startswith("x-goog-meta-")
    }

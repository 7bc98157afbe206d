"""The shared object-store provider: S3, Azure Blob and GCS on obstore.

:class:`ObjectStoreProvider` implements the whole provider surface once on an
obstore store (Rust ``object_store`` underneath); ``s3.py``, ``azure.py`` and
``gcs.py`` only build the store from a typed config and declare capabilities.

- Native errors are mapped into :mod:`storeroom.errors` at one place,
  :meth:`ObjectStoreProvider._mapped`, with ``raise ... from exc``; secrets
  are scrubbed from the native text first.
- Transient failures (5xx such as 503 SlowDown, connection resets, timeouts)
  are retried by obstore with bounded exponential backoff and jitter
  (:class:`~storeroom.providers.object.config.TransportOptions`), then surface
  as ``BackendUnavailable``.
- Conditional puts (``mode="create"``, ``IfMatch``) are retried here, with the
  same policy (:class:`~storeroom.retry.Backoff`); each carries a unique id in
  hidden user metadata (:data:`WRITE_TAG`), so a retry that meets its own
  earlier, answered-but-lost write succeeds instead of being refused.
- Folders made by ``makedirs`` are marked by an empty object named
  :data:`FOLDER_MARKER` inside them; markers are hidden from ``iter``,
  ``list`` and ``list_dir``'s objects but make the folder visible.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import obstore

from ... import paths
from ...errors import (
    AlreadyExists,
    BackendUnavailable,
    NotFound,
    NotSupported,
    PreconditionFailed,
    StorageError,
)
from ...options import mask
from ..base import (
    DEFAULT_CHUNK_SIZE,
    Capabilities,
    GetResult,
    IfMatch,
    Listing,
    ObjectMeta,
    Provider,
    PutMode,
    check_range,
)
from .config import TransportOptions, check_endpoint
from .errors import is_native, storage_error

if TYPE_CHECKING:
    from obstore import Attributes, GetOptions
    from obstore import ObjectMeta as NativeMeta
    from obstore import PutMode as NativePutMode
    from obstore.store import AzureStore, GCSStore, S3Store

    NativeStore = S3Store | AzureStore | GCSStore

__all__ = ["FOLDER_MARKER", "WRITE_TAG", "ObjectStoreProvider", "normalize_etag"]

#: The empty object that ``makedirs`` puts in a folder so the folder exists while empty.
FOLDER_MARKER = paths.FOLDER_MARKER
#: obstore attributes that are not user metadata.
_STANDARD_ATTRIBUTES = frozenset(
    {
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Content-Type",
        "Cache-Control",
        "Storage-Class",
    }
)
#: User-metadata name of the id that marks a conditional put's own write (hidden).
WRITE_TAG = "storeroom_write"
#: How long ``aclose`` lets obstore's runtime threads settle (see its docstring).
_SETTLE_SECONDS = 0.01
_UNSATISFIABLE_RANGE = re.compile(r"\b416\b|InvalidRange")
#: How many times ``get`` starts over when a resumed read finds the object replaced.
_WHOLE_READ_ATTEMPTS = 5


def _resume_missed(exc: StorageError) -> bool:
    """Whether ``exc`` is a 416: a range past the object's end (also on a resumed read)."""
    return (
        type(exc) is StorageError
        and exc.__cause__ is not None
        and _UNSATISFIABLE_RANGE.search(str(exc.__cause__)) is not None
    )


def _is_hidden(key: str) -> bool:
    """Whether ``key`` is storeroom's own (a folder marker): never listed."""
    return key.startswith(paths.RESERVED_PREFIX) or ("/" + paths.RESERVED_PREFIX) in key


def normalize_etag(raw: str | None) -> str | None:
    """One etag form on every backend: quoted, as HTTP sends it (Azure lists it bare)."""
    if not raw:
        return None
    if raw.startswith(('"', "W/")):
        return raw
    return f'"{raw}"'


def _version(raw: str | None) -> str | None:
    return None if raw in (None, "", "null") else raw


def _attributes(content_type: str | None, metadata: Mapping[str, str] | None) -> Attributes:
    attributes: Attributes = {}
    for name, value in (metadata or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("metadata names and values must be str")
        if name in _STANDARD_ATTRIBUTES:
            raise ValueError(f"metadata name {name!r} is reserved; use content_type=")
        if name == WRITE_TAG:
            raise ValueError(f"metadata name {name!r} is reserved for storeroom")
        attributes[name] = value
    if content_type is not None:
        attributes["Content-Type"] = content_type
    return attributes


def _meta(path: str, native_meta: NativeMeta, attributes: Attributes | None = None) -> ObjectMeta:
    attributes = attributes or {}
    return ObjectMeta(
        path=path,
        size=native_meta["size"],
        modified=native_meta["last_modified"],
        etag=normalize_etag(native_meta["e_tag"]),
        content_type=attributes.get("Content-Type"),
        metadata={
            k: v for k, v in attributes.items() if k not in _STANDARD_ATTRIBUTES and k != WRITE_TAG
        },
        version=_version(native_meta["version"]),
    )


class ObjectStoreProvider(Provider):
    """A provider on one obstore store (the store's own prefix scopes every key).

    Subclasses build the store from their typed config; this class does the rest.

    Args:
        make_store: builds the obstore store given ``prefix``, ``client_options``
            and ``retry_config`` (called here, so its errors are mapped like any other).
        url: the provider's URL without options, for ``repr`` and errors.
        prefix: the folder that scopes every key (``""``: none).
        endpoint: the server's URL, if not the cloud's own.
        secrets: credential values to scrub from native error text.
        conditional: the server makes conditional puts atomic (else they are
            checked before writing, and ``capabilities`` says so).
        conditional_note: why they are not atomic, when they are not.
        transport: HTTP, retry and multipart settings.

    Raises:
        ConfigurationError: the store cannot be built from these settings.
    """

    def __init__(
        self,
        make_store: Callable[..., NativeStore],
        *,
        url: str,
        prefix: str,
        endpoint: str | None,
        secrets: Sequence[str | None],
        conditional: bool,
        transport: TransportOptions,
        conditional_note: str = "",
    ) -> None:
        if endpoint is not None:
            check_endpoint(endpoint)
        self._description = mask(url + (f"?endpoint={endpoint}" if endpoint else ""))
        self._secrets = tuple(s for s in secrets if s)
        self.capabilities = Capabilities(
            create_if_absent=conditional,
            compare_and_swap=conditional,
            atomic_rename=False,
            empty_folders=True,
            metadata=True,
            multipart=True,
            notes="" if conditional else conditional_note,
        )
        self.transport = transport
        with self._mapped("configure", None):
            self._store = make_store(
                prefix=prefix or None,
                client_options=transport.client_config(),
                retry_config=transport.retry_config(),
            )
            # Conditional puts are retried here (see put), so their store does not retry.
            self._store_once = make_store(
                prefix=prefix or None,
                client_options=transport.client_config(),
                retry_config={**transport.retry_config(), "max_retries": 0},
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._description!r})"

    # -- the one error boundary ---------------------------------------------------

    @contextmanager
    def _mapped(self, op: str, path: str | None) -> Iterator[None]:
        """Map native errors raised inside the block (the only place that does)."""
        try:
            yield
        except Exception as exc:
            if not is_native(exc):
                raise
            where = f"{op} {path!r}" if path else op
            raise storage_error(
                exc, f"{where} on {self._description}", path=path,
                secrets=self._secrets, configuring=op == "configure",
            ) from exc  # fmt: skip

    # -- reads ----------------------------------------------------------------------

    async def get(self, path: str) -> GetResult:
        key = paths.validate_key(path)
        for _ in range(_WHOLE_READ_ATTEMPTS):
            try:
                with self._mapped("get", key):
                    result = await obstore.get_async(self._store, key)
                    data = await result.bytes_async()
            except StorageError as exc:
                # A body cut short is resumed with a range request; if the object was
                # replaced by a shorter one meanwhile, that range is unsatisfiable (416).
                # Read the new object whole instead of failing.
                if not _resume_missed(exc):
                    raise
                continue
            return GetResult(bytes(data), _meta(key, result.meta, result.attributes))
        raise BackendUnavailable(
            f"get {key!r} on {self._description}: the object kept changing while it was read",
            path=key,
        )

    async def head(self, path: str) -> ObjectMeta:
        key = paths.validate_key(path)
        return (await self._head(key))[0]

    async def _head(self, key: str) -> tuple[ObjectMeta, Attributes]:
        with self._mapped("head", key):
            result = await obstore.get_async(self._store, key, options={"head": True})
        return _meta(key, result.meta, result.attributes), result.attributes

    async def read_range(self, path: str, start: int, end: int | None = None) -> bytes:
        check_range(start, end)
        key = paths.validate_key(path)
        if end == start:
            await self.head(key)
            return b""
        try:
            with self._mapped("read_range", key):
                if end is None:
                    # No range header for the whole object: Azure mangles "bytes=0-" of b"".
                    options: GetOptions = {"range": {"offset": start}} if start else {}
                    result = await obstore.get_async(self._store, key, options=options)
                    return bytes(await result.bytes_async())
                return bytes(await obstore.get_range_async(self._store, key, start=start, end=end))
        except StorageError as exc:
            # 416: the object exists but starts before ``start`` ends: nothing to read.
            if _resume_missed(exc):
                return b""
            raise

    async def stream(self, path: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of at most ``chunk_size``, from one streamed GET."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        key = paths.validate_key(path)
        with self._mapped("stream", key):
            result = await obstore.get_async(self._store, key)
            pending = b""
            async for piece in result.stream(min_chunk_size=chunk_size):
                pending = pending + piece if pending else piece
                while len(pending) >= chunk_size:
                    yield pending[:chunk_size]
                    pending = pending[chunk_size:]
            if pending:
                yield pending

    async def sign_url(self, path: str, *, expires_in: float) -> str:
        """A URL that reads the object with a plain GET for ``expires_in`` seconds, no
        credentials needed (a pre-signed URL / SAS); it carries a signature, so treat it as
        a secret until it expires.

        Raises:
            NotSupported: the store's credentials cannot sign (anonymous, some tokens).
        """
        key = paths.validate_key(path)
        if expires_in <= 0:
            raise ValueError("expires_in must be positive")
        with self._mapped("sign", key):
            return await obstore.sign_async(
                self._store, "GET", key, timedelta(seconds=expires_in)
            )

    # -- writes -----------------------------------------------------------------------

    async def _native_mode(self, key: str, mode: PutMode) -> NativePutMode:
        """obstore's put mode for ``mode`` (GCS overrides it: it matches generations)."""
        if mode == "overwrite" or mode == "create":
            return mode
        if isinstance(mode, IfMatch):
            return {"e_tag": mode.etag}
        raise ValueError(f"unknown put mode {mode!r}")

    async def _check_mode(self, key: str, mode: PutMode) -> None:
        """Check ``mode`` before writing where the backend cannot (not atomic)."""
        if mode == "create" and not self.capabilities.create_if_absent:
            if await self.exists(key):
                raise AlreadyExists(f"an object exists at {key!r}", path=key)
        elif isinstance(mode, IfMatch) and not self.capabilities.compare_and_swap:
            try:
                current = await self.head(key)
            except NotFound:
                current = None
            if current is None or current.etag != normalize_etag(mode.etag):
                raise PreconditionFailed(f"etag of {key!r} is not {mode.etag!r}", path=key)

    async def put(
        self,
        path: str,
        data: bytes,
        *,
        mode: PutMode = "overwrite",
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        key = paths.validate_key(path)
        attributes = _attributes(content_type, metadata)
        await self._check_mode(key, mode)
        native_mode = await self._native_mode(key, mode)
        try:
            if mode == "overwrite":
                with self._mapped("put", key):
                    result = await obstore.put_async(
                        self._store, key, data, attributes=attributes,
                        # Large overwrites go up in parallel parts; conditional puts cannot.
                        use_multipart=len(data) > self.transport.multipart_threshold,
                        chunk_size=self.transport.part_size,
                        max_concurrency=self.transport.multipart_concurrency,
                    )  # fmt: skip
                etag, version = result["e_tag"], result["version"]
            else:
                etag, version = await self._put_conditional(key, data, native_mode, attributes)
        except NotFound as exc:
            if isinstance(mode, IfMatch):  # S3 answers 404 to If-Match on a missing key
                raise PreconditionFailed(f"no object at {key!r} to match", path=key) from exc
            raise
        return ObjectMeta(
            path=key,
            size=len(data),
            modified=datetime.now(timezone.utc),
            etag=normalize_etag(etag),
            content_type=content_type,
            metadata=dict(metadata or {}),
            version=_version(version),
        )

    async def _put_conditional(
        self, key: str, data: bytes, mode: NativePutMode, attributes: Attributes
    ) -> tuple[str | None, str | None]:
        """A create or compare-and-swap put, retried here with bounded backoff.

        A try may land and still fail (a connection reset before the answer);
        its retry then meets its own write and is refused. Each put carries a
        unique id in hidden metadata, so a refusal after such a try is checked:
        if the object holds this put's id, the put succeeded. The etag and
        version of the stored object are returned.
        """
        write_id = uuid.uuid4().hex
        tagged: Attributes = {**attributes, WRITE_TAG: write_id}
        delays = self.transport.backoff().delays()
        uncertain = False  # an earlier try may have landed
        while True:
            try:
                with self._mapped("put", key):
                    result = await obstore.put_async(
                        self._store_once, key, data, mode=mode, attributes=tagged,
                        use_multipart=False,
                    )  # fmt: skip
                return result["e_tag"], result["version"]
            except BackendUnavailable:
                delay = next(delays, None)
                if delay is None:
                    raise
                uncertain = True
                await asyncio.sleep(delay)
            except (AlreadyExists, PreconditionFailed, NotFound):
                landed = await self._written_by(key, write_id) if uncertain else None
                if landed is None:
                    raise
                return landed.etag, landed.version

    async def _written_by(self, key: str, write_id: str) -> ObjectMeta | None:
        """The object at ``key`` if the put with ``write_id`` stored it, else None."""
        try:
            meta, stored = await self._head(key)
        except NotFound:
            return None
        return meta if stored.get(WRITE_TAG) == write_id else None

    async def write_stream(
        self,
        path: str,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        """Store the chunks whole or not at all: one put if small, else a multipart upload.

        A failed multipart upload (a chunk iterator that raises, a part that
        keeps failing) is aborted, so no parts are left behind on S3.
        """
        key = paths.validate_key(path)
        attributes = _attributes(content_type, metadata)
        part_size = self.transport.part_size
        source = _aiter(chunks)
        first = bytearray()
        async for chunk in source:
            first += chunk
            if len(first) >= part_size:
                break
        else:
            return await self.put(key, bytes(first), content_type=content_type, metadata=metadata)
        total = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal total
            total += len(first)
            yield bytes(first)
            first.clear()
            async for chunk in source:
                total += len(chunk)
                yield chunk

        with self._mapped("write_stream", key):
            result = await obstore.put_async(
                self._store, key, counted(), attributes=attributes, use_multipart=True,
                chunk_size=part_size, max_concurrency=self.transport.multipart_concurrency,
            )  # fmt: skip
        return ObjectMeta(
            path=key,
            size=total,
            modified=datetime.now(timezone.utc),
            etag=normalize_etag(result["e_tag"]),
            content_type=content_type,
            metadata=dict(metadata or {}),
            version=_version(result["version"]),
        )

    async def delete(self, path: str) -> None:
        key = paths.validate_key(path)
        try:
            with self._mapped("delete", key):
                await obstore.delete_async(self._store, key)
        except NotFound:
            return  # Azure answers 404; a missing key is not an error

    async def copy(self, src: str, dst: str, *, overwrite: bool = True) -> None:
        src_key, dst_key = paths.validate_key(src), paths.validate_key(dst)
        if src_key == dst_key:
            await self.head(src_key)
            if not overwrite:
                raise AlreadyExists(f"an object exists at {dst_key!r}", path=dst_key)
            return
        if not overwrite and not self.capabilities.create_if_absent:
            await self.head(src_key)  # a missing source is NotFound first, as elsewhere
            await self._check_mode(dst_key, "create")  # the server would not refuse
        try:
            with self._mapped("copy", src_key):
                await obstore.copy_async(self._store, src_key, dst_key, overwrite=overwrite)
        except NotSupported:
            # S3 has no copy-if-absent: copy through a create-if-absent put instead.
            source = await self.get(src_key)
            await self.put(
                dst_key, source.data, mode="create",
                content_type=source.meta.content_type, metadata=source.meta.metadata,
            )  # fmt: skip
        except AlreadyExists as exc:
            raise AlreadyExists(f"an object exists at {dst_key!r}", path=dst_key) from exc

    async def makedirs(self, path: str) -> None:
        key = paths.validate_key(path)
        marker = f"{key}/{FOLDER_MARKER}"
        with self._mapped("makedirs", key):
            await obstore.put_async(self._store, marker, b"", use_multipart=False)

    async def aclose(self) -> None:
        """Let obstore's runtime threads finish with the last request before returning.

        obstore completes an awaited call and then drops its Python references
        on a runtime thread; if the interpreter exits at that moment, the
        thread cannot take the GIL and the process aborts. A short pause here
        (the GIL released) lets those threads finish, so ``async with`` then
        exit is safe.
        """
        await asyncio.sleep(_SETTLE_SECONDS)

    # -- listings -----------------------------------------------------------------------

    async def iter(self, prefix: str = "") -> AsyncIterator[ObjectMeta]:
        folder = paths.validate_prefix(prefix)
        with self._mapped("list", folder or None):
            pages = obstore.list(self._store, folder or None, chunk_size=1000)
            async for page in pages:
                for item in page:
                    if not _is_hidden(item["path"]):
                        yield _meta(item["path"], item)

    async def list_dir(self, prefix: str = "") -> Listing:
        folder = paths.validate_prefix(prefix)
        with self._mapped("list_dir", folder or None):
            result = await obstore.list_with_delimiter_async(self._store, folder or None)
        objects = (_meta(o["path"], o) for o in result["objects"] if not _is_hidden(o["path"]))
        return Listing(
            tuple(sorted(objects, key=lambda meta: meta.path)),
            tuple(sorted(p.rstrip("/") + "/" for p in result["common_prefixes"])),
        )

    async def is_dir(self, path: str) -> bool:
        """Whether anything (an object or a folder marker) is under ``path``: one listing page."""
        folder = paths.validate_prefix(path)
        with self._mapped("is_dir", folder or None):
            async for page in obstore.list(self._store, folder or None, chunk_size=1):
                if page:
                    return True
        return False


async def _aiter(chunks: AsyncIterable[bytes] | Iterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield bytes(chunk)
    else:
        for chunk in chunks:
            yield bytes(chunk)

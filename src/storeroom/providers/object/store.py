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
  same policy (:class:`~storeroom.retry.Backoff`); each stores in hidden user
  metadata (:data:`WRITE_TAG`) its own id and the ids of the writes it
  replaced (:mod:`.lineage`), so a retry that meets its own earlier,
  answered-but-lost write succeeds instead of being refused, even after
  another writer replaced it; when nobody can tell, ``OutcomeUnknown``.
- Folders made by ``makedirs`` are marked by an empty object named
  :data:`FOLDER_MARKER` inside them; markers are hidden from ``iter``,
  ``list`` and ``list_dir``'s objects but make the folder visible.
"""

from __future__ import annotations

import asyncio
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
from typing import TYPE_CHECKING, Any

import obstore

from ... import paths
from ...errors import (
    AlreadyExists,
    BackendUnavailable,
    ConfigurationError,
    FolderNotEmpty,
    InvalidPath,
    NotFound,
    NotSupported,
    OutcomeUnknown,
    PreconditionFailed,
)
from ...options import mask
from ..base import (
    Capabilities,
    GetResult,
    IfMatch,
    Listing,
    ObjectMeta,
    Provider,
    PutMode,
    SkippedKey,
)
from .config import TransportOptions, check_endpoint
from .errors import RangeNotSatisfiable, Throttled, is_native, storage_error
from .lineage import ORIGIN, WRITE_TAG, Chain, Lineage, chain_of, new_id, successor, verdict
from .rawlist import Listed, Page, RawLister

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
#: How long ``aclose`` lets obstore's runtime threads settle (see its docstring).
_SETTLE_SECONDS = 0.01
#: How many times ``get`` starts over when a resumed read finds the object replaced.
_WHOLE_READ_ATTEMPTS = 5


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
        credentials: where the credentials come from (for messages and ``doctor``).
        http_hint: the environment setting that also allows plain http, for the message.

    Attributes:
        credentials: where the credentials come from.
        endpoint: the server's URL, if not the cloud's own.

    Raises:
        ConfigurationError: the store cannot be built from these settings, or
            the endpoint is plain http without ``allow_http``.
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
        credentials: str = "",
        http_hint: str = "",
    ) -> None:
        self._description = mask(url + (f"?endpoint={endpoint}" if endpoint else ""))
        if endpoint is not None:
            check_endpoint(endpoint)
            if endpoint.lower().startswith("http://") and not transport.allow_http:
                also = f" (or set {http_hint})" if http_hint else ""
                raise ConfigurationError(
                    f"{self._description}: the endpoint is plain http; pass allow_http=true"
                    f"{also} to allow it, or use an https:// endpoint"
                )
        self.endpoint = endpoint
        self.credentials = credentials
        self._prefix = prefix
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
        self._lineage = Lineage()
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
                exc, f"{where} on {self._description}", path=path, secrets=self._secrets,
                configuring=op == "configure", credentials=self.credentials,
            ) from exc  # fmt: skip

    # -- reads ----------------------------------------------------------------------

    async def _get(self, key: str) -> GetResult:
        for _ in range(_WHOLE_READ_ATTEMPTS):
            try:
                with self._mapped("get", key):
                    result = await obstore.get_async(self._store, key)
                    data = await result.bytes_async()
                self._saw(key, result.meta, result.attributes)
            except RangeNotSatisfiable:
                # A body cut short is resumed with a range request; if the object was
                # replaced by a shorter one meanwhile, that range is unsatisfiable (416).
                # Read the new object whole instead of failing.
                continue
            return GetResult(bytes(data), _meta(key, result.meta, result.attributes))
        raise BackendUnavailable(
            f"get {key!r} on {self._description}: the object kept changing while it was read",
            path=key,
        )

    async def _head(self, key: str) -> ObjectMeta:
        return (await self._head_attributes(key))[0]

    async def _head_attributes(self, key: str) -> tuple[ObjectMeta, Attributes]:
        with self._mapped("head", key):
            result = await obstore.get_async(self._store, key, options={"head": True})
        self._saw(key, result.meta, result.attributes)
        return _meta(key, result.meta, result.attributes), result.attributes

    def _saw(self, key: str, native_meta: NativeMeta, attributes: Attributes) -> None:
        """Remember the write chain of what a read found (see :mod:`.lineage`)."""
        self._lineage.saw(key, normalize_etag(native_meta["e_tag"]), chain_of(attributes))

    async def _read_range(self, key: str, start: int, end: int | None) -> bytes:
        return bytes(await self._ranged(key, start, end))

    async def _read_range_view(self, key: str, start: int, end: int | None) -> memoryview:
        return memoryview(await self._ranged(key, start, end))  # obstore's buffer: no copy

    async def _ranged(self, key: str, start: int, end: int | None) -> obstore.Bytes | bytes:
        """Bytes ``[start, end)`` in the buffer obstore received them in."""
        if end == start:
            await self._head(key)
            return b""
        for _ in range(_WHOLE_READ_ATTEMPTS):
            try:
                with self._mapped("read_range", key):
                    if end is None:
                        # No range header for the whole object: Azure mangles "bytes=0-" of b"".
                        options: GetOptions = {"range": {"offset": start}} if start else {}
                        result = await obstore.get_async(self._store, key, options=options)
                        return await result.bytes_async()
                    return await obstore.get_range_async(self._store, key, start=start, end=end)
            except RangeNotSatisfiable:
                # 416: the object ends before ``start`` (nothing to read), or obstore
                # resumed a body cut short after its last byte: then read again.
                if start >= (await self._head(key)).size:
                    return b""
        raise BackendUnavailable(
            f"read_range {key!r} on {self._description}: the object kept changing while it "
            "was read", path=key,
        )  # fmt: skip

    async def _stream(self, key: str, chunk_size: int) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of at most ``chunk_size``, from one streamed GET."""
        received, size = 0, -1
        pending = b""
        try:
            with self._mapped("stream", key):
                result = await obstore.get_async(self._store, key)
                size = result.meta["size"]
                async for piece in result.stream(min_chunk_size=chunk_size):
                    received += len(piece)
                    pending = pending + piece if pending else piece
                    while len(pending) >= chunk_size:
                        yield pending[:chunk_size]
                        pending = pending[chunk_size:]
        except RangeNotSatisfiable:
            # obstore resumes a body cut short with a range from the bytes received;
            # cut after the last byte, that range is empty and the server answers 416.
            if received != size:
                raise
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

    async def _put(
        self,
        key: str,
        data: bytes,
        mode: PutMode,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
    ) -> ObjectMeta:
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
                replaced = (
                    self._lineage.of(key, normalize_etag(mode.etag) or "")
                    if isinstance(mode, IfMatch)
                    else (ORIGIN,)
                )
                etag, version = await self._put_conditional(
                    key, data, native_mode, attributes, replaced
                )
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
        self,
        key: str,
        data: bytes,
        mode: NativePutMode,
        attributes: Attributes,
        replaced: Chain,
    ) -> tuple[str | None, str | None]:
        """A create or compare-and-swap put, retried here with bounded backoff.

        A try may land and still fail (a connection reset before the answer);
        its retry is then refused. Each put stores its chain (its id and the
        ids of the writes it replaced, ``replaced`` first: :mod:`.lineage`), so
        a refusal after such a try is judged by the chain stored now: the
        put's id means it landed (the stored object's etag and version are
        returned, or ``None`` if another writer has replaced it since).

        Raises:
            OutcomeUnknown: a try may have landed and the stored chain cannot tell.
        """
        write_id = new_id()
        tagged: Attributes = {**attributes, WRITE_TAG: successor(write_id, replaced)}
        delays = self.transport.backoff().delays()
        uncertain = False  # an earlier try may have landed
        while True:
            try:
                with self._mapped("put", key):
                    result = await obstore.put_async(
                        self._store_once, key, data, mode=mode, attributes=tagged,
                        use_multipart=False,
                    )  # fmt: skip
            except BackendUnavailable as exc:
                delay = next(delays, None)
                if delay is None:
                    raise
                # A throttled try was not applied; any other failure may have been.
                uncertain = uncertain or not isinstance(exc, Throttled)
                await asyncio.sleep(delay)
                continue
            except (AlreadyExists, PreconditionFailed, NotFound):
                if not uncertain:
                    raise
                return await self._judge(key, write_id, replaced)
            etag = normalize_etag(result["e_tag"])
            self._lineage.saw(key, etag, chain_of(tagged))
            return etag, result["version"]

    async def _judge(
        self, key: str, write_id: str, replaced: Chain
    ) -> tuple[str | None, str | None]:
        """After a refused retry: the etag and version of the put if it landed.

        Raises:
            AlreadyExists, PreconditionFailed: it certainly did not land.
            OutcomeUnknown: nobody can tell.
        """
        try:
            meta, stored = await self._head_attributes(key)
        except NotFound:
            meta, stored = None, None
        landed = verdict(write_id, replaced, chain_of(stored) if meta is not None else None)
        if landed is None:
            raise self._unknown(key)
        if not landed:
            if replaced == (ORIGIN,):
                raise AlreadyExists(f"an object exists at {key!r}", path=key)
            raise PreconditionFailed(f"{key!r} was replaced by another writer", path=key)
        assert meta is not None
        mine = chain_of(stored)[0] == write_id
        return (meta.etag, meta.version) if mine else (None, None)

    def _unknown(self, key: str) -> OutcomeUnknown:
        return OutcomeUnknown(
            f"put {key!r} on {self._description}: the server's answer was lost and whether "
            "the write landed cannot be known; read the object to see before writing again",
            path=key,
        )

    async def _write_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        content_type: str | None,
        metadata: Mapping[str, str] | None,
    ) -> ObjectMeta:
        """Store the chunks whole or not at all: one put if small, else a multipart upload.

        A failed multipart upload (a chunk iterator that raises, a part that
        keeps failing) is aborted, so no parts are left behind on S3.
        """
        attributes = _attributes(content_type, metadata)
        part_size = self.transport.part_size
        source = _aiter(chunks)
        first = bytearray()
        async for chunk in source:
            first += chunk
            if len(first) >= part_size:
                break
        else:
            return await self._put(key, bytes(first), "overwrite", content_type, metadata)
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

    async def _delete(self, key: str) -> None:
        try:
            with self._mapped("delete", key):
                await obstore.delete_async(self._store, key)
        except NotFound:
            return  # Azure answers 404; a missing key is not an error

    async def _copy(self, src_key: str, dst_key: str, overwrite: bool) -> None:
        if not overwrite and not self.capabilities.create_if_absent:
            await self._head(src_key)  # a missing source is NotFound first, as elsewhere
            await self._check_mode(dst_key, "create")  # the server would not refuse
        try:
            with self._mapped("copy", src_key):
                await obstore.copy_async(self._store, src_key, dst_key, overwrite=overwrite)
        except NotSupported:
            # S3 has no copy-if-absent: copy through a create-if-absent put instead.
            source = await self._get(src_key)
            await self._put(
                dst_key, source.data, "create", source.meta.content_type, source.meta.metadata
            )
        except AlreadyExists as exc:
            raise AlreadyExists(f"an object exists at {dst_key!r}", path=dst_key) from exc

    async def _makedirs(self, key: str) -> None:
        # Every level gets its marker, as every level of a local folder exists.
        while key:
            with self._mapped("makedirs", key):
                marker = f"{key}/{FOLDER_MARKER}"
                await obstore.put_async(self._store, marker, b"", use_multipart=False)
            key = paths.parent(key).rstrip("/")

    async def _remove_folder(self, key: str) -> None:
        """Delete the folder's marker if it is all the folder holds."""
        folder = key + "/"
        first: list[str] = []
        try:
            with self._mapped("remove_folder", key):
                async for page in obstore.list(self._store, folder, chunk_size=2):
                    first += (item["path"] for item in page)
                    if len(first) >= 2:
                        break
        except InvalidPath as refused:  # a key obstore cannot parse is there
            raise FolderNotEmpty(f"the folder {key!r} is not empty", path=key) from refused
        if not first:
            raise NotFound(f"no folder at {key!r}", path=key)
        if first != [folder + FOLDER_MARKER]:
            raise FolderNotEmpty(f"the folder {key!r} is not empty", path=key)
        await self._delete(folder + FOLDER_MARKER)

    async def probe_preconditions(self, key: str) -> tuple[bool, bool]:
        """Whether the server itself honours create-if-absent and compare-and-swap.

        For ``storeroom doctor``: writes ``key`` (a scratch key, deleted after)
        with the server's own conditional puts, bypassing the checks this
        provider makes before writing where ``capabilities`` say the server
        cannot. Returns ``(create_holds, swap_holds)``: a second create was
        refused; a put on an etag replaced meanwhile was refused.
        """
        key = paths.validate_key(key)
        try:
            with self._mapped("put", key):
                await obstore.put_async(self._store_once, key, b"1", mode="create")
            current = await self.head(key)
            try:
                with self._mapped("put", key):
                    await obstore.put_async(self._store_once, key, b"2", mode="create")
                create_holds = False
            except AlreadyExists:
                create_holds = True
            current = await self.head(key)
            stale = await self._native_mode(key, IfMatch(current.etag or ""))
            await self.put(key, b"3-replaced")
            try:
                with self._mapped("put", key):
                    await obstore.put_async(self._store_once, key, b"4", mode=stale)
                swap_holds = False
            except (PreconditionFailed, NotFound):
                swap_holds = True
        finally:
            await self.delete(key)
        return create_holds, swap_holds

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

    async def _iter(self, folder: str) -> AsyncIterator[ObjectMeta | SkippedKey]:
        last = ""
        try:
            with self._mapped("list", folder or None):
                pages = obstore.list(self._store, folder or None, chunk_size=1000)
                async for page in pages:
                    for item in page:
                        last = item["path"]
                        if not _is_hidden(last):
                            yield _meta(last, item)
        except InvalidPath as refused:
            # A key obstore cannot parse failed the page: list on without obstore,
            # after the last key already yielded (both list in key order).
            async for page in self._raw_pages(folder, refused, delimiter=False):
                for listed in page.objects:
                    if listed.key > last and not _is_hidden(listed.key):
                        yield _raw_meta(listed)

    async def _list_dir(self, folder: str) -> Listing:
        try:
            with self._mapped("list_dir", folder or None):
                result = await obstore.list_with_delimiter_async(self._store, folder or None)
        except InvalidPath as refused:
            objects: list[ObjectMeta] = []
            folders: list[str] = []
            async for page in self._raw_pages(folder, refused, delimiter=True):
                objects += (_raw_meta(item) for item in page.objects if not _is_hidden(item.key))
                folders += page.prefixes  # as listed: "a//" stays a name of its own
            objects.sort(key=lambda meta: meta.path)
            return Listing(tuple(objects), tuple(sorted(folders)))
        native = (_meta(o["path"], o) for o in result["objects"] if not _is_hidden(o["path"]))
        return Listing(
            tuple(sorted(native, key=lambda meta: meta.path)),
            tuple(sorted(p.rstrip("/") + "/" for p in result["common_prefixes"])),
        )

    async def _is_dir(self, folder: str) -> bool:
        """Whether anything (an object or a folder marker) is under ``folder``: one listing page."""
        try:
            with self._mapped("is_dir", folder or None):
                async for page in obstore.list(self._store, folder or None, chunk_size=1):
                    if page:
                        return True
        except InvalidPath:
            return True  # a key obstore cannot parse is there
        return False

    def _raw_lister(self) -> RawLister | str:
        """A listing that keeps the keys obstore refuses, or why these credentials cannot make one.

        Subclasses build it from their config; :meth:`_raw_settings` gives the shared settings.
        """
        return "this store has no listing of its own"

    def _unsignable(self) -> str:
        """Why :meth:`_raw_lister` has no lister: these credentials only obstore can use."""
        return f"credentials from {self.credentials} are only known to obstore"

    def _raw_settings(self) -> dict[str, Any]:
        return {
            "prefix": self._prefix,
            "description": self._description,
            "timeout": self.transport.timeout,
            "backoff": self.transport.backoff(),
        }

    async def _raw_pages(
        self, folder: str, refused: InvalidPath, *, delimiter: bool
    ) -> AsyncIterator[Page]:
        lister = self._raw_lister()
        if isinstance(lister, str):
            raise InvalidPath(
                f"{refused} (a key there is not a path obstore can parse, and listing it "
                f"without obstore needs credentials this process can sign with: {lister})",
                path=refused.path,
            ) from refused
        async for page in lister.pages(folder, delimiter=delimiter):
            yield page


def _raw_meta(listed: Listed) -> ObjectMeta:
    return ObjectMeta(
        path=listed.key, size=listed.size, modified=listed.modified,
        etag=normalize_etag(listed.etag), version=_version(listed.version),
    )  # fmt: skip


async def _aiter(chunks: AsyncIterable[bytes] | Iterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield bytes(chunk)
    else:
        for chunk in chunks:
            yield bytes(chunk)

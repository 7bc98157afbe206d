"""ArtifactStore: the seed's ArtifactStorage with real versioning on any provider.

No lock anywhere: a version is stored by conditional writes alone, as named
steps in ``writer.py`` (hash, place the content, claim a number, withdraw a
void manifest, guard the blob against a concurrent gc); a small store is two
provider writes. Every other mutation (aliases, deletion, retention) is one
``Heads.update`` with a change computed from a fresh view of the head, so each
public mutation method is one step, with an obvious place for what must
follow it.

Deleting marks numbers deleted in the head (one compare-and-swap); numbers
below the head's ``floor`` are gone for good and never allocated again.

Reads resolve a version argument in one place (``View.number_of``) and check
every content against its sha256. The store is also a ``StorageBackend``, as
vibex declares it: ``exists``, ``get_info`` and ``list_directory`` answer about
artifacts by name, folders being the ``/``-separated prefixes of names.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ..concurrency import map_limited
from ..errors import (
    IntegrityError,
    InvalidPath,
    NotFound,
    NotSupported,
    StorageError,
)
from ..filestore import INVALID_ARGUMENT, failure, folder_info
from ..interfaces import ArtifactStorage, FileInfo, StorageResult
from ..providers.base import DEFAULT_CHUNK_SIZE, Provider, check_range
from ..resource import AsyncResource
from . import gc as gc_module
from .heads import Heads, View
from .layout import (
    HEADS,
    blob_key,
    check_alias,
    manifest_key,
    manifests_prefix,
    name_from_head_key,
    name_prefix,
    number_from_manifest_key,
    trash_key,
    validate_name,
    version_id,
)
from .records import ArtifactVersion, Head, iso, listing_entry, prepare_content
from .writer import Draft, write_version

if TYPE_CHECKING:
    from ..catalog import FindPage, Index, Link, RebuildReport
    from ..catalog.lineage import InputRef

__all__ = ["INVALID_ARGUMENT", "ArtifactStore"]


def _folder(path: str) -> str:
    """A folder argument as a name prefix: ``"."``, ``"./"`` and ``""`` are the top."""
    if not isinstance(path, str):
        raise InvalidPath(f"a path is a str, not {type(path).__name__}")
    while path.startswith("./"):
        path = path[2:]
    return "" if path in ("", ".") else path.rstrip("/")


def _file_info(entry: dict[str, Any]) -> FileInfo:
    """An artifact's ``list_artifacts`` entry as the seed's ``FileInfo``."""
    return FileInfo(
        path=str(entry["name"]),
        size=int(entry["size"]),
        created_at=datetime.fromisoformat(entry["created_at"]),
        modified_at=datetime.fromisoformat(entry["updated_at"]),
        content_type=str(entry["content_type"]),
        metadata=entry,
    )


class ArtifactStore(ArtifactStorage, AsyncResource):
    """Versioned artifacts on any provider, safe with many writers on many machines.

    Versions are ``"v1"``, ``"v2"``, ...; ``version`` arguments also take ``"3"``,
    ``"latest"`` or a user alias. Text is content stored as ``str`` or as bytes
    that are valid UTF-8: ``get_artifact`` returns it as ``str`` and, as vibex's
    stores do, ``None`` for a missing artifact, version or alias and for binary
    content, which ``get_artifact_bytes`` reads. Every read is checked against
    the recorded sha256.

    Content of at most ``inline_limit`` bytes is kept in its version's manifest;
    larger content in a blob shared by every version with the same sha256. The
    store remembers the last head it read or wrote per artifact (an LRU), so a
    process storing versions of an artifact does not read its head each time;
    the numbers rest on the conditional writes alone, never on that memory.

    Args:
        provider: where the blobs, manifests and heads are kept.
        gc_grace: seconds a new blob is safe from :meth:`gc` although no
            manifest references it yet. Every process writing to the same
            store must use the same value (or a smaller one than the gc's).
        allow_unsafe_writes: write even if the provider cannot create-if-absent
            or compare-and-swap atomically; concurrent writers may then lose
            versions. Off by default: such writes fail with ``NotSupported``.
        concurrency: requests in flight at once in ``list_artifacts`` and ``gc``.
        inline_limit: content of at most this many bytes is kept in the version's
            manifest instead of a blob (never deduplicated, never collected by
            ``gc``); ``0`` stores every content as a blob.
        index: a catalog index (``"sqlite:///catalog.db"``, ``"postgresql://..."`` or an
            :class:`~storeroom.catalog.Index`) told of every change after the store is
            written; ``find`` and ``list_artifacts`` use it. ``None``: they scan.
        owns_provider: close ``provider`` in :meth:`aclose` (``True`` when this
            store opened it, as :func:`storeroom.artifacts` does); a provider
            handed in by its owner is left open for that owner to close.
    """

    def __init__(
        self,
        provider: Provider,
        *,
        gc_grace: float = 3600.0,
        allow_unsafe_writes: bool = False,
        concurrency: int = 32,
        inline_limit: int = 4096,
        index: Index | str | None = None,
        owns_provider: bool = False,
    ) -> None:
        if gc_grace < 0:
            raise ValueError("gc_grace must be >= 0")
        if inline_limit < 0:
            raise ValueError("inline_limit must be >= 0")
        self.provider = provider
        self.gc_grace = gc_grace
        self.allow_unsafe_writes = allow_unsafe_writes
        self.concurrency = concurrency
        self.inline_limit = inline_limit
        self.owns_provider = owns_provider
        self._heads = Heads(provider)
        self.index: Index | None = None
        if index is not None:
            from ..catalog import open_index

            self.index = open_index(index)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.provider!r})"

    async def aclose(self) -> None:
        """Close the index, and the provider if this store opened it (see ``owns_provider``)."""
        if self.index is not None:
            await self.index.aclose()
        if self.owns_provider:
            await self.provider.aclose()

    def _check_writable(self) -> None:
        caps = self.provider.capabilities
        if not (caps.create_if_absent and caps.compare_and_swap) and not self.allow_unsafe_writes:
            raise NotSupported(
                f"{self.provider!r} cannot create-if-absent and compare-and-swap atomically, "
                "so concurrent writers could lose versions; pass allow_unsafe_writes=True "
                "if only one writer ever uses this store"
            )

    # -- writing ---------------------------------------------------------------

    async def store_artifact(
        self,
        name: str,
        content: str | bytes,
        content_type: str = "text/plain",
        metadata: dict[str, Any] | None = None,
        commit_message: str | None = None,
        *,
        inputs: Iterable[InputRef] | None = None,
    ) -> StorageResult:
        """Store a new version of ``name``.

        ``commit_message`` (vibex's fifth argument) says what changed; it is
        kept with the version (``ArtifactVersion.message``, the ``message`` of
        ``list_artifacts`` and ``get_info``) and shown by ``storeroom artifacts
        versions``.

        ``inputs`` (lineage): the versions this one was made from, each
        ``"name"`` (its latest), ``"name@v3"`` or ``("name", "v3" | alias)``;
        resolved to version numbers now and recorded in the manifest. One that
        does not exist fails the store (``metadata["code"] == "not_found"``).

        Returns:
            ``StorageResult(success=True, path=name, size=..., data={"version",
            "sha256", "deduplicated"})``; on failure ``success=False`` with the
            error's code in ``metadata["code"]`` (``"invalid_argument"`` for
            content, metadata or a message that cannot be stored).
        """
        try:
            data, encoding, clean = prepare_content(content, content_type, metadata, commit_message)
        except (TypeError, ValueError) as exc:
            return failure(exc, name)
        try:
            resolved = await self._resolve_inputs(inputs)
            version, deduplicated = await self._store(
                name, data, encoding, content_type, clean, commit_message, resolved
            )
        except (StorageError, TypeError) as exc:  # TypeError: a malformed input reference
            return failure(exc, name)
        await self._tell(version)
        return StorageResult(
            success=True,
            path=name,
            size=version.size,
            data={
                "version": version.version,
                "sha256": version.sha256,
                "deduplicated": deduplicated,
            },
            metadata={"created_at": iso(version.created)},
        )

    async def _store(
        self,
        name: str,
        data: bytes,
        encoding: str | None,
        content_type: str,
        metadata: dict[str, Any],
        message: str | None,
        inputs: tuple[tuple[str, int], ...] = (),
    ) -> tuple[ArtifactVersion, bool]:
        """Store one version (see ``writer.py``); ``(version, deduplicated)``."""
        self._check_writable()
        validate_name(name)
        draft = Draft(name, data, encoding, content_type, metadata, message, inputs)
        return await write_version(
            self._heads, draft, inline_limit=self.inline_limit, gc_grace=self.gc_grace
        )

    # -- reading ---------------------------------------------------------------

    async def _resolve(self, name: str, version: str | None) -> ArtifactVersion:
        """The version of ``name`` that ``version`` names (``None``: the latest).

        One read of the head, then :meth:`View.number_of` decides; the latest
        comes with the head, any other version from its manifest. The latest is
        the newest version whose store completed (its head update landed); a
        version whose writer died between its manifest and its head update is
        readable by its id, and becomes the latest when the next change or
        ``gc`` brings the head up to it.

        Raises:
            NotFound: no such artifact, version or alias.
            InvalidPath: ``name`` is not a valid artifact name.
        """
        view = View(*await self._heads.read(validate_name(name)), probed=False)
        number = view.number_of(version)
        try:
            return await self._heads.version(view, number)
        except NotFound:
            raise NotFound(f"artifact {name!r} has no version v{number}", path=name) from None

    async def _read_content(self, version: ArtifactVersion) -> bytes:
        """The content of ``version``, from its manifest or its blob, checked against its sha256.

        Raises:
            IntegrityError: the content is missing or does not match.
        """
        if version.inline is not None:
            return version.verify(version.inline)
        key = blob_key(version.sha256)
        try:
            data = await self.provider.read(key)
        except NotFound:
            try:  # a running gc may have set it aside
                data = await self.provider.read(trash_key(version.sha256))
            except NotFound:
                raise IntegrityError(
                    f"the content of {version.name!r} {version.version} is missing ({key})",
                    path=key,
                ) from None
        return version.verify(data, key)

    async def get_version(self, name: str, version: str | None = None) -> ArtifactVersion:
        """The manifest of a version (``None`` or ``"latest"``: the newest).

        No content is read; small content comes with the manifest (``inline``),
        not yet checked against its sha256 (``get_artifact_bytes`` checks it).

        Raises:
            NotFound: no such artifact, version or alias.
        """
        return await self._resolve(name, version)

    async def get_artifact_bytes(self, name: str, version: str | None = None) -> bytes:
        """The content of a version, text or binary, checked against its sha256.

        Raises:
            NotFound: no such artifact, version or alias.
            IntegrityError: the stored bytes do not match the recorded hash.
        """
        return await self._read_content(await self._resolve(name, version))

    async def iter_content(
        self,
        version: ArtifactVersion,
        start: int = 0,
        end: int | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of a version's content in chunks, never all in memory.

        ``version`` comes from :meth:`get_version`. A whole read is checked
        against the sha256 as it streams, and the last chunk is held back until
        it matches: a consumer never receives all the bytes of wrong content.
        A partial read cannot be checked (its bytes are the stored blob's).

        Raises:
            IntegrityError: the content is missing, or (whole reads) does not match.
        """
        check_range(start, end)
        stop = version.size if end is None else min(end, version.size)
        if version.inline is not None:
            data = version.verify(version.inline, manifest_key(version.name, version.number))
            for offset in range(start, stop, chunk_size):
                yield data[offset : min(offset + chunk_size, stop)]
            return
        whole = start == 0 and stop == version.size
        digest = hashlib.sha256() if whole else None
        held: bytes | None = None
        hashing: asyncio.Future[None] | None = None
        offset = start
        try:
            for key in (blob_key(version.sha256), trash_key(version.sha256)):
                try:
                    async for chunk in self._blob_chunks(key, offset, stop, whole, chunk_size):
                        offset += len(chunk)
                        if digest is not None:
                            if hashing is not None:
                                await hashing
                            # hashed in a thread while the consumer handles the chunk before it
                            hashing = asyncio.ensure_future(
                                asyncio.to_thread(digest.update, chunk)
                            )
                        if held is not None:
                            yield held
                        held = chunk
                    break
                except NotFound:
                    if offset > start:  # removed while being read: not resumable elsewhere
                        break
                    # else a running gc may have set it aside: look in the trash
        except BaseException:  # the reader stopped early (or the read failed)
            if hashing is not None:
                hashing.cancel()
            raise
        if hashing is not None:
            await hashing
        if offset != stop or (digest is not None and digest.hexdigest() != version.sha256):
            raise IntegrityError(
                f"the content of {version.name!r} {version.version} is missing or does not "
                f"match its sha256 {version.sha256}",
                path=blob_key(version.sha256),
            )
        if held is not None:
            yield held

    async def _blob_chunks(
        self, key: str, start: int, stop: int, whole: bool, chunk_size: int
    ) -> AsyncIterator[bytes]:
        """A blob's bytes ``[start, stop)``: one streamed read when whole, else ranges."""
        if whole:
            async for chunk in self.provider.stream(key, chunk_size):
                yield chunk
            return
        for offset in range(start, stop, chunk_size):
            yield await self.provider.read_range(key, offset, min(offset + chunk_size, stop))

    async def _read_text(self, found: ArtifactVersion) -> str:
        if found.encoding is None:
            raise NotSupported(
                f"{found.name!r} {found.version} is binary ({found.content_type}); "
                "read it with get_artifact_bytes",
                path=found.name,
            )
        return (await self._read_content(found)).decode(found.encoding)

    async def get_artifact(self, name: str, version: str | None = None) -> str | None:
        """The text of a version: ``version`` is ``"v3"``, an alias, or ``None`` for the latest.

        Returns ``None``, as vibex's stores do, if there is no such artifact,
        version or alias (an invalid name included) and if the content is not
        text (read it with :meth:`get_artifact_bytes`).

        Raises:
            IntegrityError: the stored bytes do not match the recorded hash.
        """
        try:
            found = await self._resolve(name, version)
        except (NotFound, InvalidPath):
            return None
        if found.encoding is None:
            return None
        return await self._read_text(found)

    async def get_artifact_versions(self, name: str) -> list[str]:
        """Every live version id of ``name``, oldest first (``[]`` if there is none)."""
        validate_name(name)
        head, _ = await self._heads.read(name)
        numbers = []
        async for meta in self.provider.iter(manifests_prefix(name)):
            number = number_from_manifest_key(meta.path)
            if number is not None and head.is_live(number):
                numbers.append(number)
        return [version_id(n) for n in sorted(numbers)]

    async def list_artifacts(self, prefix: str = "") -> list[dict[str, Any]]:
        """One dict per artifact whose name starts with ``prefix``, sorted by name.

        Each has ``name``, ``version`` (the latest), ``versions`` (how many),
        ``size``, ``content_type``, ``sha256``, ``text``, ``created_at``,
        ``updated_at`` (ISO 8601), ``metadata`` (the latest's) and ``aliases``.
        One small head is read per artifact; no manifest and no content (with
        an index: one query instead, same answers).
        """
        if self.index is not None:
            from ..catalog import listing

            indexed = await listing(self, self.index, prefix)
            if indexed is not None:  # None: the index is being rebuilt
                return indexed
        folder, start = name_prefix(HEADS, prefix)
        keys = []
        async for meta in self.provider.iter(folder):
            name = name_from_head_key(meta.path)
            if name is not None and name.startswith(start):
                keys.append(meta.path)

        async def load(key: str) -> Head:
            return Head.from_json(await self.provider.read(key), key)

        heads = await map_limited(load, keys, self.concurrency)
        entries = [listing_entry(h, h.latest) for h in heads if h.latest is not None]
        return sorted(entries, key=lambda entry: str(entry["name"]))

    async def get_aliases(self, name: str) -> dict[str, str]:
        """Alias -> version id for ``name``, ``latest`` included.

        Raises:
            NotFound: no such artifact.
        """
        view = View(*await self._heads.read(validate_name(name)), probed=False)
        aliases = {"latest": version_id(view.number_of(None))}
        aliases.update((a, version_id(n)) for a, n in sorted(view.head.aliases.items()))
        return aliases

    async def diff(self, name: str, a: str, b: str, *, context: int = 3) -> str:
        """A unified diff from version ``a`` to version ``b`` (ids or aliases) of a text artifact.

        Raises:
            NotFound: no such artifact, version or alias.
            NotSupported: one of the versions is binary.
        """
        old, new = await asyncio.gather(self._resolve(name, a), self._resolve(name, b))
        return await self._diff(old, new, context)

    async def _diff(self, old: ArtifactVersion, new: ArtifactVersion, context: int) -> str:
        old_text, new_text = await asyncio.gather(self._read_text(old), self._read_text(new))
        lines = difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"{old.name}@{old.version}",
            tofile=f"{new.name}@{new.version}",
            n=context,
        )
        return "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in lines
        )

    async def get_artifact_diff(self, name: str, version1: str, version2: str) -> str | None:
        """vibex's diff call: :meth:`diff`, or ``None`` if the artifact or a version is missing.

        As ``git diff`` answers vibex: two binary versions give ``""`` if they
        are equal, else one line saying that they differ.

        Raises:
            IntegrityError: stored bytes do not match their recorded hash.
        """
        try:
            old, new = await asyncio.gather(
                self._resolve(name, version1), self._resolve(name, version2)
            )
        except (NotFound, InvalidPath):
            return None
        if old.encoding is None or new.encoding is None:
            if old.sha256 == new.sha256:
                return ""
            return f"Binary files {name}@{old.version} and {name}@{new.version} differ\n"
        return await self._diff(old, new, 3)

    # -- the StorageBackend view: artifacts by name, folders by prefix -----------

    async def exists(self, path: str) -> bool:
        """Whether ``path`` names an artifact with a live version, or a folder of them."""
        return await self.get_info(path) is not None

    async def get_info(self, path: str) -> FileInfo | None:
        """The artifact ``path`` as a file (its latest version), or a folder of artifacts.

        ``metadata`` holds the artifact's ``list_artifacts`` entry. ``None`` if
        there is neither (an invalid name included).
        """
        try:
            folder = _folder(path)
            if not folder:
                return folder_info("")
            head, _ = await self._heads.read(validate_name(folder))
        except InvalidPath:
            return None
        if head.latest is not None:
            return _file_info(listing_entry(head, head.latest))
        return folder_info(folder) if await self.list_artifacts(folder + "/") else None

    async def list_directory(self, path: str = ".") -> list[FileInfo]:
        """One level of artifact names under ``path``: folders first, then artifacts.

        Raises:
            InvalidPath: ``path`` is not a valid folder name.
        """
        folder = _folder(path)
        prefix = folder + "/" if folder else ""
        folders: set[str] = set()
        files: list[FileInfo] = []
        for entry in await self.list_artifacts(prefix):
            rest = str(entry["name"])[len(prefix) :]
            if "/" in rest:
                folders.add(prefix + rest.split("/", 1)[0])
            else:
                files.append(_file_info(entry))
        return [folder_info(f) for f in sorted(folders)] + files

    # -- aliases, deletion, retention --------------------------------------------

    async def set_alias(self, name: str, alias: str, version: str) -> str:
        """Point ``alias`` at ``version`` (an id, another alias or ``latest``); returns its id.

        Raises:
            InvalidPath: ``alias`` is not a valid alias name.
            NotFound: no such artifact or version.
            NotSupported: the provider cannot compare-and-swap.
        """
        check_alias(alias)
        self._check_writable()

        async def change(view: View) -> Head:
            number = view.number_of(version)
            return replace(view.head, aliases={**view.head.aliases, alias: number})

        _, updated = await self._heads.update(validate_name(name), change)
        assert updated is not None
        await self._tell(updated)
        return version_id(updated.aliases[alias])

    async def remove_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` from ``name``.

        Raises:
            NotFound: ``name`` has no such alias.
        """
        self._check_writable()

        async def change(view: View) -> Head:
            if alias not in view.head.aliases:
                raise NotFound(f"artifact {name!r} has no alias {alias!r}", path=name)
            aliases = {a: n for a, n in view.head.aliases.items() if a != alias}
            return replace(view.head, aliases=aliases)

        _, updated = await self._heads.update(validate_name(name), change)
        assert updated is not None
        await self._tell(updated)

    async def _delete(
        self, name: str, select: Callable[[View, list[int]], list[int]]
    ) -> list[str]:
        """Delete the live numbers ``select`` picks (one compare-and-swap), then compact."""
        self._check_writable()
        validate_name(name)

        async def change(view: View) -> Head:
            live = view.live_numbers()
            targets = set(select(view, live))
            remaining = [n for n in live if n not in targets]
            deleted = set(view.head.deleted) | targets
            floor = view.head.floor
            while floor + 1 in deleted:
                floor += 1
                deleted.discard(floor)
            return Head(
                name=name,
                allocated=view.top,
                floor=floor,
                deleted=frozenset(deleted),
                created=view.head.created or (view.above[0].created if view.above else None),
                latest=await self._heads.newest(view, remaining),
                aliases={a: n for a, n in view.head.aliases.items() if n not in targets},
            )

        before, after = await self._heads.update(name, change)
        assert after is not None
        await self._tell(after)
        # Manifests at or below the new floor are void: remove them (gc sweeps leftovers).
        void = [manifest_key(name, n) for n in range(before.head.floor + 1, after.floor + 1)]
        await map_limited(self.provider.delete, void, self.concurrency)
        gone = set(before.live_numbers()) - set(View(after, None).live_numbers())
        return [version_id(n) for n in sorted(gone)]

    async def delete_artifact(self, name: str, version: str | None = None) -> StorageResult:
        """Delete one version (``"v3"`` or an alias) or, without ``version``, every version.

        The latest moves back to the newest remaining version; aliases of deleted
        versions are removed; deleted numbers are never used again.

        Returns:
            ``StorageResult(success=True, path=name, data={"deleted": [...]})``, or
            ``success=False`` with ``metadata["code"]`` (``"not_found"``, ...).
        """

        def select(view: View, live: list[int]) -> list[int]:
            if not live:
                raise NotFound(f"no artifact {name!r}", path=name)
            return live if version is None else [view.number_of(version)]

        try:
            deleted = await self._delete(name, select)
        except StorageError as exc:
            return failure(exc, name)
        return StorageResult(success=True, path=name, data={"deleted": deleted})

    async def keep_last(self, name: str, count: int) -> list[str]:
        """Retention: delete all but the newest ``count`` versions; returns the deleted ids.

        Raises:
            ValueError: ``count`` < 1 (use ``delete_artifact`` to delete everything).
            TypeError: ``count`` is not an int.
            NotFound: no such artifact.
        """
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"keep_last needs an int count, not {type(count).__name__}")
        if count < 1:
            raise ValueError("keep_last needs count >= 1")

        def select(view: View, live: list[int]) -> list[int]:
            if not live:
                raise NotFound(f"no artifact {name!r}", path=name)
            return live[:-count]

        return await self._delete(name, select)

    async def gc(self) -> gc_module.GCReport:
        """Remove blobs no live version references, and void manifests; see ``gc.py``.

        Blobs younger than ``gc_grace`` stay. Run it from any one process at a
        time (a lease object enforces this); stores may run concurrently.

        Raises:
            AlreadyExists: another gc holds the lease.
        """
        self._check_writable()
        return await gc_module.collect(self._heads, self.gc_grace, self.concurrency)


    # -- catalog (the logic lives in storeroom.catalog) ------------------------------

    async def _tell(self, change: ArtifactVersion | Head) -> None:
        """Tell the index (if any) about a change already written to the store."""
        if self.index is not None:
            from ..catalog import tell

            await tell(self.index, change)

    async def _resolve_inputs(
        self, inputs: Iterable[InputRef] | None
    ) -> tuple[tuple[str, int], ...]:
        if not inputs:
            return ()
        from ..catalog import resolve_inputs

        return await resolve_inputs(self, inputs)

    async def find(
        self,
        filter: str = "",
        *,
        order_by: str | Sequence[str] | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> FindPage:
        """One page of the versions matching ``filter`` (see docs/catalog.md).

        ``filter`` is e.g. ``"name LIKE 'models/%' and metadata.stage = 'prod'"``
        (empty: every version); ``order_by`` e.g. ``["created desc"]`` (ties by
        name, version); pass ``next_page_token`` back as ``page_token`` for the
        next page (stable while writers add versions).

        Raises:
            FilterError: the filter, order or token is malformed (says where and why).
        """
        from ..catalog import find

        return await find(self, filter, order_by=order_by, limit=limit, page_token=page_token)

    async def lineage(
        self,
        name: str,
        version: str | None = None,
        *,
        direction: Literal["up", "down"] = "up",
        depth: int | None = None,
    ) -> list[Link]:
        """The versions ``name@version`` was made from (``up``) or that used it (``down``).

        Raises:
            NotFound: no such artifact or version.
        """
        from ..catalog import walk

        return await walk(self, name, version, direction=direction, depth=depth)

    async def reconcile(self) -> RebuildReport:
        """Catch the index up with changes since its watermark (see docs/catalog.md).

        Raises:
            NotSupported: the store has no index.
        """
        from ..catalog import reconcile

        return await reconcile(self, self._need_index())

    async def reindex(self) -> RebuildReport:
        """Rebuild the index from scratch from the manifests and heads.

        Raises:
            NotSupported: the store has no index.
        """
        from ..catalog import rebuild

        return await rebuild(self, self._need_index())

    def _need_index(self) -> Index:
        if self.index is None:
            raise NotSupported("this artifact store has no index (pass index=...)")
        return self.index

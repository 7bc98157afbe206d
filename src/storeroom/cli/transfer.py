"""The copy engine behind ``cp``, ``put`` and ``get``: any source to any destination.

What is copied is decided per object, never for the whole listing:

- an object whose key cannot be represented at the destination (it would
  escape a local folder, or is not a valid key there) is a :class:`Skip` with
  its reason, counted and reported; a listing entry whose key repeats one
  already listed (``/a`` and ``a`` on an object store read back alike) is
  skipped the same way, so counts are always true;
- symbolic links, FIFOs, devices and sockets under a local folder are skips
  too (links are followed only with ``follow_symlinks``);
- with a :class:`Policy` other than ``always`` the destination is listed once
  (a dict of key to metadata) and files already there are left alone, so a
  rerun after Ctrl-C sends only what is missing.

Files are copied by ``concurrency`` workers fed from a bounded queue while the
source is still being listed, so a copy of millions of objects starts at once
and never holds the whole listing in memory. A file up to
:data:`SMALL_FILE` bytes is read and written whole (one request each way on an
object store); a larger one is streamed chunk by chunk (``stream`` into
``write_stream``, a multipart upload on object stores), so it never sits
whole in memory. A copy inside one provider uses the provider's own ``copy``
(server-side on object stores).

A failed file does not stop the others: failures are collected in the
:class:`CopyReport`, and the command reports them and exits with status 1.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import re
import shlex
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import paths
from ..errors import InvalidPath, NotFound, StorageError
from ..providers.base import DEFAULT_CHUNK_SIZE, ObjectMeta, Provider
from .localfs import LocalFiles, Skip
from .locations import Location
from .progress import BarProgress, Progress

if TYPE_CHECKING:
    from .state import Session, Side

__all__ = [
    "DEFAULT_CONCURRENCY",
    "SMALL_FILE",
    "CopyOptions",
    "CopyReport",
    "Job",
    "Policy",
    "Skip",
    "copy_jobs",
    "destination_index",
    "listed",
    "report_copy",
    "same_content",
    "transfer",
    "tree_jobs",
]

#: How many files a copy moves at a time unless told (``-j``).
DEFAULT_CONCURRENCY = 16

#: Files up to this size are copied in one read and one write; larger ones stream.
SMALL_FILE = 8 * 1024 * 1024


@dataclass(frozen=True)
class Job:
    """One file to copy: its key and metadata at the source, its key at the destination."""

    src_key: str
    dst_key: str
    meta: ObjectMeta


class Policy(enum.Enum):
    """What to do with a file that already exists at the destination.

    ``ALWAYS`` copies it again; ``SKIP_EXISTING`` leaves it; ``UPDATE`` copies
    it only if its size differs or the source is newer; ``CHECKSUM`` only if
    its size or content differs (etags when comparable, else a digest of each).
    """

    ALWAYS = "always"
    SKIP_EXISTING = "skip-existing"
    UPDATE = "update"
    CHECKSUM = "checksum"


@dataclass(frozen=True)
class CopyOptions:
    """How a copy runs (the options of ``put``, ``get`` and ``cp``)."""

    recursive: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    progress: bool | None = None
    skip_existing: bool = False
    update: bool = False
    checksum: bool = False
    follow_symlinks: bool = False

    @property
    def policy(self) -> Policy:
        """What to do with files already at the destination."""
        if self.skip_existing:
            return Policy.SKIP_EXISTING
        if self.checksum:
            return Policy.CHECKSUM
        if self.update:
            return Policy.UPDATE
        return Policy.ALWAYS


@dataclass
class CopyReport:
    """What a copy did (also while it runs: an interrupted copy reports it so far).

    Attributes:
        files: files copied.
        bytes: bytes copied.
        seconds: wall time of the whole copy.
        failures: ``(source key, error)`` of each file that failed.
        skipped: entries not copied because they cannot be (links, bad names...).
        unchanged: files left alone because the destination already had them.
        listing_error: why listing the source stopped early (what was listed was copied).
    """

    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, StorageError | OSError]] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    unchanged: int = 0
    listing_error: StorageError | OSError | None = None


async def listed(side: Side, prefix: str) -> AsyncIterator[ObjectMeta | Skip]:
    """The entries under ``prefix``: each object once, a key seen twice a :class:`Skip`.

    A local folder reports its own skips (links, FIFOs, names that are not
    UTF-8); a provider's entry whose key repeats an earlier one (an object
    store lists ``/a`` and ``a`` both as ``a``) is an alias that cannot be
    addressed. The keys seen are kept (the keys only) to recognise repeats.
    """
    if isinstance(side, LocalFiles):
        async for entry in side.entries(prefix):
            yield entry
        return
    seen: set[str] = set()
    async for item in _provider_entries(side, prefix):
        if isinstance(item, Skip):
            yield item
        elif item.path in seen:
            yield Skip(
                item.path,
                "another object's key reads back as this one "
                "(a leading '/' or '//' in its name): it cannot be addressed",
            )
        else:
            seen.add(item.path)
            yield item


async def _provider_entries(side: Side, prefix: str) -> AsyncIterator[ObjectMeta | Skip]:
    """A provider's listing; entries it reports as unaddressable become skips.

    A provider with ``scan`` yields such entries in place (with their reason);
    an older one only has ``iter``.
    """
    scan = getattr(side, "scan", None)
    source: AsyncIterator[Any] = scan(prefix) if scan is not None else side.iter(prefix)
    async for item in source:
        if isinstance(item, ObjectMeta):
            yield item
        else:
            yield Skip(item.path, item.reason)


async def tree_jobs(
    src: Side, src_prefix: str, dst_prefix: str, dst: Side | None = None
) -> AsyncIterator[Job | Skip]:
    """A job per object under ``src_prefix``, to the same relative key under ``dst_prefix``.

    An object whose relative key cannot name a file at the destination is a
    :class:`Skip`: in a store, a key storeroom may create (no ``..``, ``a//b``,
    newline, ``draft.``...); in a local folder (``dst`` a :class:`LocalFiles`),
    any name that stays inside it. So nothing is written outside the
    destination, nor under a name that does not read back.
    """
    cut = len(src_prefix) + 1 if src_prefix else 0
    async for item in listed(src, src_prefix):
        if isinstance(item, Skip):
            yield item
            continue
        relative = item.path[cut:]
        if isinstance(dst, LocalFiles):
            problem = paths.address_problem(relative)
            if problem:
                yield Skip(item.path, problem)
                continue
        else:
            try:
                paths.validate_key(relative)
            except InvalidPath as exc:
                yield Skip(item.path, f"its name cannot be a key here: {exc}")
                continue
        yield Job(item.path, f"{dst_prefix}/{relative}" if dst_prefix else relative, item)


_MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")


async def _digest(side: Side, key: str, kind: str) -> str:
    """The ``kind`` (``md5`` or ``sha256``) hex digest of ``key``'s content, streamed."""
    hasher = hashlib.new(kind, usedforsecurity=False)
    async for chunk in side.stream(key, DEFAULT_CHUNK_SIZE):
        hasher.update(chunk)
    return hasher.hexdigest()


async def same_content(src: Side, dst: Side, job: Job, there: ObjectMeta) -> bool:
    """Whether ``there`` (the destination's copy) holds the bytes of ``job``'s source.

    Sizes first; then equal etags; then an object store's MD5 etag against the
    MD5 of the other side; else the SHA-256 of both.
    """
    if there.size != job.meta.size:
        return False
    mine, theirs = (job.meta.etag or "").strip('"'), (there.etag or "").strip('"')
    if mine and mine == theirs:
        return True
    if _MD5_ETAG.match(theirs) and not _MD5_ETAG.match(mine):
        return await _digest(src, job.src_key, "md5") == theirs
    if _MD5_ETAG.match(mine) and not _MD5_ETAG.match(theirs):
        return await _digest(dst, job.dst_key, "md5") == mine
    return await _digest(src, job.src_key, "sha256") == await _digest(dst, job.dst_key, "sha256")


async def _needed(src: Side, dst: Side, job: Job, there: ObjectMeta | None, policy: Policy) -> bool:
    """Whether ``job`` must run, given the destination's copy ``there`` (``None``: absent)."""
    if there is None or policy is Policy.ALWAYS:
        return True
    if policy is Policy.SKIP_EXISTING:
        return False
    if policy is Policy.CHECKSUM:
        return not await same_content(src, dst, job, there)
    return there.size != job.meta.size or job.meta.modified > there.modified


async def destination_index(dst: Side, jobs_prefix: str) -> dict[str, ObjectMeta]:
    """Every object under ``jobs_prefix`` at the destination (one listing)."""
    index: dict[str, ObjectMeta] = {}
    try:
        async for item in listed(dst, jobs_prefix):
            if isinstance(item, ObjectMeta):
                index[item.path] = item
    except NotFound:
        pass
    return index


def _metadata(meta: ObjectMeta, dst: Side) -> dict[str, str] | None:
    """The user metadata to write with a copy of ``meta``, if ``dst`` can keep it."""
    return dict(meta.metadata) if meta.metadata and dst.capabilities.metadata else None


async def _copy_file(src: Side, dst: Side, job: Job, progress: Progress) -> int:
    """Copy one file; return its size."""
    if src is dst and isinstance(src, Provider):
        await src.copy(job.src_key, job.dst_key)
        progress.advance(job.meta.size)
        return job.meta.size
    if job.meta.size <= SMALL_FILE:
        got = await src.get(job.src_key)
        await dst.put(
            job.dst_key,
            got.data,
            content_type=got.meta.content_type,
            metadata=_metadata(got.meta, dst),
        )
        progress.advance(len(got.data))
        return len(got.data)
    meta = await src.head(job.src_key)  # a listing's record may lack content type and metadata
    copied = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal copied
        async for chunk in src.stream(job.src_key, DEFAULT_CHUNK_SIZE):
            copied += len(chunk)
            progress.advance(len(chunk))
            yield chunk

    await dst.write_stream(
        job.dst_key, chunks(), content_type=meta.content_type, metadata=_metadata(meta, dst)
    )
    return copied


async def copy_jobs(
    src: Side,
    dst: Side,
    jobs: AsyncIterator[Job | Skip],
    *,
    concurrency: int,
    progress: Progress,
    report: CopyReport | None = None,
    policy: Policy = Policy.ALWAYS,
    existing: dict[str, ObjectMeta] | None = None,
) -> CopyReport:
    """Run every job of ``jobs`` with at most ``concurrency`` copies in flight.

    ``report`` (a new one by default) is updated as files complete, so a
    caller that is cancelled still knows what was copied. With a ``policy``
    other than ``ALWAYS``, ``existing`` is the destination's index (see
    :func:`destination_index`); without it each file's destination is asked.

    If listing the source fails part way, what was listed is still copied and
    the failure is kept in ``report.listing_error``.
    """
    report = CopyReport() if report is None else report
    workers = max(1, concurrency)
    queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=workers * 8)
    listing_failed: list[StorageError | OSError] = []
    started = time.perf_counter()

    async def produce() -> None:
        try:
            async for job in jobs:
                if isinstance(job, Skip):
                    report.skipped.append(job)
                    continue
                progress.found(job.meta.size)
                await queue.put(job)
        except (StorageError, OSError) as exc:
            listing_failed.append(exc)
        progress.listed()
        for _ in range(workers):
            await queue.put(None)

    async def there(job: Job) -> ObjectMeta | None:
        if existing is not None:
            return existing.get(job.dst_key)
        try:
            return await dst.head(job.dst_key)
        except NotFound:
            return None

    async def work() -> None:
        while (job := await queue.get()) is not None:
            try:
                if policy is not Policy.ALWAYS and not await _needed(
                    src, dst, job, await there(job), policy
                ):
                    report.unchanged += 1
                    progress.advance(job.meta.size)
                    continue
                size = await _copy_file(src, dst, job, progress)
            except (StorageError, OSError) as exc:
                report.failures.append((job.src_key, exc))
            else:
                report.files += 1
                report.bytes += size
                progress.file_done()

    try:
        await asyncio.gather(produce(), *(work() for _ in range(workers)))
    finally:
        report.seconds = time.perf_counter() - started
        progress.close()
    if listing_failed:
        report.listing_error = listing_failed[0]
    return report


# -- orchestration: what ``cp``, ``put`` and ``get`` run ------------------------------


async def _chain(
    first: Job | Skip, rest: AsyncIterator[Job | Skip] | None = None
) -> AsyncIterator[Job | Skip]:
    yield first
    if rest is not None:
        async for job in rest:
            yield job


async def _jobs(
    src_side: Side, dst_side: Side, src: Location, dst: Location, recursive: bool
) -> tuple[AsyncIterator[Job | Skip], str | None]:
    """The copy jobs from ``src`` to ``dst``, and the destination folder of a tree copy.

    With ``recursive``, a folder's contents (the listing starts at once, no
    request is spent first); if there is no such folder, the file itself.
    """
    import click

    folder_error = click.UsageError(f"{src.label!r} is a folder: add --recursive to copy it")
    if recursive and dst.within(src):  # the copy would list what it writes, without end
        raise click.UsageError(f"cannot copy {src.label!r} into itself ({dst.label!r})")
    if recursive:
        tree = tree_jobs(src_side, src.key, dst.key, dst_side)
        first = await anext(tree, None)
        if first is not None:
            return _chain(first, tree), dst.key
    if not src.key:  # the top of a store or a folder
        if not recursive:
            raise folder_error
        raise NotFound(f"nothing to copy: no files under {src.label!r}", path=src.key)
    try:
        meta = await src_side.head(src.key)
    except NotFound:
        if not recursive and await src_side.is_dir(src.key):
            raise folder_error from None
        raise NotFound(f"no file or folder at {src.label!r}", path=src.key) from None
    into = dst.folder or not dst.key or await dst_side.is_dir(dst.key)
    key = f"{dst.key}/{src.name}" if into and dst.key else (src.name if into else dst.key)
    return _chain(Job(src.key, key, meta)), None


async def transfer(
    session: Session, src: Location, dst: Location, options: CopyOptions
) -> dict[str, Any]:
    """Copy ``src`` to ``dst`` as ``options`` say; return the summary.

    If the copy is cancelled (Ctrl-C), the summary so far, with the command
    that resumes it, is left in the session's state for the error report.
    """
    src_side, dst_side = session.side(src, options), session.side(dst, options)
    jobs, tree = await _jobs(src_side, dst_side, src, dst, options.recursive)
    progress = sys.stderr.isatty() if options.progress is None else options.progress
    shown = progress and not session.state.as_json
    bar: Progress = BarProgress(f"{src.label} -> {dst.label}") if shown else Progress()
    existing = None
    if options.policy is not Policy.ALWAYS and tree is not None:
        existing = await destination_index(dst_side, tree)
    report = CopyReport()
    try:
        await copy_jobs(
            src_side,
            dst_side,
            jobs,
            concurrency=options.concurrency,
            progress=bar,
            report=report,
            policy=options.policy,
            existing=existing,
        )
    except asyncio.CancelledError:
        summary = _summary(report, src, dst)
        summary["resume"] = resume_command(session.state.argv)
        session.state.interrupted = summary
        raise
    return _summary(report, src, dst)


def resume_command(argv: Sequence[str]) -> str:
    """The command line that resumes an interrupted copy: the same, with --skip-existing."""
    words = list(argv)
    if "--skip-existing" not in words:  # last (options may follow arguments), before a "--"
        words.insert(words.index("--") if "--" in words else len(words), "--skip-existing")
    return shlex.join(["storeroom", *words])


def _summary(report: CopyReport, src: Location, dst: Location) -> dict[str, Any]:
    return {
        "source": src.label,
        "destination": dst.label,
        "files": report.files,
        "bytes": report.bytes,
        "unchanged": report.unchanged,
        "seconds": round(report.seconds, 3),
        "skipped": [{"path": item.path, "reason": item.reason} for item in report.skipped],
        "failed": [
            {"path": path, "error": str(exc), "code": getattr(exc, "code", "os_error")}
            for path, exc in report.failures
        ],
        "listing_error": None if report.listing_error is None else str(report.listing_error),
    }


def report_copy(summary: dict[str, Any]) -> None:
    """Print a copy's summary (and each skip, on stderr); fail (exit 1) if any file failed."""
    from .output import human_size, safe_text
    from .state import state

    out = state().output()

    def text() -> None:
        for item in summary["skipped"]:
            line = f"storeroom: warning: skipped {item['path']!r}: {item['reason']}"
            print(state().redact(safe_text(line)), file=sys.stderr)
        files, size, seconds = summary["files"], summary["bytes"], summary["seconds"]
        rate = ""
        if files > 1 and seconds > 0:
            rate = f", {human_size(size / seconds)}/s, {files / seconds:,.0f} files/s"
        extra = []
        if summary["unchanged"]:
            extra.append(f"{summary['unchanged']} already there")
        if summary["skipped"]:
            extra.append(f"{len(summary['skipped'])} skipped")
        more = f" ({', '.join(extra)})" if extra else ""
        out.line(
            f"Copied {files} file{'s' if files != 1 else ''} ({human_size(size)}) "
            f"from {summary['source']} to {summary['destination']} in {seconds:.2f} s"
            f"{rate}{more}."
        )

    out.result(summary, text)
    if summary["listing_error"]:
        raise StorageError(
            f"listing {summary['source']} stopped after {summary['files']} files were copied: "
            f"{summary['listing_error']}"
        )
    failed = summary["failed"]
    if failed:
        if state().debug:
            for item in failed:
                print(state().redact(f"failed: {item['path']}: {item['error']}"), file=sys.stderr)
        first, total = failed[0], len(failed) + summary["files"]
        raise StorageError(
            f"{len(failed)} of {total} files could not be copied (first: {first['path']}: "
            f"{first['error']}); --json lists them all"
        )

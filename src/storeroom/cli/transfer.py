"""The copy engine behind ``cp``, ``put`` and ``get``: any source to any destination.

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
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import StorageError
from ..providers.base import DEFAULT_CHUNK_SIZE, ObjectMeta, Provider

if TYPE_CHECKING:
    from rich.progress import Progress as RichBar

    from .state import Side

__all__ = [
    "SMALL_FILE",
    "BarProgress",
    "CopyReport",
    "Job",
    "Progress",
    "copy_jobs",
    "tree_jobs",
]

#: Files up to this size are copied in one read and one write; larger ones stream.
SMALL_FILE = 8 * 1024 * 1024


@dataclass(frozen=True)
class Job:
    """One file to copy: its key and metadata at the source, its key at the destination."""

    src_key: str
    dst_key: str
    meta: ObjectMeta


@dataclass
class CopyReport:
    """What a copy did.

    Attributes:
        files: files copied.
        bytes: bytes copied.
        seconds: wall time of the whole copy.
        failures: ``(source key, error)`` of each file that failed.
    """

    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, StorageError | OSError]] = field(default_factory=list)


class Progress:
    """Told what a copy is doing; this base ignores it (no progress shown)."""

    def found(self, size: int) -> None:
        """One more file of ``size`` bytes was listed."""

    def listed(self) -> None:
        """The listing is complete: the totals are final."""

    def advance(self, size: int) -> None:
        """``size`` more bytes were copied."""

    def file_done(self) -> None:
        """One more file was copied."""

    def close(self) -> None:
        """The copy is over."""


class BarProgress(Progress):
    """A rich progress bar on stderr: bytes, files, bytes/s and files/s.

    Counts are kept here and handed to rich at most every :attr:`FLUSH_SECONDS`
    (and at the end), so a copy of many small files pays for a few screen
    updates a second, not one per file.

    Args:
        description: the text left of the bar.
    """

    FLUSH_SECONDS = 0.1

    def __init__(self, description: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress
        from rich.table import Column

        self._files = self._total_files = self._bytes = self._total_bytes = 0
        self._listing = True
        self._flushed = 0.0

        def fixed() -> Column:
            return Column(no_wrap=True)

        self._bar: RichBar = RichProgress(
            TextColumn(
                "[bold]{task.description}",
                table_column=Column(no_wrap=True, overflow="ellipsis", max_width=24),
            ),
            BarColumn(bar_width=12),
            DownloadColumn(binary_units=True, table_column=fixed()),
            TransferSpeedColumn(table_column=fixed()),
            TextColumn("{task.fields[files]}", table_column=fixed()),
            console=Console(stderr=True),
            refresh_per_second=8,
        )
        self._task = self._bar.add_task(description, total=None, files="")
        self._bar.start()

    def _flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._flushed < self.FLUSH_SECONDS:
            return
        self._flushed = now
        elapsed = self._bar.tasks[0].elapsed or 0.0
        rate = f" {self._files / elapsed:,.0f} files/s" if elapsed > 0.2 else ""
        total = f"{self._total_files}{'+' if self._listing else ''}"
        self._bar.update(
            self._task,
            total=self._total_bytes,
            completed=self._bytes,
            files=f"{self._files}/{total} files{rate}",
        )

    def found(self, size: int) -> None:
        self._total_files += 1
        self._total_bytes += size
        self._flush()

    def listed(self) -> None:
        self._listing = False
        self._flush(force=True)

    def advance(self, size: int) -> None:
        self._bytes += size
        self._flush()

    def file_done(self) -> None:
        self._files += 1
        self._flush()

    def close(self) -> None:
        self._flush(force=True)
        self._bar.stop()


async def tree_jobs(src: Side, src_prefix: str, dst_prefix: str) -> AsyncIterator[Job]:
    """A job per object under ``src_prefix``, to the same relative key under ``dst_prefix``."""
    cut = len(src_prefix) + 1 if src_prefix else 0
    async for meta in src.iter(src_prefix):
        relative = meta.path[cut:]
        yield Job(meta.path, f"{dst_prefix}/{relative}" if dst_prefix else relative, meta)


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
    jobs: AsyncIterator[Job],
    *,
    concurrency: int,
    progress: Progress,
) -> CopyReport:
    """Run every job of ``jobs`` with at most ``concurrency`` copies in flight.

    Raises:
        StorageError: listing the source failed (files already copied stay copied).
    """
    report = CopyReport()
    workers = max(1, concurrency)
    queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=workers * 8)
    listing_failed: list[StorageError | OSError] = []
    started = time.perf_counter()

    async def produce() -> None:
        try:
            async for job in jobs:
                progress.found(job.meta.size)
                await queue.put(job)
        except (StorageError, OSError) as exc:
            listing_failed.append(exc)
        progress.listed()
        for _ in range(workers):
            await queue.put(None)

    async def work() -> None:
        while (job := await queue.get()) is not None:
            try:
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
        raise listing_failed[0]
    return report

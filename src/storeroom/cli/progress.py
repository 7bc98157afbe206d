"""How a copy shows its progress: nothing (:class:`Progress`) or a rich bar (:class:`BarProgress`).

rich is imported only when a bar is actually shown.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress as RichBar

__all__ = ["BarProgress", "Progress"]


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

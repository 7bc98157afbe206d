"""storeroom stores as fsspec filesystems, for pandas, pyarrow, polars, DuckDB, Dask.

``fsspec.filesystem("storeroom", store=URL)`` (registered through fsspec's
entry point: nothing needs importing first), ``storeroom://path`` URLs with
``storage_options={"store": URL}``, or :func:`filesystem` on an object you
already have. ``artifacts=True`` shows the versioned artifacts kept on the
store as read-only paths (``name``, ``name@v3``, ``name@alias``).

Modules: ``filesystem.py`` (the ``AsyncFileSystem``), ``files.py`` (keys as
paths), ``artifacts.py`` (versions as paths), ``file.py`` (open files).
"""

from __future__ import annotations

from .filesystem import StoreroomFileSystem, filesystem

__all__ = ["StoreroomFileSystem", "filesystem"]

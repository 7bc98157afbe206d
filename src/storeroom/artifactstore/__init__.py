"""Versioned artifacts: :class:`ArtifactStore` on any provider.

See ``store.py`` for the store, ``writer.py`` for how a version is stored
without locks, ``layout.py`` for where things are kept, ``records.py`` for what
the records hold, ``heads.py`` for the per-artifact head and the one version
resolver, and ``gc.py`` for garbage collection.
"""

from __future__ import annotations

from .gc import GCReport
from .records import ArtifactVersion
from .store import INVALID_ARGUMENT, ArtifactStore

__all__ = ["INVALID_ARGUMENT", "ArtifactStore", "ArtifactVersion", "GCReport"]

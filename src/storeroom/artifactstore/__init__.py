"""Versioned artifacts: :class:`ArtifactStore` on any provider.

See ``store.py`` for how versions are stored without locks, ``records.py`` for
the storage layout, ``heads.py`` for the per-artifact head and ``gc.py`` for
garbage collection.
"""

from __future__ import annotations

from .gc import GCReport
from .records import ArtifactVersion
from .store import INVALID_ARGUMENT, ArtifactStore

__all__ = ["INVALID_ARGUMENT", "ArtifactStore", "ArtifactVersion", "GCReport"]

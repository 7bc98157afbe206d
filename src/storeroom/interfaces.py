"""The storage interfaces of the vibex agent framework, reproduced exactly.

Names, parameters, defaults and ``async``-ness match ``vibex.storage.interfaces``
so that code written against vibex runs on storeroom unchanged. Like the module
itself (which its documentation leaves out), ``FileStorage`` has two concrete
methods, ``read_json`` / ``write_json``, written once on top of the text
methods and failing as vibex's do (``None``, a failed ``StorageResult``), and
``ArtifactStorage`` is a ``StorageBackend``. storeroom's richer surface lives
in :mod:`storeroom.providers.base`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional, Union  # noqa: UP035 - the seed's spelling

from .errors import StorageError

__all__ = [
    "ArtifactStorage",
    "CacheBackend",
    "FileInfo",
    "FileStorage",
    "StorageBackend",
    "StorageProvider",
    "StorageResult",
]


@dataclass
class StorageResult:
    """Result of a storage operation.

    A failure has ``success=False``, a human ``error`` and a machine-readable
    code in ``metadata["code"]``. ``data`` and ``metadata`` are never ``None``.
    """

    success: bool
    path: Optional[str] = None  # noqa: UP045
    size: Optional[int] = None  # noqa: UP045
    error: Optional[str] = None  # noqa: UP045
    data: Optional[Dict[str, Any]] = None  # noqa: UP006, UP045
    metadata: Dict[str, Any] = field(default_factory=dict)  # noqa: UP006

    def __post_init__(self) -> None:
        if self.data is None:
            self.data = {}
        if self.metadata is None:
            self.metadata = {}


@dataclass
class FileInfo:
    """Information about a stored file (or, with ``is_directory``, a folder).

    ``metadata`` is never ``None``.
    """

    path: str
    size: int
    created_at: datetime
    modified_at: datetime
    content_type: Optional[str] = None  # noqa: UP045
    metadata: Dict[str, Any] = field(default_factory=dict)  # noqa: UP006
    is_directory: bool = False

    def __post_init__(self) -> None:
        if self.metadata is None:
            self.metadata = {}


class StorageBackend(ABC):
    """Base interface for all storage backends."""

    @abstractmethod
    async def exists(self, path: str) -> bool:
        """Check if a path exists."""

    @abstractmethod
    async def get_info(self, path: str) -> Optional[FileInfo]:  # noqa: UP045
        """Get information about a file/directory."""

    @abstractmethod
    async def list_directory(self, path: str = ".") -> List[FileInfo]:  # noqa: UP006
        """List contents of a directory."""


class FileStorage(StorageBackend):
    """Interface for file storage operations."""

    @abstractmethod
    async def read_text(self, path: str, encoding: str = "utf-8") -> str:
        """Read text content from a file."""

    @abstractmethod
    async def write_text(self, path: str, content: str, encoding: str = "utf-8") -> StorageResult:
        """Write text content to a file."""

    @abstractmethod
    async def read_bytes(self, path: str) -> bytes:
        """Read binary content from a file."""

    @abstractmethod
    async def write_bytes(self, path: str, content: bytes) -> StorageResult:
        """Write binary content to a file."""

    @abstractmethod
    async def append_text(
        self, path: str, content: str, encoding: str = "utf-8"
    ) -> StorageResult:
        """Append text content to a file."""

    @abstractmethod
    async def delete(self, path: str) -> StorageResult:
        """Delete a file."""

    @abstractmethod
    async def create_directory(self, path: str) -> StorageResult:
        """Create a directory."""

    async def read_json(self, path: str) -> Optional[Dict[str, Any]]:  # noqa: UP006, UP045
        """The file parsed as JSON (UTF-8); ``None`` if it is missing, unreadable or not JSON.

        As vibex's: callers test for ``None``. ``FileStore.load_json`` raises instead.
        """
        try:
            value: Dict[str, Any] = json.loads(await self.read_text(path))  # noqa: UP006
        except (StorageError, OSError, ValueError):
            return None
        return value

    async def write_json(self, path: str, data: Dict[str, Any], indent: int = 2) -> StorageResult:  # noqa: UP006
        """Write ``data`` as JSON on top of ``write_text``, byte for byte as vibex does
        (``json.dumps`` defaults: non-ASCII escaped).

        A value JSON cannot hold is a failed ``StorageResult`` (code
        ``encoding_error``), never an exception.
        """
        try:
            text = json.dumps(data, indent=indent)
        except (TypeError, ValueError, RecursionError) as exc:
            return StorageResult(
                success=False, path=path, error=str(exc), metadata={"code": "encoding_error"}
            )
        return await self.write_text(path, text)


class ArtifactStorage(StorageBackend):
    """Interface for artifact storage with versioning and metadata.

    A storage backend too (as vibex declares it): ``exists``, ``get_info`` and
    ``list_directory`` answer about artifacts by name.
    """

    @abstractmethod
    async def store_artifact(
        self,
        name: str,
        content: Union[str, bytes],  # noqa: UP007
        content_type: str = "text/plain",
        metadata: Optional[Dict[str, Any]] = None,  # noqa: UP006, UP045
    ) -> StorageResult:
        """Store an artifact with versioning."""

    @abstractmethod
    async def get_artifact(
        self, name: str, version: Optional[str] = None  # noqa: UP045
    ) -> Optional[str]:  # noqa: UP045
        """Get artifact content by name and optional version."""

    @abstractmethod
    async def list_artifacts(self) -> List[Dict[str, Any]]:  # noqa: UP006
        """List all artifacts with their metadata."""

    @abstractmethod
    async def get_artifact_versions(self, name: str) -> List[str]:  # noqa: UP006
        """Get all versions of an artifact."""

    @abstractmethod
    async def delete_artifact(
        self, name: str, version: Optional[str] = None  # noqa: UP045
    ) -> StorageResult:
        """Delete an artifact or specific version."""


class StorageProvider(ABC):
    """Abstract interface for storage provider implementations.

    This is a simpler interface than FileStorage, focused on basic operations
    that can be implemented by different backends (file, S3, Azure, etc.).
    """

    @abstractmethod
    async def read(self, path: str) -> bytes:
        """Read binary content from storage"""

    @abstractmethod
    async def write(self, path: str, data: bytes) -> None:
        """Write binary content to storage"""

    @abstractmethod
    async def exists(self, path: str) -> bool:
        """Check if path exists in storage"""

    @abstractmethod
    async def delete(self, path: str) -> None:
        """Delete from storage"""

    @abstractmethod
    async def list(self, prefix: str = "") -> List[str]:  # noqa: UP006
        """List all paths with given prefix"""

    @abstractmethod
    async def makedirs(self, path: str) -> None:
        """Create directory structure"""


class CacheBackend(ABC):
    """Abstract interface for cache implementations"""

    @abstractmethod
    async def get(self, key: str) -> Optional[Any]:  # noqa: UP045
        """Get value from cache"""

    @abstractmethod
    async def set(self, key: str, value: Any, ttl: int = 300) -> None:
        """Set value in cache with TTL in seconds"""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Delete value from cache"""

    @abstractmethod
    async def clear(self) -> None:
        """Clear all cache entries"""

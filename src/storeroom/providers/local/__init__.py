"""The local-disk backend: :class:`LocalProvider` (``provider.py``) on POSIX plumbing
(``posix.py``)."""

from __future__ import annotations

from .provider import LocalProvider

__all__ = ["LocalProvider"]

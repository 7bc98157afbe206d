"""Helpers shared by the reliability tests."""

from __future__ import annotations

import os
from pathlib import Path

from storeroom.providers.local.posix import TEMP_PREFIX

__all__ = ["REPO", "temp_files"]

#: The repository's top folder: the working directory of the child processes.
REPO = Path(__file__).resolve().parents[2]


def temp_files(root: Path) -> list[str]:
    """Every storeroom temp file under ``root``, hidden folders included."""
    return [
        os.path.join(folder, name)
        for folder, _, names in os.walk(root)
        for name in names
        if name.startswith(TEMP_PREFIX)
    ]

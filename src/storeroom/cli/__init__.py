"""The ``storeroom`` command line.

``main`` is the console script. Importing this package is cheap: the commands,
click's machinery and any cloud SDK are loaded only when ``main`` runs (and a
cloud SDK only when its scheme is used).
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run ``storeroom`` with ``argv`` (default: the process's arguments); exits the process."""
    from .app import main as run_main

    run_main(argv)

"""Shared fixtures. Real services (Redis, moto, Azurite, the GCS emulator) are
started or found by the plugins in ``tests/services``."""

from __future__ import annotations

import pytest

pytest_plugins: list[str] = [
    "tests.services.cloud",
    "tests.services.redis",
    "tests.services.redis_cluster",
    "tests.services.redis_sentinel",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="run the long reliability soak (300 kills, 1,000 remote faults, every fault case)",
    )

"""Shared fixtures. Real services (Redis, moto, Azurite, the GCS emulator) are
started or found by the plugins in ``tests/services``."""

from __future__ import annotations

pytest_plugins: list[str] = ["tests.services.cloud", "tests.services.redis"]

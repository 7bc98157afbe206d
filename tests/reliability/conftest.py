"""Options and fixtures of the reliability suite.

``--soak`` runs the long versions (300 SIGKILLs, 1,000 remote faults, every
I/O fault case); without it each test runs a reduced count so that the whole
suite stays short. Run the soak with::

    ./run test tests/reliability --soak
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import pytest

FIGURES = pytest.StashKey[Counter[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FIGURES] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = terminalreporter.config.stash.get(FIGURES, Counter())
    if counts:
        terminalreporter.section("reliability figures")
        for name, value in sorted(counts.items()):
            terminalreporter.write_line(f"{name}: {value}")


@dataclass(frozen=True)
class Budget:
    """How much each reliability test does in this run.

    Attributes:
        soak: the long run was asked for (``--soak``).
        kills: SIGKILLs of the crash test.
        remote_operations: operations through the fault proxy, per backend.
        stalls: stalled connections among them (each costs about 2 s).
    """

    soak: bool
    kills: int
    remote_operations: int
    stalls: int


@pytest.fixture(scope="session")
def budget(pytestconfig: pytest.Config) -> Budget:
    """The counts of this run: short by default, long with ``--soak``."""
    if pytestconfig.getoption("--soak", default=False):
        return Budget(soak=True, kills=300, remote_operations=1000, stalls=6)
    return Budget(soak=False, kills=20, remote_operations=150, stalls=1)


def in_ci() -> bool:
    """True on CI (``CI=true``), where a missing tool fails instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def figures(pytestconfig: pytest.Config) -> Counter[str]:
    """Counters printed at the end of the run (kills survived, faults injected, ...)."""
    return pytestconfig.stash[FIGURES]

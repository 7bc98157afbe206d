"""The benchmark harness: run contenders side by side in one process, print ratios.

A benchmark is a list of :class:`Case` rows (an operation, e.g. "write 4 KiB")
each timed for several contenders (storeroom and its peers). Every contender
runs the same work in the same process, alternating, best of ``repeat`` runs;
the table shows operations per second and each contender's ratio to the
``baseline`` contender of its row. Timings are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Case", "Result", "gather_limited", "print_table", "run_case"]


@dataclass
class Result:
    """Best time of one contender on one case."""

    contender: str
    seconds: float
    ops: int

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Case:
    """One row: an operation timed for each contender.

    Attributes:
        name: what is measured, e.g. ``"write 4 KiB x5000 @64"``.
        ops: operations per run (for ops/s).
        contenders: contender name -> async function doing the whole run once.
        setup: contender name -> async function run before each timed run (untimed).
        baseline: the contender the ratios are taken against.
    """

    name: str
    ops: int
    contenders: dict[str, Callable[[], Awaitable[object]]]
    baseline: str
    setup: dict[str, Callable[[], Awaitable[object]]] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)


async def run_case(case: Case, repeat: int = 3) -> Case:
    """Time every contender of ``case``, alternating, best of ``repeat``."""
    best: dict[str, float] = {}
    for _ in range(repeat):
        for name, work in case.contenders.items():
            if name in case.setup:
                await case.setup[name]()
            gc.collect()
            start = time.perf_counter()
            await work()
            elapsed = time.perf_counter() - start
            best[name] = min(best.get(name, elapsed), elapsed)
    case.results = [Result(name, best[name], case.ops) for name in case.contenders]
    return case


async def gather_limited(
    jobs: Sequence[Callable[[], Awaitable[object]]], concurrency: int
) -> None:
    """Run ``jobs`` with at most ``concurrency`` in flight (1 means one after another)."""
    if concurrency <= 1:
        for job in jobs:
            await job()
        return
    queue = iter(jobs)

    async def worker() -> None:
        for job in queue:
            await job()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def print_table(title: str, cases: Sequence[Case]) -> None:
    """Print ops/s per contender and the ratio to each row's baseline."""
    print(f"\n## {title}\n")
    print(f"{'case':<36} {'contender':<22} {'ops/s':>12} {'ms total':>10} {'ratio':>8}")
    print("-" * 92)
    for case in cases:
        base = next(r for r in case.results if r.contender == case.baseline)
        for result in case.results:
            ratio = result.rate / base.rate if base.rate else float("nan")
            marker = " (baseline)" if result.contender == case.baseline else ""
            print(
                f"{case.name:<36} {result.contender:<22} {result.rate:>12,.0f} "
                f"{result.seconds * 1000:>10.1f} {ratio:>7.2f}x{marker}"
            )
        print()

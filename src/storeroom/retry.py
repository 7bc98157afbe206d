"""Bounded exponential backoff with jitter, for retries storeroom makes itself.

Most retries happen inside obstore (same policy, same settings). storeroom
retries one thing itself: conditional puts, because only there must a retry
know that an earlier try may have landed (see
:meth:`storeroom.providers.object.store.ObjectStoreProvider.put`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Delays before retries: ``initial * 2**n``, capped, with full jitter, bounded.

    Attributes:
        initial: the first delay's upper bound, in seconds.
        maximum: the largest delay, in seconds.
        retries: how many retries at most.
        timeout: no retry starts later than this many seconds after the first try.
    """

    initial: float
    maximum: float
    retries: int
    timeout: float

    def delays(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> Iterator[float]:
        """The delays to sleep before each retry; exhausted when no retry is left."""
        deadline = clock() + self.timeout
        for attempt in range(self.retries):
            delay = min(self.maximum, self.initial * 2**attempt) * jitter()
            if clock() + delay > deadline:
                return
            yield delay

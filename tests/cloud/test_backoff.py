"""The retry policy storeroom applies itself (conditional puts): bounded, exponential, jittered."""

from __future__ import annotations

from storeroom.retry import Backoff


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    policy = Backoff(initial=0.1, maximum=1.0, retries=6, timeout=100.0)
    assert list(policy.delays(jitter=lambda: 1.0)) == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_jitter_scales_each_delay() -> None:
    policy = Backoff(initial=1.0, maximum=8.0, retries=3, timeout=100.0)
    assert list(policy.delays(jitter=lambda: 0.5)) == [0.5, 1.0, 2.0]


def test_no_retry_starts_after_the_timeout() -> None:
    now = [0.0]
    policy = Backoff(initial=1.0, maximum=10.0, retries=10, timeout=5.0)
    delays = []
    for delay in policy.delays(clock=lambda: now[0], jitter=lambda: 1.0):
        delays.append(delay)
        now[0] += delay
    assert delays == [1.0, 2.0]  # a third (4 s) would end after 5 s
    assert list(Backoff(0.1, 1.0, retries=0, timeout=10.0).delays()) == []

"""The cost of tracing: local 4 KiB reads and writes with and without StoreroomInstrumentor.

Contenders on the same LocalProvider, alternating in one process (best of
``--repeat``; the span queues are flushed before each timed run, so no
contender pays for exporting another's spans):

- ``plain``: never instrumented in this run's timed section (the baseline);
- ``uninstrumented``: after ``instrument()`` and ``uninstrument()`` (must equal
  ``plain``: uninstrumenting puts the original functions back);
- ``traced``: instrumented the way a deployment runs it: the SDK's
  ``TracerProvider`` (default sampler: every span recorded) with a
  ``BatchSpanProcessor`` feeding an exporter that drops spans, and a
  ``MeterProvider`` with a ``PeriodicExportingMetricReader`` whose exporter
  drops metrics: the cost paid inside the process, without a network;
- ``sdk floor``: not instrumented; the loop itself makes the same span (same
  name, kind and attributes, made current around the call) and records the
  same histogram point with the same SDK objects: the least any
  instrumentation emitting this telemetry costs, so ``traced`` minus this is
  storeroom's own overhead;
- ``traced 1% sampled``: as ``traced`` with ``ParentBased(TraceIdRatioBased(0.01))``,
  what a service at a high request rate typically runs (metrics still every
  operation);
- ``instrumented, no SDK``: ``instrument()`` with OpenTelemetry's no-op
  providers (the API without an SDK, as in a process where nobody configured
  one): storeroom's wrappers alone.

Run: ``.venv/bin/python bench/bench_telemetry.py [--files N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from opentelemetry import context, trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NoOpTracerProvider, SpanKind

sys.path.insert(0, os.path.dirname(__file__))
from _harness import Case, print_table, run_case

from storeroom.providers.local import LocalProvider
from storeroom.telemetry import StoreroomInstrumentor

PAYLOAD = os.urandom(4096)


class Drop(SpanExporter):
    """An exporter that keeps nothing (the export path's cost without a network)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class DropMetrics(MetricExporter):
    """A metric exporter that keeps nothing."""

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def tracer_provider(sampler: Any = None) -> TracerProvider:
    provider = TracerProvider() if sampler is None else TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=100_000))
    return provider


async def main(files: int, repeat: int) -> None:
    always = tracer_provider()
    sampled = tracer_provider(ParentBased(TraceIdRatioBased(0.01)))
    meter_provider = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=5000)]
    )
    instrumentor = StoreroomInstrumentor()
    tracer = always.get_tracer("storeroom-floor")
    duration = meter_provider.get_meter("storeroom-floor").create_histogram(
        "storeroom.operation.duration", unit="s"
    )
    names = [f"d{n % 20:02d}/f{n:05d}.bin" for n in range(files)]
    with tempfile.TemporaryDirectory(prefix="bench-telemetry-") as base:
        async with LocalProvider(base) as provider:
            for name in names:
                await provider.put(name, PAYLOAD)

            async def reads() -> None:
                for name in names:
                    await provider.get(name)

            async def writes() -> None:
                for name in names:
                    await provider.put(name, PAYLOAD)

            def floor(
                operation: str, call: Callable[[str], Awaitable[Any]], size: Callable[[Any], int]
            ) -> Callable[[], Awaitable[None]]:
                fixed = {
                    "storeroom.component": "provider",
                    "storeroom.backend": "LocalProvider",
                    "storeroom.operation": operation,
                }
                metric = {**fixed, "storeroom.outcome": "ok"}
                hashes = {
                    name: hashlib.sha256(name.encode()).hexdigest()[:16] for name in names
                }

                async def run() -> None:
                    for name in names:
                        span = tracer.start_span(
                            f"provider.{operation}",
                            kind=SpanKind.CLIENT,
                            attributes={**fixed, "storeroom.key.hash": hashes[name]},
                        )
                        token = context.attach(trace.set_span_in_context(span))
                        started = time.perf_counter()
                        try:
                            result = await call(name)
                        finally:
                            context.detach(token)
                        elapsed = time.perf_counter() - started
                        span.set_attribute("storeroom.bytes", size(result))
                        duration.record(elapsed, metric)
                        span.end()

                return run

            async def off() -> None:
                if instrumentor.is_instrumented_by_opentelemetry:
                    instrumentor.uninstrument()

            def on(
                tracing: Any, meters: Any = meter_provider
            ) -> Callable[[], Awaitable[None]]:
                async def setup() -> None:
                    await off()
                    instrumentor.instrument(tracer_provider=tracing, meter_provider=meters)

                return setup

            def flushed(setup: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
                # Every contender starts with empty export queues: the spans of
                # the contender before are not exported during its timed run.
                async def run() -> None:
                    always.force_flush()
                    sampled.force_flush()
                    await setup()

                return run

            async def on_then_off() -> None:
                await on(always)()
                await off()

            floors = {
                "read": floor("get", provider.get, lambda result: len(result.data)),
                "write": floor(
                    "put", lambda name: provider.put(name, PAYLOAD), lambda _: len(PAYLOAD)
                ),
            }
            cases = []
            for label, work in (("read", reads), ("write", writes)):
                case = Case(
                    f"{label} 4 KiB x{files}",
                    files,
                    {
                        "plain": work,
                        "uninstrumented": work,
                        "traced": work,
                        "sdk floor": floors[label],
                        "traced 1% sampled": work,
                        "instrumented, no SDK": work,
                    },
                    baseline="plain",
                    setup={
                        name: flushed(setup)
                        for name, setup in (
                            ("plain", off),
                            ("uninstrumented", on_then_off),
                            ("traced", on(always)),
                            ("sdk floor", off),
                            ("traced 1% sampled", on(sampled)),
                            ("instrumented, no SDK", on(NoOpTracerProvider(), NoOpMeterProvider())),
                        )
                    },
                )
                cases.append(await run_case(case, repeat))
            await off()
    always.shutdown()
    sampled.shutdown()
    meter_provider.shutdown()
    print_table("StoreroomInstrumentor on LocalProvider (ratio to plain)", cases)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.files, arguments.repeat))

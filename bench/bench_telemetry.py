"""The cost of tracing: local 4 KiB reads and writes with and without StoreroomInstrumentor.

Three contenders on the same LocalProvider, alternating in one process:

- ``plain``: never instrumented in this run's timed section (the baseline);
- ``uninstrumented``: after ``instrument()`` and ``uninstrument()`` (must equal
  ``plain``: uninstrumenting puts the original functions back);
- ``traced``: instrumented, with the SDK's ``TracerProvider`` and a
  ``BatchSpanProcessor`` feeding an exporter that drops spans, and a
  ``MeterProvider`` with an in-memory reader: the cost a real deployment pays
  inside the process.

Run: ``.venv/bin/python bench/bench_telemetry.py [--files N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, os.path.dirname(__file__))
from _harness import Case, print_table, run_case

from storeroom.providers.local import LocalProvider
from storeroom.telemetry import StoreroomInstrumentor

PAYLOAD = os.urandom(4096)


class Drop(SpanExporter):
    """An exporter that keeps nothing (the export path's cost without a network)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def main(files: int, repeat: int) -> None:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=100_000))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = StoreroomInstrumentor()
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

            async def off() -> None:
                if instrumentor.is_instrumented_by_opentelemetry:
                    instrumentor.uninstrument()

            async def on() -> None:
                if not instrumentor.is_instrumented_by_opentelemetry:
                    instrumentor.instrument(
                        tracer_provider=tracer_provider, meter_provider=meter_provider
                    )

            async def on_then_off() -> None:
                await on()
                await off()

            cases = []
            for label, work in (("read", reads), ("write", writes)):
                case = Case(
                    f"{label} 4 KiB x{files}",
                    files,
                    {"plain": work, "uninstrumented": work, "traced": work},
                    baseline="plain",
                    setup={"plain": off, "uninstrumented": on_then_off, "traced": on},
                )
                cases.append(await run_case(case, repeat))
            await off()
    tracer_provider.shutdown()
    print_table("StoreroomInstrumentor on LocalProvider (ratio to plain)", cases)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.files, arguments.repeat))

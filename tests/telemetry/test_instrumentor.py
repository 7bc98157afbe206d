"""StoreroomInstrumentor, checked with the OpenTelemetry SDK's in-memory exporters.

Each test instruments with its own tracer and meter providers and uninstruments
after, so nothing leaks between tests; the tests check what a user would see:
span names and attributes, the span covering the awaited work (streams
included), errors by type, cache outcomes, conflicts, metrics, and that
uninstrumented classes run their original functions.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import storeroom
from storeroom import MemoryProvider, NotFound, Provider
from storeroom.caches import MISSING, MemoryCache
from storeroom.providers.cached import CachedProvider
from storeroom.telemetry import StoreroomInstrumentor


class Telemetry:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        found = list(self.exporter.get_finished_spans())
        return [span for span in found if name is None or span.name == name]

    def metric(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        data = self.reader.get_metrics_data()
        points: list[tuple[dict[str, Any], Any]] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            value = getattr(point, "value", None)
                            if value is None:
                                value = getattr(point, "count", None)
                            points.append((dict(point.attributes or {}), value))
        return points


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    found = Telemetry()
    instrumentor = StoreroomInstrumentor()
    instrumentor.instrument(
        tracer_provider=found.tracer_provider, meter_provider=found.meter_provider
    )
    try:
        yield found
    finally:
        instrumentor.uninstrument()


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


async def test_provider_operations_are_spans_with_bytes_and_hashed_keys(
    telemetry: Telemetry,
) -> None:
    async with MemoryProvider() as provider:
        await provider.put("reports/q1.md", b"x" * 1000)
        found = await provider.get("reports/q1.md")
    assert found.data == b"x" * 1000
    (put,) = telemetry.spans("provider.put")
    (get,) = telemetry.spans("provider.get")
    assert put.attributes is not None
    assert get.attributes is not None
    assert put.attributes["storeroom.backend"] == "MemoryProvider"
    assert put.attributes["storeroom.operation"] == "put"
    assert put.attributes["storeroom.bytes"] == 1000
    assert get.attributes["storeroom.bytes"] == 1000
    assert get.attributes["storeroom.key.hash"] == key_hash("reports/q1.md")
    everything = repr([dict(span.attributes or {}) for span in telemetry.spans()])
    assert "reports/q1.md" not in everything
    directions = {
        attributes["storeroom.direction"]: value
        for attributes, value in telemetry.metric("storeroom.io")
    }
    assert directions == {"read": 1000, "write": 1000}


async def test_a_stream_span_covers_the_whole_iteration(
    telemetry: Telemetry, tmp_path: Any
) -> None:
    async with storeroom.provider(str(tmp_path)) as provider:
        await provider.put("big.bin", b"y" * 300_000)
        chunks = provider.stream("big.bin", 65_536)
        assert telemetry.spans("provider.stream") == []  # nothing awaited yet
        first = await chunks.__anext__()
        assert telemetry.spans("provider.stream") == []  # still streaming
        rest = [chunk async for chunk in chunks]
    (span,) = telemetry.spans("provider.stream")
    assert span.attributes is not None
    assert span.attributes["storeroom.bytes"] == len(first) + sum(map(len, rest)) == 300_000
    assert span.status.status_code is StatusCode.UNSET


async def test_errors_are_recorded_by_type_never_by_message(telemetry: Telemetry) -> None:
    async with MemoryProvider() as provider:
        with pytest.raises(NotFound):
            await provider.get("secret-name/missing.txt")
    (span,) = telemetry.spans("provider.get")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "NotFound"
    assert "secret-name" not in repr(span.to_json())
    outcomes = {a["storeroom.outcome"] for a, _ in telemetry.metric("storeroom.operation.duration")}
    assert outcomes == {"error"}


async def test_a_call_through_super_or_a_convenience_makes_one_span_per_operation(
    telemetry: Telemetry,
) -> None:
    class Audited(MemoryProvider):
        async def get(self, path: str) -> Any:
            return await super().get(path)  # the same operation: one span, not two

    async with Audited() as provider:
        await provider.write("a.txt", b"1")  # write() calls put() on the same object
        await provider.get("a.txt")
    names = sorted(span.name for span in telemetry.spans())
    assert names == ["provider.get", "provider.put", "provider.write"]
    (write,) = telemetry.spans("provider.write")
    (put,) = telemetry.spans("provider.put")
    assert put.parent is not None
    assert put.parent.span_id == write.context.span_id


async def test_cache_outcomes_and_a_cached_provider_as_parent_of_its_provider(
    telemetry: Telemetry,
) -> None:
    cache = MemoryCache()
    await cache.set("k", 1)
    assert await cache.get("k", MISSING) == 1
    assert await cache.get("nope", MISSING) is MISSING
    gets = telemetry.spans("cache.get")
    assert [span.attributes["storeroom.cache.outcome"] for span in gets if span.attributes] == [
        "hit",
        "miss",
    ]
    async with CachedProvider(MemoryProvider(), MemoryCache()) as cached:
        await cached.put("x", b"abc")
        telemetry.exporter.clear()
        await cached.get("x")  # a miss: the provider below is read
    outer = [
        s
        for s in telemetry.spans("provider.get")
        if s.attributes and s.attributes["storeroom.backend"] == "CachedProvider"
    ]
    inner = [
        s
        for s in telemetry.spans("provider.get")
        if s.attributes and s.attributes["storeroom.backend"] == "MemoryProvider"
    ]
    assert len(outer) == 1
    assert len(inner) == 1
    assert inner[0].parent is not None
    assert inner[0].parent.span_id == outer[0].context.span_id


async def test_concurrent_misses_of_one_key_are_counted_as_coalesced(
    telemetry: Telemetry,
) -> None:
    class Slow(MemoryProvider):
        async def get(self, path: str) -> Any:
            await asyncio.sleep(0.01)
            return await super().get(path)

    async with CachedProvider(Slow(), MemoryCache()) as cached:
        await cached.put("x", b"abc")
        await asyncio.gather(*(cached.get("x") for _ in range(5)))
    coalesced = [
        v
        for a, v in telemetry.metric("storeroom.cache.requests")
        if a.get("storeroom.cache.outcome") == "coalesced"
    ]
    assert coalesced == [4]


async def test_lost_races_count_as_conflicts_on_the_operation_that_lost(
    telemetry: Telemetry,
) -> None:
    provider = MemoryProvider()
    first = storeroom.ArtifactStore(provider)
    second = storeroom.ArtifactStore(provider)
    await first.store_artifact("a.txt", "one", "text/plain")
    await second.store_artifact("a.txt", "two", "text/plain")
    # ``first`` remembers a head that moved: its next number is taken.
    result = await first.store_artifact("a.txt", "three", "text/plain")
    assert result.data is not None
    assert result.data["version"] == "v3"
    stores = telemetry.spans("artifacts.store_artifact")
    assert stores[-1].attributes is not None
    conflicts = stores[-1].attributes.get("storeroom.conflicts", 0)
    assert isinstance(conflicts, int)
    assert conflicts >= 1
    assert sum(v for _, v in telemetry.metric("storeroom.conflicts")) >= 1


async def test_a_cancelled_operation_ends_its_span_as_cancelled(telemetry: Telemetry) -> None:
    class Hanging(MemoryProvider):
        async def head(self, path: str) -> Any:
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    provider = Hanging()
    task = asyncio.ensure_future(provider.head("x"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (span,) = telemetry.spans("provider.head")
    assert span.end_time is not None
    outcomes = {a["storeroom.outcome"] for a, _ in telemetry.metric("storeroom.operation.duration")}
    assert outcomes == {"cancelled"}
    await provider.put("y", b"1")  # the nesting marker was reset: the next call is traced
    assert len(telemetry.spans("provider.put")) == 1


def test_uninstrumented_classes_run_their_original_functions() -> None:
    originals = {name: Provider.__dict__[name] for name in ("get", "put")}
    base_read = Provider.__dict__["read"]
    instrumentor = StoreroomInstrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    try:
        assert Provider.__dict__["get"] is not originals["get"]

        class Later(MemoryProvider):  # defined after instrument(): instrumented too
            async def head(self, path: str) -> Any:
                return await super().head(path)

        assert hasattr(Later.__dict__["head"], "__storeroom_original__")
    finally:
        instrumentor.uninstrument()
    assert {name: Provider.__dict__[name] for name in ("get", "put")} == originals
    assert Provider.__dict__["read"] is base_read
    assert not hasattr(Later.__dict__["head"], "__storeroom_original__")


async def test_keys_can_be_left_out_entirely() -> None:
    found = Telemetry()
    instrumentor = StoreroomInstrumentor()
    instrumentor.instrument(
        tracer_provider=found.tracer_provider,
        meter_provider=found.meter_provider,
        record_keys=False,
    )
    try:
        async with MemoryProvider() as provider:
            await provider.put("k", b"1")
    finally:
        instrumentor.uninstrument()
    (span,) = found.spans("provider.put")
    assert span.attributes is not None
    assert "storeroom.key.hash" not in span.attributes


async def test_secrets_never_reach_spans(telemetry: Telemetry, s3_server: Any) -> None:
    secret = "SECRETxTELEMETRYx1234567890"
    url = s3_server.url("telemetry-secrets")
    async with storeroom.provider(url, secret_access_key=secret) as provider:
        with pytest.raises(storeroom.StorageError):
            await provider.get("missing")
    text = "".join(span.to_json() for span in telemetry.spans())
    assert telemetry.spans("provider.get")
    assert secret not in text


def test_auto_instrumentation_finds_the_instrumentor() -> None:
    found = {
        entry.name: entry.value
        for entry in importlib.metadata.entry_points(group="opentelemetry_instrumentor")
    }
    assert found.get("storeroom") == "storeroom.telemetry:StoreroomInstrumentor"

"""OpenTelemetry for storeroom: spans and metrics for every provider, file store,
artifact store and cache operation, installed by :class:`StoreroomInstrumentor`.

How it keeps its promises:

- **Zero cost when off.** Nothing here runs until ``instrument()``: it then
  wraps the public async methods of the layer classes (``Provider``,
  ``FileStore``, ``ArtifactStore``, ``Cache`` and every subclass, including
  subclasses defined later, through ``__init_subclass__``), and
  ``uninstrument()`` puts the originals back. Uninstrumented code runs the
  original functions, not a wrapper that checks a flag.
- **The awaited work is timed**, not the creation of a coroutine: a span opens
  when the wrapper is awaited and closes when the operation ends. For a stream
  (``stream``, ``iter``, any async generator) the span covers the whole
  iteration, up to the last chunk or an early close, and counts its bytes.
- **One span per operation.** When an implementation calls the same operation
  of the same object through ``super()`` (or a convenience calls a core method
  of its own object), the inner call joins the outer span instead of opening a
  second one; calls into *another* object (``CachedProvider`` into the provider
  it wraps) are child spans.
- **No key or secret in telemetry.** A key is recorded only as the first 16
  hex digits of its SHA-256 (``storeroom.key.hash``), or not at all with
  ``instrument(record_keys=False)``; URLs are never recorded; errors are
  recorded by type (``error.type``), never by message.
- **Outcomes that matter**: bytes read and written, cache ``hit``/``miss``,
  requests served by a single flight already in progress (``coalesced``),
  retries of transient errors, and conditional writes that lost a race
  (``storeroom.conflicts``: a version number or head of the artifact store,
  an append), counted on the span of the operation that lost it.

Attributes follow OpenTelemetry's conventions where one exists (``error.type``)
and the ``storeroom.`` namespace otherwise: ``storeroom.component``
(``provider``, ``files``, ``artifacts``, ``cache``), ``storeroom.backend`` (the
class, e.g. ``S3Provider``), ``storeroom.operation``, ``storeroom.bytes``,
``storeroom.cache.outcome``, ``storeroom.retries``, ``storeroom.conflicts``.
Metrics: ``storeroom.operation.duration`` (histogram, seconds),
``storeroom.io`` (counter, bytes, by ``storeroom.direction``),
``storeroom.cache.requests`` (counter, by outcome).
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import inspect
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator
from typing import Any

from opentelemetry import context, metrics, trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .errors import AlreadyExists, PreconditionFailed

__all__ = ["StoreroomInstrumentor"]

#: Names of methods that return an async iterator without being ``async def``.
_STREAMING = frozenset({"iter", "stream"})
#: Parameter names whose string value is a key (hashed, never recorded raw).
_KEY_PARAMETERS = ("path", "key", "name", "src", "file_path", "prefix")
#: Parameter names whose value is the bytes written.
_DATA_PARAMETERS = ("data", "content", "value_bytes")

#: Errors of a conditional write that lost a race (a version number, a head, an append).
_CONFLICTS = (AlreadyExists, PreconditionFailed)

# The (object id, operation) pairs running in this task, so nested calls of the
# same operation on the same object join the outer span.
_active: contextvars.ContextVar[frozenset[tuple[int, str]]] = contextvars.ContextVar(
    "storeroom_telemetry_active", default=frozenset()
)


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _size(value: Any) -> int | None:
    """Bytes in a result or an argument, if it is bytes-like, text or a ``GetResult``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    data = getattr(value, "data", None)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return len(data)
    return None


class _Totals:
    """Running sums behind the observable counters: a dict update per operation,
    read by the SDK only when it collects (cheaper than a synchronous counter)."""

    def __init__(self) -> None:
        self.sums: dict[tuple[tuple[str, str], ...], int] = {}

    def add(self, amount: int, *attributes: tuple[str, str]) -> None:
        self.sums[attributes] = self.sums.get(attributes, 0) + amount

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, dict(key)) for key, value in list(self.sums.items())]


class _Telemetry:
    """The tracer, the instruments and the options of one ``instrument()``."""

    def __init__(self, tracer: trace.Tracer, meter: metrics.Meter, record_keys: bool) -> None:
        self.tracer = tracer
        self.record_keys = record_keys
        self.duration = meter.create_histogram(
            "storeroom.operation.duration", unit="s", description="Duration of operations"
        )
        self.io = _Totals()
        self.cache_requests = _Totals()
        self.retries = _Totals()
        self.conflicts = _Totals()
        for name, totals, unit, description in (
            ("storeroom.io", self.io, "By", "Bytes read and written"),
            ("storeroom.cache.requests", self.cache_requests, "1", "Cache lookups by outcome"),
            ("storeroom.retries", self.retries, "1", "Retries after transient errors"),
            ("storeroom.conflicts", self.conflicts, "1", "Conditional writes that lost a race"),
        ):
            meter.create_observable_counter(
                name, callbacks=[totals.observe], unit=unit, description=description
            )
        # One attribute dict per (component, backend, operation, outcome), built once.
        self._metric_attributes: dict[tuple[str, str, str, str], dict[str, str]] = {}

    def attributes(
        self, component: str, owner: object, operation: str, key: object
    ) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "storeroom.component": component,
            "storeroom.backend": type(owner).__name__,
            "storeroom.operation": operation,
        }
        if self.record_keys and isinstance(key, str):
            attributes["storeroom.key.hash"] = _key_hash(key)
        return attributes

    def finish(
        self,
        span: Span,
        attributes: dict[str, Any],
        started: float,
        error: BaseException | None,
    ) -> None:
        outcome = "ok"
        if error is not None:
            outcome = "error" if isinstance(error, Exception) else "cancelled"
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
        index = (
            attributes["storeroom.component"],
            attributes["storeroom.backend"],
            attributes["storeroom.operation"],
            outcome,
        )
        metric = self._metric_attributes.get(index)
        if metric is None:
            metric = self._metric_attributes[index] = {
                "storeroom.component": index[0],
                "storeroom.backend": index[1],
                "storeroom.operation": index[2],
                "storeroom.outcome": outcome,
            }
        self.duration.record(time.perf_counter() - started, metric)
        span.end()

    def count_bytes(self, span: Span, attributes: dict[str, Any], size: int, read: bool) -> None:
        span.set_attribute("storeroom.bytes", size)
        self.io.add(
            size,
            ("storeroom.backend", attributes["storeroom.backend"]),
            ("storeroom.component", attributes["storeroom.component"]),
            ("storeroom.direction", "read" if read else "write"),
        )


_state: _Telemetry | None = None


def _reads(operation: str) -> bool:
    return operation.startswith(("get", "read", "stream", "cat", "download"))


class _Arguments:
    """Where an operation's key, data and default arguments are: found once per function."""

    def __init__(self, function: Callable[..., Any]) -> None:
        names = list(inspect.signature(function).parameters)[1:]  # after self
        self.key = next((name for name in _KEY_PARAMETERS if name in names), None)
        self.data = next((name for name in _DATA_PARAMETERS if name in names), None)
        self.positions = {name: index for index, name in enumerate(names)}

    def value(self, name: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if name is None:
            return None
        if name in kwargs:
            return kwargs[name]
        index = self.positions[name]
        return args[index] if index < len(args) else None


def _wrap_coroutine(
    component: str, operation: str, original: Callable[..., Any]
) -> Callable[..., Any]:
    where = _Arguments(original)
    reads = _reads(operation)
    default_position = where.positions.get("default")

    @functools.wraps(original)
    async def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        telemetry = _state
        mark = (id(self), operation)
        active = _active.get()
        if telemetry is None or mark in active:
            return await original(self, *args, **kwargs)
        attributes = telemetry.attributes(
            component, self, operation, where.value(where.key, args, kwargs)
        )
        span = telemetry.tracer.start_span(
            f"{component}.{operation}", kind=SpanKind.CLIENT, attributes=attributes
        )
        token = _active.set(active | {mark})
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            attached = context.attach(trace.set_span_in_context(span))
            try:
                result = await original(self, *args, **kwargs)
            finally:
                context.detach(attached)
            if reads:
                size = _size(result)
                if size is not None:
                    telemetry.count_bytes(span, attributes, size, read=True)
            elif where.data is not None:
                written = _size(where.value(where.data, args, kwargs))
                if written is not None:
                    telemetry.count_bytes(span, attributes, written, read=False)
            if component == "cache" and operation == "get":
                default = (
                    where.value("default", args, kwargs) if default_position is not None else None
                )
                outcome = "miss" if result is default else "hit"
                span.set_attribute("storeroom.cache.outcome", outcome)
                telemetry.cache_requests.add(
                    1,
                    ("storeroom.backend", type(self).__name__),
                    ("storeroom.cache.outcome", outcome),
                )
            return result
        except BaseException as raised:
            error = raised
            if isinstance(raised, _CONFLICTS):
                _note("conflicts", "conflict")  # on the caller's span: it lost a race
            raise
        finally:
            _active.reset(token)
            telemetry.finish(span, attributes, started, error)

    traced.__storeroom_original__ = original  # type: ignore[attr-defined]
    return traced


def _wrap_stream(
    component: str, operation: str, original: Callable[..., Any]
) -> Callable[..., Any]:
    where = _Arguments(original)

    @functools.wraps(original)
    def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        telemetry = _state
        mark = (id(self), operation)
        if telemetry is None or mark in _active.get():
            return original(self, *args, **kwargs)
        key = where.value(where.key, args, kwargs)
        return _traced_iteration(
            telemetry, component, operation, self, key, mark, original, args, kwargs
        )

    traced.__storeroom_original__ = original  # type: ignore[attr-defined]
    return traced


async def _traced_iteration(
    telemetry: _Telemetry,
    component: str,
    operation: str,
    owner: Any,
    key: object,
    mark: tuple[int, str],
    original: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> AsyncIterator[Any]:
    attributes = telemetry.attributes(component, owner, operation, key)
    span = telemetry.tracer.start_span(
        f"{component}.{operation}", kind=SpanKind.CLIENT, attributes=attributes
    )
    started = time.perf_counter()
    error: BaseException | None = None
    total = 0
    counted = False
    try:
        token = _active.set(_active.get() | {mark})
        try:
            with trace.use_span(span, end_on_exit=False, record_exception=False):
                iterator = original(owner, *args, **kwargs)
        finally:
            _active.reset(token)
        async for item in iterator:
            size = _size(item)
            if size is not None:
                total += size
                counted = True
            yield item
    except GeneratorExit:
        raise  # closed early by its consumer: not an error
    except BaseException as raised:
        error = raised
        raise
    finally:
        if counted:
            telemetry.count_bytes(span, attributes, total, read=True)
        telemetry.finish(span, attributes, started, error)


def _public_operations(cls: type) -> Iterator[tuple[str, Callable[..., Any], bool]]:
    """``(name, function, streaming)`` for each public operation ``cls`` itself defines."""
    for name, value in vars(cls).items():
        if name.startswith("_") or getattr(value, "__storeroom_original__", None) is not None:
            continue
        if inspect.iscoroutinefunction(value):
            yield name, value, False
        elif inspect.isasyncgenfunction(value) or (
            name in _STREAMING and inspect.isfunction(value)
        ):
            yield name, value, True


class _Patcher:
    """Wraps the operations of every layer class and its subclasses, and unwraps them."""

    def __init__(self) -> None:
        self.patched: list[tuple[type, str, Callable[..., Any]]] = []
        self.hooks: list[tuple[type, Any]] = []

    def patch_tree(self, root: type, component: str) -> None:
        for cls in [root, *self._subclasses(root)]:
            self.patch_class(cls, component)
        previous = root.__dict__.get("__init_subclass__")
        patcher = self

        def init_subclass(cls: type, /, **kwargs: Any) -> None:
            if previous is not None:
                previous.__func__(cls, **kwargs)
            else:
                super(root, cls).__init_subclass__(**kwargs)  # type: ignore[arg-type]
            patcher.patch_class(cls, component)

        setattr(root, "__init_subclass__", classmethod(init_subclass))  # noqa: B010
        self.hooks.append((root, previous))

    def patch_class(self, cls: type, component: str) -> None:
        for name, function, streaming in list(_public_operations(cls)):
            wrapper = (_wrap_stream if streaming else _wrap_coroutine)(component, name, function)
            setattr(cls, name, wrapper)
            self.patched.append((cls, name, function))

    def patch_function(self, owner: Any, name: str, wrapper: Callable[..., Any]) -> None:
        original = getattr(owner, name)
        setattr(owner, name, wrapper(original))
        self.patched.append((owner, name, original))

    def restore(self) -> None:
        for cls, name, original in reversed(self.patched):
            setattr(cls, name, original)
        for root, previous in self.hooks:
            if previous is None:
                delattr(root, "__init_subclass__")
            else:
                setattr(root, "__init_subclass__", previous)  # noqa: B010
        self.patched.clear()
        self.hooks.clear()

    @staticmethod
    def _subclasses(root: type) -> list[type]:
        found: list[type] = []
        pending: list[type] = list(root.__subclasses__())
        while pending:
            cls = pending.pop()
            if cls not in found:
                found.append(cls)
                pending.extend(cls.__subclasses__())
        return found


def _note(counter_name: str, event: str) -> None:
    telemetry = _state
    if telemetry is None:
        return
    span = trace.get_current_span()
    span.add_event(event)
    if span.is_recording():
        attribute = f"storeroom.{counter_name}"
        current = getattr(span, "attributes", {}).get(attribute, 0) or 0
        span.set_attribute(attribute, int(current) + 1)
    totals: _Totals = getattr(telemetry, counter_name)
    totals.add(1)


class StoreroomInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Spans and metrics for storeroom, in OpenTelemetry's instrumentor shape.

    ``StoreroomInstrumentor().instrument(tracer_provider=..., meter_provider=...)``
    installs it (the global providers by default; ``record_keys=False`` leaves
    even the key hashes out); ``uninstrument()`` removes it. OpenTelemetry's
    auto-instrumentation finds it through the ``opentelemetry_instrumentor``
    entry point ``storeroom``.
    """

    _patcher: _Patcher | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return []

    def _instrument(self, **kwargs: Any) -> None:
        global _state
        from . import retry
        from .artifactstore.store import ArtifactStore
        from .caches.base import Cache
        from .caches.flight import SingleFlight
        from .filestore import FileStore
        from .providers.base import Provider

        tracer = trace.get_tracer("storeroom", tracer_provider=kwargs.get("tracer_provider"))
        meter = metrics.get_meter("storeroom", meter_provider=kwargs.get("meter_provider"))
        _state = _Telemetry(tracer, meter, record_keys=bool(kwargs.get("record_keys", True)))
        patcher = _Patcher()
        patcher.patch_tree(Provider, "provider")
        patcher.patch_tree(FileStore, "files")
        patcher.patch_tree(ArtifactStore, "artifacts")
        patcher.patch_tree(Cache, "cache")
        patcher.patch_function(retry.Backoff, "delays", _retries_counted)
        patcher.patch_function(SingleFlight, "run", _coalesced_counted)
        StoreroomInstrumentor._patcher = patcher

    def _uninstrument(self, **kwargs: Any) -> None:
        global _state
        if StoreroomInstrumentor._patcher is not None:
            StoreroomInstrumentor._patcher.restore()
            StoreroomInstrumentor._patcher = None
        _state = None


def _retries_counted(original: Callable[..., Iterator[float]]) -> Callable[..., Iterator[float]]:
    @functools.wraps(original)
    def delays(*args: Any, **kwargs: Any) -> Iterator[float]:
        for delay in original(*args, **kwargs):
            _note("retries", "retry")
            yield delay

    return delays


def _coalesced_counted(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def run(self: Any, key: Any, work: Callable[..., Any]) -> Any:
        if _state is not None and key in getattr(self, "_running", {}):
            span = trace.get_current_span()
            span.set_attribute("storeroom.cache.outcome", "coalesced")
            _state.cache_requests.add(1, ("storeroom.cache.outcome", "coalesced"))
        return await original(self, key, work)

    return run

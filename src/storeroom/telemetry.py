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
# same operation on the same object join the outer span. A tuple: nesting is a
# few levels deep, and extending a tuple is cheaper than a set union.
_active: contextvars.ContextVar[tuple[tuple[int, str], ...]] = contextvars.ContextVar(
    "storeroom_telemetry_active", default=()
)

_CLIENT = SpanKind.CLIENT
_attach = context.attach
_detach = context.detach
_in_context = trace.set_span_in_context
_clock = time.perf_counter
#: Key hashes remembered (a hot key is hashed once, not on every operation).
_HASHES_KEPT = 4096


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
        self.add_to(attributes, amount)

    def add_to(self, key: tuple[tuple[str, str], ...], amount: int) -> None:
        """``add`` with the attributes already a key (a site's, built once)."""
        self.sums[key] = self.sums.get(key, 0) + amount

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, dict(key)) for key, value in list(self.sums.items())]


class _Site:
    """What one operation of one class records, built on its first call, not per call:
    the span name, the span's fixed attributes, the metric attributes of each
    outcome and the keys of the byte and cache counters."""

    __slots__ = ("attributes", "cache_hit", "cache_miss", "io_read", "io_write", "name", "outcomes")

    def __init__(self, component: str, operation: str, backend: str) -> None:
        self.name = f"{component}.{operation}"
        self.attributes: dict[str, Any] = {
            "storeroom.component": component,
            "storeroom.backend": backend,
            "storeroom.operation": operation,
        }
        self.outcomes: dict[str, dict[str, str]] = {
            outcome: {
                "storeroom.component": component,
                "storeroom.backend": backend,
                "storeroom.operation": operation,
                "storeroom.outcome": outcome,
            }
            for outcome in ("ok", "error", "cancelled")
        }
        where = (("storeroom.backend", backend), ("storeroom.component", component))
        self.io_read = (*where, ("storeroom.direction", "read"))
        self.io_write = (*where, ("storeroom.direction", "write"))
        self.cache_hit = (("storeroom.backend", backend), ("storeroom.cache.outcome", "hit"))
        self.cache_miss = (("storeroom.backend", backend), ("storeroom.cache.outcome", "miss"))


class _Sites(dict[type, _Site]):
    """The sites of one operation by class (one per wrapper, so per ``instrument()``)."""

    def __init__(self, component: str, operation: str) -> None:
        super().__init__()
        self.component = component
        self.operation = operation

    def __missing__(self, cls: type) -> _Site:
        site = self[cls] = _Site(self.component, self.operation, cls.__name__)
        return site


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
        self._hashes: dict[str, str] = {}

    def attributes(self, site: _Site, key: object) -> dict[str, Any]:
        """The span's attributes at its start: the site's, and the key's hash."""
        if not self.record_keys or not isinstance(key, str):
            return site.attributes  # the SDK copies it: shared safely
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= _HASHES_KEPT:
                self._hashes.clear()
            hashed = self._hashes[key] = _key_hash(key)
        return {**site.attributes, "storeroom.key.hash": hashed}

    def failed(self, span: Span, site: _Site, started: float, error: BaseException) -> None:
        outcome = "error" if isinstance(error, Exception) else "cancelled"
        if span.is_recording():
            name = type(error).__qualname__
            span.set_attribute("error.type", name)
            span.set_status(Status(StatusCode.ERROR, name))
        self.duration.record(_clock() - started, site.outcomes[outcome])
        span.end()

    def count_bytes(self, span: Span, site: _Site, size: int, read: bool) -> None:
        span.set_attribute("storeroom.bytes", size)
        self.io.add_to(site.io_read if read else site.io_write, size)


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
        #: The key's position (``-1``: keyword only or none): read without a call.
        self.key_position = self.positions.get(self.key, -1) if self.key is not None else -1

    def value(self, name: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if name is None:
            return None
        if name in kwargs:
            return kwargs[name]
        index = self.positions[name]
        return args[index] if index < len(args) else None

    def key_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        position = self.key_position
        if 0 <= position < len(args):
            return args[position]
        return self.value(self.key, args, kwargs)


def _wrap_coroutine(
    component: str, operation: str, original: Callable[..., Any]
) -> Callable[..., Any]:
    where = _Arguments(original)
    reads = _reads(operation)
    data = where.data
    cache_get = component == "cache" and operation == "get"
    has_default = "default" in where.positions
    sites = _Sites(component, operation)

    # One frame, no context managers, everything fixed looked up once per class
    # (``sites``): the cost left is the SDK's span and histogram.
    @functools.wraps(original)
    async def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        telemetry = _state
        mark = (id(self), operation)
        active = _active.get()
        if telemetry is None or mark in active:
            return await original(self, *args, **kwargs)
        site = sites[type(self)]
        attributes = telemetry.attributes(site, where.key_of(args, kwargs))
        span = telemetry.tracer.start_span(site.name, kind=_CLIENT, attributes=attributes)
        token = _active.set((*active, mark))
        attached = _attach(_in_context(span))
        started = _clock()
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as raised:
            _detach(attached)
            _active.reset(token)
            if isinstance(raised, _CONFLICTS):
                _note("conflicts", "conflict")  # on the caller's span: it lost a race
            telemetry.failed(span, site, started, raised)
            raise
        elapsed = _clock() - started
        _detach(attached)
        _active.reset(token)
        if reads:
            size = _size(result)
            if size is not None:
                telemetry.count_bytes(span, site, size, read=True)
        elif data is not None:
            written = _size(where.value(data, args, kwargs))
            if written is not None:
                telemetry.count_bytes(span, site, written, read=False)
        if cache_get:
            default = where.value("default", args, kwargs) if has_default else None
            hit = result is not default
            span.set_attribute("storeroom.cache.outcome", "hit" if hit else "miss")
            telemetry.cache_requests.add_to(site.cache_hit if hit else site.cache_miss, 1)
        telemetry.duration.record(elapsed, site.outcomes["ok"])
        span.end()
        return result

    traced.__storeroom_original__ = original  # type: ignore[attr-defined]
    return traced


def _wrap_stream(
    component: str, operation: str, original: Callable[..., Any]
) -> Callable[..., Any]:
    where = _Arguments(original)
    sites = _Sites(component, operation)

    @functools.wraps(original)
    def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        telemetry = _state
        mark = (id(self), operation)
        if telemetry is None or mark in _active.get():
            return original(self, *args, **kwargs)
        return _traced_iteration(
            telemetry, sites[type(self)], self, where.key_of(args, kwargs), mark, original, args,
            kwargs,
        )

    traced.__storeroom_original__ = original  # type: ignore[attr-defined]
    return traced


async def _traced_iteration(
    telemetry: _Telemetry,
    site: _Site,
    owner: Any,
    key: object,
    mark: tuple[int, str],
    original: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> AsyncIterator[Any]:
    span = telemetry.tracer.start_span(
        site.name, kind=_CLIENT, attributes=telemetry.attributes(site, key)
    )
    started = _clock()
    total = 0
    counted = False
    try:
        token = _active.set((*_active.get(), mark))
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
        if counted:
            telemetry.count_bytes(span, site, total, read=True)
        telemetry.duration.record(_clock() - started, site.outcomes["ok"])
        span.end()
        raise  # closed early by its consumer: not an error
    except BaseException as raised:
        if counted:
            telemetry.count_bytes(span, site, total, read=True)
        telemetry.failed(span, site, started, raised)
        raise
    if counted:
        telemetry.count_bytes(span, site, total, read=True)
    telemetry.duration.record(_clock() - started, site.outcomes["ok"])
    span.end()


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

"""``storeroom doctor``: check a store or a cache the way support would.

:func:`diagnose` runs the checks in the order a person would, and stops
where the next ones cannot run (no point testing writes on a bucket that
does not exist):

1. ``url``: the URL and options parse and the store can be built;
2. ``credentials``: found, and from where (or what to set);
3. ``endpoint``: the server answers;
4. ``bucket``: the bucket or container exists (the store's folder lists);
5. ``create-if-absent`` and ``compare-and-swap``: tried for real on a scratch
   key under the store's prefix (removed after), by the server's own
   conditional writes where the provider can send them, so a server that
   ignores preconditions is found even when the provider already works
   around it;
6. ``clock``: the server's time against this machine's (S3 refuses requests
   more than 15 minutes off).

For a cache (``redis://``, ``rediss://``, ``none://``, or ``cache=True``):
``url``, then ``answers`` (a scratch entry set, read and deleted).

Each :class:`Check` says what was found and, when something is wrong, what
to do; a :class:`Report` is printable as text or JSON. Errors are read by
their type and, for object stores, by the one classification of native
errors (:func:`~storeroom.providers.object.errors.classify`). Secrets never
appear: every URL is masked and every message comes from storeroom's own
errors, which are masked already.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from .errors import (
    AlreadyExists,
    BackendUnavailable,
    ConfigurationError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
)
from .options import mask, split_options
from .providers.base import IfMatch, Provider
from .urls import CACHE_SCHEMES, PROVIDER_SCHEMES, cache, provider

__all__ = ["Check", "Report", "diagnose"]

Status = Literal["ok", "problem", "warning", "skipped"]
#: Clock differences (seconds) worth a warning, and that S3 refuses.
SKEW_WARNING = 60.0
SKEW_REFUSED = 15 * 60.0
#: Doctor's own transport settings where the URL does not set them: answer quickly.
_QUICK = {"max_retries": "1", "timeout": "10", "connect_timeout": "5"}
_CLOUDS = ("s3", "az", "azure", "gs")


@dataclass(frozen=True)
class Check:
    """One check's outcome.

    Attributes:
        name: what was checked (``url``, ``credentials``, ``endpoint``, ...).
        status: ``ok``, ``problem``, ``warning`` or ``skipped``.
        detail: what was found.
        advice: what to do about it (empty when nothing needs doing).
    """

    name: str
    status: Status
    detail: str
    advice: str = ""


@dataclass
class Report:
    """Every check run on one URL.

    Attributes:
        url: the URL, masked.
        kind: ``store`` or ``cache``.
        checks: the checks, in the order they ran.
    """

    url: str
    kind: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No check found a problem."""
        return all(check.status != "problem" for check in self.checks)

    def add(self, name: str, status: Status, detail: str, advice: str = "") -> None:
        """Record one check."""
        self.checks.append(Check(name, status, detail, advice))

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (for ``--json``)."""
        return {
            "url": self.url,
            "kind": self.kind,
            "ok": self.ok,
            "checks": [asdict(check) for check in self.checks],
        }

    def lines(self) -> list[str]:
        """The report as lines of text, one per check (advice indented below)."""
        marks = {"ok": "ok     ", "problem": "PROBLEM", "warning": "warning", "skipped": "skipped"}
        out = [f"storeroom doctor: {self.url} ({self.kind})"]
        for check in self.checks:
            out.append(f"  {marks[check.status]}  {check.name}: {check.detail}")
            if check.advice:
                out.append(f"           -> {check.advice}")
        out.append("no problems found" if self.ok else "problems found: see above")
        return out


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else "file"


async def diagnose(url: str, *, as_cache: bool | None = None, **options: Any) -> Report:
    """Check the store (or cache) at ``url`` with ``options``; see the module docstring.

    Args:
        url: a storage or cache URL.
        as_cache: check it as a cache (default: when the scheme is only a cache scheme).
        **options: options for the factory, as for :func:`storeroom.provider`.
    """
    scheme = _scheme(url)
    if as_cache is None:
        as_cache = scheme in CACHE_SCHEMES and scheme not in PROVIDER_SCHEMES
    report = Report(mask(url), "cache" if as_cache else "store")
    if as_cache:
        await _check_cache(report, url, options)
    else:
        await _check_store(report, url, options)
    return report


async def _check_cache(report: Report, url: str, options: dict[str, Any]) -> None:
    try:
        built = cache(url, **options)
    except StorageError as exc:
        report.add("url", "problem", str(exc), "fix the URL or option named above")
        return
    report.add("url", "ok", repr(built))
    key, value = f"storeroom-doctor-{uuid.uuid4().hex}", {"doctor": True}
    try:
        await built.set(key, value, ttl=60)
        found = await built.get(key)
        await built.delete(key)
    except StorageError as exc:
        report.add("answers", "problem", str(exc), "check that the server runs and the URL")
    else:
        if found == value:
            report.add("answers", "ok", "set, get and delete of a scratch entry worked")
        elif scheme_keeps_nothing(url):
            report.add("answers", "warning", "none:// keeps nothing (caching is off)")
        else:
            report.add("answers", "problem", f"a scratch entry read back as {found!r}")
    finally:
        await built.aclose()


def scheme_keeps_nothing(url: str) -> bool:
    """Whether ``url`` is a cache that keeps nothing by design (``none://``)."""
    return _scheme(url) == "none"


def _missing_folder(url: str) -> str | None:
    """The folder a local store's URL names, if there is none."""
    if _scheme(url) != "file":
        return None
    from .providers.local import LocalProvider

    try:
        path, _ = split_options(url, {})
    except ConfigurationError:
        return None  # (the URL check says what is wrong)
    folder = LocalProvider.folder_of(path)
    return None if os.path.isdir(folder) else folder


def _quick(url: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` plus doctor's quick transport settings where the URL sets none."""
    if _scheme(url) not in _CLOUDS:
        return options
    try:
        _, given = split_options(url, options)
    except ConfigurationError:
        return options
    return {**{k: v for k, v in _QUICK.items() if k not in given}, **options}


async def _check_store(report: Report, url: str, options: dict[str, Any]) -> None:
    from .providers.object.config import MissingCredentials

    folder = _missing_folder(url)
    if folder is not None:  # opening it would make it (and every folder above it)
        report.add(
            "folder", "warning", f"no folder at {folder!r} yet",
            "storeroom makes it when the store is first used; if that is a typo, fix the path",
        )  # fmt: skip
        return
    try:
        built = provider(url, **_quick(url, options))
    except MissingCredentials as exc:
        report.add("url", "ok", "the URL and its options parse")
        report.add("credentials", "problem", "none found", str(exc).partition(": ")[2])
        return
    except StorageError as exc:
        report.add("url", "problem", str(exc), "fix the URL or the option named above")
        return
    async with built:
        report.add("url", "ok", repr(built))
        source = getattr(built, "credentials", None)
        if source:
            report.add("credentials", "ok", f"from {source}")
        else:
            report.add("credentials", "skipped", "not needed for this store")
        if await _reach(report, built):
            await _conditionals(report, built)


async def _reach(report: Report, built: Provider) -> bool:
    """The endpoint and bucket checks (one listing); whether the store can be used."""
    if not hasattr(built, "endpoint"):  # a local folder or memory: no server to reach
        try:
            await built.list_dir("")
        except StorageError as exc:
            report.add("store", "problem", str(exc), "check the path and its permissions")
            return False
        report.add("store", "ok", "lists")
        return True
    endpoint = getattr(built, "endpoint", None) or "the service's own endpoint"
    try:
        await built.list_dir("")
    except StorageError as exc:
        cause = _cause(exc)
        if isinstance(exc, PermissionDenied):
            report.add("endpoint", "ok", f"{endpoint} answers")
            _replace(report, "credentials", "problem", str(exc), "fix the credentials")
        elif cause == "no_bucket":
            report.add("endpoint", "ok", f"{endpoint} answers")
            report.add("bucket", "problem", str(exc), "create the bucket, or fix its name")
        elif isinstance(exc, (BackendUnavailable, ConfigurationError)):
            report.add("endpoint", "problem", str(exc), "check the endpoint and the network")
        else:
            report.add("endpoint", "problem", str(exc))
        return False
    report.add("endpoint", "ok", f"{endpoint} answers")
    report.add("bucket", "ok", "exists and lists")
    return True


def _cause(exc: StorageError) -> str | None:
    """What the one classification of native errors says caused ``exc`` (object stores)."""
    native = exc.__cause__
    if native is None:
        return None
    from .providers.object.errors import classify, is_native

    return classify(native).cause if is_native(native) else None


def _replace(report: Report, name: str, status: Status, detail: str, advice: str) -> None:
    report.checks = [c for c in report.checks if c.name != name]
    report.add(name, status, detail, advice)


async def _conditionals(report: Report, built: Provider) -> None:
    key = f"storeroom-doctor-{uuid.uuid4().hex}"
    probe = getattr(built, "probe_preconditions", None)
    before = datetime.now(timezone.utc)
    started = time.monotonic()
    try:
        if probe is not None:
            create_holds, swap_holds = await probe(key)
            await built.put(key, b"clock")
        else:
            create_holds, swap_holds = await _api_conditionals(built, key)
        meta = await built.head(key)
    except StorageError as exc:
        report.add("writes", "problem", str(exc), "check the credentials' write permission")
        return
    finally:
        with contextlib.suppress(StorageError):
            await built.delete(key)
    notes = built.capabilities.notes
    ignored = "the server ignores it: concurrent writers can overwrite each other"
    advice = (
        "use a server that honours conditional writes; until then storeroom checks "
        "before writing (not atomic): one writer only" + (f" ({notes})" if notes else "")
    )
    for name, holds in (("create-if-absent", create_holds), ("compare-and-swap", swap_holds)):
        if holds:
            report.add(name, "ok", "a conflicting write was refused, as it must be")
        else:
            report.add(name, "problem", ignored, advice)
    if hasattr(built, "endpoint"):  # a server's clock (a local store's is this machine's)
        _clock(report, before, started, meta.modified)


async def _api_conditionals(built: Provider, key: str) -> tuple[bool, bool]:
    """Create-if-absent and compare-and-swap through the provider's own API."""
    first = await built.put(key, b"1", mode="create")
    try:
        await built.put(key, b"2", mode="create")
        create_holds = False
    except AlreadyExists:
        create_holds = True
    await built.put(key, b"3")
    try:
        await built.put(key, b"4", mode=IfMatch(first.etag or "-"))
        swap_holds = False
    except (PreconditionFailed, NotFound):
        swap_holds = True
    return create_holds, swap_holds


def _clock(report: Report, before: datetime, started: float, stamped: datetime) -> None:
    elapsed = time.monotonic() - started
    skew = (stamped - before).total_seconds()
    # The server stamped the object somewhere within the elapsed time (to the second).
    off = 0.0 if -1.0 <= skew <= elapsed + 1.0 else (skew if skew < 0 else skew - elapsed)
    if abs(off) >= SKEW_REFUSED:
        report.add(
            "clock", "problem", f"the server's clock is {off:+.0f} s from this machine's",
            "set this machine's clock (NTP): S3 refuses requests 15 minutes off",
        )  # fmt: skip
    elif abs(off) >= SKEW_WARNING:
        report.add("clock", "warning", f"{off:+.0f} s from this machine's", "check NTP")
    else:
        report.add("clock", "ok", f"within {max(abs(off), 1.0):.0f} s of this machine's")

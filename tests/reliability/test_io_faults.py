"""I/O fault sweep: EIO and ENOSPC at every system call of a local put.

For each kind of put (``overwrite``, ``create``, ``IfMatch``, ``write_stream``;
``durable=True`` so that the fsyncs are there too) a calibration run records,
under strace, the system calls a put makes (folder walk ``openat``/``mkdirat``,
the temp file's ``openat``, ``write``, ``utimensat``, ``fsync``, the stripe
lock's ``openat``/``flock``, ``rename``/``link``, the folder's ``fsync``).
Then, for each of those calls, strace attaches to the thread that makes it in
the child (:mod:`tests.reliability.faulty_put`, a fresh provider per case) and
fails exactly that call, once or from then on, with EIO or ENOSPC. Each case
checks:

- the put returns or raises a typed ``StorageError``, never a raw ``OSError``;
- the object holds the previous bytes, or (only if the fault came after the
  rename/link that commits the put) the new ones: never anything else;
- no temp file is left behind, while the child is still alive (so the sweep
  on open cannot be what cleaned up);
- once strace has gone, the same provider retries the put and it succeeds
  (no lock or descriptor was left held by the failed attempt).

The default run covers every call of every kind with EIO and ENOSPC, each once
and from then on (184 cases, about 3 s); ``--soak`` adds ``durable=False`` (336 in all).
Skipped without strace (failed on CI, ``CI=true``).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from storeroom import NotFound
from storeroom.providers.local import LocalProvider
from tests.reliability.conftest import FIGURES, Budget, in_ci
from tests.reliability.faulty_put import BEFORE, FIRST, RETRY
from tests.reliability.support import REPO, temp_files

STRACE = shutil.which("strace")
#: The system calls a put may make that can fail with EIO or ENOSPC.
SWEPT = (
    "openat", "mkdir", "mkdirat", "write", "pwrite64", "writev", "fsync", "fdatasync",
    "utimensat", "flock", "rename", "renameat", "renameat2", "link", "linkat",
)  # fmt: skip
_COMMITS = ("rename", "renameat", "renameat2", "link", "linkat")
_CALL = re.compile(r"^(\d+) +(\w+)\(")

pytestmark = pytest.mark.skipif(
    STRACE is None and not in_ci(), reason="strace is not installed (apt-get install strace)"
)


@dataclass(frozen=True)
class Step:
    """The ``nth`` call (1-based) of ``syscall`` by the thread ``thread`` during a put.

    strace counts calls per thread, so a fault is injected by attaching to
    that thread alone: a put's calls may come from two threads (the event
    loop's and the executor's, e.g. ``write_stream`` with ``durable=True``),
    and both live on from case to case (one event loop serves them all).
    """

    index: int
    syscall: str
    nth: int
    thread: int


class Child:
    """The :mod:`tests.reliability.faulty_put` child and the socket to it."""

    def __init__(self, root: Path) -> None:
        mine, theirs = socket.socketpair()
        self.sock = mine
        self.process = subprocess.Popen(
            [sys.executable, "-B", "-m", "tests.reliability.faulty_put",
             str(theirs.fileno()), str(root)],
            cwd=REPO, pass_fds=[theirs.fileno()],
        )  # fmt: skip
        theirs.close()

    def ask(self, message: str) -> str:
        self.sock.sendall(message.encode())
        return self.sock.recv(4096).decode()

    def close(self) -> None:
        self.sock.sendall(b"quit")
        assert self.process.wait(timeout=30) == 0
        self.sock.close()


@contextmanager
def strace(pid: int, args: list[str], log: Path, *, follow: bool = True) -> Iterator[None]:
    """strace attached to ``pid`` (with ``follow``, all its threads) for the block."""
    assert STRACE is not None, "strace is required on CI"
    tracer = subprocess.Popen(
        [STRACE, *(["-f"] if follow else []), "-p", str(pid), "-o", str(log), *args],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert tracer.stderr is not None
    line = tracer.stderr.readline()  # "Process N attached" (and "with M threads")
    assert "attached" in line, f"strace could not attach: {line}{tracer.stderr.read()}"
    try:
        yield
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.communicate(timeout=30)


def calibrate(child: Child, mode: str, durable: str, key: str, log: Path) -> list[Step]:
    """The swept system calls one put of this kind makes, in order."""
    assert child.ask(f"case {mode} {durable} {key}") == "ready"
    with strace(child.process.pid, ["-e", "trace=" + ",".join(SWEPT)], log):
        assert child.ask("go") == "ok"
    child.ask("retry")
    seen: Counter[tuple[int, str]] = Counter()
    steps: list[Step] = []
    for line in log.read_text().splitlines():
        match = _CALL.match(line)
        if match and match.group(2) in SWEPT:
            thread, syscall = int(match.group(1)), match.group(2)
            seen[thread, syscall] += 1
            steps.append(Step(len(steps), syscall, seen[thread, syscall], thread))
    assert any(step.syscall in _COMMITS for step in steps), f"no commit in {steps}"
    return steps


def read_now(root: Path, key: str) -> bytes | None:
    """What ``key`` holds now (None if absent), read by a separate provider."""

    async def read() -> bytes | None:
        async with LocalProvider(root, sweep=False) as provider:
            try:
                return await provider.read(key)
            except NotFound:
                return None

    return asyncio.run(read())


def prepare(root: Path, key: str, mode: str) -> None:
    """Put the previous bytes at ``key`` (a ``create`` case only gets its folder's parent)."""

    async def put() -> None:
        async with LocalProvider(root, sweep=False) as provider:
            if mode == "create":
                await provider.makedirs(key.split("/", 1)[0])
            else:
                await provider.put(key, BEFORE)

    asyncio.run(put())


@dataclass(frozen=True)
class Case:
    """What happened in one case: the fault, the put's outcome and the store after it."""

    where: str
    mode: str
    committed: bool
    outcome: str
    after: bytes | None
    leaked: tuple[str, ...]
    retry: str
    after_retry: bytes | None
    leaked_by_retry: tuple[str, ...]


def run_case(
    child: Child, root: Path, kind: tuple[str, str], steps: list[Step], step: Step,
    fault: tuple[str, bool], case: int, log: Path,
) -> Case:
    """Inject ``fault`` (errno name, persistent) at ``step`` of a put and record what came of it.

    ``kind`` is (mode, durable) and ``steps`` its calibrated calls.
    """
    (mode, durable), (error, persistent) = kind, fault
    key = f"{mode}/{case}/object.bin"
    how = "from then on" if persistent else "once"
    where = f"{mode} durable={durable}: {error} at {step.syscall} #{step.nth} ({how})"
    prepare(root, key, mode)
    assert child.ask(f"case {mode} {durable} {key}") == "ready"
    when = f"{step.nth}+" if persistent else str(step.nth)
    inject = f"inject={step.syscall}:error={error}:when={when}"
    assert os.path.exists(f"/proc/{child.process.pid}/task/{step.thread}"), "thread gone"
    with strace(step.thread, ["-e", f"trace={step.syscall}", "-e", inject], log, follow=False):
        outcome = child.ask("go")
    assert "INJECTED" in log.read_text(), f"the fault never fired: {where}"
    after = read_now(root, key)
    leaked = tuple(temp_files(root))
    for path in leaked:  # so that the next cases start clean
        os.unlink(path)
    retry = child.ask("retry")
    leaked_by_retry = tuple(temp_files(root))
    return Case(
        where=where,
        mode=mode,
        committed=any(s.syscall in _COMMITS for s in steps[: step.index]),
        outcome=outcome,
        after=after,
        leaked=leaked,
        retry=retry,
        after_retry=read_now(root, key),
        leaked_by_retry=leaked_by_retry,
    )


def plan(budget: Budget) -> list[tuple[tuple[str, str], tuple[str, bool]]]:
    """((mode, durable), (error, persistent)) of this run's sweeps."""
    kinds = [("overwrite", "1"), ("create", "1"), ("ifmatch", "1"), ("stream", "1")]
    if budget.soak:
        kinds += [(mode, "0") for mode, _ in kinds]
    faults = list(itertools.product(("EIO", "ENOSPC"), (False, True)))
    return list(itertools.product(kinds, faults))


@pytest.fixture(scope="module")
def sweep(
    tmp_path_factory: pytest.TempPathFactory, budget: Budget, pytestconfig: pytest.Config
) -> list[Case]:
    """Every case of this run's plan, run once for all the tests below."""
    tmp_path = tmp_path_factory.mktemp("io-faults")
    root = tmp_path / "store"
    root.mkdir()
    log = tmp_path / "strace.log"
    child = Child(root)
    numbers = itertools.count(1)
    calibrated: dict[tuple[str, str], list[Step]] = {}
    cases = []
    figures = pytestconfig.stash[FIGURES]
    try:
        for kind, fault in plan(budget):
            if kind not in calibrated:
                key = f"{kind[0]}/calibrate-{kind[1]}/object.bin"
                prepare(root, key, kind[0])
                calibrated[kind] = calibrate(child, *kind, key, log)
            for step in calibrated[kind]:
                steps = calibrated[kind]
                cases.append(run_case(child, root, kind, steps, step, fault, next(numbers), log))
                figures["io faults: injected"] += 1
                figures[f"io faults: at {step.syscall}"] += 1
    finally:
        child.close()
    return cases


def test_a_fault_is_a_typed_storage_error(sweep: list[Case]) -> None:
    wrong = [f"{case.outcome}: {case.where}" for case in sweep
             if case.outcome != "ok" and not case.outcome.startswith("storage ")]  # fmt: skip
    assert not wrong, "\n".join(wrong)


def test_the_object_is_old_or_new_never_anything_else(sweep: list[Case]) -> None:
    wrong = []
    for case in sweep:
        before = None if case.mode == "create" else BEFORE
        if case.outcome == "ok":
            allowed: tuple[bytes | None, ...] = (FIRST,)
        elif case.committed:  # the fault hit after the rename/link: either is whole
            allowed = (before, FIRST)
        else:
            allowed = (before,)
        if case.after not in allowed:
            wrong.append(f"{case.outcome}, object {(case.after or b'')[:8]!r}: {case.where}")
    assert not wrong, "\n".join(wrong)


def test_no_temp_file_is_left_by_a_failed_put(sweep: list[Case]) -> None:
    leaks = [f"{case.outcome}: {case.where}" for case in sweep if case.leaked]
    assert not leaks, "\n".join(leaks)


def test_a_retry_succeeds_once_the_fault_is_gone(sweep: list[Case]) -> None:
    wrong = []
    for case in sweep:
        if case.mode == "create" and case.after == FIRST:
            expected, data = "storage AlreadyExists already_exists", FIRST
        else:
            expected, data = "ok", RETRY
        if case.retry != expected or case.after_retry != data or case.leaked_by_retry:
            wrong.append(f"retry: {case.retry}: {case.where}")
    assert not wrong, "\n".join(wrong)

"""storeroom.sync at work: same results and errors, inline steps, Jupyter, threads, fork."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import types
from pathlib import Path
from typing import Any

import pytest

import storeroom
from storeroom import sync
from storeroom.errors import AlreadyExists, InvalidPath, NotFound
from storeroom.sync import runner as runner_module
from storeroom.sync.forkcheck import ForkedRuntimeError

BIG = 512 * 1024  # above LocalProvider's inline limit: read and written in a thread


@pytest.fixture(params=["memory", "local"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else str(tmp_path / "store")


@pytest.fixture
def handoffs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the coroutines handed to the background loop (those that suspended)."""
    counted: list[int] = []
    resume = runner_module._resume

    def counting(coro: Any, first: Any) -> Any:
        counted.append(1)
        return resume(coro, first)

    monkeypatch.setattr(runner_module, "_resume", counting)
    return counted


def test_same_results_and_errors(url: str) -> None:
    with sync.files(url) as store:
        assert store.write_text("notes/a.txt", "hello").success
        assert store.read_text("notes/a.txt") == "hello"
        assert store.append_text("notes/a.txt", " world").success
        assert store.read_text("./notes/a.txt") == "hello world"
        assert [i.path for i in store.list_directory("notes")] == ["notes/a.txt"]
        with pytest.raises(NotFound):
            store.read_bytes("notes/missing.txt")
        failed = store.write_text("../escape.txt", "x")
        assert not failed.success
        assert failed.metadata["code"] == "invalid_path"
    with sync.provider(url) as provider:
        with pytest.raises(InvalidPath):
            provider.read("../x")
        provider.put("k", b"1", mode="create")
        with pytest.raises(AlreadyExists):
            provider.put("k", b"2", mode="create")


def test_artifacts_and_cache() -> None:
    with sync.artifacts("memory://") as store:
        assert store.store_artifact("report", "one").success
        assert store.store_artifact("report", "two").success
        assert store.get_artifact_versions("report") == ["v1", "v2"]
        assert store.get_artifact("report", "v1") == "one"
        assert store.get_artifact("missing") is None
    with sync.cache("memory://") as cache:
        cache.set("k", {"a": 1})
        assert cache.get("k") == {"a": 1}
        assert cache.stats().hits == 1


def test_small_local_io_runs_inline(tmp_path: Path, handoffs: list[int]) -> None:
    with sync.files(str(tmp_path)) as store:
        store.write_bytes("a.bin", b"x" * 4096)
        for _ in range(10):
            assert store.read_bytes("a.bin") == b"x" * 4096
        assert handoffs == []
        store.write_bytes("big.bin", b"y" * BIG)  # a thread: the coroutine suspends
        assert store.read_bytes("big.bin") == b"y" * BIG
        assert len(handoffs) == 2


def test_suspended_coroutines_finish_on_the_loop(handoffs: list[int]) -> None:
    assert runner_module.run(asyncio.sleep(0.01, result=5)) == 5

    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise KeyError("after a suspension")

    with pytest.raises(KeyError, match="after a suspension"):
        runner_module.run(fails_later())
    assert len(handoffs) == 2


def test_work_scheduled_by_an_inline_step_runs() -> None:
    """A task created inline (loop parked in select) still runs: the loop is woken."""
    done = threading.Event()

    async def schedule() -> None:
        asyncio.get_running_loop().call_later(0.01, done.set)

    runner_module.run(schedule())
    assert done.wait(5)


def test_inside_a_running_loop_as_in_jupyter(tmp_path: Path) -> None:
    store = sync.files(str(tmp_path))

    async def cell() -> tuple[str, bytes]:
        loop = asyncio.get_running_loop()
        store.write_text("a.txt", "from a notebook")
        store.write_bytes("big.bin", b"z" * BIG)  # suspends: runs on storeroom's loop
        text, data = store.read_text("a.txt"), store.read_bytes("big.bin")
        assert asyncio.get_running_loop() is loop  # the notebook's loop is put back
        return text, data

    assert asyncio.run(cell()) == ("from a notebook", b"z" * BIG)


def test_calling_in_from_the_loop_thread_is_an_error_not_a_deadlock() -> None:
    store = sync.files("memory://")

    async def on_the_loop() -> None:
        await asyncio.sleep(0)  # now on storeroom's loop thread
        store.read_text("a.txt")

    with pytest.raises(sync.LoopThreadError, match="await the async API"):
        runner_module.run(on_the_loop())


def test_sixteen_threads_at_once(tmp_path: Path) -> None:
    provider = sync.provider("memory://")
    files = sync.files(str(tmp_path))
    winners: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(20):
                try:  # create-if-absent stays atomic across threads
                    provider.put(f"race/{i}", str(n).encode(), mode="create")
                    winners.append(f"race/{i}")
                except AlreadyExists:
                    pass
                assert files.append_text("log.txt", f"{n}-{i}\n").success
                data = bytes([n]) * (BIG if i % 5 == 0 else 100)
                files.write_bytes(f"t{n}/{i}", data)
                assert files.read_bytes(f"t{n}/{i}") == data
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(winners) == sorted(f"race/{i}" for i in range(20))
    assert len(files.read_text("log.txt").splitlines()) == 16 * 20


def test_iterators_and_early_exit(tmp_path: Path) -> None:
    provider = sync.provider(str(tmp_path))
    for i in range(5):
        provider.write(f"d/{i}", b"x" * 10)
    assert [m.path for m in provider.iter("d")] == [f"d/{i}" for i in range(5)]
    chunks = provider.stream("d/0", 3)
    assert next(chunks) == b"xxx"
    assert isinstance(chunks, types.GeneratorType)
    chunks.close()  # closes the async generator too
    assert b"".join(provider.stream("d/1", 4)) == b"x" * 10


def test_wrap_an_existing_object() -> None:
    provider = storeroom.provider("memory://")
    facade = sync.wrap(provider)
    facade.write("a", b"1")
    assert facade.aio is provider
    facade.close()  # closes nothing it was handed
    with pytest.raises(TypeError, match="cannot wrap"):
        sync.wrap(object())  # type: ignore[call-overload]


def _in_child(check: Any) -> int:
    """Run ``check`` in a forked child; its exit status (0: passed)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        signal.alarm(30)  # a hang is a failure, not a stuck test run
        try:
            check()
        except BaseException:
            import traceback

            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_after_fork_the_child_gets_a_fresh_loop_and_fresh_clients(tmp_path: Path) -> None:
    files = sync.files(str(tmp_path))
    memory = sync.provider("memory://")
    files.write_text("parent.txt", "from the parent")
    memory.write("m", b"copied by fork")
    runner_module.run(asyncio.sleep(0))  # the parent's loop is running
    parent_loop = runner_module.runner().loop
    parent_store = files.aio

    def check() -> None:
        assert runner_module.runner().loop is not parent_loop
        assert files.read_text("parent.txt") == "from the parent"
        assert files.aio is not parent_store  # built again from its URL
        assert memory.read("m") == b"copied by fork"  # memory is carried as fork copied it
        files.write_bytes("child.bin", b"c" * BIG)  # suspends: needs the child's loop
        assert runner_module.run(asyncio.sleep(0.01, result=1)) == 1

    assert _in_child(check) == 0
    assert files.read_bytes("child.bin") == b"c" * BIG
    assert files.aio is parent_store


@pytest.fixture
def s3_url(s3_server: Any) -> str:
    url: str = s3_server.url(f"sync-{os.getpid()}-{threading.get_ident()}")
    return url


def test_s3_same_surface_and_fork(s3_url: str) -> None:
    with sync.files(s3_url) as store:
        assert store.write_text("a.txt", "on s3").success
        assert store.read_text("a.txt") == "on s3"
        with pytest.raises(NotFound):
            store.read_text("missing.txt")

        def check() -> None:
            # obstore's runtime (tokio) started in this parent cannot run in the child:
            # a clear error at once, never a hang.
            with pytest.raises(ForkedRuntimeError, match="spawn"):
                store.read_text("a.txt")

        assert _in_child(check) == 0
        assert store.read_text("a.txt") == "on s3"  # the parent is unaffected


def test_bad_input_through_the_factories_and_calls(tmp_path: Path) -> None:
    with pytest.raises(storeroom.ConfigurationError, match="known"):
        sync.files("bogus://x")
    with pytest.raises(storeroom.ConfigurationError):
        sync.provider(str(tmp_path), colour="red")
    with sync.provider("memory://") as provider:
        with pytest.raises(ValueError, match="byte range"):
            provider.read_range("a", -1, 2)
        with pytest.raises(NotFound):
            provider.head("missing")
        with pytest.raises(InvalidPath):
            list(provider.iter("../up"))
    with sync.artifacts("memory://") as store:
        assert store.get_artifact("missing", "v3") is None
        with pytest.raises(NotFound):
            store.get_version("missing", "v3")


def test_redis_cache_from_threads(redis_url: str, redis_namespace: str) -> None:
    """A connection-holding cache: its connection lives on storeroom's loop."""
    with sync.cache(redis_url, namespace=f"{redis_namespace}:sync") as cache:
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(20):
                    cache.set(f"{n}-{i}", {"n": n, "i": i})
                    assert cache.get(f"{n}-{i}") == {"n": n, "i": i}
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        expected = {"0-0": {"n": 0, "i": 0}, "7-19": {"n": 7, "i": 19}}
        assert cache.get_many(["0-0", "7-19"]) == expected
        cache.clear()


def test_an_interrupted_wait_cancels_the_task() -> None:
    """Ctrl-C while a call waits: the task on the loop is cancelled, not left running."""
    cancelled = threading.Event()

    async def slow() -> None:
        await asyncio.sleep(0)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Interrupted):
            runner_module.run(slow())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert cancelled.wait(5)

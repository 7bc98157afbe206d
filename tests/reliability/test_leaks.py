"""Leaks: with an S3 secret key, an Azure account key and a Redis password
configured, nothing storeroom shows or logs ever contains one of them.

Every factory (``provider``, ``files``, ``artifacts``, ``cache``,
``CachedProvider``), every ``repr``, the results and errors of every operation
(the full exception chain, as ``--debug`` prints it), log records of every
logger at DEBUG (storeroom, obstore, redis, aiohttp, asyncio, ...), anything
written to the process's stdout and stderr, and every CLI command run with
``--debug``: the secrets, all of which start with ``SECRETx``, appear nowhere.

The setups: S3 on moto with the secret key; S3 on a closed port (unavailable);
Azure on Azurite with a wrong account key (access denied); Azure on a closed
port; GCS with a bearer token on a closed port; Redis with the password (the
shared server has none, so it is accepted or refused: both paths run); Redis
with a user and the password (refused); Redis on a closed port; and the
secrets from the environment instead of the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

import storeroom
from storeroom import IfMatch, StorageError
from storeroom.artifactstore import ArtifactStore
from storeroom.cli import main as cli_main
from storeroom.filestore import FileStore
from storeroom.providers.cached import CachedProvider
from storeroom.urls import artifacts as open_artifacts
from storeroom.urls import cache as open_cache
from storeroom.urls import files as open_files
from tests.cloud.support import unique_prefix
from tests.reliability.support import REPO
from tests.services.cloud import CloudServer

MARK = "SECRETx"
S3_SECRET = "SECRETxS3xKEYx7f3a9c0d"
AZURE_KEY = "SECRETxAZxKEYx" + "A" * 74  # valid base64, as Azure keys are
REDIS_PASSWORD = "SECRETxREDISxPWx51c"
GCS_TOKEN = "SECRETxGCSxTOKENx9e2"
ENDPOINT_PASSWORD = "SECRETxENDPOINTxPWx4b1"
#: The installed ``storeroom`` command, beside this interpreter.
CLI = str(Path(sys.executable).with_name("storeroom"))
FAST = {
    "max_retries": "1",
    "timeout": "2",
    "connect_timeout": "1",
    "backoff_initial": "0.01",
    "backoff_max": "0.02",
}


def with_options(url: str, **options: str) -> str:
    """``url`` with ``options`` set in its query."""
    parts = urlsplit(url)
    return parts._replace(query=urlencode({**dict(parse_qsl(parts.query)), **options})).geturl()


def without(url: str, *names: str) -> str:
    """``url`` without the query options ``names``."""
    parts = urlsplit(url)
    query = [(name, value) for name, value in parse_qsl(parts.query) if name not in names]
    return parts._replace(query=urlencode(query)).geturl()


def closed_endpoint(server: CloudServer, dead_url: str) -> str:
    """The server's endpoint, moved to the port of ``dead_url`` where nothing listens."""
    return f"http://127.0.0.1:{urlsplit(dead_url).port}{urlsplit(server.endpoint).path}"


@pytest.fixture
def stores(
    s3_server: CloudServer, azure_server: CloudServer, dead_redis_url: str
) -> dict[str, str]:
    """Storage URLs carrying the secrets, each reaching a different path."""
    prefix = unique_prefix("leaks")
    s3 = with_options(s3_server.url(prefix), secret_access_key=S3_SECRET, **FAST)
    azure = with_options(azure_server.url(prefix), account_key=AZURE_KEY, **FAST)
    return {
        "s3": s3,
        "s3-down": with_options(s3, endpoint=closed_endpoint(s3_server, dead_redis_url)),
        "azure-wrong-key": azure,
        "azure-down": with_options(azure, endpoint=closed_endpoint(azure_server, dead_redis_url)),
        "gcs-down": with_options(
            f"gs://bucket/{prefix}",
            endpoint=f"http://127.0.0.1:{urlsplit(dead_redis_url).port}",
            allow_http="true",
            bearer_token=GCS_TOKEN,
            **FAST,
        ),
        "s3-endpoint-password": with_options(  # credentials inside an option's URL
            s3,
            endpoint=closed_endpoint(s3_server, dead_redis_url).replace(
                "http://", f"http://user:{ENDPOINT_PASSWORD}@"
            ),
        ),
    }


@pytest.fixture
def caches(redis_url: str, redis_namespace: str, dead_redis_url: str) -> dict[str, str]:
    """Redis URLs carrying the password: accepted or refused, refused, unreachable."""
    host = urlsplit(redis_url).netloc.rpartition("@")[2]
    namespace = f"{redis_namespace}-leaks"
    return {
        "redis": f"redis://:{REDIS_PASSWORD}@{host}/0?namespace={namespace}",
        "redis-user": f"redis://intruder:{REDIS_PASSWORD}@{host}/0?namespace={namespace}",
        "redis-down": dead_redis_url.replace("://", f"://:{REDIS_PASSWORD}@")
        + f"?namespace={namespace}",
    }


class Shown:
    """Everything storeroom showed: reprs, results, full exception chains."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.errors = 0

    def add(self, *shown: object) -> None:
        self.texts.extend(f"{value!r} {value}" for value in shown)

    async def run(self, operation: Callable[[], Awaitable[object]]) -> None:
        """Run ``operation``; keep its result's or its error's text (with the whole chain)."""
        try:
            self.add(await operation())
        except StorageError as exc:
            self.errors += 1
            self.texts.append("".join(traceback.format_exception(exc)))

    def build(self, factory: Callable[[], object]) -> object | None:
        try:
            built = factory()
        except StorageError as exc:
            self.errors += 1
            self.texts.append("".join(traceback.format_exception(exc)))
            return None
        self.add(built)
        return built


async def exercise_store(url: str, shown: Shown) -> None:
    """Every factory, repr, operation and error path of one storage URL."""
    for bad in ({"bogus": "1"}, {"timeout": "soon"}, {"max_retries": "-1"}):
        shown.build(partial(storeroom.provider, with_options(url, **bad)))
    for factory in (open_files, open_artifacts):  # the URL factories, each closed again
        built = shown.build(partial(factory, url))
        if isinstance(built, FileStore):
            await built.provider.aclose()
        elif isinstance(built, ArtifactStore):
            await built.aclose()
    provider = shown.build(partial(storeroom.provider, url))
    if provider is None:
        return
    assert isinstance(provider, storeroom.Provider)
    files, artifacts = FileStore(provider), ArtifactStore(provider)
    cached = CachedProvider(provider, open_cache("memory://"), close_inner=False)
    shown.add(files, artifacts, cached)
    operations: list[Callable[[], Awaitable[object]]] = [
        lambda: provider.put("k.txt", b"v"),
        lambda: provider.get("k.txt"),
        lambda: provider.head("missing"),
        lambda: provider.read("missing"),
        lambda: provider.put("k.txt", b"w", mode=IfMatch("no-such-etag")),
        lambda: provider.put("k.txt", b"w", mode="create"),
        lambda: provider.copy("missing", "elsewhere"),
        lambda: provider.list(""),
        lambda: provider.list_dir(""),
        lambda: provider.delete("k.txt"),
        lambda: cached.read("missing"),
        lambda: files.write_text("notes.md", "hello"),
        lambda: files.append_text("notes.md", "more"),
        lambda: files.read_text("missing"),
        lambda: files.delete("missing"),
        lambda: files.list_directory("."),
        lambda: artifacts.store_artifact("report", "v1"),
        lambda: artifacts.get_artifact("report", "v9"),
        lambda: artifacts.get_artifact_versions("report"),
        lambda: artifacts.list_artifacts(),
        lambda: artifacts.diff("report", "v1", "v9"),
        lambda: artifacts.delete_artifact("report"),
    ]
    async with provider:
        for operation in operations:
            await shown.run(operation)


async def exercise_cache(url: str, shown: Shown) -> None:
    """Every repr, operation and error path of one cache URL."""
    for bad in ({"bogus": "1"}, {"timeout": "soon"}, {"serializer": "pickle"}):
        shown.build(partial(open_cache, with_options(url, **bad)))
    cache = shown.build(lambda: open_cache(url))
    if cache is None:
        return
    assert isinstance(cache, storeroom.CacheBackend)
    operations: list[Callable[[], Awaitable[object]]] = [
        lambda: cache.set("k", {"v": 1}, 60),
        lambda: cache.get("k"),
        lambda: cache.get("missing"),
        lambda: cache.delete("k"),
        lambda: cache.clear(),
    ]
    for operation in operations:
        await shown.run(operation)
    shown.add(getattr(cache, "stats", lambda: None)())
    close = getattr(cache, "aclose", None)
    if close is not None:
        await close()


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every logger, DEBUG and up."""
    caplog.set_level(logging.DEBUG)
    for name in ("storeroom", "obstore", "redis", "aiohttp", "asyncio", "botocore", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_hidden(texts: list[str]) -> None:
    """No text contains a secret (all of them start with :data:`MARK`)."""
    leaks = [text for text in texts if MARK in text]
    assert not leaks, "a secret was shown:\n" + "\n---\n".join(leaks[:5])


async def test_no_secret_in_reprs_results_errors_or_logs(
    stores: dict[str, str],
    caches: dict[str, str],
    every_log: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    figures: Counter[str],
) -> None:
    shown = Shown()
    for url in stores.values():
        await exercise_store(url, shown)
    for url in caches.values():
        await exercise_cache(url, shown)
    # The same secrets from the environment, where the cloud tools keep them.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    monkeypatch.setenv("AZURE_STORAGE_KEY", AZURE_KEY)
    await exercise_store(without(stores["s3-down"], "secret_access_key"), shown)
    await exercise_store(without(stores["azure-down"], "account_key"), shown)
    captured = capfd.readouterr()
    logs = [every_log.text] + [
        f"{record.getMessage()} {record.exc_text or ''} {record.args!r}"
        for record in every_log.records
    ]
    assert_hidden(shown.texts + logs + [captured.out, captured.err])
    assert shown.errors > 40, "the error paths did not run"
    figures["leaks: texts checked (library)"] += len(shown.texts) + len(logs)
    figures["leaks: error paths taken (library)"] += shown.errors



def cli_sessions(
    stores: dict[str, str], caches: dict[str, str], work: Path
) -> list[list[list[str]]]:
    """The CLI commands to run (each with ``--debug``): one sequence per setup.

    Every command on S3 (where they work); on the setups that fail, the
    commands of each kind (files, artifacts, copies), which fail alike.
    """
    local = work / "note.md"
    local.write_text("hello\n")
    sessions: list[list[list[str]]] = []
    for name, url in stores.items():
        store = ["--store", url]
        failing = [
            [*store, "put", str(local), "note.md"],
            [*store, "cat", "note.md", "missing.md"],
            [*store, "cp", str(local), f"{url}&bogus=1"],
            [*store, "artifacts", "put", "report", str(local)],
            [*store, "artifacts", "list"],
            [*store, "cp", str(local), str(local), url],  # a usage error quotes the URL
            ["--json", *store, "ls", "a", url],
        ]
        working = [
            [*store, "ls", "-l"],
            [*store, "stat", "note.md"],
            [*store, "get", "note.md", str(work / "copy.md")],
            [*store, "cp", str(local), without(url, "secret_access_key").replace("leaks-", "cp-")],
            [*store, "rm", "note.md", "missing.md"],
            [*store, "artifacts", "put", "report", str(local)],
            [*store, "artifacts", "get", "report", "--version", "v9"],
            [*store, "artifacts", "versions", "report"],
            [*store, "artifacts", "diff", "report", "v1", "v9"],
            [*store, "artifacts", "rm", "report"],
            [*store, "artifacts", "gc"],
            ["ls"],  # the store from $STOREROOM_URL
        ]
        sessions.append(failing + working if name == "s3" else failing)
    for name, url in caches.items():
        cache = ["--cache", url]
        commands = [["cache", "set", *cache, "k", "v"], ["cache", "stats", *cache]]
        if name == "redis":
            commands += [["cache", "get", *cache, "k"], ["cache", "delete", *cache, "k"],
                         ["cache", "clear", *cache]]  # fmt: skip
        sessions.append(commands)
    return sessions


def run_in_process(args: list[str], capfd: pytest.CaptureFixture[str]) -> str:
    """stdout and stderr of ``storeroom --debug ARGS``, run in this process."""
    with contextlib.suppress(SystemExit):
        cli_main(["--debug", *args])
    captured = capfd.readouterr()
    shown = " ".join("URL" if "://" in arg else arg for arg in args)
    return f"$ storeroom --debug {shown}\n{captured.out}{captured.err}"


def test_no_secret_in_any_cli_output(
    stores: dict[str, str],
    caches: dict[str, str],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    figures: Counter[str],
) -> None:
    monkeypatch.setenv("STOREROOM_URL", stores["s3"])
    monkeypatch.setenv("COLUMNS", "200")
    commands = [args for session in cli_sessions(stores, caches, tmp_path) for args in session]
    outputs = [run_in_process(args, capfd) for args in commands]
    assert_hidden(outputs)
    assert sum("Traceback" in output for output in outputs) > 10, "the error paths did not run"
    figures["leaks: CLI commands run with --debug"] += len(outputs)


async def test_no_secret_from_the_cli_process(
    stores: dict[str, str], caches: dict[str, str], figures: Counter[str]
) -> None:
    """A few commands as their own process: the store from $STOREROOM_URL, failures."""
    env = {**os.environ, "STOREROOM_URL": stores["s3"], "AZURE_STORAGE_KEY": AZURE_KEY}
    commands = [
        ["ls", "-l"],
        ["cat", "missing.md"],
        ["--store", stores["azure-wrong-key"], "ls"],
        ["--store", stores["s3-down"], "artifacts", "list"],
        ["cache", "get", "k", "--cache", caches["redis-user"]],  # stats alone asks no server
    ]
    outputs = []
    for args in commands:
        child = await asyncio.create_subprocess_exec(
            CLI, "--debug", *args,
            cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(child.communicate(), timeout=60)
        outputs.append(f"{out.decode()}{err.decode()}")
    assert_hidden(outputs)
    assert sum("Traceback" in output for output in outputs) >= 4, outputs
    figures["leaks: CLI commands run with --debug"] += len(outputs)

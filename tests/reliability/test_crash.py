"""Crash test: a writer SIGKILLed at random moments never leaves a torn object.

A child process (:mod:`tests.reliability.writer`) overwrites a 1 MiB object in a
loop and acknowledges each write over a pipe; the parent reads the object all
the while, then kills the child with SIGKILL after a random delay (some kills
land during start-up, most mid-write), reopens the store and checks:

- every read, during and after, is one whole payload (never torn or mixed);
- the object holds the last acknowledged write or the one after it (the
  write in flight), with exactly its bytes: no acknowledged write is lost;
- no temp file is left once the store has been opened again;
- the artifact's versions (the writer stores one after each overwrite) are
  contiguous from v1, each verifies against its sha256, and every
  acknowledged one reads back with its exact bytes.

~20 kills by default, 300 with ``--soak``; the seed is in every failure message.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from storeroom import NotFound
from storeroom.artifactstore import ArtifactStore
from storeroom.providers.local import LocalProvider
from tests.reliability.conftest import Budget
from tests.reliability.payloads import digest, seq_of
from tests.reliability.support import REPO, temp_files
from tests.reliability.writer import ARTIFACT, OBJECT_KEY

#: Most kills land between 0 and this many seconds after the writer is ready.
MAX_DELAY = 0.25


@dataclass
class Acks:
    """What one writer acknowledged before it died."""

    objects: list[tuple[int, str]] = field(default_factory=list)
    versions: list[tuple[str, int, str]] = field(default_factory=list)
    reads_checked: int = 0


def parse_line(line: bytes, acks: Acks) -> None:
    """Record one complete output line of the writer in ``acks``."""
    kind, *fields = line.decode().split()
    if kind == "obj":
        acks.objects.append((int(fields[0]), fields[1]))
    elif kind == "art":
        acks.versions.append((fields[0], int(fields[1]), fields[2]))


async def collect(stream: asyncio.StreamReader, acks: Acks, ready: asyncio.Event) -> None:
    """Read the writer's lines until it dies; set ``ready`` when it says so."""
    while line := await stream.readline():
        if not line.endswith(b"\n"):
            return  # cut short by the kill: not an acknowledgement
        if line == b"ready\n":
            ready.set()
        else:
            parse_line(line, acks)


async def read_whole(provider: LocalProvider) -> int | None:
    """The write number held by the object, checking it is whole; None if absent."""
    try:
        data = await provider.read(OBJECT_KEY)
    except NotFound:
        return None
    return seq_of(data)


async def run_and_kill(
    root: Path, start: int, durable: bool, rng: random.Random, reader: LocalProvider
) -> Acks:
    """Start a writer at write ``start``, read along, SIGKILL it at a random moment.

    One kill in ten lands during start-up (before the store is open, or while
    it sweeps); the others land up to :data:`MAX_DELAY` seconds after the
    writer said ``ready``, so most hit a write in progress.
    """
    acks = Acks()
    loop = asyncio.get_running_loop()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-B", "-m", "tests.reliability.writer",
        str(root), str(start), "1" if durable else "0", "1",
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    ready = asyncio.Event()
    output = loop.create_task(collect(child.stdout, acks, ready))
    try:
        if rng.random() < 0.1:
            deadline = loop.time() + rng.uniform(0, 0.1)
        else:
            await asyncio.wait_for(ready.wait(), timeout=30)
            deadline = loop.time() + rng.uniform(0, MAX_DELAY)
        while loop.time() < deadline:
            await read_whole(reader)
            acks.reads_checked += 1
            await asyncio.sleep(0.002)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
        await output
    return acks


async def check_versions(
    store: ArtifactStore, acked: dict[str, tuple[int, str]], checked: int
) -> int:
    """Versions are v1..vN with no gap, all acknowledged ones among them; return N.

    Every version after the first ``checked`` (those were checked before and
    are immutable) is read back (the store checks its sha256) and must be a
    whole payload; acknowledged ones must have exactly the acknowledged bytes.
    """
    versions = await store.get_artifact_versions(ARTIFACT)
    assert versions == [f"v{n}" for n in range(1, len(versions) + 1)], versions
    for version in versions[checked:]:
        data = await store.get_artifact_bytes(ARTIFACT, version)
        seq = seq_of(data)
        if version in acked:
            assert (seq, digest(data)) == acked[version], f"{version} changed"
    missing = set(acked) - set(versions)
    assert not missing, f"acknowledged versions lost: {sorted(missing)}"
    return len(versions)


async def test_sigkill_never_tears_or_loses_a_write(
    tmp_path: Path, budget: Budget, figures: Counter[str]
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    root = tmp_path / "store"
    root.mkdir()
    on_disk: int | None = None
    acked_versions: dict[str, tuple[int, str]] = {}
    versions = 0
    async with LocalProvider(root, sweep=False) as reader:
        store = ArtifactStore(reader)
        for kill in range(budget.kills):
            start = 0 if on_disk is None else on_disk + 1
            where = f"seed {seed}, kill {kill}, start {start}"
            acks = await run_and_kill(root, start, kill % 2 == 1, rng, reader)
            assert [seq for seq, _ in acks.objects] == list(
                range(start, start + len(acks.objects))
            ), where
            figures["crash: temp files left by a kill"] += len(temp_files(root))
            async with LocalProvider(root) as sweeper:  # sweeps the dead writers' temp files
                await sweeper.sweep()
            assert temp_files(root) == [], f"temp files survived the sweep ({where})"
            found = await read_whole(reader)
            if acks.objects:
                last, last_digest = acks.objects[-1]
                assert found in (last, last + 1), f"lost acknowledged write {last} ({where})"
                if found == last:
                    assert digest(await reader.read(OBJECT_KEY)) == last_digest, where
                else:
                    figures["crash: unacknowledged write found whole"] += 1
            else:
                assert found in (on_disk, start), f"found write {found} ({where})"
            on_disk = found
            acked_versions.update((v, (seq, sha)) for v, seq, sha in acks.versions)
            new = await check_versions(store, acked_versions, versions) - versions
            versions += new
            figures["crash: kills survived"] += 1
            figures["crash: artifact versions acknowledged"] += len(acks.versions)
            figures["crash: artifact versions verified"] += new
            figures["crash: acknowledged writes checked"] += len(acks.objects)
            figures["crash: concurrent whole reads"] += acks.reads_checked
    figures["crash: bytes lost"] += 0

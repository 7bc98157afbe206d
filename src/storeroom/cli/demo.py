"""``storeroom demo``: the main job, for real, explained step by step.

It stores three versions of an artifact with metadata, lists them, shows a
diff, copies a folder into the store and back, and reads through a memory
cache, printing what happened and the command a person would type for each
step. Nothing is simulated: the same code as the commands runs on a real store.

Where: a fresh temporary folder, removed at the end (``--keep`` keeps it and
says where). With ``--store URL`` or ``STOREROOM_URL`` (S3, Azure, GCS, a
folder...), the demo works in a new ``storeroom-demo-<id>`` folder of that
store and removes exactly that folder at the end (unless ``--keep``).
"""

from __future__ import annotations

import filecmp
import os
import secrets
import shutil
import sys
import tempfile
import time
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from ..providers.base import Provider
from .locations import Location, join_url, local_location
from .output import human_size
from .state import Session, run, state

if TYPE_CHECKING:
    from rich.console import Console

    from ..artifactstore import ArtifactStore

__all__ = ["COMMANDS"]

_DRAFTS = [
    ("# Quarterly report\n\nSales grew.\n", {"author": "ada", "status": "draft"}),
    (
        "# Quarterly report\n\nSales grew by 12%.\nCosts fell.\n",
        {"author": "ada", "status": "review"},
    ),
    (
        "# Quarterly report\n\nSales grew by 12%.\nCosts fell by 3%.\n\nOutlook: steady.\n",
        {"author": "grace", "status": "final"},
    ),
]
_SITE_FILES = 12
_CACHE_READS = 5


class _Narrator:
    """Prints the tour: numbered steps, the command for each, and plain explanations."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._step = 0

    def step(self, title: str) -> None:
        self._step += 1
        self.console.print(f"\n[bold cyan]{self._step}. {title}[/]")

    def command(self, text: str) -> None:
        self.console.print(f"   [dim]$ storeroom {text}[/]", highlight=False)

    def say(self, text: str) -> None:
        self.console.print(f"   {text}", highlight=False)


async def _artifacts(tell: _Narrator, store: ArtifactStore) -> None:
    tell.step("Keep every version of a file (artifacts)")
    name = "report.md"
    for number, (text, meta) in enumerate(_DRAFTS, start=1):
        flags = " ".join(f"--meta {key}={value}" for key, value in meta.items())
        tell.command(f"artifacts put {name} draft{number}.md {flags}")
        result = await store.store_artifact(name, text, "text/markdown", meta)
        if not result.success:
            raise click.ClickException(result.error or "storing the artifact failed")
        version = (result.data or {})["version"]
        details = ", ".join(f"{key}={value}" for key, value in meta.items())
        tell.say(f"stored {name} [bold]{version}[/] ({human_size(result.size or 0)}), {details}")
    tell.say("Each put made a new version; none was overwritten.")

    tell.step("List the versions")
    tell.command(f"artifacts versions {name}")
    for version in await store.get_artifact_versions(name):
        found = await store.get_version(name, version)
        details = ", ".join(f"{k}={v}" for k, v in found.metadata.items())
        tell.say(f"[bold]{version}[/]  {human_size(found.size):>6}  {details}")
    await store.set_alias(name, "approved", "v2")
    tell.command(f"artifacts alias {name} approved v2")
    approved = await store.get_artifact(name, "approved")
    third_line = (approved or "").splitlines()[2]
    tell.say(f"'approved' now names v2 (its third line: {third_line!r}); 'latest' is v3.")

    tell.step("See what changed between two versions")
    tell.command(f"artifacts diff {name} v1 v3")
    for line in (await store.diff(name, "v1", "v3")).splitlines():
        colour = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")
        if line.startswith(("+++", "---")):
            colour = "bold"
        shown = line.replace("[", r"\[")
        tell.say(f"[{colour}]{shown}[/]" if colour else shown)
    tell.say("Lines with '-' were in v1 and are gone; lines with '+' are new in v3.")


def _make_site(folder: str) -> None:
    pages = os.path.join(folder, "pages")
    os.makedirs(pages)
    with open(os.path.join(folder, "index.html"), "w", encoding="utf-8") as handle:
        handle.write("<h1>Welcome</h1>\n" * 40)
    for number in range(1, _SITE_FILES):
        with open(os.path.join(pages, f"page{number:02d}.html"), "w", encoding="utf-8") as handle:
            handle.write(f"<p>Page {number}</p>\n" * (20 * number))


async def _folders(tell: _Narrator, session: Session, where: str, scratch: str) -> None:
    from .transfer import CopyOptions, transfer

    tell.step("Copy a folder into the store and back")
    site = os.path.join(scratch, "site")
    _make_site(site)
    tell.say(f"A local folder {site} holds {_SITE_FILES} small web pages.")
    tell.command("put --recursive ./site site")
    into = Location(where, "site", label="site")
    options = CopyOptions(recursive=True, progress=False)
    sent = await transfer(session, local_location(site), into, options)
    tell.say(
        f"copied {sent['files']} files ({human_size(sent['bytes'])}) into the store "
        f"in {sent['seconds'] * 1000:.0f} ms, {options.concurrency} at a time"
    )
    tell.command("ls site")
    listing = await session.provider(into).list_dir("site")
    shown = [p.rsplit("/", 2)[-2] + "/" for p in listing.folders]
    shown += [m.path.rsplit("/", 1)[-1] for m in listing.objects]
    tell.say("   ".join(shown))
    restored = os.path.join(scratch, "restored")
    tell.command("get --recursive site ./restored")
    back = await transfer(session, into, local_location(restored), options)
    same = filecmp.dircmp(site, restored)
    identical = not (same.diff_files or same.left_only or same.right_only) and all(
        not (sub.diff_files or sub.left_only or sub.right_only) for sub in same.subdirs.values()
    )
    verdict = "byte for byte identical" if identical else "[red]NOT identical[/]"
    tell.say(f"copied {back['files']} files back to {restored}: {verdict} to the originals.")


async def _cache(tell: _Narrator, provider: Provider) -> dict[str, int]:
    from ..caches import MemoryCache
    from ..providers.cached import CachedProvider

    tell.step("Read through a memory cache")
    memory = MemoryCache()
    cached = CachedProvider(provider, memory, ttl=300, close_inner=False)
    key = "site/index.html"
    tell.say(f"Reading {key} {_CACHE_READS} times through a cache in this process's memory:")
    for attempt in range(1, _CACHE_READS + 1):
        before = memory.stats().hits
        started = time.perf_counter()
        await cached.read(key)
        micros = (time.perf_counter() - started) * 1e6
        hit = memory.stats().hits > before
        how = "hit: served from memory" if hit else "miss: fetched from the store, now cached"
        tell.say(f"read {attempt}: [bold]{how}[/] ({micros:,.0f} µs)")
    await cached.put(key, b"<h1>Welcome back</h1>\n")
    fresh = await cached.read(key)
    tell.say(
        "Writing through the cache drops the old entry, so the next read is a miss "
        f"and returns the new content ({fresh.decode().strip()!r})."
    )
    stats = memory.stats()
    tell.say(f"Cache statistics: {stats.hits} hits, {stats.misses} misses.")
    return {"hits": stats.hits, "misses": stats.misses}


def _chosen_store(ctx: click.Context, store: str | None) -> str | None:
    """The store the user asked for (demo --store, global --store, $STOREROOM_URL), if any."""
    if store:
        return store
    root = ctx.find_root()
    if root.get_parameter_source("store") in (None, ParameterSource.DEFAULT):
        return None
    return state().store


@click.command("demo")
@click.option(
    "--store",
    metavar="URL",
    help="Run in a new folder of this store (default: $STOREROOM_URL, else a temporary folder).",
)
@click.option("--keep", is_flag=True, help="Keep what the demo stored, and say where.")
@click.pass_context
def demo(ctx: click.Context, store: str | None, keep: bool) -> None:
    """A short guided tour: versions, diff, folder copies and a cache, for real."""
    from rich.console import Console

    chosen = _chosen_store(ctx, store)
    state().redact.add(chosen)
    scratch = tempfile.mkdtemp(prefix="storeroom-demo-")
    where = join_url(chosen, f"storeroom-demo-{secrets.token_hex(3)}") if chosen else scratch
    shown = state().redact(where if chosen else os.path.join(scratch, "store"))
    where = where if chosen else os.path.join(scratch, "store")
    console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
    tell = _Narrator(console)
    console.print(f"[bold]storeroom demo[/]: the main job, for real, on [bold]{shown}[/]")
    kind = "a folder of that store" if chosen else "a temporary local folder (nothing to install)"
    console.print(f"The store is {kind}; the cache lives in this process's memory.")
    console.print("Each step shows the command you would type to do the same yourself.")

    async def body(session: Session) -> None:
        from ..artifactstore import ArtifactStore

        top = Location(where, "")
        try:
            artifacts_at = Location(join_url(where, "artifacts"), "")
            await _artifacts(tell, ArtifactStore(session.provider(artifacts_at)))
            await _folders(tell, session, where, scratch)
            await _cache(tell, session.provider(top))
        finally:
            if chosen and not keep:
                provider = session.provider(top)
                keys = [meta.path async for meta in provider.iter("")]
                for key in keys:
                    await provider.delete(key)

    try:
        run(body)
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    console.print("\n[bold green]Done.[/]", end=" ")
    if keep:
        console.print(f"Everything is still in {shown} (and {scratch}); look around with")
        console.print(f"   storeroom --store {shown} ls -r")
        console.print("or browse it (artifacts, versions, diffs, files) in a web browser with")
        console.print(f"   storeroom --store {shown} serve")
    else:
        console.print("The demo removed what it stored. Keep it next time with --keep,")
        console.print("then browse it with the `storeroom --store ... serve` command it prints.")
    console.print(
        "Try it on S3, Azure or GCS unchanged: "
        "STOREROOM_URL=s3://bucket/prefix storeroom demo  (./run demo does the same)"
    )


COMMANDS = [demo]

"""File commands: ``ls``, ``cat``, ``stat``, ``rm``, ``put``, ``get``, ``cp``.

``ls``, ``cat``, ``stat`` and ``rm`` take keys in the store (or URLs); ``put``
and ``get`` move files between local paths and the store; ``cp`` copies
between any two places, URLs or local paths (see :mod:`.locations`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import sys
from collections.abc import AsyncIterator
from typing import Any

import click

from ..errors import FolderNotEmpty, NotFound, StorageError
from ..providers.base import ObjectMeta, Provider
from .locations import Location, any_location, local_location, store_location
from .output import human_size, meta_record, when
from .state import DEFAULT_STORE, Session, Side, json_option, run, state, store_option
from .transfer import BarProgress, CopyReport, Job, Progress, copy_jobs, tree_jobs

__all__ = ["COMMANDS"]

#: ``rm --recursive`` asks before deleting more objects than this (unless ``--yes``).
CONFIRM_OVER = 10
_STDIO = "-"


def complete_keys(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Complete keys of a local store (remote stores are not listed on each Tab)."""
    store = ctx.find_root().params.get("store") or DEFAULT_STORE
    if "://" in store or "://" in incomplete or not os.path.isdir(store):
        return []
    from ..providers.local import LocalProvider

    folder = incomplete.rpartition("/")[0]

    async def names() -> list[str]:
        async with LocalProvider(store, sweep=False) as local:
            listing = await local.list_dir(folder)
        return [*listing.folders, *(meta.path for meta in listing.objects)]

    try:
        found = asyncio.run(names())
    except StorageError:
        return []
    return [name for name in found if name.startswith(incomplete)]


recursive_option = click.option(
    "-r", "--recursive", is_flag=True, help="Copy whole folders (everything under the path)."
)
concurrency_option = click.option(
    "-j",
    "--concurrency",
    type=click.IntRange(1, 512),
    default=16,
    show_default=True,
    help="How many files at a time.",
)
progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal; never with --json).",
)


def _relative(path: str, folder: str) -> str:
    return path[len(folder) + 1 :] if folder and path.startswith(folder + "/") else path


# -- ls ------------------------------------------------------------------------


async def _ls_entries(
    provider: Provider, loc: Location, recursive: bool
) -> AsyncIterator[dict[str, Any]]:
    """The entries of a folder (or the one file) at ``loc``, paths relative to it, as listed."""
    found = False
    if recursive:
        async for meta in provider.iter(loc.key):
            found = True
            yield meta_record(meta, _relative(meta.path, loc.key))
    else:
        listing = await provider.list_dir(loc.key)
        for prefix in listing.folders:
            found = True
            yield {"path": _relative(prefix.rstrip("/"), loc.key) + "/", "type": "folder"}
        for meta in listing.objects:
            found = True
            yield meta_record(meta, _relative(meta.path, loc.key))
    if found or not loc.key:
        return
    try:
        meta = await provider.head(loc.key)
    except NotFound:
        raise NotFound(f"no file or folder at {loc.label!r}", path=loc.key) from None
    yield meta_record(meta, loc.name)


@click.command("ls")
@click.argument("path", default="", required=False, shell_complete=complete_keys)
@click.option("-l", "--long", "long_", is_flag=True, help="Show size and modification time.")
@recursive_option
@json_option
@store_option
def ls(path: str, long_: bool, recursive: bool) -> None:
    """List the folder PATH in the store (default: the top), or a URL.

    Folders end with '/'. With --recursive every file below PATH is listed
    (names are printed as they are listed, however many there are).
    """
    loc = store_location(state().store, path, "PATH")
    out = state().output()

    async def body(session: Session) -> list[dict[str, Any]]:
        entries = _ls_entries(session.provider(loc), loc, recursive)
        if out.as_json or long_:
            return [entry async for entry in entries]
        async for entry in entries:  # plain names: streamed
            out.line(entry["path"])
        return []

    entries = run(body)
    if out.as_json:
        out.json(entries)
    elif long_:
        rows = (
            (
                human_size(entry["size"]) if entry["type"] == "file" else "-",
                when(entry["modified"]) if entry["type"] == "file" else "",
                entry["path"],
            )
            for entry in entries
        )
        out.table(("SIZE", "MODIFIED", "NAME"), rows, right=("SIZE",))


# -- cat, stat -----------------------------------------------------------------


@click.command("cat")
@click.argument("keys", nargs=-1, required=True, shell_complete=complete_keys)
@store_option
def cat(keys: tuple[str, ...]) -> None:
    """Write the files KEYS to standard output, one after another (streamed)."""
    _cat(keys)


def _cat(keys: tuple[str, ...]) -> None:
    locations = [store_location(state().store, key) for key in keys]
    sink = sys.stdout.buffer

    async def body(session: Session) -> None:
        for loc in locations:
            async for chunk in session.provider(loc).stream(loc.key):
                sink.write(chunk)
        sink.flush()

    run(body)


async def _stat(session: Session, loc: Location) -> dict[str, Any]:
    provider = session.provider(loc)
    if loc.key:
        try:
            return meta_record(await provider.head(loc.key))
        except NotFound:
            pass
    count = size = 0
    async for meta in provider.iter(loc.key):
        count, size = count + 1, size + meta.size
    if not count and loc.key and not await provider.is_dir(loc.key):
        raise NotFound(f"no file or folder at {loc.label!r}", path=loc.key)
    return {"path": loc.key, "type": "folder", "files": count, "size": size}


@click.command("stat")
@click.argument("path", shell_complete=complete_keys)
@json_option
@store_option
def stat(path: str) -> None:
    """Show what the store knows about the file (or folder) PATH."""
    loc = store_location(state().store, path, "PATH")
    record = run(lambda session: _stat(session, loc))
    out = state().output()

    def text() -> None:
        rows: list[tuple[str, str]] = [("path", record["path"] or "."), ("type", record["type"])]
        rows.append(("size", f"{human_size(record['size'])} ({record['size']:,} bytes)"))
        if record["type"] == "folder":
            rows.append(("files", f"{record['files']:,}"))
        else:
            rows.append(("modified", when(record["modified"])))
            rows.append(("etag", record["etag"] or "-"))
            rows.append(("content type", record["content_type"] or "-"))
            metadata = ", ".join(f"{k}={v}" for k, v in record["metadata"].items())
            rows.append(("metadata", metadata or "-"))
        out.lines(f"{name:<13} {value}" for name, value in rows)

    out.result(record, text)


# -- rm ------------------------------------------------------------------------


async def _targets(provider: Provider, loc: Location, recursive: bool) -> list[str]:
    """The keys ``rm`` would delete at ``loc``."""
    if loc.key:
        try:
            await provider.head(loc.key)
            return [loc.key]
        except NotFound:
            pass
    if not recursive:
        if loc.key and await provider.is_dir(loc.key):
            raise click.UsageError(f"{loc.label!r} is a folder: add --recursive to delete it")
        raise NotFound(f"no file at {loc.label!r}", path=loc.key)
    keys = [meta.path async for meta in provider.iter(loc.key)]
    if not keys:
        raise NotFound(f"no files under {loc.label!r}", path=loc.key)
    return keys


def _emptied_folders(keys: list[str], top: str) -> list[str]:
    """The folders from ``top`` down that held ``keys``, deepest first."""
    folders = {top} if top else set()
    for key in keys:
        parent = posixpath.dirname(key)
        while parent and parent != top and parent not in folders:
            folders.add(parent)
            parent = posixpath.dirname(parent)
    return sorted(folders, key=lambda folder: folder.count("/"), reverse=True)


@click.command("rm")
@click.argument("paths", nargs=-1, required=True, shell_complete=complete_keys)
@click.option("-r", "--recursive", is_flag=True, help="Delete folders and everything in them.")
@click.option("-y", "--yes", is_flag=True, help=f"Do not ask before deleting over {CONFIRM_OVER}.")
@concurrency_option
@json_option
@store_option
def rm(paths: tuple[str, ...], recursive: bool, yes: bool, concurrency: int) -> None:
    """Delete the files PATHS from the store (folders with --recursive)."""
    locations = [store_location(state().store, path, "PATH") for path in paths]
    out = state().output()

    async def plan(session: Session) -> list[tuple[Provider, list[str]]]:
        return [
            (session.provider(loc), await _targets(session.provider(loc), loc, recursive))
            for loc in locations
        ]

    async def body(session: Session) -> list[str]:
        planned = await plan(session)
        total = sum(len(keys) for _, keys in planned)
        if total > CONFIRM_OVER and not yes:
            names = ", ".join(repr(loc.label) for loc in locations)
            if not sys.stdin.isatty():
                raise click.UsageError(
                    f"this would delete {total} files under {names}; add --yes to confirm"
                )
            click.confirm(f"Delete {total} files under {names}?", abort=True, err=True)
        from ..concurrency import map_limited

        pairs = [(provider, key) for provider, keys in planned for key in keys]
        await map_limited(lambda pair: pair[0].delete(pair[1]), pairs, concurrency)
        for (provider, keys), loc in zip(planned, locations, strict=True):
            if recursive and provider.capabilities.empty_folders:
                for folder in _emptied_folders(keys, loc.key):
                    # An emptied folder goes too (a folder still in use stays).
                    with contextlib.suppress(NotFound, FolderNotEmpty):
                        await provider.remove_folder(folder)
        return [key for _, keys in planned for key in keys]

    deleted = run(body)
    out.result(
        {"deleted": len(deleted), "paths": deleted},
        lambda: out.line(f"Deleted {len(deleted)} file{'s' if len(deleted) != 1 else ''}."),
    )


# -- put, get, cp --------------------------------------------------------------


async def _chain(first: Job, rest: AsyncIterator[Job] | None = None) -> AsyncIterator[Job]:
    yield first
    if rest is not None:
        async for job in rest:
            yield job


async def _jobs(
    src_side: Side, dst_side: Side, src: Location, dst: Location, recursive: bool
) -> AsyncIterator[Job]:
    """The copy jobs from ``src`` to ``dst``.

    With ``recursive``, a folder's contents (the listing starts at once, no
    request is spent first); if there is no such folder, the file itself.
    """
    folder_error = click.UsageError(f"{src.label!r} is a folder: add --recursive to copy it")
    if recursive:
        tree = tree_jobs(src_side, src.key, dst.key)
        first = await anext(tree, None)
        if first is not None:
            return _chain(first, tree)
    if not src.key:  # the top of a store or a folder
        if not recursive:
            raise folder_error
        raise NotFound(f"nothing to copy: no files under {src.label!r}", path=src.key)
    try:
        meta = await src_side.head(src.key)
    except NotFound:
        if not recursive and await src_side.is_dir(src.key):
            raise folder_error from None
        raise NotFound(f"no file or folder at {src.label!r}", path=src.key) from None
    into = dst.folder or not dst.key or await dst_side.is_dir(dst.key)
    key = posixpath.join(dst.key, src.name) if into else dst.key
    return _chain(Job(src.key, key, meta))


async def transfer(
    session: Session,
    src: Location,
    dst: Location,
    *,
    recursive: bool,
    concurrency: int,
    progress: bool | None,
) -> dict[str, Any]:
    """Copy ``src`` to ``dst`` (a folder's contents with ``recursive``); return the summary."""
    src_side, dst_side = session.side(src), session.side(dst)
    jobs = await _jobs(src_side, dst_side, src, dst, recursive)
    if progress is None:
        progress = sys.stderr.isatty()
    shown = progress and not session.state.as_json
    bar: Progress = BarProgress(f"{src.label} -> {dst.label}") if shown else Progress()
    report = await copy_jobs(src_side, dst_side, jobs, concurrency=concurrency, progress=bar)
    return _summary(report, src, dst)


def _summary(report: CopyReport, src: Location, dst: Location) -> dict[str, Any]:
    return {
        "source": src.label,
        "destination": dst.label,
        "files": report.files,
        "bytes": report.bytes,
        "seconds": round(report.seconds, 3),
        "failed": [
            {"path": path, "error": str(exc), "code": getattr(exc, "code", "os_error")}
            for path, exc in report.failures
        ],
    }


def _report(summary: dict[str, Any]) -> None:
    """Print a copy's summary; fail (exit 1) if any file failed."""
    out = state().output()

    def text() -> None:
        files, size, seconds = summary["files"], summary["bytes"], summary["seconds"]
        rate = ""
        if files > 1 and seconds > 0:
            rate = f", {human_size(size / seconds)}/s, {files / seconds:,.0f} files/s"
        out.line(
            f"Copied {files} file{'s' if files != 1 else ''} ({human_size(size)}) "
            f"from {summary['source']} to {summary['destination']} in {seconds:.2f} s{rate}."
        )

    out.result(summary, text)
    failed = summary["failed"]
    if failed:
        if state().debug:
            for item in failed:
                click.echo(state().redact(f"failed: {item['path']}: {item['error']}"), err=True)
        first, total = failed[0], len(failed) + summary["files"]
        raise StorageError(
            f"{len(failed)} of {total} files could not be copied (first: {first['path']}: "
            f"{first['error']}); --json lists them all"
        )


def _copy(
    src: Location, dst: Location, recursive: bool, concurrency: int, progress: bool | None
) -> None:
    summary = run(
        lambda session: transfer(
            session, src, dst, recursive=recursive, concurrency=concurrency, progress=progress
        )
    )
    _report(summary)


@click.command("put")
@click.argument("local", type=click.Path(allow_dash=True))
@click.argument("key", default="", required=False, shell_complete=complete_keys)
@recursive_option
@concurrency_option
@progress_option
@json_option
@store_option
def put(local: str, key: str, recursive: bool, concurrency: int, progress: bool | None) -> None:
    """Store the local file LOCAL at KEY (default: its name, at the top of the store).

    \b
    KEY ending in '/' or naming a folder puts the file into it. With
    --recursive, the contents of the folder LOCAL go under KEY. LOCAL '-'
    reads standard input (KEY required).
    """
    if local == _STDIO:
        if not key:
            raise click.UsageError("reading standard input needs a KEY to store it at")
        _put_stdin(store_location(state().store, key))
        return
    src = local_location(local)
    dst = store_location(state().store, key or src.name)
    _copy(src, dst, recursive, concurrency, progress)


def _put_stdin(dst: Location) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(sys.stdin.buffer.read, 1024 * 1024):
            yield chunk

    async def body(session: Session) -> ObjectMeta:
        return await session.provider(dst).write_stream(dst.key, chunks())

    meta = run(body)
    out = state().output()
    out.result(
        meta_record(meta),
        lambda: out.line(f"Stored {human_size(meta.size)} from standard input at {dst.label}."),
    )


@click.command("get")
@click.argument("key", shell_complete=complete_keys)
@click.argument("local", default=".", required=False, type=click.Path(allow_dash=True))
@recursive_option
@concurrency_option
@progress_option
@json_option
@store_option
def get(key: str, local: str, recursive: bool, concurrency: int, progress: bool | None) -> None:
    """Copy the file KEY from the store to LOCAL (default: the current folder).

    \b
    LOCAL naming a folder gets the file inside it; '-' writes it to standard
    output. With --recursive, everything under the folder KEY goes into LOCAL.
    """
    src = store_location(state().store, key)
    if local == _STDIO:
        _cat((key,))
        return
    if recursive and local == "." and src.key:
        local = src.name
    _copy(src, local_location(local), recursive, concurrency, progress)


@click.command("cp")
@click.argument("source")
@click.argument("destination")
@recursive_option
@concurrency_option
@progress_option
@json_option
def cp(
    source: str, destination: str, recursive: bool, concurrency: int, progress: bool | None
) -> None:
    """Copy SOURCE to DESTINATION: URLs of any scheme, or local paths.

    \b
    Examples:
      storeroom cp report.pdf s3://bucket/reports/
      storeroom cp -r ./photos az://container/photos
      storeroom cp -r s3://bucket/photos gs://other/photos -j 32

    A DESTINATION ending in '/' (or an existing local folder) receives the
    file under its own name. With --recursive the contents of the folder
    SOURCE go under DESTINATION. Plain paths here are local files; use
    'put' and 'get' for keys of the default store.
    """
    _copy(any_location(source, "SOURCE"), any_location(destination, "DESTINATION"),
          recursive, concurrency, progress)  # fmt: skip


COMMANDS = [ls, cat, stat, rm, put, get, cp]

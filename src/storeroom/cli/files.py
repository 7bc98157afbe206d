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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from ..errors import FolderNotEmpty, NotFound, StorageError
from ..providers.base import ObjectMeta, Provider
from .locations import LocalPath, Location, any_location, local_location, store_location
from .output import human_size, meta_record, safe_text, when
from .state import DEFAULT_STORE, Session, json_option, run, state, store_option
from .transfer import DEFAULT_CONCURRENCY, CopyOptions, Skip, listed, report_copy, transfer

__all__ = ["COMMANDS", "CopyOptions"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: ``rm --recursive`` asks before deleting more objects than this (unless ``--yes``).
CONFIRM_OVER = 10
#: ``-`` as a path: standard input or output.
STDIO = "-"


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


def recursive_option(verb: str) -> Callable[[_F], _F]:
    """``-r/--recursive``, its help saying what ``verb`` does with a folder."""
    return click.option(
        "-r", "--recursive", is_flag=True, help=f"{verb} whole folders (everything under PATH)."
    )


concurrency_option = click.option(
    "-j",
    "--concurrency",
    type=click.IntRange(1, 512),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="How many files at a time.",
)


def copy_options(command: _F) -> _F:
    """The options every copy takes: what to do with existing files, links, progress."""
    for option in reversed(
        [
            click.option(
                "--skip-existing",
                is_flag=True,
                help="Leave files that already exist at the destination (resume a copy).",
            ),
            click.option(
                "--update",
                is_flag=True,
                help="Copy only files whose size differs or whose source is newer.",
            ),
            click.option(
                "--checksum",
                is_flag=True,
                help="Copy only files whose size or content differs (etag, MD5 or SHA-256).",
            ),
            click.option(
                "--follow-symlinks",
                is_flag=True,
                help="Copy what local symbolic links point to (default: skip them, say so).",
            ),
            concurrency_option,
            click.option(
                "--progress/--no-progress",
                default=None,
                help="Show a progress bar (default: when stderr is a terminal; never with --json).",
            ),
        ]
    ):
        command = option(command)
    return command


def _relative(path: str, folder: str) -> str:
    return path[len(folder) + 1 :] if folder and path.startswith(folder + "/") else path


# -- ls ------------------------------------------------------------------------


async def _ls_entries(
    provider: Provider, loc: Location, recursive: bool
) -> AsyncIterator[dict[str, Any]]:
    """The entries of a folder (or the one file) at ``loc``, paths relative to it, as listed.

    An entry that cannot be addressed is listed with ``"type": "skipped"``
    and its reason (a warning on stderr in text mode), never failing the rest.
    """
    found = False
    if recursive:
        async for item in listed(provider, loc.key):
            found = True
            if isinstance(item, Skip):
                yield _skipped_record(item, loc.key)
            else:
                yield meta_record(item, _relative(item.path, loc.key))
    else:
        listing = await provider.list_dir(loc.key)
        for prefix in listing.folders:
            found = True
            yield {"path": _relative(prefix.rstrip("/"), loc.key) + "/", "type": "folder"}
        for skipped in getattr(listing, "skipped", ()):  # a provider that reports them
            found = True
            yield _skipped_record(Skip(skipped.path, skipped.reason), loc.key)
        seen: set[str] = set()
        for meta in listing.objects:
            found = True
            if meta.path in seen:
                yield _skipped_record(Skip(meta.path, _ALIAS), loc.key)
            else:
                seen.add(meta.path)
                yield meta_record(meta, _relative(meta.path, loc.key))
    if found or not loc.key:
        return
    try:
        meta = await provider.head(loc.key)
    except NotFound:
        if await provider.is_dir(loc.key):  # an empty folder, as the listing above showed it
            return
        raise NotFound(f"no file or folder at {loc.label!r}", path=loc.key) from None
    yield meta_record(meta, loc.name)


_ALIAS = "another object's key reads back as this one: it cannot be addressed"


def _skipped_record(skip: Skip, folder: str) -> dict[str, Any]:
    return {"path": _relative(skip.path, folder), "type": "skipped", "reason": skip.reason}


@click.command("ls")
@click.argument("path", default="", required=False, shell_complete=complete_keys)
@click.option("-l", "--long", "long_", is_flag=True, help="Show size and modification time.")
@click.option(
    "-r", "--recursive", is_flag=True, help="List every file below PATH, not just its top."
)
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
        kept: list[dict[str, Any]] = []
        async for entry in entries:
            if entry["type"] == "skipped" and not out.as_json:
                warn(f"skipped {entry['path']!r}: {entry['reason']}")
            elif out.as_json or long_:
                kept.append(entry)
            else:  # plain names: streamed
                out.line(entry["path"])
        return kept

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


def warn(text: str) -> None:
    """One warning line on stderr (secrets scrubbed, any name printable)."""
    click.echo(state().redact(safe_text(f"storeroom: warning: {text}")), err=True)


# -- cat, stat -----------------------------------------------------------------


@click.command("cat")
@click.argument("keys", nargs=-1, required=True, shell_complete=complete_keys)
@store_option
def cat(keys: tuple[str, ...]) -> None:
    """Write the files KEYS to standard output, one after another (streamed)."""
    _cat(keys)


def _cat(keys: tuple[str, ...]) -> None:
    locations = [store_location(state().store, key) for key in keys]
    _write_out(locations)


def _write_out(locations: list[Location]) -> None:
    """Stream the files at ``locations`` to standard output."""
    sink = sys.stdout.buffer

    async def body(session: Session) -> None:
        for loc in locations:
            async for chunk in session.side(loc).stream(loc.key):
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
    async for item in listed(provider, loc.key):
        if isinstance(item, ObjectMeta):
            count, size = count + 1, size + item.size
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


@dataclass
class _Plan:
    """What ``rm`` would delete under one path, and what it has to leave."""

    provider: Provider
    loc: Location
    keys: list[str]
    skipped: list[Skip]


async def _targets(provider: Provider, loc: Location, recursive: bool) -> _Plan:
    """The keys ``rm`` would delete at ``loc``."""
    if loc.key:
        try:
            await provider.head(loc.key)
            return _Plan(provider, loc, [loc.key], [])
        except NotFound:
            pass
    if not recursive:
        if loc.key and await provider.is_dir(loc.key):
            raise click.UsageError(f"{loc.label!r} is a folder: add --recursive to delete it")
        raise NotFound(f"no file at {loc.label!r}", path=loc.key)
    plan = _Plan(provider, loc, [], [])
    async for item in listed(provider, loc.key):
        if isinstance(item, Skip):
            plan.skipped.append(item)
        else:
            plan.keys.append(item.path)
    if not plan.keys and not plan.skipped:
        raise NotFound(f"no files under {loc.label!r}", path=loc.key)
    return plan


def _emptied_folders(keys: list[str], top: str) -> list[str]:
    """The folders from ``top`` down that held ``keys``, deepest first."""
    folders = {top} if top else set()
    for key in keys:
        parent = posixpath.dirname(key)
        while parent and parent != top and parent not in folders:
            folders.add(parent)
            parent = posixpath.dirname(parent)
    return sorted(folders, key=lambda folder: folder.count("/"), reverse=True)


async def _remove_emptied(plan: _Plan) -> None:
    """Remove the folders ``plan`` emptied; a folder still in use (skipped objects,
    or objects written meanwhile) stays."""
    for folder in _emptied_folders(plan.keys, plan.loc.key):
        with contextlib.suppress(NotFound, FolderNotEmpty):
            await plan.provider.remove_folder(folder)


def _holds_artifacts(keys: list[str]) -> bool:
    """Whether ``keys`` include an artifact store's head records."""
    from ..artifactstore.layout import HEAD_FILE, HEADS

    for key in keys:
        segments = key.split("/")
        if segments[-1] == HEAD_FILE and HEADS in segments[:-1]:
            return True
    return False


def _confirm(question: str, refusal: str) -> None:
    """Ask ``question`` on a terminal; elsewhere refuse with ``refusal`` (a usage error)."""
    if not sys.stdin.isatty():
        raise click.UsageError(refusal)
    click.confirm(question, abort=True, err=True)


@click.command("rm")
@click.argument("paths", nargs=-1, required=True, shell_complete=complete_keys)
@click.option("-r", "--recursive", is_flag=True, help="Delete folders and everything in them.")
@click.option(
    "-y",
    "--yes",
    is_flag=True,
    help=f"Do not ask before deleting over {CONFIRM_OVER} files or an artifact store.",
)
@concurrency_option
@json_option
@store_option
def rm(paths: tuple[str, ...], recursive: bool, yes: bool, concurrency: int) -> None:
    """Delete the files PATHS from the store (folders with --recursive).

    Objects that cannot be addressed (their key reads back as another's) are
    left, reported and counted apart; the count of deleted files is exact.
    """
    locations = [store_location(state().store, path, "PATH") for path in paths]
    out = state().output()

    async def body(session: Session) -> tuple[list[str], list[Skip]]:
        plans = [await _targets(session.provider(loc), loc, recursive) for loc in locations]
        keys = [key for plan in plans for key in plan.keys]
        names = ", ".join(repr(loc.label) for loc in locations)
        if not yes and recursive and _holds_artifacts(keys):
            _confirm(
                f"{names} holds an artifact store (every version of every artifact). Delete it?",
                f"{names} holds an artifact store; add --yes to delete it",
            )
        elif not yes and len(keys) > CONFIRM_OVER:
            _confirm(
                f"Delete {len(keys)} files under {names}?",
                f"this would delete {len(keys)} files under {names}; add --yes to confirm",
            )
        from ..concurrency import map_limited

        pairs = [(plan.provider, key) for plan in plans for key in plan.keys]
        await map_limited(lambda pair: pair[0].delete(pair[1]), pairs, concurrency)
        for plan in plans:
            if recursive and plan.provider.capabilities.empty_folders:
                await _remove_emptied(plan)
        return keys, [skip for plan in plans for skip in plan.skipped]

    deleted, skipped = run(body)
    record: dict[str, Any] = {"deleted": len(deleted), "paths": deleted}
    record["skipped"] = [{"path": item.path, "reason": item.reason} for item in skipped]

    def text() -> None:
        for item in skipped:
            warn(f"left {item.path!r}: {item.reason}")
        left = f"; left {len(skipped)} that cannot be addressed" if skipped else ""
        out.line(f"Deleted {len(deleted)} file{'s' if len(deleted) != 1 else ''}{left}.")

    out.result(record, text)


# -- put, get, cp --------------------------------------------------------------


def _copy(src: Location, dst: Location, options: CopyOptions) -> None:
    summary = run(lambda session: transfer(session, src, dst, options))
    report_copy(summary)


@click.command("put")
@click.argument("local", type=LocalPath(allow_dash=True))
@click.argument("key", default="", required=False, shell_complete=complete_keys)
@recursive_option("Store")
@copy_options
@json_option
@store_option
def put(local: str, key: str, **options: Any) -> None:
    """Store the local file LOCAL at KEY (default: its name, at the top of the store).

    \b
    KEY ending in '/' or naming a folder puts the file into it. With
    --recursive, the contents of the folder LOCAL go under KEY. LOCAL '-'
    reads standard input (KEY required).
    """
    if local == STDIO:
        if not key:
            raise click.UsageError("reading standard input needs a KEY to store it at")
        _put_stdin(store_location(state().store, key))
        return
    src = local_location(local)
    dst = store_location(state().store, key or src.name)
    _copy(src, dst, CopyOptions(**options))


def _put_stdin(dst: Location) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(sys.stdin.buffer.read, 1024 * 1024):
            yield chunk

    async def body(session: Session) -> ObjectMeta:
        return await session.side(dst).write_stream(dst.key, chunks())

    meta = run(body)
    out = state().output()
    out.result(
        meta_record(meta),
        lambda: out.line(f"Stored {human_size(meta.size)} from standard input at {dst.label}."),
    )


@click.command("get")
@click.argument("key", shell_complete=complete_keys)
@click.argument("local", default=".", required=False, type=LocalPath(allow_dash=True))
@recursive_option("Fetch")
@copy_options
@json_option
@store_option
def get(key: str, local: str, **options: Any) -> None:
    """Copy the file KEY from the store to LOCAL (default: the current folder).

    \b
    LOCAL naming a folder gets the file inside it; '-' writes it to standard
    output. With --recursive, everything under the folder KEY goes into LOCAL.
    """
    src = store_location(state().store, key)
    if local == STDIO:
        _write_out([src])
        return
    chosen = CopyOptions(**options)
    if chosen.recursive and local == "." and src.key:
        local = src.name
    _copy(src, local_location(local), chosen)


@click.command("cp")
@click.argument("source")
@click.argument("destination")
@recursive_option("Copy")
@copy_options
@json_option
def cp(source: str, destination: str, **options: Any) -> None:
    """Copy SOURCE to DESTINATION: URLs of any scheme, or local paths.

    \b
    Examples:
      storeroom cp report.pdf s3://bucket/reports/
      storeroom cp -r ./photos az://container/photos
      storeroom cp -r s3://bucket/photos gs://other/photos -j 32
      storeroom cp s3://bucket/report.pdf -      (to standard output)
      storeroom cp -r --skip-existing ./photos s3://bucket/photos   (resume)

    A DESTINATION ending in '/' (or an existing local folder) receives the
    file under its own name. With --recursive the contents of the folder
    SOURCE go under DESTINATION. Plain paths here are local files; use
    'put' and 'get' for keys of the default store. '-' is standard input
    (as SOURCE) or standard output (as DESTINATION).
    """
    if destination == STDIO:
        if options["recursive"]:
            raise click.UsageError("a folder cannot be written to standard output")
        _write_out([any_location(source, "SOURCE")])
        return
    dst = any_location(destination, "DESTINATION")
    if source == STDIO:
        if dst.local and (dst.folder or not dst.key):
            raise click.UsageError("reading standard input needs a file DESTINATION")
        _put_stdin(dst)
        return
    _copy(any_location(source, "SOURCE"), dst, CopyOptions(**options))


COMMANDS = [ls, cat, stat, rm, put, get, cp]

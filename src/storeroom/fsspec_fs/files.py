"""The fsspec view of a provider's keys: paths, file and folder entries, and I/O.

How it keeps its promises:

- **Paths.** An fsspec path is a key (``storeroom://a/b.csv`` and ``/a/b.csv``
  are ``a/b.csv``; ``""`` is the top folder); :mod:`storeroom.paths` checks
  it. A path that cannot be a key (``../x``) cannot exist: reading it raises
  ``FileNotFoundError`` (what fsspec and pandas expect), writing it raises
  :class:`~storeroom.errors.InvalidPath`.
- **Folders as pyarrow expects.** A folder exists when ``makedirs`` made it or
  an object lies under it; ``info`` says ``"directory"`` for it, ``ls`` lists
  its folders and files, ``find(withdirs=True)`` includes every folder on the
  way; a file and a folder never share a name in one answer.
- **No whole-object reads for ranges, no whole-object writes for streams.**
  ``cat_file(start, end)`` reads that range; ``put_file`` and ``get_file``
  move one chunk at a time (``write_stream`` / ``stream``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import AsyncIterator
from typing import Any

from .. import paths
from ..concurrency import map_limited
from ..errors import InvalidPath, NotFound
from ..providers.base import ObjectMeta, Provider

__all__ = ["CHUNK", "dir_entry", "file_entry", "key_of", "strip", "tree"]

#: How much ``put_file`` and ``get_file`` move at a time: 8 MiB.
CHUNK = 8 * 1024 * 1024


def strip(path: str) -> str:
    """The key (or folder) an fsspec path names, unchecked."""
    if path.startswith("storeroom://"):
        path = path[len("storeroom://") :]
    path = path.lstrip("/")
    while path.startswith("./"):
        path = path[2:]
    return "" if path == "." else path.rstrip("/")


def key_of(path: str, *, reading: bool = True) -> str:
    """The checked key for ``path`` (``""`` for the top folder).

    The check is the one for names that exist (what a listing shows, other
    tools' names included: ``trail.``, ``con.txt``); a name being made is
    checked against the stricter rules for new keys by the provider.

    Raises:
        FileNotFoundError: ``reading`` and the path cannot name an object.
        InvalidPath: not ``reading`` and the path cannot name an object.
    """
    key = strip(path)
    if not key:
        return ""
    try:
        return paths.validate_address(key)
    except InvalidPath as exc:
        if not reading:
            raise
        raise FileNotFoundError(errno.ENOENT, f"no such file (invalid path: {exc})", path) from exc


def not_found(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, "no such file or folder", path)


def file_entry(meta: ObjectMeta) -> dict[str, Any]:
    """fsspec's info dict for an object."""
    return {
        "name": meta.path,
        "size": meta.size,
        "type": "file",
        "mtime": meta.modified.timestamp(),
        "ETag": meta.etag,
        "content_type": meta.content_type,
    }


def dir_entry(key: str) -> dict[str, Any]:
    """fsspec's info dict for a folder."""
    return {"name": key.rstrip("/"), "size": 0, "type": "directory"}


async def info(provider: Provider, path: str) -> dict[str, Any]:
    key = key_of(path)
    if not key:
        return dir_entry("")
    try:
        return file_entry(await provider.head(key))
    except NotFound:
        if await provider.is_dir(key):
            return dir_entry(key)
    raise not_found(path)


async def ls(provider: Provider, path: str) -> list[dict[str, Any]]:
    key = key_of(path)
    listing = await provider.list_dir(key)
    entries = [dir_entry(folder) for folder in listing.folders]
    entries += [file_entry(meta) for meta in listing.objects]
    if entries or not key:
        return entries
    try:
        return [file_entry(await provider.head(key))]  # ls of a file is the file
    except NotFound:
        if await provider.is_dir(key):
            return []  # an empty folder
    raise not_found(path)


async def _head_or_none(provider: Provider, key: str) -> ObjectMeta | None:
    try:
        return await provider.head(key)
    except NotFound:
        return None


async def find(provider: Provider, path: str) -> dict[str, dict[str, Any]]:
    """Every object under ``path`` (or ``path`` itself if it is an object)."""
    key = key_of(path)
    found = {meta.path: file_entry(meta) async for meta in provider.iter(key)}
    if not found and key and (meta := await _head_or_none(provider, key)) is not None:
        found[meta.path] = file_entry(meta)
    return found


async def tree(
    provider: Provider,
    path: str,
    maxdepth: int | None,
    withdirs: bool,
    concurrency: int,
    *,
    below: bool = False,
) -> dict[str, dict[str, Any]]:
    """What fsspec's ``find(path, maxdepth, withdirs)`` gives, by walking: one
    ``list_dir`` per folder, the folders of one depth listed together.

    ``path`` itself is in the answer if it is a file, or (``withdirs``) a folder;
    ``below``: only what is under ``path`` (a folder a listing just showed), and
    ``path`` is not looked at. A folder a listing showed is a folder even if its
    own listing is empty (it holds only a ``makedirs`` marker), so it needs no
    further look. Where a file and a folder share a name, the folder wins with
    ``withdirs`` and the file without, as in fsspec's walk.
    """
    try:
        key = key_of(path)
    except FileNotFoundError:
        return {}  # cannot be a key: nothing is there
    found: dict[str, dict[str, Any]] = {}
    own: ObjectMeta | None = None
    if key and withdirs and not below:  # is the path itself a file? asked with its listing
        listing, own = await asyncio.gather(provider.list_dir(key), _head_or_none(provider, key))
    else:
        listing = await provider.list_dir(key)
    if key and not below:
        if not (listing.objects or listing.folders):
            if own is None and not withdirs:
                own = await _head_or_none(provider, key)
            if own is not None:
                return {key: file_entry(own)}  # a file is its own find
            if withdirs and await provider.is_dir(key):
                return {key: dir_entry(key)}  # an empty folder
            return {}
        if withdirs and own is None:
            found[key] = dir_entry(key)
    level, depth = [listing], 1
    while True:
        folders: list[str] = []
        for one in level:
            for meta in one.objects:
                found[meta.path] = file_entry(meta)
            for folder in one.folders:  # after the files: a folder wins a shared name
                if withdirs:
                    found[folder.rstrip("/")] = dir_entry(folder)
                folders.append(folder)
        if not folders or (maxdepth is not None and depth >= maxdepth):
            break
        level, depth = await map_limited(provider.list_dir, folders, concurrency), depth + 1
    return found


async def cat(provider: Provider, path: str, start: int | None, end: int | None) -> bytes:
    if start is None and end is None:
        return await provider.read(_file_key(path))
    span = await _span(provider, path, start, end)
    return b"" if span is None else await provider.read_range(*span)


async def cat_view(
    provider: Provider, path: str, start: int | None, end: int | None
) -> memoryview:
    """``cat`` as a read-only view of what the provider received (no copy where it
    can hand its buffer over)."""
    span = await _span(provider, path, start, end)
    return memoryview(b"") if span is None else await provider.read_range_view(*span)


def _file_key(path: str) -> str:
    key = key_of(path)
    if not key:
        raise IsADirectoryError(errno.EISDIR, "is a folder", path)
    return key


async def _span(
    provider: Provider, path: str, start: int | None, end: int | None
) -> tuple[str, int, int | None] | None:
    """The key and range of fsspec's ``start``/``end`` (negative: from the end), or
    ``None`` for an empty range of a file that exists."""
    key = _file_key(path)
    if (start is not None and start < 0) or (end is not None and end < 0):
        size = (await provider.head(key)).size
        start = max(0, size + start) if start is not None and start < 0 else start
        end = max(0, size + end) if end is not None and end < 0 else end
    start = start or 0
    if end is not None and end <= start:
        await provider.head(key)  # a missing file is still missing
        return None
    return key, start, end


async def _local_chunks(lpath: str, callback: Any) -> AsyncIterator[bytes]:
    with open(lpath, "rb") as handle:  # reads run in a thread
        while True:
            chunk = await asyncio.to_thread(handle.read, CHUNK)
            if not chunk:
                return
            callback.relative_update(len(chunk))
            yield chunk


async def put_file(provider: Provider, lpath: str, rpath: str, callback: Any) -> None:
    key = key_of(rpath, reading=False)
    if os.path.isdir(lpath):
        return  # a folder comes into being with the files put into it (as on S3)
    callback.set_size(os.path.getsize(lpath))
    await provider.write_stream(key, _local_chunks(lpath, callback))


async def get_file(provider: Provider, rpath: str, lpath: str, callback: Any) -> None:
    key = key_of(rpath)
    if not key:
        os.makedirs(lpath, exist_ok=True)
        return
    temp = f"{lpath}.part-{os.getpid()}"
    try:
        with open(temp, "wb") as handle:  # writes run in a thread
            async for chunk in provider.stream(key, CHUNK):
                await asyncio.to_thread(handle.write, chunk)
                callback.relative_update(len(chunk))
        os.replace(temp, lpath)  # (a folder in the way fails here: the temp goes too)
    except NotFound:
        os.unlink(temp)
        if not await provider.is_dir(key):
            raise
        os.makedirs(lpath, exist_ok=True)  # a folder: made, as fsspec's get expects
        return
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise

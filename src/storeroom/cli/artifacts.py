"""``storeroom artifacts``: versioned artifacts from the command line.

The artifact store lives in the ``artifacts`` folder of the store (so it
never mixes with plain files), or wherever ``--artifacts-url`` /
``STOREROOM_ARTIFACTS_URL`` says; in Python the same store is
``storeroom.artifacts(<that URL>)``.
"""

from __future__ import annotations

import base64
import dataclasses
import mimetypes
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import NotFound, StorageError
from ..interfaces import StorageResult
from .catalog import CATALOG_COMMANDS, index_option, index_url
from .locations import LocalPath, Location
from .output import human_size, when
from .state import Session, json_option, run, state, store_option

if TYPE_CHECKING:
    from ..artifactstore import ArtifactStore, ArtifactVersion

__all__ = ["COMMANDS", "version_record"]

_T = TypeVar("_T")
#: Codes of failed writes that mean the arguments were wrong (exit status 2).
_USAGE_CODES = frozenset({"invalid_path", "invalid_argument", "configuration_error"})


def _with_store(body: Callable[[ArtifactStore], Awaitable[_T]]) -> _T:
    """Run ``body`` on the artifact store of this invocation."""
    from ..artifactstore import ArtifactStore

    url = state().artifacts_url

    async def main(session: Session) -> _T:
        provider = session.provider(Location(url, ""))
        store = ArtifactStore(provider, index=index_url())
        try:
            return await body(store)
        finally:
            if store.index is not None:
                await store.index.aclose()

    return run(main)


def _check(result: StorageResult) -> StorageResult:
    """``result`` if it succeeded; else its error, raised as usage or storage error."""
    if result.success:
        return result
    code = (result.metadata or {}).get("code", "storage_error")
    message = result.error or "the operation failed"
    if code in _USAGE_CODES:
        raise click.UsageError(message)
    kinds = {kind.code: kind for kind in StorageError.__subclasses__()}
    raise kinds.get(code, StorageError)(message, path=result.path)


def version_record(found: ArtifactVersion, aliases: list[str] | None = None) -> dict[str, Any]:
    """A version's manifest as a JSON-ready dict."""
    record: dict[str, Any] = {
        "name": found.name,
        "version": found.version,
        "size": found.size,
        "content_type": found.content_type,
        "text": found.encoding is not None,
        "sha256": found.sha256,
        "created": found.created.isoformat(),
        "metadata": dict(found.metadata),
        "message": found.message,
    }
    if aliases is not None:
        record["aliases"] = aliases
    return record


def _parse_meta(pairs: tuple[str, ...]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--meta")
        metadata[name] = value
    return metadata


def _content_type(data: bytes, *names: str) -> str:
    for name in names:
        guessed = mimetypes.guess_type(name, strict=False)[0]
        if guessed:
            return guessed
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


def _artifacts_url(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        found = state()
        found.artifacts = value
        found.redact.add(value)


@click.group("artifacts")
@click.option(
    "--artifacts-url",
    metavar="URL",
    envvar="STOREROOM_ARTIFACTS_URL",
    expose_value=False,
    callback=_artifacts_url,
    help="Where artifacts live (default: the 'artifacts' folder of the store).",
)
@index_option
@store_option
def artifacts() -> None:
    """Versioned artifacts: every put is a new version, with metadata and aliases.

    \b
    Versions are v1, v2, ...; 'latest' always names the newest, and you can
    add your own aliases (e.g. 'approved'). Identical content is stored once.
    """


@artifacts.command("put")
@click.argument("name")
@click.argument("file", type=LocalPath(exists=True, dir_okay=False, allow_dash=True))
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE", help="Metadata (repeatable).")
@click.option("--content-type", help="Default: guessed from the file name, else text/plain.")
@click.option("-m", "--message", help="What changed (kept with the version).")
@click.option(
    "-i", "--input", "inputs", multiple=True, metavar="NAME[@VERSION]",
    help="A version this one was made from (repeatable; NAME alone: its latest). "
    "Recorded as lineage: see `artifacts lineage`.",
)  # fmt: skip
@json_option
@store_option
def put(
    name: str,
    file: str,
    meta: tuple[str, ...],
    content_type: str | None,
    message: str | None,
    inputs: tuple[str, ...],
) -> None:
    """Store FILE ('-': standard input) as a new version of the artifact NAME."""
    metadata = _parse_meta(meta)
    if file == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(file, "rb") as handle:
            data = handle.read()
    kind = content_type or _content_type(data, file, name)
    result = _check(
        _with_store(
            lambda store: store.store_artifact(
                name, data, kind, metadata, message, inputs=inputs or None
            )
        )
    )
    info = result.data or {}
    out = state().output()
    record = {"name": name, "size": result.size, "content_type": kind, "metadata": metadata, **info}

    def text() -> None:
        same = " (same content as an earlier version: stored once)" if info["deduplicated"] else ""
        out.line(f"Stored {name} {info['version']} ({human_size(result.size or 0)}){same}.")

    out.result(record, text)


@artifacts.command("get")
@click.argument("name")
@click.option("-v", "--version", default=None, help="v3, an alias, or latest (default).")
@click.option(
    "-o",
    "--output",
    "target",
    type=LocalPath(dir_okay=False, allow_dash=True),
    help="Write to FILE ('-': standard output, even binary content on a terminal).",
)
@click.option("--force", is_flag=True, help="Write binary content to a terminal anyway.")
@json_option
@store_option
def get(name: str, version: str | None, target: str | None, force: bool) -> None:
    """Print the artifact NAME (the latest version, or --version) or save it with -o.

    Binary content is not written to a terminal unless asked (-o - or --force).
    """

    async def body(store: ArtifactStore) -> tuple[ArtifactVersion, bytes]:
        found = await store.get_version(name, version)
        return found, await store.get_artifact_bytes(name, found.version)

    found, data = _with_store(body)
    out = state().output()
    if target == "-":
        target, force = None, True
    if not (target or out.as_json or force) and found.encoding is None and sys.stdout.isatty():
        raise click.UsageError(
            f"{name} {found.version} is binary ({found.content_type}, {human_size(found.size)}): "
            "save it with -o FILE, or write it here with -o - or --force"
        )
    if target:
        with open(target, "wb") as handle:
            handle.write(data)
    if out.as_json:
        record = version_record(found)
        if not target:
            if found.encoding is not None:
                record["content"] = data.decode(found.encoding)
            else:
                record["content_base64"] = base64.b64encode(data).decode("ascii")
        out.json(record)
    elif target:
        out.line(f"Saved {name} {found.version} ({human_size(found.size)}) to {target}.")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


async def _versions(store: ArtifactStore, name: str) -> list[dict[str, Any]]:
    from ..concurrency import map_limited

    ids = await store.get_artifact_versions(name)
    if not ids:
        raise NotFound(f"no artifact {name!r}", path=name)
    aliases = await store.get_aliases(name)
    by_version: dict[str, list[str]] = {}
    for alias, target in aliases.items():
        by_version.setdefault(target, []).append(alias)
    found = await map_limited(lambda version: store.get_version(name, version), ids, 16)
    return [version_record(item, by_version.get(item.version, [])) for item in found]


def _metadata_text(metadata: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in metadata.items())


@artifacts.command("versions")
@click.argument("name")
@json_option
@store_option
def versions(name: str) -> None:
    """List every version of the artifact NAME, oldest first."""
    records = _with_store(lambda store: _versions(store, name))
    out = state().output()
    rows = (
        (
            r["version"],
            human_size(r["size"]),
            when(r["created"]),
            ", ".join(r["aliases"]),
            r["message"] or "",
            _metadata_text(r["metadata"]),
        )
        for r in records
    )
    out.result(
        records,
        lambda: out.table(
            ("VERSION", "SIZE", "CREATED", "ALIASES", "MESSAGE", "METADATA"), rows, right=("SIZE",)
        ),
    )


@artifacts.command("list")
@click.argument("prefix", default="", required=False)
@json_option
@store_option
def list_(prefix: str) -> None:
    """List the artifacts (whose names start with PREFIX) with their latest version."""
    entries = _with_store(lambda store: store.list_artifacts(prefix))
    out = state().output()
    rows = (
        (
            e["name"],
            e["version"],
            str(e["versions"]),
            human_size(e["size"]),
            when(e["updated_at"]),
            e["content_type"],
        )
        for e in entries
    )
    out.result(
        entries,
        lambda: out.table(
            ("NAME", "LATEST", "VERSIONS", "SIZE", "UPDATED", "TYPE"),
            rows,
            right=("SIZE", "VERSIONS"),
        ),
    )


@artifacts.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--remove", is_flag=True, help="Remove ALIAS instead of setting it.")
@json_option
@store_option
def alias(name: str, alias: str, version: str | None, remove: bool) -> None:
    """Point ALIAS of the artifact NAME at VERSION (v3, latest, or another alias)."""
    out = state().output()
    if remove:
        _with_store(lambda store: store.remove_alias(name, alias))
        out.result(
            {"name": name, "alias": alias, "removed": True},
            lambda: out.line(f"Removed alias {alias} of {name}."),
        )
        return
    if version is None:
        raise click.UsageError("give the VERSION the alias should name (or --remove)")
    target = _with_store(lambda store: store.set_alias(name, alias, version))
    out.result(
        {"name": name, "alias": alias, "version": target},
        lambda: out.line(f"{name}@{alias} now names {target}."),
    )


@artifacts.command("rm")
@click.argument("name")
@click.option("-v", "--version", default=None, help="Delete only this version (or alias).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before deleting every version.")
@json_option
@store_option
def rm(name: str, version: str | None, yes: bool) -> None:
    """Delete one version of the artifact NAME, or (without --version) all of them."""

    async def body(store: ArtifactStore) -> list[str]:
        if version is None and not yes:
            count = len(await store.get_artifact_versions(name))
            if count > 1:
                if not sys.stdin.isatty():
                    raise click.UsageError(
                        f"this would delete all {count} versions of {name!r}; add --yes to confirm"
                    )
                click.confirm(f"Delete all {count} versions of {name!r}?", abort=True, err=True)
        result = _check(await store.delete_artifact(name, version))
        deleted: list[str] = (result.data or {}).get("deleted", [])
        return deleted

    deleted = _with_store(body)
    out = state().output()
    out.result(
        {"name": name, "deleted": deleted},
        lambda: out.line(f"Deleted {name} {', '.join(deleted)}."),
    )


@artifacts.command("diff")
@click.argument("name")
@click.argument("old")
@click.argument("new", default="latest", required=False)
@click.option("-U", "--context", default=3, show_default=True, help="Lines of context.")
@click.option("--color/--no-color", default=None, help="Colour the diff (default: on a terminal).")
@json_option
@store_option
def diff(name: str, old: str, new: str, context: int, color: bool | None) -> None:
    """Show what changed in the text artifact NAME from version OLD to NEW (default: latest)."""
    text = _with_store(lambda store: store.diff(name, old, new, context=context))
    out = state().output()
    if out.as_json:
        out.json({"name": name, "from": old, "to": new, "diff": text})
        return
    if not text:
        out.line(f"{name}: {old} and {new} have the same content.")
        return
    for line in text.splitlines():
        click.echo(_styled(line), color=color)


def _styled(line: str) -> str:
    if line.startswith(("+++", "---")):
        return click.style(line, bold=True)
    if line.startswith("+"):
        return click.style(line, fg="green")
    if line.startswith("-"):
        return click.style(line, fg="red")
    if line.startswith("@@"):
        return click.style(line, fg="cyan")
    return line


@artifacts.command("gc")
@json_option
@store_option
def gc() -> None:
    """Remove content no version refers to any more (safe while others write)."""
    report = _with_store(lambda store: store.gc())
    out = state().output()
    out.result(
        dataclasses.asdict(report),
        lambda: out.line(
            f"Checked {report.blobs_checked} blobs, removed {report.blobs_deleted} "
            f"({human_size(report.bytes_freed)} freed)."
        ),
    )


@artifacts.command("keep")
@click.argument("name")
@click.option("--last", type=click.IntRange(min=1), required=True, help="Versions to keep.")
@json_option
@store_option
def keep(name: str, last: int) -> None:
    """Retention: delete all but the newest --last N versions of NAME."""
    deleted = _with_store(lambda store: store.keep_last(name, last))
    out = state().output()
    out.result(
        {"name": name, "kept": last, "deleted": deleted},
        lambda: out.line(
            f"Kept the last {last} version{'s' if last != 1 else ''} of {name}; "
            f"deleted {', '.join(deleted) or 'nothing'}."
        ),
    )


for _command in CATALOG_COMMANDS:
    artifacts.add_command(_command)

COMMANDS = [artifacts]

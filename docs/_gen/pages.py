"""Pages generated at build time (mkdocs-gen-files), so the site cannot drift from the code.

- ``getting-started.md`` and ``guarantees.md``: sections of ``README.md`` (whose
  every code block is run by ``tests/readme``);
- ``reference/cli.md``: the help of every ``storeroom`` command, from click;
- ``reference/options.md``: every URL option with its type and default, from
  the typed configurations (skipped when ``docs/options.md`` is a page of
  its own);
- ``reference/api.md``: the public API, from the docstrings (mkdocstrings).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import click
import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_sections(*titles: str) -> str:
    """The ``## `` sections of the README that start with ``titles``, in README order."""
    parts = re.split(r"(?m)^(?=## )", README)
    chosen = [part for part in parts if part.startswith(tuple(f"## {t}" for t in titles))]
    text = "\n".join(chosen)
    return re.sub(r"(?m)^<!-- (no-run|needs:[^>]*) -->\n", "", text)  # markers are for tests


def write(name: str, text: str) -> None:
    with mkdocs_gen_files.open(name, "w") as handle:
        handle.write(text)


# -- README sections -------------------------------------------------------------------

write(
    "getting-started.md",
    "# Getting started\n\n" + readme_sections("The two commands", "A short tour", "URL schemes"),
)
write(
    "guarantees.md",
    "# Guarantees\n\n"
    + readme_sections("Keys", "Errors", "What storeroom guarantees", "Honest limits"),
)


# -- the command line ------------------------------------------------------------------


def commands(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        context = click.Context(command, info_name=path)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None and not sub.hidden:
                yield from commands(sub, f"{path} {name}")


def cli_reference() -> str:
    from storeroom.cli.app import cli

    lines = [
        "# Command line reference",
        "",
        "Generated from the `storeroom` program's own help (click), so it matches",
        "what `storeroom COMMAND --help` prints.",
        "",
    ]
    for path, command in commands(cli, "storeroom"):
        context = click.Context(command, info_name=path, max_content_width=100)
        lines += [f"## `{path}`", "", "```text", command.get_help(context), "```", ""]
    return "\n".join(lines)


write("reference/cli.md", cli_reference())


# -- URL options -----------------------------------------------------------------------


def _type_name(hint: object) -> str:
    text = getattr(hint, "__name__", None) or str(hint)
    return text.replace("typing.", "").replace("NoneType", "None")


def dataclass_rows(config: type) -> list[str]:
    """A Markdown table row per option of a typed configuration dataclass."""
    hints = typing.get_type_hints(config)
    rows = []
    for field in dataclasses.fields(config):
        if field.name in ("bucket", "container", "prefix"):
            continue  # these come from the URL's path
        if dataclasses.is_dataclass(hints[field.name]):
            rows += dataclass_rows(typing.cast(type, hints[field.name]))
            continue
        default = field.default
        if default is dataclasses.MISSING:
            shown = ""
        elif default is None:
            shown = "from the environment" if not field.repr else "none"
        else:
            shown = f"`{default!r}`"
        secret = ", secret" if not field.repr else ""
        rows.append(f"| `{field.name}` | {_type_name(hints[field.name])}{secret} | {shown} |")
    return rows


def options_reference() -> str:
    from storeroom import urls

    made = getattr(urls, "option_reference_markdown", None)
    if made is not None:  # the library describes its own options
        return "# Options\n\n" + str(made())
    from storeroom.providers.object.azure import AzureConfig
    from storeroom.providers.object.gcs import GCSConfig
    from storeroom.providers.object.s3 import S3Config

    lines = [
        "# Options",
        "",
        "Every option is a query parameter (`?name=value`) or a keyword argument of",
        "the factory (keywords win). Generated from the typed configurations.",
        "",
    ]
    for title, config in (
        ("S3 (`s3://bucket/prefix`)", S3Config),
        ("Azure (`az://container/prefix`)", AzureConfig),
        ("GCS (`gs://bucket/prefix`)", GCSConfig),
    ):
        lines += [f"## {title}", "", "| option | type | default |", "| --- | --- | --- |"]
        lines += dataclass_rows(config)
        lines.append("")
    return "\n".join(lines)


if not (ROOT / "docs" / "options.md").exists():
    write("reference/options.md", options_reference())


# -- the API ---------------------------------------------------------------------------

_API = {
    "Factories": ["storeroom.urls.provider", "storeroom.urls.files", "storeroom.urls.artifacts",
                  "storeroom.urls.cache"],
    "Files": ["storeroom.filestore.FileStore"],
    "Providers": ["storeroom.providers.base.Provider", "storeroom.providers.base.ObjectMeta",
                  "storeroom.providers.base.Capabilities", "storeroom.providers.base.IfMatch"],
    "Artifacts": ["storeroom.artifactstore.ArtifactStore"],
    "Caches": ["storeroom.caches.base.Cache", "storeroom.caches.memory.MemoryCache",
               "storeroom.caches.redis.RedisCache", "storeroom.providers.cached.CachedProvider"],
    "Errors": ["storeroom.errors"],
}  # fmt: skip

api = ["# API reference", "", "Generated from the docstrings.", ""]
for section, names in _API.items():
    api += [f"## {section}", ""]
    api += [f"::: {name}\n    options:\n      heading_level: 3\n" for name in names]
write("reference/api.md", "\n".join(api))

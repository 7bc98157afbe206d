"""Every option's help says what it does in its own command.

``ls --help`` once described ``-r`` as "Copy whole folders": help texts are
shared between commands, so a test walks the whole click tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import click

from storeroom.cli.app import cli
from storeroom.cli.transfer import DEFAULT_CONCURRENCY

#: Words of a command's own action, by command path; an option's help may use only its own.
_VERBS = {
    "storeroom ls": "list",
    "storeroom put": "store",
    "storeroom get": "fetch",
    "storeroom cp": "copy",
    "storeroom rm": "delete",
}
_COPYING = {"storeroom put", "storeroom get", "storeroom cp"}


def _commands(group: click.Command, path: str = "storeroom") -> Iterator[tuple[str, click.Command]]:
    """Every command, the lazily loaded ones included (whatever was imported before)."""
    yield path, group
    if isinstance(group, click.Group):
        context = click.Context(group)
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            assert command is not None, f"{path} {name} does not load"
            yield from _commands(command, f"{path} {name}")


def test_every_option_has_help_that_fits_its_command() -> None:
    for path, command in _commands(cli):
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            text = (param.help or "").lower()
            assert text, f"{path} {param.opts}: no help"
            if "--recursive" in param.opts and path in _VERBS:
                assert text.startswith(_VERBS[path]), f"{path} -r: {param.help!r}"
            if path not in _COPYING:
                assert not re.search(r"\bcop(y|ies)\b", text), f"{path} {param.opts}: {text!r}"


def test_the_concurrency_shown_is_the_default() -> None:
    for path, command in _commands(cli):
        for param in command.params:
            if "--concurrency" in getattr(param, "opts", ()):
                assert param.default == DEFAULT_CONCURRENCY, path


def test_lazy_command_summaries_are_the_commands_own() -> None:
    from storeroom.cli.app import LAZY_COMMANDS

    context = click.Context(cli)
    for name, (_module, summary) in LAZY_COMMANDS.items():
        command = cli.get_command(context, name)
        assert command is not None, name
        assert command.get_short_help_str(limit=1000) == summary, name

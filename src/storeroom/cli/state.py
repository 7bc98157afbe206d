"""The state of one ``storeroom`` invocation: global options, output, open providers.

:class:`State` holds what the root options and ``STOREROOM_URL`` said; it is
click's context object, so every command finds it with :func:`state`.
:func:`run` runs a command's async body in a :class:`Session`, which opens
each provider (or local folder) once per invocation and closes them all at
the end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, Union

import click

from .locations import Location, join_url
from .output import Output, Redactor

if TYPE_CHECKING:
    from ..providers.base import Provider
    from .localfs import LocalFiles
    from .transfer import CopyOptions

__all__ = [
    "DEFAULT_STORE",
    "Session",
    "Side",
    "State",
    "interrupted_text",
    "json_option",
    "run",
    "state",
    "store_option",
    "warn_if_memory",
]

_T = TypeVar("_T")

#: The embedded default store: a local folder, made on first use.
DEFAULT_STORE = "./.storeroom"

#: Either end of a copy: a store's provider or plain local files.
Side = Union["Provider", "LocalFiles"]


@dataclass
class State:
    """What the global options said.

    Attributes:
        store: the store URL (``--store``, else ``STOREROOM_URL``, else ``./.storeroom``).
        as_json: print JSON for scripts.
        debug: show tracebacks.
        artifacts: the artifact store's URL (default: the store's ``artifacts`` folder).
        redact: scrubs secrets of every URL given from printed text.
        interrupted: what a copy had done when it was interrupted (printed on exit).
        argv: the command line's arguments (to tell how to resume a copy).
    """

    store: str = DEFAULT_STORE
    as_json: bool = False
    debug: bool = False
    artifacts: str | None = None
    redact: Redactor = field(default_factory=Redactor)
    interrupted: dict[str, Any] | None = None
    argv: list[str] = field(default_factory=list)
    _warned: set[str] = field(default_factory=set)

    def warn_if_memory(self, url: str, what: str = "store") -> None:
        """Say once on stderr that a ``memory://`` ``what`` lasts only this one command."""
        if url.startswith("memory://") and url not in self._warned:
            self._warned.add(url)
            click.echo(
                f"storeroom: warning: {url.split('?')[0]} is a {what} in this process's memory: "
                "what this command puts there is gone when it ends",
                err=True,
            )

    @property
    def artifacts_url(self) -> str:
        """Where the artifact commands keep artifacts."""
        return self.artifacts or join_url(self.store, "artifacts")

    def output(self) -> Output:
        """The printer for this invocation."""
        return Output(as_json=self.as_json, redact=self.redact)


def interrupted_text(summary: dict[str, Any]) -> str:
    """What an interrupted copy did, and how to resume it, for people."""
    files = summary.get("files", 0)
    return (
        f"interrupted: copied {files} file{'s' if files != 1 else ''} "
        f"from {summary.get('source')} to {summary.get('destination')} before stopping; "
        f"to resume, run the same command with --skip-existing: {summary.get('resume', '')}"
    ).rstrip(": ")


def warn_if_memory(url: str, what: str = "store") -> None:
    """:meth:`State.warn_if_memory` of the running command."""
    state().warn_if_memory(url, what)


def state() -> State:
    """The :class:`State` of the running command."""
    found = click.get_current_context().find_object(State)
    if found is None:  # a command invoked outside the root group
        found = State()
        click.get_current_context().obj = found
    return found


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(State).as_json = True


def _set_store(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        found = ctx.ensure_object(State)
        found.store = value
        found.redact.add(value)


#: ``--json`` on a command (also accepted before the command name).
json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    expose_value=False,
    callback=_set_json,
    help="Print the result as JSON, for scripts.",
)

#: ``--store URL`` on a command (also accepted before the command name).
store_option = click.option(
    "--store",
    metavar="URL",
    expose_value=False,
    callback=_set_store,
    help="The store to use (default: $STOREROOM_URL, else ./.storeroom).",
)


class Session:
    """Providers and local folders opened by one command, closed together.

    Args:
        state: the invocation's options.
    """

    def __init__(self, state: State) -> None:
        self.state = state
        self._sides: dict[tuple[bool, str, bool], Side] = {}

    def side(self, location: Location, options: CopyOptions | None = None) -> Side:
        """The provider (or local folder) holding ``location``, opened once per command.

        ``options`` say whether a local folder follows symbolic links.
        """
        follow = options is not None and options.follow_symlinks
        handle = (location.local, location.base, follow)
        opened = self._sides.get(handle)
        if opened is None:
            if location.local:
                from .localfs import LocalFiles

                opened = LocalFiles(location.base, follow_symlinks=follow)
            else:
                from ..urls import provider

                self.state.redact.add(location.base)
                self.state.warn_if_memory(location.base)
                opened = provider(location.base)
            self._sides[handle] = opened
        return opened

    def provider(self, location: Location) -> Provider:
        """The provider holding ``location``, which must be in a store (not a local path)."""
        side = self.side(location)
        from ..providers.base import Provider

        if not isinstance(side, Provider):
            raise click.UsageError(f"{location.label!r} is a local path, not a store key or URL")
        return side

    async def aclose(self) -> None:
        """Close every provider opened."""
        sides, self._sides = list(self._sides.values()), {}
        for side in sides:
            await side.aclose()


def run(body: Callable[[Session], Awaitable[_T]]) -> _T:
    """Run ``body`` in a fresh :class:`Session` on a new event loop."""
    import asyncio  # here, not at the top: ``storeroom --help`` needs no event loop

    current = state()

    async def main() -> _T:
        session = Session(current)
        try:
            return await body(session)
        finally:
            await session.aclose()

    return asyncio.run(main())

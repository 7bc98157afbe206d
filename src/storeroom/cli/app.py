"""The ``storeroom`` root command: global options, error handling, shell completion.

Errors end a command with one line on stderr and an exit status, never a
traceback unless ``--debug`` (or ``STOREROOM_DEBUG=1``):

- ``2``: bad usage (unknown option, missing argument, an invalid key, name
  or alias, an unknown URL scheme or option);
- ``1``: the operation failed (not found, permission denied, backend down...);
- ``130``: interrupted (Ctrl-C); a copy first says what it copied and how to resume.

With ``--json`` an error is one JSON document on stderr,
``{"error": {"code": ..., "message": ...}}``, and stdout holds only results.

The global options (``--store``, ``--json``, ``--debug``) may come before or
after the command's name, as in aws s3, gsutil and rclone: :class:`Root`
moves them in front of the command before click parses.

A reader that goes away (``storeroom cat big | head``) ends the command
quietly (click's own handling of ``EPIPE``, status 1).

Every line printed passes through the invocation's :class:`~.output.Redactor`,
so no credential given in a URL is ever shown.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback

import click
from click.shell_completion import get_completion_class

from ..errors import ConfigurationError, InvalidPath, StorageError
from .output import json_text, safe_text
from .state import DEFAULT_STORE, State, interrupted_text

__all__ = ["cli", "main"]

PROG = "storeroom"
COMPLETE_VAR = "_STOREROOM_COMPLETE"

_EPILOG = """\b
Where data lives (first that applies):
  --store URL        e.g. s3://bucket/prefix?endpoint=http://localhost:9000
  $STOREROOM_URL     the same, from the environment
  ./.storeroom       a local folder, made on first use
\b
Examples:
  storeroom put report.md reports/        store a file
  storeroom ls -l reports                 list a folder
  storeroom cp -r ./photos s3://bucket/photos
  storeroom artifacts put notes.md notes.md --meta author=ada
  storeroom demo                          a guided tour on a temporary folder
"""


#: Characters that would break the one line of an error (typed names may hold them).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

#: The root's options that may also be written after a command's name.
_GLOBAL_FLAGS = frozenset({"--json", "--debug"})
_GLOBAL_VALUED = frozenset({"--store"})


def hoist_globals(args: list[str]) -> list[str]:
    """``args`` with every global option moved in front (nothing after ``--`` moves)."""
    front: list[str] = []
    rest: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        if arg == "--":
            rest.extend(args[position:])
            break
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS or (name in _GLOBAL_VALUED and "=" in arg):
            front.append(arg)
        elif arg in _GLOBAL_VALUED and position + 1 < len(args):
            front.extend(args[position : position + 2])
            position += 1
        else:
            rest.append(arg)
        position += 1
    return front + rest


def _shorten(text: str, limit: int) -> str:
    """``text`` cut at a word to fit ``limit`` characters, as click shortens help."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 1)].rsplit(" ", 1)[0].rstrip(",.;:") + "..."


class Root(click.Group):
    """The root group: global options accepted anywhere on the line; commands loaded lazily."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_globals(args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in LAZY_COMMANDS:
            module = importlib.import_module(f"{__package__}.{LAZY_COMMANDS[cmd_name][0]}")
            for command in module.COMMANDS:
                self.add_command(command)
            found = super().get_command(ctx, cmd_name)
        return found

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands, from :data:`LAZY_COMMANDS` without importing them."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in LAZY_COMMANDS and name not in self.commands:
                rows.append((name, _shorten(LAZY_COMMANDS[name][1], limit)))
            elif (command := self.get_command(ctx, name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=Root,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=_EPILOG,
)
@click.option(
    "--store",
    metavar="URL",
    envvar="STOREROOM_URL",
    default=DEFAULT_STORE,
    show_default=True,
    help="The store: a local folder or a URL (s3://, az://, gs://, file://, memory://). "
    "Also read from $STOREROOM_URL.",
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON, for scripts.")
@click.option(
    "--debug",
    is_flag=True,
    envvar="STOREROOM_DEBUG",
    help="Show the full traceback when something fails.",
)
@click.version_option(package_name="storeroom", prog_name=PROG)
@click.pass_context
def cli(ctx: click.Context, store: str, as_json: bool, debug: bool) -> None:
    """storeroom: files, versioned artifacts and caches on local disk, S3, Azure and GCS."""
    found = ctx.ensure_object(State)
    found.store = store
    found.as_json = found.as_json or as_json
    found.debug = found.debug or debug
    found.redact.add(store)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    Install it, for example:
      bash:  storeroom completion bash > ~/.local/share/bash-completion/completions/storeroom
      zsh:   storeroom completion zsh > "${fpath[1]}/_storeroom"
      fish:  storeroom completion fish > ~/.config/fish/completions/storeroom.fish
    """
    completer = get_completion_class(shell)
    if completer is None:  # click knows all three; guarded for older click
        raise click.UsageError(f"no completion support for {shell}")
    click.echo(completer(cli, {}, PROG, COMPLETE_VAR).source())


#: Commands loaded on first use, so ``storeroom --help`` imports none of them:
#: name -> (module of ``storeroom.cli`` whose ``COMMANDS`` holds it, its one-line help).
#: A new command is one line here; ``tests/cli/test_help.py`` checks each summary
#: is the command's own first sentence.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "ls": ("files", "List the folder PATH in the store (default: the top), or a URL."),
    "cat": ("files", "Write the files KEYS to standard output, one after another (streamed)."),
    "stat": ("files", "Show what the store knows about the file (or folder) PATH."),
    "rm": ("files", "Delete the files PATHS from the store (folders with --recursive)."),
    "put": (
        "files",
        "Store the local file LOCAL at KEY (default: its name, at the top of the store).",
    ),
    "get": ("files", "Copy the file KEY from the store to LOCAL (default: the current folder)."),
    "cp": ("files", "Copy SOURCE to DESTINATION: URLs of any scheme, or local paths."),
    "artifacts": (
        "artifacts",
        "Versioned artifacts: every put is a new version, with metadata and aliases.",
    ),
    "cache": ("cache", "Read and manage a shared cache (Redis, say), one namespace at a time."),
    "demo": ("demo", "A short guided tour: versions, diff, folder copies and a cache, for real."),
    "doctor": ("doctor", "Check a store or cache the way support would, and say what to fix."),
    "serve": (
        "serve",
        "Browse the store's artifacts and files in a web browser, with an HTTP API.",
    ),
}


def _fail(found: State, message: str, code: int, kind: str = "error") -> None:
    """Print ``message`` as one line on stderr (the traceback too with --debug); exit.

    ``kind`` is the machine-readable code shown under ``--json``.
    """
    text = found.redact(message)
    if found.debug:
        if sys.exc_info()[0] is not None:  # (scrubbed too: a usage error quotes arguments)
            click.echo(found.redact(traceback.format_exc()).rstrip("\n"), err=True)
    elif "\n" in text:  # a backend's reply may span lines: the first says what happened
        text = text.split("\n", 1)[0].rstrip() + " [...]"
    text = _CONTROL.sub(lambda found: repr(found.group())[1:-1], safe_text(text))  # one line
    if found.as_json:
        error: dict[str, object] = {"code": kind, "message": text.removeprefix("error: ")}
        if found.interrupted is not None:
            error["copied"] = found.interrupted
        click.echo(json_text({"error": error}), err=True)
    else:
        if found.interrupted is not None:
            click.echo(found.redact(interrupted_text(found.interrupted)), err=True)
        click.echo(f"{PROG}: {text}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the ``storeroom`` command line (the console script)."""
    found = State(debug=os.environ.get("STOREROOM_DEBUG", "") not in ("", "0", "false"))
    given = sys.argv[1:] if argv is None else argv
    found.argv = list(given)
    # Every URL on the command line, known before parsing: a usage error quotes them too.
    for arg in (*given, os.environ.get("STOREROOM_URL")):
        found.redact.add(arg.partition("=")[2] if arg and arg.startswith("-") else arg)
    before_dashes = given[: given.index("--")] if "--" in given else given
    found.as_json = "--json" in before_dashes  # errors of parsing itself, too
    try:
        code = cli.main(
            args=argv,
            prog_name=PROG,
            complete_var=COMPLETE_VAR,
            standalone_mode=False,
            obj=found,
        )
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message())
        sys.exit(0)
    except click.exceptions.Abort as exc:
        interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
        if interrupted:
            _fail(found, "interrupted", 130, "interrupted")
        _fail(found, "aborted", 1, "aborted")
    except KeyboardInterrupt:
        _fail(found, "interrupted", 130, "interrupted")
    except click.ClickException as exc:  # usage errors: exit 2
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        kind = "usage_error" if exc.exit_code == 2 else "error"
        _fail(found, f"error: {exc.format_message()}{hint}", exc.exit_code, kind)
    except (ConfigurationError, InvalidPath) as exc:  # a bad URL, key or name was typed
        _fail(found, f"error: {exc}", 2, exc.code)
    except StorageError as exc:
        _fail(found, f"error: {exc}", 1, exc.code)
    except OSError as exc:
        _fail(found, f"error: {exc}", 1, "os_error")
    except Exception as exc:  # a bug: still one line, the traceback with --debug
        hint = "" if found.debug else " (run with --debug for the traceback)"
        _fail(found, f"internal error: {type(exc).__name__}: {exc}{hint}", 1, "internal_error")
    sys.exit(code if isinstance(code, int) else 0)

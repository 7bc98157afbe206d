"""The ``storeroom`` root command: global options, error handling, shell completion.

Errors end a command with one line on stderr and an exit status, never a
traceback unless ``--debug`` (or ``STOREROOM_DEBUG=1``):

- ``2``: bad usage (unknown option, missing argument, an invalid key, name
  or alias, an unknown URL scheme or option);
- ``1``: the operation failed (not found, permission denied, backend down...);
- ``130``: interrupted (Ctrl-C).

A reader that goes away (``storeroom cat big | head``) ends the command
quietly (click's own handling of ``EPIPE``, status 1).

Every line printed passes through the invocation's :class:`~.output.Redactor`,
so no credential given in a URL is ever shown.
"""

from __future__ import annotations

import os
import sys
import traceback

import click
from click.shell_completion import get_completion_class

from ..errors import ConfigurationError, InvalidPath, StorageError
from .state import DEFAULT_STORE, State

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


@click.group(
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


def _register() -> None:
    from . import artifacts, cache, demo, files, serve

    for module in (files, artifacts, cache, demo, serve):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def _fail(found: State, message: str, code: int) -> None:
    """Print ``message`` as one line on stderr (the traceback too with --debug); exit."""
    text = found.redact(message)
    if found.debug:
        if sys.exc_info()[0] is not None:
            traceback.print_exc()
    elif "\n" in text:  # a backend's reply may span lines: the first says what happened
        text = text.split("\n", 1)[0].rstrip() + " [...]"
    click.echo(f"{PROG}: {text}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the ``storeroom`` command line (the console script)."""
    found = State(debug=os.environ.get("STOREROOM_DEBUG", "") not in ("", "0", "false"))
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
        _fail(found, "interrupted" if interrupted else "aborted", 130 if interrupted else 1)
    except KeyboardInterrupt:
        _fail(found, "interrupted", 130)
    except click.ClickException as exc:  # usage errors: exit 2
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        _fail(found, f"error: {exc.format_message()}{hint}", exc.exit_code)
    except (ConfigurationError, InvalidPath) as exc:  # a bad URL, key or name was typed
        _fail(found, f"error: {exc}", 2)
    except StorageError as exc:
        _fail(found, f"error: {exc}", 1)
    except OSError as exc:
        _fail(found, f"error: {exc}", 1)
    except Exception as exc:  # a bug: still one line, the traceback with --debug
        hint = "" if found.debug else " (run with --debug for the traceback)"
        _fail(found, f"internal error: {type(exc).__name__}: {exc}{hint}", 1)
    sys.exit(code if isinstance(code, int) else 0)

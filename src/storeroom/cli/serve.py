"""``storeroom serve``: the artifact browser and HTTP API (``storeroom.serve``) on uvicorn.

Safe by default: it binds 127.0.0.1 and answers only loopback host names,
and it is read-only. ``--allow-write`` turns the API's writes on and then
requires a bearer token (``--token`` or ``STOREROOM_TOKEN``); the token is
never printed. Binding another address needs ``--host`` explicitly, and the
server then answers any host name unless ``--allowed-host`` names them.
"""

from __future__ import annotations

import os

import click

from .state import run, state, store_option

__all__ = ["COMMANDS"]


def _parse_size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    raw = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = units.get(raw[-1:], 1)
    number = raw[:-1] if raw[-1:] in units else raw
    if not number.isdigit() or int(number) <= 0:
        raise click.BadParameter(f"{text!r} is not a size such as 64MiB")
    return int(number) * scale


@click.command("serve")
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@click.option("--allow-write", is_flag=True, help="Accept writes through the API (needs a token).")
@click.option(
    "--token",
    envvar="STOREROOM_TOKEN",
    metavar="TOKEN",
    help="Bearer token for writes (also $STOREROOM_TOKEN).",
)
@click.option(
    "--signed-downloads",
    is_flag=True,
    help="Redirect downloads to short-lived signed URLs where the store can sign (S3, GCS, Azure).",
)
@click.option("--signed-ttl", default=300.0, show_default=True, help="Seconds a signed URL lives.")
@click.option("--max-body", default="64MiB", show_default=True, help="Largest upload accepted.")
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A Host name to answer (repeatable; default: loopback names when bound to loopback).",
)
def serve(
    host: str,
    port: int,
    allow_write: bool,
    token: str | None,
    signed_downloads: bool,
    signed_ttl: float,
    max_body: str,
    allowed_hosts: tuple[str, ...],
) -> None:
    """Browse the store's artifacts and files in a web browser, with an HTTP API.

    \b
    Examples:
      storeroom serve                               http://127.0.0.1:8000, read-only
      storeroom --store s3://bucket/prefix serve --signed-downloads
      STOREROOM_TOKEN=... storeroom serve --allow-write
    """
    try:
        import uvicorn

        from ..serve import LOOPBACK_HOSTS, ServeSettings, create_app
    except ImportError as exc:
        raise click.ClickException(
            f"storeroom serve needs the server extra: pip install 'storeroom[server]' ({exc})"
        ) from None
    if allow_write and not token:
        raise click.UsageError("--allow-write needs a token: --token or $STOREROOM_TOKEN")
    found = state()
    if token:
        found.redact.add(token)
    loopback = host in ("127.0.0.1", "localhost", "::1")
    settings = ServeSettings(
        allow_write=allow_write,
        token=token if allow_write else None,
        signed_downloads=signed_downloads,
        signed_ttl=signed_ttl,
        max_body=_parse_size(max_body),
        allowed_hosts=tuple(allowed_hosts) or (LOOPBACK_HOSTS if loopback else None),
    )

    async def body(session: object) -> None:
        from ..urls import artifacts, files

        store = found.store
        if "://" not in store:
            os.makedirs(store, exist_ok=True)  # the default store is made on first use
        file_store = files(store)
        artifact_store = artifacts(found.artifacts_url)
        app = create_app(artifact_store, file_store, settings)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            server_header=False,
            h11_max_incomplete_event_size=16 * 1024,
        )
        server = uvicorn.Server(config)
        mode = "read-write (bearer token required)" if allow_write else "read-only"
        click.echo(
            f"storeroom serve: {found.redact(store)} on http://{_show(host)}:{port} ({mode})"
        )
        try:
            await server.serve()
        finally:
            await artifact_store.aclose()
            await file_store.provider.aclose()

    run(body)


def _show(host: str) -> str:
    return f"[{host}]" if ":" in host else host


COMMANDS = [serve]

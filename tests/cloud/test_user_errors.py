"""What a user sees when a store is misconfigured: what happened and what to do next.

Issue 12 item 2 and issue 10 item 5. Each case runs against the emulators
(moto, Azurite, the GCS emulator) or a server started here on 127.0.0.1;
nothing is sent outside loopback (name resolution is replaced where a test
needs a name to resolve somewhere, or not at all).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

import storeroom
from storeroom import BackendUnavailable, ConfigurationError, PermissionDenied
from tests.services.cloud import CloudServer
from tests.services.faultproxy import FaultProxy
from tests.services.threaded import ThreadedServer

from .support import unique_prefix

SECRET = "wJalrXUtnFEMI-user-errors-SECRET"
QUICK = {"max_retries": "0", "timeout": "1", "connect_timeout": "1"}
CREDENTIALS: dict[str, dict[str, str]] = {
    "s3": {"access_key_id": "k", "secret_access_key": SECRET},
    "az": {"account_name": "acct", "account_key": "a2V5"},
    "gs": {"bearer_token": SECRET},
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the metadata address, in every spelling -----------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://2852039166",
        "http://0xa9fea9fe",
        "http://0xA9FEA9FE:80",
        "http://0251.0376.0251.0376",
        "http://169.254.43518",
        "http://169.16689662",
        "http://[::ffff:169.254.169.254]",
        "http://[::ffff:a9fe:a9fe]",
        "http://[2002:a9fe:a9fe::1]",
        "http://[fd00:ec2::254]",
        "http://0",
        "http://[fe80::1%25eth0]",
    ],
)
@pytest.mark.parametrize("scheme", sorted(CREDENTIALS))
def test_metadata_address_is_refused_in_every_spelling(scheme: str, endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match=r"link-local|valid URL"):
        storeroom.provider(
            f"{scheme}://bucket/p", endpoint=endpoint, allow_http="true", **CREDENTIALS[scheme]
        )


def test_a_host_name_is_judged_by_the_address_it_resolves_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = socket.getaddrinfo

    def resolve(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "metadata.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]
        if host == "v6.example.test":
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%2", 80, 0, 2))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    for host in ("metadata.example.test", "v6.example.test"):
        with pytest.raises(ConfigurationError, match="link-local"):
            storeroom.provider(
                "s3://bucket/p", endpoint=f"http://{host}", allow_http="1", **CREDENTIALS["s3"]
            )
    built = storeroom.provider(
        "s3://bucket/p", endpoint="http://localhost:9", allow_http="1", **CREDENTIALS["s3"]
    )
    assert "localhost" in repr(built)


def test_a_host_that_does_not_resolve_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    with pytest.raises(ConfigurationError) as caught:
        storeroom.provider(
            "s3://bucket/p", endpoint="https://s3.no-such-host.test", **CREDENTIALS["s3"]
        )
    assert "'s3.no-such-host.test' does not resolve" in str(caught.value)
    assert "check the endpoint" in str(caught.value)


# -- before any request ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "advice"),
    [
        ("s3", ["AWS_ACCESS_KEY_ID", "access_key_id=", "instance_metadata=true"]),
        ("az", ["AZURE_STORAGE_CONNECTION_STRING", "account_key=", "use_emulator=true"]),
        ("gs", ["GOOGLE_APPLICATION_CREDENTIALS", "service_account_path=", "emulator=true"]),
    ],
)
def test_no_credentials_is_a_clear_error_before_any_request(
    scheme: str, advice: list[str], tmp_path: Any
) -> None:
    # An empty environment (HOME without gcloud files): nothing to find, and nothing
    # may be asked of a metadata service.
    environ = {"HOME": str(tmp_path)}
    with pytest.raises(ConfigurationError) as caught:
        storeroom.provider(
            f"{scheme}://bucket/p?account_name=acct", environ=environ
        ) if scheme == "az" else storeroom.provider(f"{scheme}://bucket/p", environ=environ)
    message = str(caught.value)
    assert message.startswith(f"no credentials found for {scheme}://bucket/p")
    for step in advice:
        assert step in message


def test_credentials_and_where_they_come_from() -> None:
    env = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": SECRET}
    from_env = storeroom.provider("s3://bucket/p", environ=env)
    assert from_env.credentials == "the environment (AWS_ACCESS_KEY_ID)"  # type: ignore[attr-defined]
    opted = storeroom.provider("s3://bucket/p", environ={}, instance_metadata="true")
    assert "instance metadata" in opted.credentials  # type: ignore[attr-defined]
    public = storeroom.provider("s3://bucket/p", environ={}, anonymous="true")
    assert "anonymous" in public.credentials  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("scheme", "variable"), [("s3", "AWS_ALLOW_HTTP"), ("az", "AZURE_ALLOW_HTTP")]
)
def test_plain_http_without_allow_http_says_how(scheme: str, variable: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        storeroom.provider(
            f"{scheme}://bucket/p", endpoint="http://127.0.0.1:9", **CREDENTIALS[scheme]
        )
    message = str(caught.value)
    assert "plain http" in message
    assert "allow_http=true" in message
    assert variable in message
    assert SECRET not in message


async def test_aws_environment_variables_are_honoured(
    s3_server: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://0xa9fea9fe")  # AWS_ENDPOINT_URL_S3 wins
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    async with storeroom.provider(f"s3://{s3_server.bucket}/{unique_prefix('env')}") as provider:
        await provider.put("k", b"v")
        assert await provider.read("k") == b"v"
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    with pytest.raises(ConfigurationError, match="link-local"):  # checked like the option
        storeroom.provider("s3://bucket/p")


# -- what the server says ------------------------------------------------------------------


@pytest.mark.parametrize("server_fixture", ["s3_server", "azure_server", "gcs_server"])
async def test_a_missing_bucket_says_so(
    request: pytest.FixtureRequest, server_fixture: str
) -> None:
    server: CloudServer = request.getfixturevalue(server_fixture)
    url = server.url("p").replace(f"://{server.bucket}/", "://no-such-bucket-here/", 1)
    async with storeroom.provider(url, **QUICK) as provider:
        for attempt in (provider.put("k", b"v"), provider.read("k")):
            with pytest.raises(ConfigurationError) as caught:
                await attempt
            message = str(caught.value)
            assert "no-such-bucket-here" in message
            assert "does not exist: create it, or fix its name" in message
            assert SECRET not in message


async def test_wrong_credentials_are_access_denied(azure_server: CloudServer) -> None:
    wrong = "d3Jvbmcta2V5LXRoYXQtaXMtbm90LXJpZ2h0"
    url = azure_server.url(unique_prefix("denied"))
    async with storeroom.provider(url, account_key=wrong, **QUICK) as provider:
        with pytest.raises(PermissionDenied) as caught:
            await provider.put("k", b"v")
    message = str(caught.value)
    assert "access denied: check the credentials" in message
    assert "credentials from an account key" in message
    assert "HTTP 403" in message
    assert wrong not in message


class Forbidding(ThreadedServer):
    """An S3 look-alike that refuses every request as AWS does (403 AccessDenied)."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        return web.Response(status=403, body=body, content_type="application/xml")


async def test_s3_access_denied_says_what_to_check() -> None:
    with Forbidding() as server:
        url = f"s3://bucket/p?endpoint={server.endpoint}&allow_http=true&region=us-east-1"
        async with storeroom.provider(url, **CREDENTIALS["s3"], **QUICK) as provider:
            with pytest.raises(PermissionDenied) as caught:
                await provider.read("k")
    message = str(caught.value)
    assert "access denied" in message
    assert "access_key_id and secret_access_key" in message
    assert SECRET not in message


async def test_tls_to_a_plain_http_server_says_so(s3_server: CloudServer) -> None:
    https = s3_server.endpoint.replace("http://", "https://")
    url = f"s3://{s3_server.bucket}/p?endpoint={https}&region=us-east-1"
    async with storeroom.provider(url, **CREDENTIALS["s3"], **QUICK) as provider:
        with pytest.raises(ConfigurationError) as caught:
            await provider.read("k")
    assert "TLS handshake failed" in str(caught.value)
    assert "allow_http=true" in str(caught.value)


@pytest.fixture
def stalling() -> Iterator[FaultProxy]:
    with FaultProxy("http://127.0.0.1:9", rate=1.0, kinds=["stall"], stall_seconds=1.5) as proxy:
        yield proxy


@pytest.mark.parametrize("answer", ["refused", "stall"])
async def test_a_server_that_does_not_answer(answer: str, stalling: FaultProxy) -> None:
    endpoint = stalling.endpoint if answer == "stall" else f"http://127.0.0.1:{_closed_port()}"
    url = f"s3://bucket/p?endpoint={endpoint}&allow_http=true&region=us-east-1"
    async with storeroom.provider(url, **CREDENTIALS["s3"], **QUICK) as provider:
        with pytest.raises(BackendUnavailable) as caught:
            await provider.read("k")
    expected = "nothing accepts connections" if answer == "refused" else "did not answer in time"
    assert expected in str(caught.value)
    assert endpoint in str(caught.value)  # the store's description names the endpoint

"""URLs, options, credentials from the environment, and secrets that never show.

Every request here goes to the emulators or to a closed port on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import sys
import traceback
from urllib.parse import quote

import pytest

import storeroom
from storeroom import (
    BackendUnavailable,
    ConfigurationError,
    NotFound,
    PermissionDenied,
    Provider,
    StorageError,
)
from storeroom.providers.object.azure import AzureConfig, AzureProvider
from storeroom.providers.object.gcs import GCSConfig, GCSProvider
from storeroom.providers.object.s3 import S3Config, S3Provider
from tests.services.cloud import AZURITE_ACCOUNT, AZURITE_KEY, CloudServer

from .support import unique_prefix

ACCESS_KEY = "AKIASECRETACCESSID77"
SECRET_KEY = "wJalrXUtnFEMI-secret-SECRET-key-4242"
SAS_SIGNATURE = "Zm9vYmFyc2VjcmV0c2lnbmF0dXJlNDI"
TOKEN = "ya29.bearer-SECRET-token-1234567"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _all_text(exc: BaseException) -> str:
    """The text of ``exc`` and of every exception chained to it (what a traceback prints)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return "\n".join("".join(traceback.format_exception_only(type(e), e)) + repr(e) for e in chain)


def _assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


# -- URLs and options ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options", "kind"),
    [
        ("s3://bucket/a/b", {"access_key_id": "x", "secret_access_key": "y"}, S3Provider),
        ("az://container/a", {"account_name": "acct", "account_key": "a2V5"}, AzureProvider),
        ("azure://container/a", {"account_name": "acct", "sas_token": "sig=x"}, AzureProvider),
        (
            "gs://bucket/a",
            {"emulator": "true", "endpoint": "http://127.0.0.1:1", "allow_http": "1"},
            GCSProvider,
        ),
    ],
)
def test_schemes_pick_the_provider(url: str, options: dict[str, str], kind: type[Provider]) -> None:
    provider = storeroom.provider(url, **options)
    assert isinstance(provider, kind)
    assert repr(provider).startswith(f"{kind.__name__}('{url.replace('azure://', 'az://')}")


def test_a_store_that_cannot_be_built_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="Account must be specified"):
        storeroom.provider("az://container/a", environ={}, account_key="a2V5")


def test_unknown_option_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        storeroom.provider("s3://bucket/p?endpiont=http://x", secret_access_key=SECRET_KEY)
    message = str(caught.value)
    for name in ("endpiont", "endpoint", "region", "access_key_id"):
        assert name in message
    _assert_hidden(_all_text(caught.value), SECRET_KEY)


@pytest.mark.parametrize(
    ("option", "value"),
    [("allow_http", "maybe"), ("max_retries", "-1"), ("timeout", "soon"), ("part_size", "1024")],
)
def test_invalid_option_values_are_configuration_errors(option: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=option):
        storeroom.provider(f"s3://bucket/p?{option}={value}")


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "az://c/../x", "gs://b/a//b"])
def test_malformed_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        storeroom.provider(url)


def test_keywords_win_over_query_parameters() -> None:
    config = S3Config.from_url("s3://b/p?region=eu-west-1&max_retries=3", region="us-east-2")
    assert (config.bucket, config.prefix, config.region) == ("b", "p", "us-east-2")
    assert config.transport.max_retries == 3


def test_azure_connection_string_and_cli_environment() -> None:
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
    )
    config = AzureConfig.from_url(
        "az://c/p", environ={"AZURE_STORAGE_CONNECTION_STRING": connection}
    )
    assert (config.account_name, config.account_key) == (AZURITE_ACCOUNT, AZURITE_KEY)
    assert config.endpoint == "http://127.0.0.1:1/devstoreaccount1"
    cli = AzureConfig.from_url(
        "az://c", environ={"AZURE_STORAGE_ACCOUNT": "acct", "AZURE_STORAGE_KEY": "k2"}
    )
    assert (cli.account_name, cli.account_key) == ("acct", "k2")
    explicit = AzureConfig.from_url("az://c", environ={"AZURE_STORAGE_ACCOUNT": "acct"},
                                    account_name="mine")  # fmt: skip
    assert explicit.account_name == "mine"


def test_gcs_emulator_from_the_environment_is_honest_about_preconditions() -> None:
    config = GCSConfig.from_url("gs://b/p", environ={"STORAGE_EMULATOR_HOST": "127.0.0.1:9"})
    assert (config.endpoint, config.emulator, config.transport.allow_http) == (
        "http://127.0.0.1:9",
        True,
        True,
    )
    emulated = GCSProvider(config)
    assert not emulated.capabilities.create_if_absent
    assert not emulated.capabilities.compare_and_swap
    real = GCSProvider(GCSConfig.from_url("gs://b/p", environ={}, bearer_token=TOKEN))
    assert real.capabilities.create_if_absent
    assert real.capabilities.compare_and_swap


# -- credentials from the environment, URLs in a subprocess ---------------------------


async def test_s3_credentials_from_the_aws_environment(
    s3_server: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    url = f"s3://{s3_server.bucket}/{unique_prefix('env')}?allow_http=true"
    async with storeroom.provider(url) as provider:
        await provider.put("k", b"v")
        assert await provider.read("k") == b"v"


async def test_azure_credentials_from_a_connection_string(
    azure_server: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={azure_server.endpoint}",
    )
    url = f"az://{azure_server.bucket}/{unique_prefix('env')}?allow_http=true"
    async with storeroom.provider(url) as provider:
        await provider.put("k", b"v")
        assert await provider.read("k") == b"v"


@pytest.mark.parametrize("server_fixture", ["s3_server", "azure_server", "gcs_server"])
async def test_fixture_urls_work_in_a_subprocess(
    request: pytest.FixtureRequest, server_fixture: str
) -> None:
    server: CloudServer = request.getfixturevalue(server_fixture)
    url = server.url(unique_prefix("sub"))
    script = (
        "import asyncio, sys, storeroom\n"
        "async def main():\n"
        "    async with storeroom.provider(sys.argv[1]) as p:\n"
        "        await p.put('from/child.txt', b'hello from a child')\n"
        "asyncio.run(main())\n"
    )
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", script, url)
    assert await asyncio.wait_for(child.wait(), timeout=60) == 0
    async with storeroom.provider(url) as provider:
        assert await provider.read("from/child.txt") == b"hello from a child"


# -- secrets never show ------------------------------------------------------------------


async def test_s3_secrets_in_url_or_keywords_never_show(
    s3_server: CloudServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = (
        f"s3://{s3_server.bucket}/{unique_prefix('secret')}?endpoint=http://127.0.0.1:{_closed_port()}"
        f"&allow_http=true&access_key_id={ACCESS_KEY}&max_retries=0&region=us-east-1"
    )
    provider = storeroom.provider(url, secret_access_key=SECRET_KEY)
    shown = [repr(provider), str(provider), repr(getattr(provider, "config", None))]
    with pytest.raises(BackendUnavailable) as unreachable:
        await provider.read("k")
    shown.append(_all_text(unreachable.value))
    # A live server that refuses: the same provider settings, wrong bucket.
    live = storeroom.provider(
        f"s3://no-such-bucket/p?endpoint={s3_server.endpoint}&allow_http=true&region=us-east-1"
        f"&access_key_id={ACCESS_KEY}",
        secret_access_key=SECRET_KEY,
    )
    with pytest.raises(StorageError) as refused:
        await live.put("k", b"v")
    shown.append(_all_text(refused.value))
    with pytest.raises(ConfigurationError) as bad:
        storeroom.provider(url + "&nonsense=1", secret_access_key=SECRET_KEY)
    shown.append(_all_text(bad.value))
    shown += [record.getMessage() for record in caplog.records]
    _assert_hidden("\n".join(shown), ACCESS_KEY, SECRET_KEY)


async def test_azure_keys_and_sas_never_show(
    azure_server: CloudServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sas = f"sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00:00:00Z&sig={SAS_SIGNATURE}"
    with_sas = storeroom.provider(
        f"az://{azure_server.bucket}/{unique_prefix('secret')}?endpoint={azure_server.endpoint}"
        f"&allow_http=true&account_name={AZURITE_ACCOUNT}&max_retries=0&sas_token={quote(sas)}"
    )
    shown = [repr(with_sas), repr(getattr(with_sas, "config", None))]
    with pytest.raises(PermissionDenied) as refused:  # Azurite rejects the forged signature
        await with_sas.put("k", b"v")
    shown.append(_all_text(refused.value))
    wrong_key = base64.b64encode(b"secret-account-key-that-is-wrong").decode()
    with_key = storeroom.provider(
        azure_server.url(unique_prefix("secret")), account_key=wrong_key, max_retries="0"
    )
    shown.append(repr(with_key))
    with pytest.raises(PermissionDenied) as denied:
        await with_key.read("k")
    shown.append(_all_text(denied.value))
    shown += [record.getMessage() for record in caplog.records]
    _assert_hidden("\n".join(shown), SAS_SIGNATURE, wrong_key, AZURITE_KEY)


async def test_gcs_secrets_never_show(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"gs://bucket/p?endpoint=http://127.0.0.1:{_closed_port()}&allow_http=true&max_retries=0"
    with pytest.raises(ConfigurationError) as bad_key:
        storeroom.provider(url, service_account_key='{"private_key": "' + SECRET_KEY + '"}')
    shown = [_all_text(bad_key.value)]
    provider = storeroom.provider(url, bearer_token=TOKEN)
    shown += [repr(provider), repr(getattr(provider, "config", None))]
    with pytest.raises(BackendUnavailable) as unreachable:
        await provider.head("k")
    shown.append(_all_text(unreachable.value))
    shown += [record.getMessage() for record in caplog.records]
    _assert_hidden("\n".join(shown), TOKEN, SECRET_KEY)


async def test_errors_name_the_operation_and_key(s3_server: CloudServer) -> None:
    async with storeroom.provider(s3_server.url(unique_prefix("errors"))) as provider:
        with pytest.raises(NotFound) as caught:
            await provider.read("no/such/key")
    assert caught.value.path == "no/such/key"
    assert "get 'no/such/key'" in str(caught.value)
    assert isinstance(caught.value.__cause__, FileNotFoundError)


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://user:SECRETxPASSWORD@127.0.0.1:9",
        "http://169.254.169.254",
        "http://[fe80::1]:80",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://[::1",
        "http://127.0.0.1:9/?x=1",
        "",
    ],
)
@pytest.mark.parametrize("scheme", ["s3", "az", "gs"])
def test_endpoints_that_are_not_servers_are_refused(scheme: str, endpoint: str) -> None:
    credentials = {
        "s3": {"access_key_id": "k", "secret_access_key": "s"},
        "az": {"account_name": "a", "account_key": "a2V5"},
        "gs": {"bearer_token": "t"},
    }
    with pytest.raises(ConfigurationError, match="endpoint") as caught:
        storeroom.provider(f"{scheme}://bucket/p", endpoint=endpoint, **credentials[scheme])
    assert "SECRETxPASSWORD" not in _all_text(caught.value)

"""Options parsed the same way everywhere, derived from the typed configs (issues 11, 12).

A plain path takes the same ``?option=`` query as ``file://``; the artifact
store's own options reach it from keywords and from the query; the option
names a config takes are its dataclass fields, nested transport settings
included; ``docs/options.md`` is generated from them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import storeroom
from storeroom import ArtifactStore, ConfigurationError, LocalProvider, NotSupported
from storeroom.options import option_specs
from storeroom.providers.object.azure import AzureConfig
from storeroom.providers.object.config import TransportOptions
from storeroom.providers.object.gcs import GCSConfig
from storeroom.providers.object.s3 import S3Config
from storeroom.urls import option_reference_markdown

_DOCS = Path(__file__).resolve().parents[2] / "docs" / "options.md"


def test_a_plain_path_takes_options_like_file_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    plain = storeroom.provider("./folder?durable=true")
    as_url = storeroom.provider(f"file://{tmp_path}/folder?durable=true")
    for provider in (plain, as_url):
        assert isinstance(provider, LocalProvider)
        assert provider.durable
        assert provider.root == str(tmp_path / "folder")
    assert sorted(os.listdir(tmp_path)) == ["folder"]  # never "folder?durable=true"


@pytest.mark.parametrize(
    ("url", "says"),
    [("./folder?durable", r"'durable' after '\?' is not an option"), ("./f?dureble=1", "durable")],
)
def test_a_plain_path_with_a_bad_query_is_refused(
    url: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=says):
        storeroom.provider(url)
    assert os.listdir(tmp_path) == []


def test_artifact_options_reach_the_artifact_store(tmp_path: Path) -> None:
    by_keyword = storeroom.artifacts("memory://", allow_unsafe_writes=True, gc_grace=5)
    assert by_keyword.allow_unsafe_writes
    assert by_keyword.gc_grace == 5.0
    by_query = storeroom.artifacts(f"{tmp_path}?inline_limit=10&durable=true&gc_grace=0")
    assert (by_query.inline_limit, by_query.gc_grace) == (10, 0.0)
    assert isinstance(by_query.provider, LocalProvider)
    assert by_query.provider.durable
    with pytest.raises(ConfigurationError, match="inline_limit"):
        storeroom.artifacts("memory://", inline_limit="-3")


async def test_every_option_a_refusal_mentions_is_accepted() -> None:
    # The GCS emulator declares no atomic conditional writes: storing is refused, and
    # the refusal names the option that allows it, which the factory then accepts.
    url = "gs://bucket/p?emulator=true&endpoint=http://127.0.0.1:9&allow_http=true"
    refusing = storeroom.artifacts(url)
    refused = await refusing.store_artifact("a", "text")
    assert not refused.success
    assert refused.metadata["code"] == NotSupported.code
    assert "allow_unsafe_writes=True" in (refused.error or "")
    allowed = storeroom.artifacts(url, allow_unsafe_writes=True)
    assert isinstance(allowed, ArtifactStore)
    assert allowed.allow_unsafe_writes


def test_option_names_are_the_config_fields() -> None:
    transport = set(option_specs(TransportOptions))
    assert {"timeout", "max_retries", "allow_http", "part_size"} <= transport
    for config, own in [
        (S3Config, {"region", "endpoint", "access_key_id", "instance_metadata"}),
        (AzureConfig, {"account_name", "account_key", "sas_token", "connection_string"}),
        (GCSConfig, {"service_account_path", "bearer_token", "emulator"}),
    ]:
        names = set(option_specs(config))
        assert own <= names
        assert transport <= names
        assert not names & {"bucket", "container", "prefix", "transport"}
        assert all(spec.help for spec in option_specs(config).values())
    specs = option_specs(S3Config)
    assert specs["timeout"].type is float
    assert specs["max_retries"].type is int
    assert specs["secret_access_key"].secret
    assert not specs["region"].secret


def test_typed_values_are_converted_by_their_hints() -> None:
    config = S3Config.from_url(
        "s3://b/p?timeout=2.5&max_retries=3&anonymous=yes", environ={}, part_size=6 * 2**20
    )
    assert (config.transport.timeout, config.transport.max_retries) == (2.5, 3)
    assert config.anonymous is True
    assert config.transport.part_size == 6 * 2**20
    with pytest.raises(ConfigurationError, match="max_retries"):
        S3Config.from_url("s3://b/p?max_retries=1.5", environ={})


def test_the_option_reference_page_is_generated() -> None:
    assert _DOCS.read_text() == option_reference_markdown(), (
        "docs/options.md is stale: regenerate it with python -c 'from storeroom.urls import "
        'option_reference_markdown as m; open("docs/options.md", "w").write(m())\''
    )

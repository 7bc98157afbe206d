"""``storeroom doctor`` finds what is wrong on the emulators, and says what to do.

Issue 12 item 6: a missing bucket, wrong credentials, plain http without
``allow_http``, and an emulator that ignores preconditions (the GCS one), on
moto, Azurite and the GCS emulator; a healthy store passes and keeps no
scratch key; the command prints text or JSON and exits 1 on a problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

import storeroom
from storeroom.cli.app import main
from storeroom.doctor import Report, diagnose
from tests.cloud.support import unique_prefix
from tests.services.cloud import CloudServer

SECRET = "d3Jvbmcta2V5LWZvci1kb2N0b3ItdGVzdHM="


def _with(url: str, **changes: str) -> str:
    """``url`` with query options changed (an empty value removes the option)."""
    parts = urlsplit(url)
    query = {**dict(parse_qsl(parts.query)), **changes}
    return parts._replace(query=urlencode({k: v for k, v in query.items() if v})).geturl()


def _status(report: Report) -> dict[str, str]:
    return {check.name: check.status for check in report.checks}


def _advice(report: Report, name: str) -> str:
    return next(c.detail + " " + c.advice for c in report.checks if c.name == name)


async def test_a_healthy_store_passes_and_keeps_nothing(s3_server: CloudServer) -> None:
    url = s3_server.url(unique_prefix("doctor"))
    report = await diagnose(url)
    assert report.ok, report.lines()
    assert _status(report) == {
        "url": "ok", "credentials": "ok", "endpoint": "ok", "bucket": "ok",
        "create-if-absent": "ok", "compare-and-swap": "ok", "clock": "ok",
    }  # fmt: skip
    assert "access_key_id" in _advice(report, "credentials")  # where they came from
    async with storeroom.provider(url) as provider:
        assert [meta async for meta in provider.iter()] == []  # the scratch key is gone


@pytest.mark.parametrize("server_fixture", ["s3_server", "azure_server", "gcs_server"])
async def test_a_missing_bucket(request: pytest.FixtureRequest, server_fixture: str) -> None:
    server: CloudServer = request.getfixturevalue(server_fixture)
    url = server.url("p").replace(f"://{server.bucket}/", "://no-such-bucket-here/", 1)
    report = await diagnose(url)
    assert not report.ok
    assert _status(report)["endpoint"] == "ok"
    assert _status(report)["bucket"] == "problem"
    assert "create the bucket" in _advice(report, "bucket")


async def test_wrong_credentials(azure_server: CloudServer) -> None:
    report = await diagnose(_with(azure_server.url("p"), account_key=SECRET))
    assert _status(report)["credentials"] == "problem"
    assert "access denied" in _advice(report, "credentials")
    assert SECRET not in json.dumps(report.as_dict())


async def test_missing_credentials(s3_server: CloudServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(variable, raising=False)
    url = _with(s3_server.url("p"), access_key_id="", secret_access_key="")
    report = await diagnose(url)
    assert _status(report) == {"url": "ok", "credentials": "problem"}
    assert "AWS_ACCESS_KEY_ID" in _advice(report, "credentials")


@pytest.mark.parametrize("server_fixture", ["s3_server", "azure_server"])
async def test_http_without_allow_http(request: pytest.FixtureRequest, server_fixture: str) -> None:
    server: CloudServer = request.getfixturevalue(server_fixture)
    report = await diagnose(_with(server.url("p"), allow_http=""))
    assert _status(report) == {"url": "problem"}
    assert "allow_http=true" in _advice(report, "url")


async def test_an_emulator_that_ignores_preconditions(gcs_server: CloudServer) -> None:
    report = await diagnose(gcs_server.url(unique_prefix("doctor")))
    assert not report.ok
    assert _status(report)["bucket"] == "ok"
    assert _status(report)["create-if-absent"] == "problem"
    assert _status(report)["compare-and-swap"] == "problem"
    assert "ignores" in _advice(report, "create-if-absent")


def test_the_command_prints_json_and_fails(
    azure_server: CloudServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _with(azure_server.url("p"), account_key=SECRET)
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--json", url])
    assert exited.value.code == 1
    printed = capsys.readouterr().out
    document = json.loads(printed)
    assert document["ok"] is False
    assert {"name", "status", "detail", "advice"} <= set(document["checks"][0])
    assert SECRET not in printed


def test_the_command_on_a_healthy_store(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["doctor", f"{tmp_path}"])
    assert exited.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "no problems found" in printed
    assert "create-if-absent" in printed


def test_a_cache(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--cache", "memory://"])
    assert exited.value.code in (0, None)
    assert "answers: set, get and delete" in capsys.readouterr().out


async def test_a_local_store_that_is_not_there_is_not_made(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "deep" / "store"
    for url in (str(missing), f"file://{missing}"):
        report = await diagnose(url)
        assert _status(report) == {"folder": "warning"}
        assert "typo" in _advice(report, "folder")
    assert not (tmp_path / "typo").exists()
    (tmp_path / "there").mkdir()
    assert "folder" not in _status(await diagnose(str(tmp_path / "there")))

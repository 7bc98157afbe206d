"""The browser as people use it: Debian's headless Chromium driven by Playwright.

Clicks from the list to an artifact, a version, a diff, searches, downloads, opens
the file browser and the storage panel, and saves a screenshot of each page (light
and dark) under ``tests/serve/screenshots/``. Nothing is downloaded: Playwright
drives ``/usr/bin/chromium`` (``./run test`` installs it when missing).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import HOSTILE_NAME, REPORTS, LiveServer

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing (./run test installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def _page(browser: Any, scheme: str = "light") -> Any:
    context = browser.new_context(
        viewport={"width": 1280, "height": 860}, color_scheme=scheme, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[str] = []

    def record(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    page.dialogs = dialogs
    return page


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_click_through_list_artifact_version_diff_download(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    page = _page(browser)
    page.goto(live_server.url + "/")
    assert page.title() == "Artifacts · storeroom"
    _shot(page, "list")

    page.fill("#search", "reports/")
    page.press("#search", "Enter")
    page.wait_for_url("**/?q=reports%2F*")
    rows = page.locator("table.grid tbody tr")
    assert rows.count() == 1

    page.click("text=reports/q3.md")
    page.wait_for_url("**/artifact?name=reports%2Fq3.md")
    assert page.locator("table.versions tbody tr").count() == 3
    _shot(page, "artifact")

    page.click("table.versions >> text=v3")
    page.wait_for_url("**/version?*")
    assert page.locator("article.markdown h1").inner_text() == "Quarterly report"
    _shot(page, "version-markdown")

    with page.expect_download() as info:
        page.click("text=Download (")
    saved = tmp_path / "download.md"
    info.value.save_as(saved)
    assert saved.read_bytes() == REPORTS[2][0].encode()

    page.click("text=Diff with v2")
    page.wait_for_url("**/diff?*")
    assert page.locator("tr.add").count() >= 1
    assert page.locator("tr.del").count() >= 1
    _shot(page, "diff-unified")
    page.click("text=Side by side")
    page.wait_for_url("**mode=split*")
    assert page.locator("table.split td.add").count() >= 1
    _shot(page, "diff-split")

    page.select_option("select[name=a]", "v1")
    page.click("text=Compare")
    page.wait_for_url("**a=v1*")
    assert "v1 → v3" in page.locator("h1").inner_text()
    assert page.dialogs == []


def test_previews_files_and_storage(browser: Any, live_server: LiveServer) -> None:
    page = _page(browser)
    for name, shot in [
        ("data/visits.csv", "version-csv"),
        ("data/metrics.json", "version-json"),
        ("images/dot.png", "version-image"),
        ("bin/blob.bin", "version-binary"),
    ]:
        page.goto(f"{live_server.url}/version?name={name}")
        _shot(page, shot)
    page.goto(f"{live_server.url}/version?name=images/dot.png")
    loaded = page.eval_on_selector("img.image", "img => img.complete && img.naturalWidth")
    assert loaded == 1  # the image loads under the page's Content-Security-Policy

    page.goto(live_server.url + "/")
    page.click("header >> text=Files")
    page.click("text=docs/")
    page.wait_for_url("**/files?path=docs")
    with page.expect_download() as info:
        page.click("tr:has-text('guide.md') >> text=download")
    assert Path(info.value.path()).read_bytes() == b"# Guide\n"
    _shot(page, "files")

    page.click("header >> text=Storage")
    assert "saved by deduplication" in page.content()
    _shot(page, "storage")


def test_hostile_names_never_run(browser: Any, live_server: LiveServer) -> None:
    page = _page(browser)
    page.goto(live_server.url + "/?q=evil/")
    page.click("td.name a")
    page.wait_for_url("**/artifact?*")
    assert HOSTILE_NAME in page.locator("h1").inner_text()
    page.click("text=v1")
    page.wait_for_url("**/version?*")
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0
    _shot(page, "hostile")
    assert page.dialogs == []


def test_dark_mode(browser: Any, live_server: LiveServer) -> None:
    page = _page(browser, "dark")
    page.goto(live_server.url + "/")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 20, 24)"
    _shot(page, "list-dark")
    page.goto(f"{live_server.url}/diff?name=reports/q3.md&a=v1&b=v3&mode=split")
    _shot(page, "diff-dark")


def test_sha_of_download_matches_listing(live_server: LiveServer) -> None:
    import httpx

    with httpx.Client(base_url=live_server.url) as http:
        listed = http.get("/api/artifact", params={"name": "logs/big.txt"}).json()
        body = http.get("/api/content", params={"name": "logs/big.txt"}).content
    assert hashlib.sha256(body).hexdigest() == listed["versions"][0]["sha256"]

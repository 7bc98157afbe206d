"""The documentation site builds with warnings as errors, and shows what the code has.

One ``mkdocs build --strict`` into a temporary folder (a broken link, a page
missing from the nav or an API name that no longer exists fails it), then
checks on the generated pages: every ``storeroom`` command is in the CLI
reference, and a page dropped into ``docs/`` reaches the navigation without an
edit to ``mkdocs.yml``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from storeroom.cli.app import cli

_REPO = Path(__file__).resolve().parents[2]
_MKDOCS = Path(sys.executable).with_name("mkdocs")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built from a copy of the docs with one extra page dropped in."""
    if not _MKDOCS.exists():
        pytest.fail("mkdocs is not installed: pip install -e '.[dev]' (the docs extra)")
    root = tmp_path_factory.mktemp("docs")
    for name in ("mkdocs.yml", "README.md"):
        shutil.copy(_REPO / name, root / name)
    shutil.copytree(_REPO / "docs", root / "docs")
    (root / "src").symlink_to(_REPO / "src")
    (root / "docs" / "dropped-in.md").write_text("# A page nobody listed\n", encoding="utf-8")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    done = subprocess.run(
        [str(_MKDOCS), "build", "--strict", "-q", "-d", str(root / "site")],
        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "site"


def test_every_command_is_in_the_cli_reference(site: Path) -> None:
    page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    context = click.Context(cli)
    for name in cli.list_commands(context):
        assert f"storeroom {name}" in page, name
    assert "--skip-existing" in page


def test_pages_from_readme_code_and_docs(site: Path) -> None:
    for page in ("getting-started", "guarantees", "reference/api", "options"):
        assert (site / page / "index.html").exists(), page
    options = (site / "options" / "index.html").read_text(encoding="utf-8")
    assert "multipart_threshold" in options  # generated from the typed configs
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "store_artifact" in api
    assert "no-run" not in (site / "getting-started" / "index.html").read_text(encoding="utf-8")


def test_a_dropped_in_page_reaches_the_nav(site: Path) -> None:
    assert "dropped-in/" in (site / "index.html").read_text(encoding="utf-8")

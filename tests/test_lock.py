"""The locks in requirements/ pin every package pyproject.toml asks for (``./run lock``).

``./run`` installs from the locks, so a dependency added to pyproject.toml but
not locked would be missing on a fresh machine; this test names it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _requirements(extras: tuple[str, ...]) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted, pending = set(project["dependencies"]), list(extras)
    while pending:
        for requirement in project["optional-dependencies"][pending.pop()]:
            if _name(requirement) == project["name"]:
                pending.extend(re.findall(r"\[(.*)\]", requirement)[0].split(","))
            else:
                wanted.add(requirement)
    return {_name(requirement) for requirement in wanted}


def _locked(lock: str) -> set[str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {_name(line) for line in text.splitlines() if re.match(r"^[A-Za-z0-9]", line)}


@pytest.mark.parametrize(
    ("lock", "extras"), [("demo.txt", ()), ("test.txt", ("dev", "bench"))]
)
def test_every_dependency_is_locked_with_hashes(lock: str, extras: tuple[str, ...]) -> None:
    missing = _requirements(extras) - _locked(lock)
    assert not missing, f"not in requirements/{lock}: {sorted(missing)}; run ./run lock"
    text = (ROOT / "requirements" / lock).read_text()
    pins = re.findall(r"^([A-Za-z0-9][^\s]*)==[^\s]+ \\\n\s+--hash=sha256:", text, re.M)
    assert len(pins) == len(_locked(lock)), "every package is pinned with a hash"

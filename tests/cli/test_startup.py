"""Start-up stays cheap: what ``import storeroom`` and ``storeroom --help`` do NOT load.

Not a timing test (timings on a shared machine are noise): each heavy module
named here costs tens of milliseconds, so loading one is the regression.
"""

from __future__ import annotations

import json
import subprocess
import sys

_HEAVY = ("asyncio", "rich", "obstore", "redis", "msgpack", "storeroom.caches",
          "storeroom.artifactstore", "storeroom.providers")  # fmt: skip
_HEAVY_FOR_IMPORT = (*_HEAVY, "typing", "click")
_HEAVY_FOR_HELP = (*_HEAVY, "storeroom.cli.files", "storeroom.cli.transfer")

_PROBE = """
import json, sys
{code}
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(code=code)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_storeroom_loads_no_heavy_module() -> None:
    loaded = _loaded("import storeroom")
    assert not {name for name in _HEAVY_FOR_IMPORT if name in loaded}


def test_help_loads_no_command_module() -> None:
    code = (
        "import contextlib, io\n"
        "from storeroom.cli.app import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass"
    )
    loaded = _loaded(code)
    assert not {name for name in _HEAVY_FOR_HELP if name in loaded}


def test_lazy_names_still_import_and_the_factories_win() -> None:
    import storeroom
    import storeroom.artifactstore
    import storeroom.caches
    import storeroom.filestore  # no submodule shares a factory's name
    from storeroom import FileStore, MemoryCache, files

    assert callable(files)
    assert storeroom.files is files
    assert FileStore.__module__ == "storeroom.filestore"
    assert MemoryCache.__name__ == "MemoryCache"
    assert set(storeroom.__all__) <= set(dir(storeroom))
    for name in storeroom.__all__:
        assert getattr(storeroom, name) is not None

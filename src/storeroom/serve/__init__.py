"""``storeroom serve``: an artifact browser and an HTTP API over one store, safe by default.

An application package on top of :class:`~storeroom.ArtifactStore` and
:class:`~storeroom.FileStore` (and the catalog's ``find`` / ``lineage`` when a
store has them): ``service.py`` answers each question once, ``pages.py`` and
``api.py`` present the answers as HTML and JSON, ``content.py`` streams
downloads, ``preview.py`` and ``diffs.py`` shape previews and differences,
``storage.py`` computes the storage panel and ``safety.py`` holds every
safety rule (headers, limits, tokens, problem details). Templates and static
files live beside the code. Needs the ``server`` extra
(``pip install 'storeroom[server]'``).
"""

from __future__ import annotations

from .app import LOOPBACK_HOSTS, ServeSettings, create_app

__all__ = ["LOOPBACK_HOSTS", "ServeSettings", "create_app"]

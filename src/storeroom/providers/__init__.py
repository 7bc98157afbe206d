"""Providers: bytes by key on local disk, memory and object stores (see :mod:`.base`).

This file makes ``storeroom.providers`` a regular package, so that a wheel
built by setuptools' package discovery includes it, and documentation tools
find its modules.
"""

"""The object-store backends: one implementation on obstore (``store.py``), its
transport options and endpoint checks (``config.py``), its error mapping
(``errors.py``), a listing that keeps the keys obstore cannot parse
(``rawlist.py``), and the three clouds (``s3.py``, ``azure.py``, ``gcs.py``),
each of which only turns a URL into a typed config and a store factory.

Nothing is imported here, so ``storeroom.providers.object.s3`` loads obstore
only when an object store is used.
"""

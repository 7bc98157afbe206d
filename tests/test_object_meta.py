"""``listed_meta``, the fast way listings build an ObjectMeta, builds the very
value ``ObjectMeta(...)`` builds: same type, same fields, equal, frozen, and it
copies and pickles."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import datetime, timezone

import pytest

from storeroom.providers.base import ObjectMeta, listed_meta


def test_a_listed_meta_is_an_object_meta_like_any_other() -> None:
    when = datetime(2026, 12, 4, 12, 30, tzinfo=timezone.utc)
    built = listed_meta("a/b.txt", 5, when, "e-1", "text/plain")
    assert type(built) is ObjectMeta
    assert built == ObjectMeta("a/b.txt", 5, when, "e-1", "text/plain")
    assert dataclasses.asdict(built) == {
        "path": "a/b.txt",
        "size": 5,
        "modified": when,
        "etag": "e-1",
        "content_type": "text/plain",
        "metadata": {},
        "version": None,
    }
    assert dataclasses.replace(built, size=6).size == 6
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.size = 6  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(built)) == built
    assert copy.deepcopy(built) == built
    again = listed_meta("a/b.txt", 5, when, "e-1", "text/plain")
    assert again.metadata is not built.metadata  # none shared between objects

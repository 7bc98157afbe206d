"""One query conformance suite over scan, SQLite and PostgreSQL: identical, correct answers."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from storeroom.catalog import Entry, FindPage

from .conftest import Dataset

ALL = {
    "data/train.csv@v1", "data/train.csv@v2", "data/test.csv@v1",
    "models/resnet@v1", "models/resnet@v2", "models/resnet@v3",
    "models/vit@v1", "models/vit@v2", "Models/upper@v1",
    "reports/q%_1@v1", "reports/qx1@v1", "ünï/çødé@v1", "ünï/zz@v1", "tmp/x@v3",
}
LATEST = {
    "data/train.csv@v2", "data/test.csv@v1", "models/resnet@v3", "models/vit@v2",
    "Models/upper@v1", "reports/q%_1@v1", "reports/qx1@v1", "ünï/çødé@v1", "ünï/zz@v1",
    "tmp/x@v3",
}
RESNET = {"models/resnet@v1", "models/resnet@v2", "models/resnet@v3"}
WITH_STAGE = RESNET | {"models/vit@v1", "models/vit@v2", "Models/upper@v1", "reports/q%_1@v1"}

#: filter -> the exact set of versions it finds in the data set.
CASES: list[tuple[str, set[str]]] = [
    ("", ALL),
    ("  ", ALL),
    ("name = 'models/resnet'", RESNET),
    ("name != 'models/resnet'", ALL - RESNET),
    ("name <> 'models/resnet'", ALL - RESNET),
    ("name LIKE 'models/%'", RESNET | {"models/vit@v1", "models/vit@v2"}),
    ("name like 'MODELS/%'", set()),
    ("name like 'reports/q\\%\\_1'", {"reports/q%_1@v1"}),
    ("name like 'reports/q_1'", {"reports/qx1@v1"}),
    ("name like 'reports/q%1'", {"reports/q%_1@v1", "reports/qx1@v1"}),
    ("name like '%*%'", set()),
    ("name not like 'models/%' and name not like 'data/%'",
     {"Models/upper@v1", "reports/q%_1@v1", "reports/qx1@v1", "ünï/çødé@v1", "ünï/zz@v1",
      "tmp/x@v3"}),
    ("name > 'r'", {"reports/q%_1@v1", "reports/qx1@v1", "ünï/çødé@v1", "ünï/zz@v1", "tmp/x@v3"}),
    ("name < 'a'", {"Models/upper@v1"}),
    ("name >= 'ünï/' and name < 'ünï/zz'", set()),  # 'ç' > 'z' (code points)
    ("name > 'ünï/zz'", {"ünï/çødé@v1"}),
    ("name in ('tmp/x', 'Models/upper', 'nope')", {"tmp/x@v3", "Models/upper@v1"}),
    ("name not in ('tmp/x')", ALL - {"tmp/x@v3"}),
    ("version = 2", {"data/train.csv@v2", "models/resnet@v2", "models/vit@v2"}),
    ("version = 'v3'", {"models/resnet@v3", "tmp/x@v3"}),
    ("version >= 3", {"models/resnet@v3", "tmp/x@v3"}),
    ("version in (1, 'v3') and name like 'models/%'",
     {"models/resnet@v1", "models/resnet@v3", "models/vit@v1"}),
    ("content_type = 'text/csv'", {"data/train.csv@v1", "data/train.csv@v2", "data/test.csv@v1"}),
    ("content_type like 'application/%'", {"models/vit@v1", "models/vit@v2"}),
    ("size > 150 and size <= 512", {"models/resnet@v2", "models/resnet@v3", "models/vit@v1"}),
    ("size < 2", {"Models/upper@v1", "ünï/zz@v1"}),
    ("metadata.stage = 'prod'", {"models/resnet@v2", "models/vit@v1"}),
    ("metadata.stage != 'prod'", ALL - {"models/resnet@v2", "models/vit@v1"}),
    ("not metadata.stage = 'prod'", ALL - {"models/resnet@v2", "models/vit@v1"}),
    ("metadata.stage like 'P%'", {"models/vit@v2", "Models/upper@v1"}),
    ("metadata.stage in ('dev', 'PROD')",
     {"models/resnet@v1", "models/resnet@v3", "Models/upper@v1", "reports/q%_1@v1"}),
    ("metadata.stage > 'a'", WITH_STAGE - {"models/vit@v2", "Models/upper@v1"}),
    ("metadata.acc > 0.8", {"models/resnet@v2", "models/resnet@v3", "models/vit@v1"}),
    ("metadata.acc <= 0.83", {"models/resnet@v1", "models/resnet@v2"}),
    ("metadata.acc > 'a'", {"models/vit@v2"}),
    ("metadata.acc = 'high' or metadata.acc = 0.9", {"models/vit@v2", "models/vit@v1"}),
    ("metadata.ok = true", {"models/resnet@v2"}),
    ("metadata.ok = false", {"models/resnet@v3"}),
    ("metadata.ok != true", ALL - {"models/resnet@v2"}),
    ("metadata.ok = 1", set()),
    ("metadata.note = null", {"models/resnet@v3"}),
    ("metadata.tags = 'a'", set()),
    ("metadata.epochs in (10, 30)", {"models/resnet@v1", "models/resnet@v3"}),
    ("metadata.epochs = 10.0", {"models/resnet@v1"}),
    ("metadata.epochs >= 20 and metadata.stage = 'dev'", {"models/resnet@v3"}),
    ("metadata.rows >= 1000", {"data/train.csv@v1", "data/train.csv@v2"}),
    ("metadata.rows > -1e3", {"data/train.csv@v1", "data/train.csv@v2", "data/test.csv@v1"}),
    ("metadata.author = 'O''Brien'", {"reports/q%_1@v1"}),
    ('metadata.author = "O\'Brien"', {"reports/q%_1@v1"}),
    ("metadata.author like '%Brien'", {"reports/q%_1@v1", "reports/qx1@v1"}),
    ("metadata.\"weird key\" = 1", {"data/test.csv@v1"}),
    ("metadata.a.b = 'dot'", {"data/test.csv@v1"}),
    ("metadata.lang = 'ü'", {"ünï/çødé@v1"}),
    ("metadata.lang > 'z'", {"ünï/çødé@v1"}),
    ("metadata.missing = 1 or metadata.missing != 1", ALL),
    ("latest = true", LATEST),
    ("latest = false", ALL - LATEST),
    ("latest != true", ALL - LATEST),
    ("latest = true and name like 'models/%'", {"models/resnet@v3", "models/vit@v2"}),
    ("not latest = true and name = 'models/resnet'", {"models/resnet@v1", "models/resnet@v2"}),
    ("alias = 'prod'", {"models/resnet@v2", "models/vit@v1"}),
    ("alias != 'prod'", ALL - {"models/resnet@v2", "models/vit@v1"}),
    ("alias in ('best', 'nope')", {"models/resnet@v3"}),
    ("alias like 'b%'", {"models/resnet@v3"}),
    ("alias = 'gone'", set()),
    ("input = 'data/train.csv'", {"models/resnet@v3", "models/vit@v2"}),
    ("input = 'data/train.csv@v2'", {"models/resnet@v3"}),
    ("input = 'data/test.csv@1'", {"models/resnet@v3"}),
    ("input in ('data/train.csv@v1', 'nope')", {"models/vit@v2"}),
    ("input != 'data/train.csv'", ALL - {"models/resnet@v3", "models/vit@v2"}),
    ("(metadata.stage = 'prod' or metadata.stage = 'dev') and not name like '%vit%'",
     {"models/resnet@v1", "models/resnet@v2", "models/resnet@v3", "reports/q%_1@v1"}),
    ("NOT (name LIKE 'models/%' OR name LIKE 'data/%') AND latest = TRUE AND size >= 1",
     LATEST - {"data/train.csv@v2", "data/test.csv@v1", "models/resnet@v3", "models/vit@v2"}),
    ("not not name = 'tmp/x'", {"tmp/x@v3"}),
    ("created > '2000-01-01'", ALL),
    ("created < '2000-01-01T00:00:00Z'", set()),
]


def ids(entries: list[Entry]) -> list[str]:
    return [f"{e.name}@{e.version}" for e in entries]


async def find_all(dataset: Dataset, backend: str, filter: str, **options: Any) -> list[Entry]:
    store = dataset.stores[backend]
    entries: list[Entry] = []
    token = None
    while True:
        page: FindPage = await store.find(filter, page_token=token, **options)
        assert page.source == backend
        entries += page.entries
        token = page.next_page_token
        if token is None:
            return entries


@pytest.mark.parametrize(("filter", "expected"), CASES, ids=[c[0] or "empty" for c in CASES])
async def test_filter(dataset: Dataset, backend: str, filter: str, expected: set[str]) -> None:
    page = await dataset.stores[backend].find(filter, limit=1000)
    assert page.next_page_token is None
    assert set(ids(page.entries)) == expected
    assert len(page.entries) == len(expected)
    if backend != "scan":  # identical entries (fields, aliases, inputs, latest) to the scan's
        assert page.entries == (await dataset.stores["scan"].find(filter, limit=1000)).entries


async def test_entries_carry_every_field(dataset: Dataset, backend: str) -> None:
    page = await dataset.stores[backend].find("name = 'models/resnet' and version = 3")
    [entry] = page.entries
    assert entry.aliases == ("best",)
    assert entry.inputs == (("data/train.csv", 2), ("data/test.csv", 1))
    assert entry.latest is True
    assert entry.size == 300
    assert entry.text is True
    assert entry.sha256 == dataset.sha256["models/resnet@v3"]
    assert entry.created.isoformat() == dataset.created["models/resnet@v3"]
    assert dict(entry.metadata) == {"stage": "dev", "acc": 0.85, "epochs": 30, "ok": False,
                                    "note": None}
    assert entry.to_dict()["inputs"] == ["data/train.csv@v2", "data/test.csv@v1"]


async def test_sha256_and_created(dataset: Dataset, backend: str) -> None:
    store = dataset.stores[backend]
    sha = dataset.sha256["models/vit@v1"]
    assert ids((await store.find(f"sha256 = '{sha}'")).entries) == ["models/vit@v1"]
    moment = dataset.created["models/resnet@v3"]
    found = set(ids((await store.find(f"created >= '{moment}'", limit=1000)).entries))
    later = {key for key, at in dataset.created.items() if at >= moment} & ALL
    assert found == later
    assert "models/resnet@v3" in found


@pytest.mark.parametrize(
    "order_by",
    [None, "name desc", ["created desc"], ["size", "name desc"], ["content_type desc", "version"],
     ["sha256"], ["version desc", "created"]],
)
async def test_order_and_paging(dataset: Dataset, backend: str, order_by: Any) -> None:
    expected = (await dataset.stores["scan"].find("", order_by=order_by, limit=1000)).entries
    paged = await find_all(dataset, backend, "", order_by=order_by, limit=3)
    assert paged == expected
    assert len(paged) == len(ALL)
    if order_by == ["created desc"]:
        assert [e.created_us for e in paged] == sorted((e.created_us for e in paged), reverse=True)
    if order_by is None:
        assert [(e.name, e.number) for e in paged] == sorted((e.name, e.number) for e in paged)
    if order_by == ["size", "name desc"]:
        keys = [(e.size, e.name) for e in paged]
        pairs = itertools.pairwise(keys)
        assert all(a[0] < b[0] or (a[0] == b[0] and a[1] >= b[1]) for a, b in pairs)


async def test_list_artifacts_equal_with_and_without_index(
    dataset: Dataset, backend: str
) -> None:
    store = dataset.stores[backend]
    for prefix in ("", "models/", "ünï/", "reports/q%", "nope/"):
        assert await store.list_artifacts(prefix) == await dataset.stores["scan"].list_artifacts(
            prefix
        )


async def test_lineage_both_ways(dataset: Dataset, backend: str) -> None:
    store = dataset.stores[backend]
    up = await store.lineage("models/resnet", "best", direction="up")
    assert [(link.depth, link.name, link.version) for link in up] == [
        (1, "data/train.csv", "v2"), (1, "data/test.csv", "v1")
    ]
    down = await store.lineage("data/train.csv", "v1", direction="down")
    assert [(link.name, link.version, link.via_name) for link in down] == [
        ("models/vit", "v2", "data/train.csv")
    ]
    assert await store.lineage("data/test.csv", direction="down", depth=1) == [
        link for link in await store.lineage("data/test.csv", direction="down") if link.depth == 1
    ]

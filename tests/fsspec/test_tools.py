"""pandas, pyarrow, polars and DuckDB reading and writing storeroom stores through fsspec."""

from __future__ import annotations

import io
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow.fs import FileSelector, FileType, FSSpecHandler, PyFileSystem

import storeroom
from storeroom import ArtifactStore
from storeroom.fsspec_fs import StoreroomFileSystem, filesystem

FRAME = pd.DataFrame(
    {"year": [2024, 2024, 2025, 2025], "v": [1.5, 2.5, 3.5, 4.5], "s": list("abcd")}
)


@pytest.fixture
def provider(url: str) -> Any:
    """One provider per test, handed to every tool (``memory://`` is one store per URL)."""
    return storeroom.provider(url)


@pytest.fixture
def options(provider: Any) -> dict[str, Any]:
    return {"store": provider}


def test_pandas_csv_and_parquet(options: dict[str, Any]) -> None:
    FRAME.to_csv("storeroom://data/frame.csv", storage_options=options, index=False)
    FRAME.to_parquet("storeroom://data/frame.parquet", storage_options=options)
    csv = pd.read_csv("storeroom://data/frame.csv", storage_options=options)
    parquet = pd.read_parquet("storeroom://data/frame.parquet", storage_options=options)
    pd.testing.assert_frame_equal(csv, FRAME)
    pd.testing.assert_frame_equal(parquet, FRAME)


def test_pandas_errors_are_what_pandas_users_expect(options: dict[str, Any]) -> None:
    with pytest.raises(FileNotFoundError):
        pd.read_csv("storeroom://data/missing.csv", storage_options=options)
    with pytest.raises(FileNotFoundError):
        pd.read_csv("storeroom://../outside.csv", storage_options=options)
    with pytest.raises(storeroom.ConfigurationError, match="needs a store"):
        pd.read_csv("storeroom://data/frame.csv")
    with pytest.raises(storeroom.ConfigurationError, match="unknown storage options"):
        pd.read_csv("storeroom://data/frame.csv", storage_options={**options, "colour": "red"})


def test_pyarrow_dataset_over_a_partitioned_folder(provider: Any) -> None:
    fs = filesystem(provider)
    arrow_fs = PyFileSystem(FSSpecHandler(fs))
    table = pa.Table.from_pandas(FRAME, preserve_index=False)
    pq.write_to_dataset(table, "sales", partition_cols=["year"], filesystem=arrow_fs)
    dataset = ds.dataset("sales", filesystem=arrow_fs, partitioning="hive", format="parquet")
    got = dataset.to_table().to_pandas().sort_values("v").reset_index(drop=True)
    assert got["v"].tolist() == FRAME["v"].tolist()
    assert sorted(int(y) for y in got["year"]) == sorted(FRAME["year"])
    # directory semantics as pyarrow expects
    infos = arrow_fs.get_file_info(FileSelector("sales", recursive=True))
    kinds = {info.path: info.type for info in infos}
    assert kinds["sales/year=2024"] == FileType.Directory
    assert sum(kind == FileType.File for kind in kinds.values()) == 2
    assert arrow_fs.get_file_info("nowhere").type == FileType.NotFound
    with pytest.raises(FileNotFoundError):
        arrow_fs.get_file_info(FileSelector("nowhere"))
    arrow_fs.delete_dir("sales/year=2025")
    left = ds.dataset("sales", filesystem=arrow_fs, partitioning="hive", format="parquet")
    assert left.to_table().num_rows == 2
    if isinstance(provider, storeroom.LocalProvider):  # others keep an emptied folder's marker
        assert arrow_fs.get_file_info("sales/year=2025").type == FileType.NotFound


def test_polars_read_and_scan(options: dict[str, Any]) -> None:
    fs = StoreroomFileSystem(**options)
    FRAME.to_parquet("storeroom://p/frame.parquet", storage_options=options)
    with fs.open("p/frame.parquet", "rb") as handle:
        frame = pl.read_parquet(handle)
    assert frame["v"].to_list() == FRAME["v"].tolist()
    with fs.open("p/frame.parquet", "rb") as handle:
        total = pl.scan_parquet(handle).select(pl.col("v").sum()).collect().item()
    assert total == FRAME["v"].sum()
    pl.from_pandas(FRAME).write_parquet(buffer := io.BytesIO())
    fs.pipe_file("p/from-polars.parquet", buffer.getvalue())
    back = pd.read_parquet("storeroom://p/from-polars.parquet", storage_options=options)
    assert back.shape == (4, 3)


def test_duckdb_through_a_registered_filesystem(options: dict[str, Any]) -> None:
    FRAME.to_parquet("storeroom://db/frame.parquet", storage_options=options)
    con = duckdb.connect()
    con.register_filesystem(StoreroomFileSystem(**options))
    rows = con.sql(
        "select year, sum(v) from read_parquet('storeroom://db/frame.parquet') "
        "group by year order by year"
    ).fetchall()
    assert rows == [(2024, 4.0), (2025, 8.0)]
    con.close()


def test_pandas_reads_a_pinned_artifact_version(provider: Any) -> None:
    store = ArtifactStore(provider)
    frames = [FRAME, FRAME.assign(v=FRAME["v"] * 10)]
    for frame in frames:
        with io.BytesIO() as buffer:
            frame.to_parquet(buffer)
            storeroom.sync.wrap(store).store_artifact("model/frame", buffer.getvalue())
    options = {"store": store}
    v1 = pd.read_parquet("storeroom://model/frame@v1", storage_options=options)
    latest = pd.read_parquet("storeroom://model/frame", storage_options=options)
    pd.testing.assert_frame_equal(v1, FRAME)
    pd.testing.assert_frame_equal(latest, frames[1])
    with pytest.raises(FileNotFoundError):
        pd.read_parquet("storeroom://model/frame@v9", storage_options=options)

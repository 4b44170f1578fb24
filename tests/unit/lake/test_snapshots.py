"""``Lake.delta`` hands out a kept snapshot only while it is still the latest, and
``Lake.read`` (a cursor of the process's shared DuckDB database) reads what ``LakeSQL`` reads."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.meta import META_WATERMARKS
from retail_lakehouse.lake.query import LakeSQL

TABLE = META_WATERMARKS.qualified


def rows(consumer: str, seq: int) -> pa.Table:
    return pa.table(
        {
            "consumer": [consumer],
            "batch_seq": [seq],
            "run_id": ["r"],
            "updated_at": [datetime(2026, 1, 1, tzinfo=UTC)],
        }
    )


def test_a_kept_snapshot_is_replaced_after_a_commit_by_another_writer(tmp_path: Path) -> None:
    lake, other = Lake(tmp_path), Lake(tmp_path)
    lake.write(TABLE, rows("silver", 1))
    first = lake.delta(TABLE)
    assert first is not None and lake.delta(TABLE) is first  # kept: nothing committed since
    other.write(TABLE, rows("gold", 1))
    latest = lake.delta(TABLE)
    assert latest is not None and latest.version() == 1
    assert lake.read(TABLE).num_rows == 2


def test_a_table_removed_and_created_again_is_read_anew(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write(TABLE, rows("silver", 1))
    assert lake.read(TABLE, ["batch_seq"]).column(0).to_pylist() == [1]
    shutil.rmtree(lake.path(TABLE))
    assert lake.delta(TABLE) is None
    lake.write(TABLE, rows("silver", 7))  # version 0 again, another commit file
    assert lake.read(TABLE, ["batch_seq"]).column(0).to_pylist() == [7]


def test_a_commit_through_the_kept_object_moves_it_on(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write(TABLE, rows("silver", 1))
    lake.write(TABLE, rows("gold", 2))
    lake.delete(TABLE, "consumer = 'gold'")  # through the kept snapshot: version 2
    latest = lake.delta(TABLE)
    assert latest is not None and latest.version() == 2
    assert lake.read(TABLE, ["consumer"]).column(0).to_pylist() == ["silver"]


def test_each_thread_keeps_its_own_snapshot(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write(TABLE, rows("silver", 1))
    mine = lake.delta(TABLE)
    theirs: list[object] = []
    worker = threading.Thread(target=lambda: theirs.append(lake.delta(TABLE)))
    worker.start()
    worker.join()
    assert theirs[0] is not None and theirs[0] is not mine


def test_read_equals_lakesql_and_missing_tables_have_the_contract_columns(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    empty = lake.read(TABLE)
    assert empty.num_rows == 0 and empty.column_names == META_WATERMARKS.schema.names
    lake.write(TABLE, rows("silver", 3))
    with LakeSQL(lake, tables=[TABLE]) as sql:
        expected = sql.arrow(f"SELECT * FROM {TABLE}")
    assert lake.read(TABLE).equals(expected)

"""Staged Parquet files become table content in one commit, replacing whole batches."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.silver import SILVER_DUPLICATES
from retail_lakehouse.lake.staged import (
    BatchSelection,
    commit_staged,
    discard,
    file_statistics,
    staged_path,
    staged_rows,
)
from retail_lakehouse.lake.store import cast_batch

TABLE = SILVER_DUPLICATES.qualified


def stage(lake: Lake, batches: list[int], rows_per_batch: int = 3) -> Path:
    """A staged file with ``rows_per_batch`` rows for each batch."""
    seqs = [b for b in batches for _ in range(rows_per_batch)]
    data = pa.table(
        {
            "_batch_seq": seqs,
            "_batch_id": [f"b{s}" for s in seqs],
            "_row_number": list(range(len(seqs))),
            "_line_key": [s * 1_000_000 + i for i, s in enumerate(seqs)],
            "kept_batch_seq": seqs,
            "kept_row_number": list(range(len(seqs))),
            "_run_id": ["r"] * len(seqs),
        }
    )
    path = staged_path(lake, TABLE)
    pq.write_table(cast_batch(data, SILVER_DUPLICATES), path)
    return path


def content(lake: Lake) -> list[int]:
    return sorted(lake.read(TABLE, ["_batch_seq"]).column("_batch_seq").to_pylist())


def test_append_then_replace_whole_batches_in_one_commit(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    commit_staged(lake, TABLE, [stage(lake, [1])], None)
    commit_staged(lake, TABLE, [stage(lake, [2, 3])], None)
    before = lake.version(TABLE)
    assert content(lake) == [1] * 3 + [2] * 3 + [3] * 3
    # batches 2 and 3 again (a re-run after a crash): their file is replaced, batch 1 kept
    version = commit_staged(lake, TABLE, [stage(lake, [2, 3], 2)], BatchSelection(above=1))
    assert version == (before or 0) + 1
    assert content(lake) == [1] * 3 + [2] * 2 + [3] * 2
    # nothing staged is left unreferenced
    referenced = {Path(uri).name for uri in lake.snapshot_files(TABLE)}
    on_disk = {p.name for p in lake.path(TABLE).glob("*.parquet")}
    assert referenced <= on_disk


def test_a_file_straddling_the_replaced_batches_is_rewritten_by_predicate(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    commit_staged(lake, TABLE, [stage(lake, [1, 2])], None)  # one file, two batches
    commit_staged(lake, TABLE, [stage(lake, [2], 1)], BatchSelection(above=1))
    assert content(lake) == [1] * 3 + [2]


def test_listed_batches_and_full_replacement(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    for batch in (1, 2, 3):
        commit_staged(lake, TABLE, [stage(lake, [batch])], None)
    commit_staged(lake, TABLE, [stage(lake, [2], 1)], BatchSelection(listed=frozenset({2})))
    assert content(lake) == [1] * 3 + [2] + [3] * 3
    commit_staged(lake, TABLE, [stage(lake, [7], 1)], BatchSelection(everything=True))
    assert content(lake) == [7]


def test_an_empty_staged_file_commits_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    commit_staged(lake, TABLE, [stage(lake, [1])], None)
    version = lake.version(TABLE)
    empty = stage(lake, [])
    assert commit_staged(lake, TABLE, [empty], None) == version
    assert not empty.exists()


@pytest.mark.parametrize(
    ("low", "high", "selection", "expected"),
    [
        (5, 9, BatchSelection(above=4), True),
        (1, 4, BatchSelection(above=4), False),
        (3, 6, BatchSelection(above=4), None),
        (2, 2, BatchSelection(listed=frozenset({2})), True),
        (1, 3, BatchSelection(listed=frozenset({2})), None),
        (4, 6, BatchSelection(listed=frozenset({2})), False),
    ],
)
def test_batch_selection_covers(
    low: int, high: int, selection: BatchSelection, expected: bool | None
) -> None:
    assert selection.covers(low, high) is expected


def test_statistics_follow_delta_rs_formats(tmp_path: Path) -> None:
    import datetime as dt
    from decimal import Decimal

    table = pa.table(
        {
            "n": pa.array([3, 1, None], pa.int64()),
            "price": pa.array([Decimal("2.5500"), Decimal("0.1000"), None], pa.decimal128(18, 4)),
            "local": pa.array([dt.datetime(2010, 12, 1, 8, 26), None, None], pa.timestamp("us")),
            "utc": pa.array(
                [dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)] * 3, pa.timestamp("us", "UTC")
            ),
            "text": ["a", "b" * 100, None],
        }
    )
    pq.write_table(table, tmp_path / "f.parquet")
    stats = file_statistics(pq.ParquetFile(tmp_path / "f.parquet").metadata)
    assert stats["numRecords"] == 3
    assert stats["minValues"]["n"] == 1 and stats["maxValues"]["n"] == 3
    assert stats["minValues"]["price"] == 0.1 and stats["maxValues"]["price"] == 2.55
    assert stats["minValues"]["local"] == "2010-12-01 08:26:00.000"
    assert stats["maxValues"]["utc"] == "2026-01-02T03:04:05.000Z"
    assert "text" not in stats["maxValues"]  # a 100-character value gets no bound
    assert stats["nullCount"] == {"n": 1, "price": 1, "local": 2, "utc": 0, "text": 1}


def test_timestamp_statistics_are_read_from_the_stored_integers(tmp_path: Path) -> None:
    """Zoned and millisecond timestamps, before and after the epoch, over two row groups: the
    bounds pyarrow's own conversion gives (which imports pandas), read without it."""
    import datetime as dt

    early = dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC)
    late = dt.datetime(2030, 6, 1, 12, 0, 0, 123000, tzinfo=dt.UTC)
    table = pa.table(
        {
            "ms": pa.array([late, early, None, late], pa.timestamp("ms", "UTC")),
            "us": pa.array([early, late, early, None], pa.timestamp("us", "UTC")),
        }
    )
    pq.write_table(table, tmp_path / "f.parquet", row_group_size=2)
    metadata = pq.ParquetFile(tmp_path / "f.parquet").metadata
    stats = file_statistics(metadata)
    for column in ("ms", "us"):
        assert stats["minValues"][column] == "1969-12-31T23:59:59.999Z"
        assert stats["maxValues"][column] == "2030-06-01T12:00:00.123Z"
    assert stats["nullCount"] == {"ms": 1, "us": 1}


def test_a_staged_file_never_committed_is_invisible(tmp_path: Path) -> None:
    """A crash between writing a staged file and committing it leaves the table as it was."""
    lake = Lake(tmp_path)
    commit_staged(lake, TABLE, [stage(lake, [1])], None)
    orphan = stage(lake, [1, 2])  # written, never committed: the process "died" here
    assert orphan.exists()
    assert content(lake) == [1] * 3
    commit_staged(lake, TABLE, [stage(lake, [2], 1)], BatchSelection(above=1))  # the re-run
    assert content(lake) == [1] * 3 + [2]


def stage_folder(lake: Lake, batches: list[list[int]]) -> Path:
    """A staged folder the way Spark's executors leave one: a part file per task, an empty
    part from an idle task, ``_SUCCESS`` and checksum markers."""
    folder = staged_path(lake, TABLE)
    folder.mkdir()
    for index, part in enumerate([*batches, []]):
        single = stage(lake, part) if part else None
        name = f"part-{index:05d}-x-c000.snappy.parquet"
        if single is None:
            pq.write_table(SILVER_DUPLICATES.schema.empty_table(), folder / name)
        else:
            single.rename(folder / name)
        (folder / f".{name}.crc").write_bytes(b"crc")
    (folder / "_SUCCESS").write_bytes(b"")
    return folder


def test_a_folder_of_part_files_is_committed_file_by_file_in_one_commit(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    commit_staged(lake, TABLE, [stage(lake, [1])], None)
    folder = stage_folder(lake, [[2], [3]])
    assert staged_rows([folder]) == 6
    before = lake.version(TABLE)
    version = commit_staged(lake, TABLE, [folder], BatchSelection(above=1))
    assert version == (before or 0) + 1
    assert content(lake) == [1] * 3 + [2] * 3 + [3] * 3
    referenced = sorted(
        Path(p).relative_to(lake.path(TABLE)).as_posix() for p in lake.snapshot_files(TABLE)
    )
    in_folder = [r for r in referenced if r.startswith(folder.name + "/")]
    assert len(in_folder) == 2  # the empty part added nothing
    assert sorted(p.name for p in folder.iterdir()) == [r.split("/")[1] for r in in_folder]
    # replacing those batches again removes the folder's files like any other
    commit_staged(lake, TABLE, [stage(lake, [2], 1)], BatchSelection(above=1))
    assert content(lake) == [1] * 3 + [2]


def test_a_discarded_folder_is_gone(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    folder = stage_folder(lake, [[4]])
    discard([folder])
    assert not folder.exists()

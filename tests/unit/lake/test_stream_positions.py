"""Delta app transactions (stream positions, decision 0018) through rollback and backup/restore.

The CLI side (a real NATS server, ``retail stream``/``backup``/``restore``/``rollback``) is
``tests/integration/stream/test_stream_positions.py``; these check the carry-over rules."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.backup import backup, find_manifest, restore
from retail_lakehouse.lake.commits import app_ids, app_transactions, commit_properties
from retail_lakehouse.lake.recovery import _restore

TABLE = "bronze.files"


def append(lake: Lake, n: int, positions: dict[str, int] | None) -> None:
    path = lake.path(TABLE)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_deltalake(
        str(path),
        pa.table({"n": [n]}),
        mode="append",
        commit_properties=commit_properties(transactions=positions),
    )


def positions(lake: Lake, *ids: str) -> dict[str, int | None]:
    table = lake.delta(TABLE)
    assert table is not None
    return {i: table.transaction_version(i) for i in ids}


def test_a_commit_names_its_app_ids_and_they_are_found_in_the_history(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    append(lake, 1, {"a": 5})
    append(lake, 2, None)
    append(lake, 3, {"a": 9, "b": 3})
    table = lake.delta(TABLE)
    assert table is not None
    assert app_ids(table) == {"a", "b"}
    assert app_transactions(table, {"a", "b", "c"}) == {"a": 9, "b": 3}
    old = lake.delta(TABLE, 0)
    assert old is not None and app_transactions(old, app_ids(table)) == {"a": 5}


def test_a_restore_sets_every_position_as_it_was_at_the_target(tmp_path: Path) -> None:
    """Lower where the target had a position, 0 ("nothing consumed": the stream reads from
    the start) where it had none or the table did not exist."""
    lake = Lake(tmp_path)
    append(lake, 1, {"a": 5})
    append(lake, 2, {"a": 9, "b": 3})
    assert _restore(lake, {TABLE: 0}) == [TABLE]
    assert positions(lake, "a", "b") == {"a": 5, "b": 0}
    append(lake, 3, {"a": 12, "b": 7})
    _restore(lake, {TABLE: None})
    assert positions(lake, "a", "b") == {"a": 0, "b": 0}
    table = lake.delta(TABLE)
    assert table is not None and table.to_pyarrow_table().num_rows == 0


def test_backup_keeps_the_positions_and_an_old_backup_without_them_restores(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    append(lake, 1, {"a": 5})
    append(lake, 2, {"a": 9, "b": 3})
    backup(lake, tmp_path / "backup")
    manifest = find_manifest(tmp_path / "backup")
    assert json.loads(manifest.read_text())["tables"][TABLE]["transactions"] == {"a": 9, "b": 3}
    restore(manifest, tmp_path / "new")
    assert positions(Lake(tmp_path / "new"), "a", "b") == {"a": 9, "b": 3}
    restored = Lake(tmp_path / "new").delta(TABLE)
    assert restored is not None and app_ids(restored) == {"a", "b"}  # a rollback finds them

    data = json.loads(manifest.read_text())
    del data["tables"][TABLE]["transactions"]  # a backup made before positions were kept
    manifest.write_text(json.dumps(data))
    restore(manifest, tmp_path / "old")
    assert positions(Lake(tmp_path / "old"), "a") == {"a": None}
    old = Lake(tmp_path / "old").delta(TABLE)
    assert old is not None and old.to_pyarrow_table().num_rows == 2

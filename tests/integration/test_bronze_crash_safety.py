"""A crash in the middle of an ingest leaves the last good state and is repaired, never doubled."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from retail_lakehouse.lake import Lake, intents
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline import bronze


def count(lake: Lake, sql: str) -> int:
    with LakeSQL(lake) as con:
        value: int = con.arrow(sql).column(0)[0].as_py()
    return value


def test_crash_before_manifest_is_cleaned_and_retried(
    tmp_path: Path, real_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "lake")
    with recorded_run(lake, "ingest") as run:
        bronze.ingest_file(lake, real_files[2], run)

    real_write = Lake.write

    def crash_on_manifest(self: Lake, qualified: str, *args: object, **kwargs: object) -> int:
        if qualified == "bronze.files":
            raise KeyboardInterrupt("power cut")  # the process dies before the commit point
        return real_write(self, qualified, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Lake, "write", crash_on_manifest)
    with pytest.raises(KeyboardInterrupt), recorded_run(lake, "ingest") as run:
        bronze.ingest_file(lake, real_files[0], run)
    monkeypatch.setattr(Lake, "write", real_write)

    # the failing command undid its own uncommitted file before it ended: its lines are gone,
    # its batch number (2) is retired, and it is recorded as interrupted with what was undone
    assert count(lake, "SELECT count(*) FROM bronze.sales_lines") == 99
    assert bronze.remove_orphans(lake) == 0
    with recorded_run(lake, "ingest") as run:
        report = bronze.ingest_file(lake, real_files[0], run)
    assert report.status == "ingested" and report.rows_ingested == 1071 and report.batch_seq == 3
    assert count(lake, "SELECT count(*) FROM bronze.sales_lines") == 99 + 1071
    failed = count(lake, "SELECT count(*) FROM meta.runs WHERE status = 'interrupted'")
    assert failed == 1  # a KeyboardInterrupt: recorded as interrupted (Ctrl-C), not failed
    undone = count(lake, "SELECT count(*) FROM meta.runs WHERE error LIKE '%batch 2 undone%'")
    assert undone == 1


def test_killed_ingest_is_undone_by_the_next_command(
    tmp_path: Path, real_files: list[Path]
) -> None:
    """A process killed mid-ingest leaves its intent; the next command undoes it first."""
    lake = Lake(tmp_path / "lake")
    with recorded_run(lake, "ingest") as run:
        bronze.ingest_file(lake, real_files[2], run)
    # what a kill after the lines commit leaves: committed orphan lines and the intent
    intent = intents.begin(lake, "20260101T000000-deadbeef", "ingest")
    intent.note(recovery=bronze.INGEST_RECOVERY, batches=[2], schema_versions=[])
    with LakeSQL(lake) as sql:
        lines = sql.arrow("SELECT * FROM bronze.sales_lines")
    lake.write(
        "bronze.sales_lines",
        lines.set_column(
            lines.schema.get_field_index("_batch_seq"),
            "_batch_seq",
            pa.array([2] * lines.num_rows, pa.int64()),
        ),
    )
    assert count(lake, "SELECT count(*) FROM bronze.sales_lines") == 2 * 99
    with recorded_run(lake, "ingest") as run:
        assert run.recovered and "batch 2 undone" in run.recovered[0]
        report = bronze.ingest_file(lake, real_files[0], run)
    assert report.batch_seq == 3
    assert count(lake, "SELECT count(*) FROM bronze.sales_lines") == 99 + 1071
    assert intents.pending(lake) == []
    status = count(
        lake,
        "SELECT count(*) FROM meta.runs WHERE run_id = '20260101T000000-deadbeef' "
        "AND status = 'interrupted'",
    )
    assert status == 1

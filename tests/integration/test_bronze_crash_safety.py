"""A crash in the middle of an ingest leaves the last good state and is repaired, never doubled."""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_lakehouse.lake import Lake
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

    # the lines of the crashed file are committed but not in the manifest: readers see them as
    # orphans above the manifest's highest batch, and the next ingest removes them first
    assert count(lake, "SELECT count(*) FROM bronze.sales_lines") == 99 + 1071
    assert bronze.remove_orphans(lake) == 1071
    assert count(lake, "SELECT count(*) FROM bronze.sales_lines") == 99
    with recorded_run(lake, "ingest") as run:
        report = bronze.ingest_file(lake, real_files[0], run)
    assert report.status == "ingested" and report.rows_ingested == 1071
    assert count(lake, "SELECT count(*) FROM bronze.sales_lines") == 99 + 1071
    failed = count(lake, "SELECT count(*) FROM meta.runs WHERE status = 'failed'")
    assert failed == 1

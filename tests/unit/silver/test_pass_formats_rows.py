"""A pass's formats come from the manifest's rows that are not all default (month first, '.'):
asking only for those (a full refresh over a million default files turned every row into a
Python dict) must tell silver exactly what the whole manifest tells it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES, PER_SHEET
from retail_lakehouse.pipeline.silver.file_formats import COLUMNS, PassFormats
from retail_lakehouse.pipeline.silver.transform import _lines_of, _manifest_rows

ORDERS = ["mdy", "dmy", "ymd", PER_SHEET, None]
DECIMALS = [".", ",", PER_SHEET, None]


def _manifest(lake: Lake) -> list[int]:
    rows = []
    combos = itertools.product(ORDERS, DECIMALS, DECIMALS)
    for seq, (order, decimal, quantity) in enumerate(combos, start=1):
        per_sheet = PER_SHEET in (order, decimal, quantity)
        sheets = [
            {"sheet": name, "date_order": o, "decimal_separator": d,
             "quantity_decimal_separator": q}
            for name, o, d, q in (("A", "dmy", ".", None), ("B", "mdy", ",", "."))
        ] if per_sheet else None  # fmt: skip
        rows.append(
            {
                "_batch_id": f"b{seq}", "_batch_seq": seq, "_source_file": f"/x/f{seq}.xlsx",
                "_source_sha256": f"h{seq}", "format": "xlsx", "size_bytes": 1,
                "rows_ingested": seq, "rows_rejected": 0, "date_order": order,
                "decimal_separator": decimal, "quantity_decimal_separator": quantity,
                "sheet_formats": sheets, "run_id": "r", "_ingested_at": datetime.now(UTC),
            }
        )  # fmt: skip
    lake.write(BRONZE_FILES.qualified, pa.Table.from_pylist(rows, BRONZE_FILES.schema))
    return [r["_batch_seq"] for r in rows]


def test_the_rows_that_are_not_default_give_the_whole_manifests_formats(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    batches = _manifest(lake)
    for chosen in (batches, batches[3:40], batches[::7], [batches[-1]]):
        every = _manifest_rows(lake, COLUMNS, chosen)
        asked = _manifest_rows(lake, COLUMNS, chosen, not_default=True)
        assert every is not None and asked is not None
        whole = PassFormats.from_manifest(every, chosen)
        assert PassFormats.from_manifest(asked, chosen) == whole
        assert asked.num_rows < every.num_rows or len(chosen) == 1
        assert whole.day_first or whole.decimal_comma or len(chosen) == 1
        lines = _lines_of(_manifest_rows(lake, ["_batch_seq", "rows_ingested"], chosen), chosen)
        assert lines == sum(chosen)

"""Dates far outside any sales history (year 1, 1000, 9999) are not read as dates.

Gold's calendar and the cohort triangle are dense between the data's first and last month, so
one line dated 0001 and one dated 9999 made ``gold.dim_date`` 3,652,060 rows and
``gold.mart_cohort_retention`` 119,977 rows from three lines (a crafted file with a customer
per month would ask for billions). The timeliness rules only warn, so such lines reached gold.
"""

from __future__ import annotations

from pathlib import Path

from retail_lakehouse.lake import Lake
from tests.conftest import run_retail

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def test_dates_outside_1900_to_2099_are_quarantined_and_gold_stays_small(tmp_path: Path) -> None:
    lines = [
        "536365,85123A,HEART HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
        "536366,85123A,HEART HOLDER,6,12/1/9999 8:26,2.55,17851,United Kingdom",
        "536367,85123A,HEART HOLDER,6,12/1/0001 8:26,2.55,17852,United Kingdom",
        "536368,85123A,HEART HOLDER,6,2100-01-01 00:00,2.55,17853,France",
        "536369,85123A,HEART HOLDER,6,1899-12-31 23:59,2.55,17854,France",
        "536370,85123A,HEART HOLDER,6,1900-01-01 00:00,2.55,17855,France",
        "536371,85123A,HEART HOLDER,6,2099-12-31 23:59,2.55,17856,France",
    ]
    source = tmp_path / "years.csv"
    source.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    lake = tmp_path / "lake"
    for args in (("ingest", source), ("run",)):
        done = run_retail(*args, lake=lake)
        assert done.code == 0, done.stderr
    tables = Lake(lake)
    kept = sorted(tables.read("silver.sales_lines").column("invoice_no").to_pylist())
    assert kept == ["536365", "536370", "536371"]
    quarantined = tables.read("silver.quarantine").to_pylist()
    assert sorted(r["invoice_no"] for r in quarantined) == ["536366", "536367", "536368", "536369"]
    assert all("invoice_date_parseable" in r["quarantine_reasons"] for r in quarantined)
    assert all(r["raw_invoice_date"] for r in quarantined)  # what the file said is kept
    assert tables.read("gold.dim_date").num_rows <= 200 * 366

"""dim_customer SCD2: versions on country changes, the invariant check, late lines."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.gold import DIM_CUSTOMER
from retail_lakehouse.lake.store import cast_batch
from retail_lakehouse.pipeline.gold.dim_customer import SCD2InvariantError, check_scd2
from retail_lakehouse.pipeline.gold.keys import UNKNOWN_KEY
from tests.unit.gold.silver_rows import line, rows, run_gold, write_batch

UK, FR = "United Kingdom", "France"


def versions(lake: Lake, customer: str) -> list[tuple[str, datetime, datetime | None, bool, int]]:
    return [
        (r["country"], r["valid_from"], r["valid_to"], r["is_current"], r["version"])
        for r in rows(
            lake,
            f"SELECT * FROM gold.dim_customer WHERE customer_id = '{customer}' ORDER BY version",
        )
    ]


def test_country_changes_make_versions(lake: Lake) -> None:
    write_batch(
        lake,
        1,
        [
            line("1", "A1", 1, "1.00", "2011-01-01 10:00", "c1", UK),
            line("2", "A1", 1, "1.00", "2011-02-01 10:00", "c1", FR),
            line("2", "A2", 1, "1.00", "2011-02-01 10:00", "c1", FR),
            line("3", "A1", 1, "1.00", "2011-03-01 10:00", "c1", UK),
            line("4", "A1", 1, "1.00", "2011-03-05 10:00", "c2", FR),
            line("5", "A1", 1, "1.00", "2011-03-06 10:00", None, UK),
        ],
    )
    run_gold(lake)
    jan, feb, mar = datetime(2011, 1, 1, 10), datetime(2011, 2, 1, 10), datetime(2011, 3, 1, 10)
    assert versions(lake, "c1") == [
        (UK, jan, feb, False, 1),
        (FR, feb, mar, False, 2),
        (UK, mar, None, True, 3),
    ]
    assert versions(lake, "c2") == [(FR, datetime(2011, 3, 5, 10), None, True, 1)]
    fact = rows(
        lake,
        """SELECT f.invoice_no, d.version, f.customer_key FROM gold.fact_sales f
           LEFT JOIN gold.dim_customer d USING (customer_key) ORDER BY invoice_no, stock_code""",
    )
    assert [(r["invoice_no"], r["version"]) for r in fact] == [
        ("1", 1),
        ("2", 2),
        ("2", 2),
        ("3", 3),
        ("4", 1),
        ("5", 1),  # the guest line points at the unknown member
    ]
    assert fact[-1]["customer_key"] == UNKNOWN_KEY


def test_a_late_line_splits_history_and_rekeys_earlier_batches(lake: Lake) -> None:
    write_batch(
        lake,
        1,
        [
            line("1", "A1", 1, "1.00", "2011-01-01 10:00", "c1", UK),
            line("3", "A1", 1, "1.00", "2011-03-01 10:00", "c1", UK),
            line("9", "A1", 1, "1.00", "2011-03-01 11:00", "c9", UK),
        ],
    )
    run_gold(lake)
    write_batch(lake, 2, [line("2", "A1", 1, "1.00", "2011-02-01 10:00", "c1", FR)])
    report = run_gold(lake)
    assert report.rekeyed_batches == [1]
    assert [v[0] for v in versions(lake, "c1")] == [UK, FR, UK]
    incremental = rows(lake, "SELECT * EXCLUDE (_run_id) FROM gold.fact_sales ORDER BY line_key")
    run_gold(lake, full_refresh=True)
    rebuilt = rows(lake, "SELECT * EXCLUDE (_run_id) FROM gold.fact_sales ORDER BY line_key")
    assert incremental == rebuilt
    assert len({r["customer_key"] for r in rebuilt if r["customer_id"] == "c1"}) == 3


def test_same_instant_in_two_countries_makes_one_version(lake: Lake) -> None:
    write_batch(
        lake,
        1,
        [
            line("1", "A1", 1, "1.00", "2011-01-01 10:00", "c1", UK),
            line("1", "A2", 1, "1.00", "2011-01-01 10:00", "c1", FR),
        ],
    )
    run_gold(lake)
    assert versions(lake, "c1") == [(FR, datetime(2011, 1, 1, 10), None, True, 1)]


def dim(rows_: list[dict[str, object]]) -> pa.Table:
    return cast_batch(pa.Table.from_pylist(rows_), DIM_CUSTOMER)


def row(key: int, version: int, start: int, end: int | None, current: bool) -> dict[str, object]:
    return {
        "customer_key": key,
        "customer_id": "c1",
        "valid_from": datetime(2011, start, 1),
        "valid_to": None if end is None else datetime(2011, end, 1),
        "is_current": current,
        "version": version,
    }


def test_invariant_check_accepts_clean_history() -> None:
    check_scd2(dim([row(1, 1, 1, 2, False), row(2, 2, 2, None, True)]))


@pytest.mark.parametrize(
    "broken",
    [
        [row(1, 1, 1, None, True), row(2, 2, 2, None, True)],  # two current rows
        [row(1, 1, 1, 2, False), row(2, 2, 3, None, True)],  # a gap
        [row(1, 1, 1, 3, False), row(2, 2, 2, None, True)],  # an overlap
        [row(1, 1, 1, 2, False)],  # no current row
        [row(1, 1, 1, 2, False), row(1, 2, 2, None, True)],  # duplicate key
    ],
)
def test_invariant_check_refuses_broken_history(broken: list[dict[str, object]]) -> None:
    with pytest.raises(SCD2InvariantError):
        check_scd2(dim(broken))

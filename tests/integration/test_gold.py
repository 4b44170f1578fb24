"""Gold end to end through the real commands, checked against an independent computation.

``retail generate`` -> ``retail ingest`` -> ``retail run`` on ~120k generated lines plus a few
broken ones, then every headline number of gold is recomputed from the raw CSV with Polars,
following the definitions of issue 4 (not the project's code): gross revenue in total, per month
and per country, returns, orders, and per-customer frequency and monetary, to the cent. Which
lines are excluded is taken from the lake (silver's quarantine and duplicate tables, by line
number) so both sides count the same lines; everything else (parsing, classification,
aggregation) is independent.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.pipeline.gold import kpi_select_sql
from retail_lakehouse.reference import countries
from tests.conftest import run_retail
from tests.unit.gold.silver_rows import UNRESOLVED_KEYS_SQL

ROWS = 120_000
NON_PRODUCT = ["POST", "DOT", "M", "C2", "D", "CRUK", "BANK CHARGES", "AMAZONFEE", "S", "PADS", "B"]
BROKEN_LINES = [
    "999001,85123A,BAD QUANTITY,abc,12/1/2010 9:00,2.55,17850,United Kingdom",
    "999002,85123A,BAD DATE,1,not a date,2.55,17850,United Kingdom",
    "999003,85123A,ZERO QUANTITY,0,12/1/2010 9:00,2.55,17850,United Kingdom",
]


def sql(lake: Lake, query: str) -> list[dict[str, Any]]:
    with LakeSQL(lake) as con:
        result: list[dict[str, Any]] = con.arrow(query).to_pylist()
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lake, Path]]:
    folder = tmp_path_factory.mktemp("gold")
    source, lake = folder / "sales.csv", folder / "lake"
    done = run_retail("generate", "--rows", str(ROWS), "--out", source, lake=lake)
    assert done.code == 0, done.stderr
    with source.open("a") as out:
        out.write("\n".join(BROKEN_LINES) + "\n")
    for command in (("ingest", source), ("run",)):
        done = run_retail(*command, lake=lake)
        assert done.code == 0, done.stderr + done.stdout
    yield Lake(lake), source


def independent(lake: Lake, source: Path) -> pl.DataFrame:
    """The raw file's counted lines, typed and classified with Polars."""
    excluded = sql(
        lake,
        "SELECT _row_number FROM silver.quarantine UNION ALL "
        "SELECT _row_number FROM silver.duplicates",
    )
    skip = pl.Series([r["_row_number"] for r in excluded], dtype=pl.Int64)
    mapping = pl.from_arrow(countries().select(["raw_name", "name"]))
    assert isinstance(mapping, pl.DataFrame)
    mapping = mapping.with_columns(pl.col("raw_name").str.to_lowercase())
    raw = pl.read_csv(source, infer_schema=False).with_row_index("line", offset=2)
    text = [c for c in raw.columns if c != "line"]
    raw = raw.with_columns(pl.col(text).str.strip_chars())
    lines = raw.filter(~pl.col("line").cast(pl.Int64).is_in(skip.implode()))
    typed = lines.select(
        invoice=pl.col("InvoiceNo"),
        stock=pl.col("StockCode").str.to_uppercase(),
        quantity=pl.col("Quantity").cast(pl.Int64),
        price=pl.col("UnitPrice").str.to_decimal(scale=4),
        ts=pl.col("InvoiceDate").str.to_datetime("%m/%d/%Y %H:%M"),
        customer=pl.col("CustomerID").replace("", None),
        country_raw=pl.col("Country").str.to_lowercase(),
        description=pl.col("Description").str.to_uppercase(),
    ).join(mapping, left_on="country_raw", right_on="raw_name", how="left")
    product = ~pl.col("stock").is_in(NON_PRODUCT) & ~(
        pl.col("invoice").str.starts_with("A")
        | (pl.col("description") == "ADJUST BAD DEBT").fill_null(False)
    )
    cancelled = pl.col("invoice").str.starts_with("C")
    return typed.with_columns(
        amount=pl.col("price") * pl.col("quantity"),
        month=pl.col("ts").dt.strftime("%Y-%m"),
        sale=product & (pl.col("quantity") > 0) & ~cancelled,
        returned=product & (cancelled | (pl.col("quantity") < 0)),
        product=product,
    )


def cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.0001"))


def test_numbers_match_an_independent_computation(built: tuple[Lake, Path]) -> None:
    lake, source = built
    lines = independent(lake, source)
    assert lines.height == sql(lake, "SELECT count(*) AS n FROM gold.fact_sales")[0]["n"]
    sales = lines.filter("sale")
    kpis = sql(lake, kpi_select_sql())[0]
    assert cents(kpis["gross_revenue"]) == cents(sales["amount"].sum())
    assert cents(kpis["returns_amount"]) == cents(-lines.filter("returned")["amount"].sum())
    assert kpis["orders"] == sales["invoice"].n_unique()
    assert kpis["units"] == sales["quantity"].sum()

    def by(column: str, query: str) -> None:
        expected = {
            r[column]: cents(r["amount"])
            for r in sales.group_by(column).agg(pl.col("amount").sum()).to_dicts()
        }
        got = {r["k"]: cents(r["gross"]) for r in sql(lake, query)}
        assert got == expected

    by(
        "month",
        "SELECT strftime(sale_date, '%Y-%m') AS k, sum(gross_revenue) AS gross "
        "FROM gold.mart_daily_sales GROUP BY 1 HAVING sum(gross_revenue) <> 0",
    )
    by(
        "name",
        "SELECT country AS k, sum(gross_revenue) AS gross "
        "FROM gold.mart_daily_sales GROUP BY 1 HAVING sum(gross_revenue) <> 0",
    )
    customers = lines.filter(pl.col("customer").is_not_null() & pl.col("product"))
    expected = {
        r["customer"]: (r["frequency"], cents(r["monetary"]))
        for r in customers.group_by("customer")
        .agg(
            frequency=pl.col("invoice").filter(pl.col("sale")).n_unique(),
            monetary=pl.col("amount").sum(),
        )
        .filter(pl.col("frequency") > 0)
        .to_dicts()
    }
    got = {
        r["customer_id"]: (r["frequency"], cents(r["monetary"]))
        for r in sql(lake, "SELECT customer_id, frequency, monetary FROM gold.mart_customer_rfm")
    }
    assert got == expected


def test_the_star_is_sound(built: tuple[Lake, Path]) -> None:
    lake, _ = built
    unresolved = sql(lake, UNRESOLVED_KEYS_SQL)[0]
    assert set(unresolved.values()) == {0}
    counts = sql(
        lake,
        """
        SELECT (SELECT count(*) FROM gold.fact_sales) AS fact,
               (SELECT count(*) FROM silver.sales_lines) AS silver,
               (SELECT count(*) FROM silver.quarantine) AS quarantined,
               (SELECT count(*) FROM (
                   SELECT customer_id FROM gold.dim_customer WHERE customer_id IS NOT NULL
                   GROUP BY 1 HAVING count(*) FILTER (WHERE is_current) <> 1
               )) AS not_one_current,
               (SELECT count(*) - count(DISTINCT customer_key) FROM gold.dim_customer) AS dup_keys,
               (SELECT count(*) FROM gold.dim_customer WHERE version > 1) AS later_versions
        """,
    )[0]
    assert counts["fact"] == counts["silver"] and counts["quarantined"] == len(BROKEN_LINES)
    assert counts["not_one_current"] == 0 and counts["dup_keys"] == 0
    assert counts["later_versions"] > 0  # the generator moves a few customers: SCD2 is exercised


def test_an_idle_run_changes_nothing(built: tuple[Lake, Path]) -> None:
    lake, _ = built
    before = lake.versions()
    done = run_retail("run", lake=lake.root)
    assert done.code == 0, done.stderr
    assert "gold: nothing to do" in done.stdout
    assert lake.versions() == before


def test_sql_command_reads_the_marts(built: tuple[Lake, Path]) -> None:
    lake, _ = built
    done = run_retail(
        "sql",
        "SELECT rfm_segment, count(*) AS n FROM gold.mart_customer_rfm GROUP BY 1",
        "--format",
        "json",
        lake=lake.root,
    )
    assert done.code == 0, done.stderr
    segments = {row["rfm_segment"]: row["n"] for row in done.json()}
    assert (
        sum(segments.values())
        == sql(lake, "SELECT count(*) AS n FROM gold.mart_customer_rfm")[0]["n"]
    )
    assert "Champions" in segments and "Lost" in segments

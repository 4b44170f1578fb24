"""The accounting identity, through every layer, checked at the end of every run.

- silver: bronze lines = silver lines + quarantined lines + removed duplicates
  (+ lines of batches silver has not processed yet);
- gold: ``fact_sales`` rows = silver lines (of the batches gold has processed);
- marts: ``mart_daily_sales`` and ``mart_product_performance`` each total the fact exactly
  (exact decimals): gross revenue = sum of ``line_amount`` over sale lines, returns = minus the
  sum over return lines, units = sum of ``quantity`` over sale lines.

Every figure is read from one connection opened on one snapshot per table. ``retail run`` raises
:class:`AccountingBroken` (exit 1, with the numbers) when any equation fails; ``retail status``
shows the same figures, and says "run in progress" instead of judging while a writer commits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from retail_lakehouse.pipeline.errors import PipelineError

if TYPE_CHECKING:
    from retail_lakehouse.lake import Lake

TABLES = [
    "bronze.sales_lines",
    "silver.sales_lines",
    "silver.quarantine",
    "silver.duplicates",
    "meta.watermarks",
    "gold.fact_sales",
    "gold.mart_daily_sales",
    "gold.mart_product_performance",
]

_QUERY = """
WITH silver_mark AS (
    SELECT coalesce(max(batch_seq), -1) AS seq FROM meta.watermarks WHERE consumer = 'silver'
), gold_mark AS (
    SELECT coalesce(max(batch_seq), -1) AS seq FROM meta.watermarks WHERE consumer = 'gold'
)
SELECT
    (SELECT count(*) FROM meta.watermarks WHERE consumer = 'silver') AS silver_marked,
    (SELECT count(*) FROM meta.watermarks WHERE consumer = 'gold') AS gold_marked,
    (SELECT count(*) FROM bronze.sales_lines) AS bronze,
    (SELECT count(*) FROM bronze.sales_lines, silver_mark WHERE _batch_seq > silver_mark.seq)
        AS pending,
    (SELECT count(*) FROM silver.sales_lines) AS silver,
    (SELECT count(*) FROM silver.quarantine) AS quarantine,
    (SELECT count(*) FROM silver.duplicates) AS duplicates,
    (SELECT count(*) FROM silver.sales_lines, gold_mark WHERE _batch_seq <= gold_mark.seq)
        AS silver_in_gold,
    (SELECT count(*) FROM gold.fact_sales) AS fact,
    (SELECT coalesce(sum(line_amount) FILTER (WHERE is_sale), 0) FROM gold.fact_sales)
        AS fact_gross,
    (SELECT coalesce(-sum(line_amount) FILTER (WHERE is_return_line), 0) FROM gold.fact_sales)
        AS fact_returns,
    (SELECT coalesce(sum(quantity) FILTER (WHERE is_sale), 0) FROM gold.fact_sales)
        AS fact_units,
    (SELECT coalesce(sum(gross_revenue), 0) FROM gold.mart_daily_sales) AS daily_gross,
    (SELECT coalesce(sum(returns_amount), 0) FROM gold.mart_daily_sales) AS daily_returns,
    (SELECT coalesce(sum(units), 0) FROM gold.mart_daily_sales) AS daily_units,
    (SELECT coalesce(sum(revenue), 0) FROM gold.mart_product_performance) AS product_gross,
    (SELECT coalesce(sum(returns_amount), 0) FROM gold.mart_product_performance)
        AS product_returns,
    (SELECT coalesce(sum(units), 0) FROM gold.mart_product_performance) AS product_units
"""

_EQUATIONS: tuple[tuple[str, str, str], ...] = (
    ("fact rows = silver lines", "fact", "silver_in_gold"),
    ("daily-sales gross revenue = fact gross revenue", "daily_gross", "fact_gross"),
    ("daily-sales returns = fact returns", "daily_returns", "fact_returns"),
    ("daily-sales units = fact units", "daily_units", "fact_units"),
    ("product-performance revenue = fact gross revenue", "product_gross", "fact_gross"),
    ("product-performance returns = fact returns", "product_returns", "fact_returns"),
    ("product-performance units = fact units", "product_units", "fact_units"),
)


class _Result(Protocol):
    def to_pylist(self) -> list[dict[str, Any]]: ...


class Queries(Protocol):
    """What runs the accounting query: DuckDB through ``LakeSQL`` (runs, Dagster) or delta-rs'
    DataFusion over the same snapshots (``retail status``, without an engine session)."""

    def arrow(self, sql: str) -> _Result: ...


class AccountingBroken(PipelineError):
    """An equation of the accounting identity does not hold: the run fails with the numbers."""


def accounting(sql: Queries) -> dict[str, Any]:
    """Every figure of the identity, which equations fail, and ``balanced``."""
    counts: dict[str, Any] = sql.arrow(_QUERY).to_pylist()[0]
    for key, value in counts.items():
        if isinstance(value, Decimal):
            counts[key] = float(value) if value != value.to_integral() else int(value)
    broken = []
    if counts["bronze"] != (
        counts["silver"] + counts["quarantine"] + counts["duplicates"] + counts["pending"]
    ):
        broken.append(
            f"bronze {counts['bronze']:,} != silver {counts['silver']:,} + quarantine "
            f"{counts['quarantine']:,} + duplicates {counts['duplicates']:,} + pending "
            f"{counts['pending']:,}"
        )
    counts["silver_balanced"] = not broken  # only the silver equation is checked above
    for name, left, right in _EQUATIONS:
        if counts[left] != counts[right]:
            broken.append(f"{name}: {counts[left]:,} != {counts[right]:,}")
    counts["broken"] = broken
    counts["balanced"] = not broken
    # a layer holding rows without a watermark is waiting to be rebuilt (an interrupted full
    # refresh): its figures are not comparable until the next run
    silver_marked, gold_marked = counts.pop("silver_marked"), counts.pop("gold_marked")
    counts["rebuild_pending"] = bool(
        (counts["silver"] and not silver_marked) or (counts["fact"] and not gold_marked)
    )
    return counts


def check_accounting(lake: Lake) -> dict[str, Any]:
    """Raise :class:`AccountingBroken` unless every layer balances (end of every run)."""
    from retail_lakehouse.lake.query import LakeSQL

    with LakeSQL(lake, tables=TABLES) as sql:
        counts = accounting(sql)
    if counts["broken"]:
        raise AccountingBroken(
            "the accounting identity does not hold after this run:\n  "
            + "\n  ".join(counts["broken"])
        )
    return counts

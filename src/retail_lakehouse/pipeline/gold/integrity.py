"""Referential integrity of the star: every key of ``fact_sales`` resolves in its dimension.

By construction a fact row points at the ``unknown`` member (key ``0``) rather than at
nothing; this check proves it on the committed tables. Used by the Dagster asset check on
``gold.fact_sales``; one query per key, all in DuckDB (no rows pass through Python).
"""

from __future__ import annotations

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.gold import (
    DIM_COUNTRY,
    DIM_CUSTOMER,
    DIM_DATE,
    DIM_INVOICE,
    DIM_PRODUCT,
    DIM_TIME,
    FACT_SALES,
)
from retail_lakehouse.lake.query import LakeSQL

FACT_KEYS = {
    "date_key": DIM_DATE,
    "time_key": DIM_TIME,
    "product_key": DIM_PRODUCT,
    "customer_key": DIM_CUSTOMER,
    "country_key": DIM_COUNTRY,
    "invoice_key": DIM_INVOICE,
}
"""Fact column -> the dimension whose column of the same name it references."""


def unresolved_fact_keys(lake: Lake) -> dict[str, int]:
    """Per key column, how many fact rows have a key (or NULL) that is not in its dimension."""
    tables = [FACT_SALES.qualified, *(dim.qualified for dim in FACT_KEYS.values())]
    counts: dict[str, int] = {}
    with LakeSQL(lake, tables=tables) as sql:
        for column, dim in FACT_KEYS.items():
            result = sql.arrow(
                f"SELECT count(*) AS n FROM {FACT_SALES.qualified} AS f "
                f"ANTI JOIN {dim.qualified} AS d ON f.{column} = d.{column}"
            )
            counts[column] = int(result.column("n")[0].as_py())
    return counts

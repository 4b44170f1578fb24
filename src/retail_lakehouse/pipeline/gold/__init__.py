"""Gold: the star schema (six dimensions, ``fact_sales``) and the business marts.

``process`` is what ``retail run`` calls after silver; ``summary`` is what the demo prints.
The business definitions (sale line, return line, KPIs) live in :mod:`.definitions`.
"""

from retail_lakehouse.pipeline.gold.build import process
from retail_lakehouse.pipeline.gold.definitions import KPI_SQL, kpi_select_sql
from retail_lakehouse.pipeline.gold.dim_customer import SCD2InvariantError
from retail_lakehouse.pipeline.gold.report import GoldReport, summary

__all__ = ["KPI_SQL", "GoldReport", "SCD2InvariantError", "kpi_select_sql", "process", "summary"]

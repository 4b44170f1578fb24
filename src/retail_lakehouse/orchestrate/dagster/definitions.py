"""``defs``: what ``dagster dev -m retail_lakehouse.orchestrate`` loads.

The lake is the one ``retail`` uses: ``RETAIL_LAKE`` or ``retail.toml`` in the working
directory (set ``lake`` or ``landing`` on the ``retail`` resource to override).
"""

from dagster import Definitions, in_process_executor

from retail_lakehouse.orchestrate.dagster.assets import (
    bronze_sales_lines,
    gold_tables,
    silver_sales_lines,
)
from retail_lakehouse.orchestrate.dagster.automation import daily_schedule, landing_sensor
from retail_lakehouse.orchestrate.dagster.checks import (
    fact_keys_resolve,
    line_accounting,
    rule_checks,
    scd2_one_current_row,
)
from retail_lakehouse.orchestrate.dagster.publish import publish_postgres
from retail_lakehouse.orchestrate.dagster.resources import RetailProject

defs = Definitions(
    assets=[bronze_sales_lines, silver_sales_lines, gold_tables, publish_postgres],
    asset_checks=[rule_checks(), line_accounting, scd2_one_current_row, fact_keys_resolve],
    sensors=[landing_sensor],
    schedules=[daily_schedule],
    resources={"retail": RetailProject()},
    # The lake has one writer at a time and the layers run in sequence, so a process per step
    # (Dagster's default) would only add an interpreter start and imports to every step.
    executor=in_process_executor,
)

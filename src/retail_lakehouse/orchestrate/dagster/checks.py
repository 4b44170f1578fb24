"""Asset checks that are the project's own checks, called, never copied.

* ``silver/sales_lines``: every quality rule (``fail`` rules are *blocking* checks with ERROR
  severity, the others WARN), evaluated by :func:`retail_lakehouse.quality.evaluate.check_current`
  (what ``retail quality check`` runs), and the line accounting identity
  bronze = silver + quarantine + duplicates + pending, from
  :func:`retail_lakehouse.pipeline.accounting.accounting` (what ``retail status`` shows);
* ``gold/dim_customer``: the SCD2 invariants,
  :func:`~retail_lakehouse.pipeline.gold.dim_customer.check_scd2` (what every gold run checks
  before committing);
* ``gold/fact_sales``: every fact key resolves in its dimension
  (:func:`~retail_lakehouse.pipeline.gold.integrity.unresolved_fact_keys`).

Rule checks are created from the effective rule set (defaults plus ``retail.toml``'s ``rules``)
when the definitions load. Dagster check names allow only letters, digits and ``_``, so other
characters of a rule name become ``_``.
"""

import re
from collections.abc import Iterator
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    asset_check,
    multi_asset_check,
)

from retail_lakehouse.config import load_settings
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.gold import DIM_CUSTOMER, FACT_SALES
from retail_lakehouse.lake.contracts.silver import SILVER_SALES_LINES
from retail_lakehouse.orchestrate.dagster.assets import key
from retail_lakehouse.orchestrate.dagster.resources import RetailProject
from retail_lakehouse.quality.rules import RuleSet, load_rules


def check_name(rule_name: str) -> str:
    return "rule_" + re.sub(r"[^A-Za-z0-9_]", "_", rule_name)


def rule_checks(rule_files: list[Path] | None = None) -> AssetChecksDefinition:
    """One check per quality rule of silver; ``fail`` rules block downstream assets."""
    ruleset: RuleSet = load_rules(list(load_settings().rules if rule_files is None else rule_files))
    names = {check_name(rule.name): rule for rule in ruleset}
    specs = [
        AssetCheckSpec(
            name,
            asset=key(SILVER_SALES_LINES),
            blocking=rule.action == "fail",
            description=(
                f"{rule.action} rule ({rule.dimension}): `{rule.expression}`"
                + (f" - {rule.description}" if rule.description else "")
            ),
        )
        for name, rule in names.items()
    ]

    @multi_asset_check(specs=specs, name="quality_rules")
    def quality_rules(
        context: AssetCheckExecutionContext, retail: RetailProject
    ) -> Iterator[AssetCheckResult]:
        from retail_lakehouse.engines import open_engine
        from retail_lakehouse.quality.evaluate import check_current

        settings = retail.settings()
        lake = Lake(settings.lake)
        with open_engine(lake, settings.engine) as engine:
            outcome = check_current(lake, engine, ruleset, time_zone=settings.time_zone)
        results = {result.name: result for result in outcome.rules}
        for name, rule in names.items():
            result = results.get(rule.name)
            failed = result.lines_failed if result else 0
            checked = result.lines_checked if result else 0
            blocking = rule.action == "fail"
            passed = not result.gate_fires if (result and blocking) else failed == 0
            yield AssetCheckResult(
                asset_key=key(SILVER_SALES_LINES),
                check_name=name,
                passed=passed,
                severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
                metadata={
                    "lines_checked": checked,
                    "lines_failed": failed,
                    "allowed_share": rule.allowed_share,
                    "action": rule.action,
                },
            )

    return quality_rules


@asset_check(asset=key(SILVER_SALES_LINES), blocking=True)
def line_accounting(retail: RetailProject) -> AssetCheckResult:
    """bronze = silver + quarantine + duplicates + pending: no line lost or doubled (the silver
    equation of the accounting identity ``retail run`` and ``retail status`` check)."""
    from retail_lakehouse.lake.query import LakeSQL
    from retail_lakehouse.pipeline.accounting import TABLES, accounting

    with LakeSQL(retail.open_lake(), tables=TABLES) as sql:
        counts = accounting(sql)
    return AssetCheckResult(
        passed=bool(counts["silver_balanced"]),
        metadata={
            k: v
            for k, v in counts.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
    )


@asset_check(asset=key(DIM_CUSTOMER), blocking=True)
def scd2_one_current_row(retail: RetailProject) -> AssetCheckResult:
    """Exactly one current row per customer, versions 1..n, contiguous validity."""
    from retail_lakehouse.pipeline.gold.dim_customer import SCD2InvariantError, check_scd2

    lake = retail.open_lake()
    if not lake.exists(DIM_CUSTOMER.qualified):
        return AssetCheckResult(passed=False, metadata={"problem": "gold.dim_customer is missing"})
    try:
        check_scd2(lake.read(DIM_CUSTOMER.qualified))
    except SCD2InvariantError as broken:
        return AssetCheckResult(passed=False, metadata={"problem": str(broken)})
    return AssetCheckResult(passed=True)


@asset_check(asset=key(FACT_SALES), blocking=True)
def fact_keys_resolve(retail: RetailProject) -> AssetCheckResult:
    """Every fact key (date, time, product, customer, country, invoice) is in its dimension."""
    from retail_lakehouse.pipeline.gold.integrity import unresolved_fact_keys

    unresolved = unresolved_fact_keys(retail.open_lake())
    return AssetCheckResult(
        passed=not any(unresolved.values()),
        metadata={f"unresolved_{column}": n for column, n in unresolved.items()},
    )

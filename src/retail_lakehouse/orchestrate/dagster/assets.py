"""The lake as Dagster assets: ``bronze/sales_lines`` -> ``silver/sales_lines`` -> gold.

Each asset calls the layer function ``retail run`` calls (one implementation, two callers):
bronze is :func:`~retail_lakehouse.pipeline.ingest.ingest_files`, silver is
:func:`retail_lakehouse.pipeline.silver.process`, gold is
:func:`retail_lakehouse.pipeline.gold.process`. Gold builds its dimensions, fact and marts in one
pass whose commits are ordered for crash safety (dimensions, fact, marts, watermark), so it is one
``multi_asset`` with one spec per table and the real dependencies between them: the graph shows
the data flow while the work stays the tested single function.

After gold, the table tests of the rule files run as in ``retail run`` (a ``fail`` test fails the
gold asset, gold staying committed, as the command exits 1 with gold committed).

A failed quality gate, table test or SCD2 invariant is a ``Failure`` that is not retried (the
same data fails the same way); anything else (a busy lake, a full disk) is retried by the retry
policy.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Backoff,
    Config,
    Failure,
    MaterializeResult,
    RetryPolicy,
    asset,
    multi_asset,
)
from pydantic import Field

from retail_lakehouse.config import load_settings
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts import TableContract
from retail_lakehouse.lake.contracts.bronze import BRONZE_SALES_LINES
from retail_lakehouse.lake.contracts.gold import (
    DIM_COUNTRY,
    DIM_CUSTOMER,
    DIM_DATE,
    DIM_INVOICE,
    DIM_PRODUCT,
    DIM_TIME,
    FACT_SALES,
    GOLD_TABLES,
    MART_CUSTOMER_RFM,
    MART_PRODUCT_PERFORMANCE,
)
from retail_lakehouse.lake.contracts.silver import SILVER_SALES_LINES
from retail_lakehouse.lake.runs import RunContext, recorded_run
from retail_lakehouse.orchestrate.dagster.resources import RetailProject

DIMENSIONS = (DIM_DATE, DIM_TIME, DIM_COUNTRY, DIM_PRODUCT, DIM_CUSTOMER, DIM_INVOICE)


def key(contract: TableContract) -> AssetKey:
    """``gold.dim_customer`` -> asset key ``gold/dim_customer``."""
    return AssetKey([contract.layer, contract.name])


def gold_upstream(contract: TableContract) -> list[TableContract]:
    """What each gold table is built from (the edges of the asset graph)."""
    if contract in DIMENSIONS:
        return [SILVER_SALES_LINES]
    if contract is FACT_SALES:
        return list(DIMENSIONS)
    extra = {MART_PRODUCT_PERFORMANCE: [DIM_PRODUCT], MART_CUSTOMER_RFM: [DIM_CUSTOMER]}
    return [FACT_SALES, *extra.get(contract, [])]


def retry_policy() -> RetryPolicy:
    """``[watch] retry_attempts`` and ``retry_backoff_seconds``, as for ``retail watch``."""
    watch = load_settings().watch
    return RetryPolicy(
        max_retries=max(watch.retry_attempts - 1, 0),
        delay=watch.retry_backoff_seconds,
        backoff=Backoff.EXPONENTIAL,
    )


def table_metadata(lake: Lake, contract: TableContract) -> dict[str, Any]:
    """Rows and Delta version of one table, as shown beside each asset."""
    table = lake.delta(contract.qualified)
    if table is None:
        return {"rows": 0, "delta_version": -1, "path": str(lake.path(contract.qualified))}
    from retail_lakehouse.lake.query import LakeSQL

    with LakeSQL(lake, tables=[contract.qualified]) as sql:
        rows = int(
            sql.arrow(f"SELECT count(*) AS n FROM {contract.qualified}").column("n")[0].as_py()
        )
    return {
        "rows": rows,
        "delta_version": table.version(),
        "path": str(lake.path(contract.qualified)),
    }


@contextmanager
def _layer_run(
    lake: Lake, command: str, engine: str, recovery: str | None = None
) -> Iterator[RunContext]:
    """A recorded run (writer lock, ``meta.runs``) whose pipeline errors are final failures."""
    from retail_lakehouse.pipeline.errors import PipelineError, RulesError

    try:
        with recorded_run(lake, command, engine=engine, recovery=recovery) as run:
            yield run
    except (PipelineError, RulesError) as error:
        raise Failure(description=str(error), allow_retries=False) from error


class IngestConfig(Config):
    """Which files to ingest; empty means everything in ``landing/`` (known content is skipped)."""

    files: list[str] = Field(default_factory=list)


@asset(
    key=key(BRONZE_SALES_LINES),
    description=BRONZE_SALES_LINES.description,
    group_name="bronze",
    kinds={"delta"},
    retry_policy=retry_policy(),
)
def bronze_sales_lines(
    context: AssetExecutionContext, config: IngestConfig, retail: RetailProject
) -> MaterializeResult[Any]:
    """Ingest files into bronze with the same function as ``retail ingest``."""
    from retail_lakehouse.orchestrate.landing import landing_files
    from retail_lakehouse.pipeline.ingest import ingest_files
    from retail_lakehouse.sources.formats import FormatOptions
    from retail_lakehouse.sources.readers import is_supported

    settings = retail.settings()
    lake = Lake(settings.lake)
    if config.files:
        files = [Path(f) for f in config.files]
    else:
        settled = time.time() - settings.watch.settle_seconds  # the watcher's "complete" rule
        files = sorted(
            p
            for p, stat in landing_files(settings.landing)
            if is_supported(p) and stat.st_mtime <= settled
        )
    formats = FormatOptions.from_settings(settings.formats)
    limits = settings.limits.reader_limits()
    outcomes = ingest_files(lake, files, limits=limits, formats=formats) if files else []
    refused = [o for o in outcomes if o.refused is not None]
    for outcome in refused:
        context.log.warning(f"refused {outcome.path}: {outcome.refused}")
    reports = [o.report for o in outcomes if o.report is not None]
    notes = [f"{r.path}: {warning}" for r in reports for warning in r.warnings]
    for note in notes:  # a same-named earlier file, an assumed date order
        context.log.warning(note)
    return MaterializeResult(
        metadata={
            **table_metadata(lake, BRONZE_SALES_LINES),
            "files_ingested": sum(r.status == "ingested" for r in reports),
            "files_skipped": sum(r.status == "skipped" for r in reports),
            "files_refused": len(refused),
            "lines_ingested": sum(r.rows_ingested for r in reports),
            "notes": "\n".join(notes),
        }
    )


@asset(
    key=key(SILVER_SALES_LINES),
    deps=[key(BRONZE_SALES_LINES)],
    description=SILVER_SALES_LINES.description,
    group_name="silver",
    kinds={"delta"},
    retry_policy=retry_policy(),
)
def silver_sales_lines(
    context: AssetExecutionContext, retail: RetailProject
) -> MaterializeResult[Any]:
    """New bronze batches into silver with the same function as ``retail run``."""
    from retail_lakehouse.engines import open_engine
    from retail_lakehouse.pipeline import silver
    from retail_lakehouse.pipeline.bronze import remove_orphans

    settings = retail.settings()
    lake = Lake(settings.lake)
    overdue = "retail_lakehouse.pipeline.silver:overdue_swap_check"  # killed before the check
    with _layer_run(lake, "dagster silver", settings.engine, overdue) as run:
        remove_orphans(lake)
        with open_engine(lake, settings.engine) as engine:
            report = silver.process(
                lake, engine, run, extra_rules=list(settings.rules), settings=settings
            )
    context.log.info(f"silver: {report.silver_lines:,} new lines from batches {report.batches}")
    metadata: dict[str, Any] = {
        **table_metadata(lake, SILVER_SALES_LINES),
        "run_id": run.run_id,
        "lines_in": report.bronze_lines,
        "quarantined": report.quarantined,
        "duplicates": report.duplicates,
    }
    score = _latest_score(lake)
    if score is not None:
        metadata["quality_score"] = score
    return MaterializeResult(metadata=metadata)


@multi_asset(
    specs=[
        AssetSpec(
            key(table),
            deps=[key(upstream) for upstream in gold_upstream(table)],
            description=table.description,
            group_name="gold",
            kinds={"delta"},
        )
        for table in GOLD_TABLES
    ],
    name="gold",
    retry_policy=retry_policy(),
)
def gold_tables(
    context: AssetExecutionContext, retail: RetailProject
) -> Iterator[MaterializeResult[Any]]:
    """Silver into the star schema and marts: one call of ``retail run``'s gold function."""
    from retail_lakehouse.engines import open_engine
    from retail_lakehouse.pipeline import gold, table_tests

    settings = retail.settings()
    lake = Lake(settings.lake)
    with (
        _layer_run(lake, "dagster gold", settings.engine) as run,
        open_engine(lake, settings.engine) as engine,
    ):
        report = gold.process(lake, engine, run, settings=settings)
        if not report.nothing_to_do:  # as `retail run`: the table tests judge what gold built
            table_tests.process(lake, engine, run, list(settings.rules))
    context.log.info("gold: nothing new" if report.nothing_to_do else f"gold: {report.tables}")
    for table in GOLD_TABLES:
        yield MaterializeResult(
            asset_key=key(table),
            metadata={**table_metadata(lake, table), "run_id": run.run_id},
        )


def _latest_score(lake: Lake) -> float | None:
    """The overall quality score of the latest scored run of silver."""
    from retail_lakehouse.lake.contracts.meta import META_QUALITY_SCORES
    from retail_lakehouse.lake.query import LakeSQL

    with LakeSQL(lake, tables=[META_QUALITY_SCORES.qualified]) as sql:
        rows = sql.arrow(
            "SELECT score FROM meta.quality_scores WHERE scope = 'overall' "
            "AND table_name = 'silver.sales_lines' ORDER BY computed_at DESC LIMIT 1"
        ).to_pylist()
    return float(rows[0]["score"]) if rows else None

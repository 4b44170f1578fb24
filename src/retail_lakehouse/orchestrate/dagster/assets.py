"""The lake as Dagster assets: ``bronze/sales_lines`` -> ``silver/sales_lines`` -> gold.

Each asset calls what the command calls (one implementation, every caller): bronze is
:func:`~retail_lakehouse.pipeline.ingest.ingest_files` (``retail ingest``), silver and gold are
:func:`~retail_lakehouse.pipeline.runner.run_pipeline` (``retail run``) restricted to their layer,
each one recorded run (``dagster silver``, ``dagster gold``). So the rebuild of an interrupted
full refresh, the recovery of a killed run, the accounting check, lineage and metrics, the table
tests after gold and ``[maintenance] auto`` are the command's own, not a copy that can drift
(an earlier copy here had lost the last two). Gold builds its dimensions, fact and marts in one
pass whose commits are ordered for crash safety (dimensions, fact, marts, watermark), so it is one
``multi_asset`` with one spec per table and the real dependencies between them: the graph shows
the data flow while the work stays the tested single function.

A failed quality gate, table test or SCD2 invariant is a ``Failure`` that is not retried (the
same data fails the same way); anything else (a busy lake, a full disk) is retried by the retry
policy.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

from retail_lakehouse.config import Settings, load_settings
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
from retail_lakehouse.orchestrate.dagster.resources import RetailProject

if TYPE_CHECKING:
    from retail_lakehouse.pipeline.runner import PipelineReport

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


def _pipeline_step(
    context: AssetExecutionContext, lake: Lake, settings: Settings, layer: str
) -> "PipelineReport":
    """One layer of :func:`~retail_lakehouse.pipeline.runner.run_pipeline`, the function
    ``retail run``, the API and the watcher call, as one recorded run (``dagster <layer>``):
    the rebuild of an interrupted full refresh, the recovery, the accounting check and
    ``[maintenance] auto`` are theirs. Pipeline errors are final failures (not retried)."""
    from retail_lakehouse.pipeline.errors import PipelineError, RulesError
    from retail_lakehouse.pipeline.runner import run_pipeline

    try:
        report = run_pipeline(
            lake,
            settings,
            engine_name=settings.engine,
            layers=(layer,),
            command=f"dagster {layer}",
        )
    except (PipelineError, RulesError) as error:
        raise Failure(description=str(error), allow_retries=False) from error
    for note in report.notes:  # a recovered run, a rebuild from bronze (and in the metadata)
        context.log.warning(note)
    if report.maintenance:
        context.log.info(report.maintenance)
    return report


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
    recovered: list[str] = []  # what an interrupted command left, completed or undone
    outcomes = (
        ingest_files(lake, files, limits=limits, formats=formats, on_recovered=recovered.append)
        if files
        else []
    )
    # the reasons as `retail ingest` says them (each names its file), in the metadata too:
    # the UI shows a materialisation's metadata, the step's log only when opened
    refused = [str(o.refused) for o in outcomes if o.refused is not None]
    for refusal in refused:
        context.log.warning(f"refused: {refusal}")
    reports = [o.report for o in outcomes if o.report is not None]
    notes = [*recovered, *(f"{r.path}: {warning}" for r in reports for warning in r.warnings)]
    for note in notes:  # a same-named earlier file, an assumed date order
        context.log.warning(note)
    return MaterializeResult(
        metadata={
            **table_metadata(lake, BRONZE_SALES_LINES),
            "files_ingested": sum(r.status == "ingested" for r in reports),
            "files_skipped": sum(r.status == "skipped" for r in reports),
            "files_refused": len(refused),
            "lines_ingested": sum(r.rows_ingested for r in reports),
            "refused": "\n".join(refused),
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
    """New bronze batches into silver: ``retail run``'s pipeline, its silver layer."""
    settings = retail.settings()
    lake = Lake(settings.lake)
    run = _pipeline_step(context, lake, settings, "silver")
    report = run.layers["silver"]  # the layer's report, as `retail run` prints it
    context.log.info(f"silver: {report.silver_lines:,} new lines from batches {report.batches}")
    metadata: dict[str, Any] = {
        **table_metadata(lake, SILVER_SALES_LINES),
        "run_id": run.run_id,
        "lines_in": report.bronze_lines,
        "quarantined": report.quarantined,
        "duplicates": report.duplicates,
        **_run_notes(run),
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
    settings = retail.settings()
    lake = Lake(settings.lake)
    run = _pipeline_step(context, lake, settings, "gold")
    report = run.layers["gold"]
    context.log.info("gold: nothing new" if report.nothing_to_do else f"gold: {report.tables}")
    for table in GOLD_TABLES:
        yield MaterializeResult(
            asset_key=key(table),
            metadata={**table_metadata(lake, table), "run_id": run.run_id, **_run_notes(run)},
        )


def _run_notes(run: "PipelineReport") -> dict[str, str]:
    """What ``retail run`` prints besides the layers (a recovered run, a rebuild from bronze,
    ``[maintenance] auto``), beside the asset: the UI shows metadata, not the step's log."""
    said = [*run.notes, *([run.maintenance] if run.maintenance else [])]
    return {"run_notes": "\n".join(said)} if said else {}


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

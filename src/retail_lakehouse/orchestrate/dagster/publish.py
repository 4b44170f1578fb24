"""``publish/postgres``: gold copied into PostgreSQL, downstream of every gold table.

The asset calls :func:`retail_lakehouse.publish.postgres.publish`, the function ``retail
publish`` and the watcher's ``[publish] after_run`` call (one implementation), so a publish from
Dagster is the same recorded run (``meta.runs`` command ``publish``, ``meta.publish_state``),
incremental, in one PostgreSQL transaction, its password never shown.

With no target set (``RETAIL_PUBLISH_DSN`` or ``[publish] dsn``) the step succeeds and the asset
is not materialised: a lake that is not published shows no publish. The sensor and the schedule
include the asset only when ``[publish] after_run`` is true, as for ``retail run`` and ``retail
watch`` (see :mod:`.automation`); materialising it by hand publishes whenever a target is set.

A refusal (no connection, a schema holding another lake's publish, psycopg missing) fails the
materialisation at once, its reason as ``retail publish`` says it (exit 2 there); a publish
that started and failed (its transaction rolled back) is retried by the retry policy.
"""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, asset

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.gold import GOLD_TABLES
from retail_lakehouse.orchestrate.dagster.assets import key, retry_policy
from retail_lakehouse.orchestrate.dagster.resources import RetailProject

PUBLISH_KEY = AssetKey(["publish", "postgres"])


@asset(
    key=PUBLISH_KEY,
    deps=[key(table) for table in GOLD_TABLES],
    description="Gold (dimensions, fact, marts, views) published to PostgreSQL for BI tools, "
    "as `retail publish` does; materialised only when a target is set.",
    group_name="publish",
    kinds={"postgres"},
    output_required=False,
    retry_policy=retry_policy(),
)
def publish_postgres(
    context: AssetExecutionContext, retail: RetailProject
) -> Iterator[MaterializeResult[Any]]:
    """Publish gold with ``retail publish``'s function; metadata: rows and Delta version of
    each published table, the run id of the recorded publish."""
    from retail_lakehouse.publish.target import configured

    settings = retail.settings()
    if not configured(settings):
        context.log.info(
            "publishing is not configured (RETAIL_PUBLISH_DSN or [publish] dsn): nothing published"
        )
        return
    from retail_lakehouse.publish.postgres import publish
    from retail_lakehouse.publish.target import PublishFailed, PublishRefused, resolve_target

    lake = Lake(settings.lake)
    try:
        report = publish(lake, resolve_target(settings))
    except PublishRefused as refused:
        raise Failure(description=str(refused), allow_retries=False) from None
    except PublishFailed as failed:
        raise Failure(description=str(failed)) from None
    context.log.info(report.render())
    metadata: dict[str, Any] = {
        "target": f"{report.target} schema {report.schema}",
        "mode": report.mode,
        "rows_written": report.rows_written,
    }
    if not report.nothing_to_do:  # an idle publish is no run (as an idle `retail publish`)
        metadata["run_id"] = report.run_id
    for name, result in report.tables.items():
        metadata[f"rows {name}"] = _rows_at(lake, f"gold.{name}", result.version)
        metadata[f"version {name}"] = result.version
    yield MaterializeResult(asset_key=PUBLISH_KEY, metadata=metadata)


def _rows_at(lake: Lake, qualified: str, version: int) -> int:
    """Rows of one table at the published version, from its log's statistics (data unread)."""
    import pyarrow.compute as pc

    from retail_lakehouse.lake.location import add_actions

    table = lake.delta(qualified, version)
    if table is None:
        return 0
    actions = add_actions(table)
    if not actions.num_rows:
        return 0
    return int(pc.sum(actions.column("num_records")).as_py() or 0)

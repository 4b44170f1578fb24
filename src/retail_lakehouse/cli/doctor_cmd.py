"""``retail doctor``: which engine session a run would get, checked with a tiny query.

For Spark this is the first thing to run on a new cluster: it shows the master or Spark Connect
URL the settings resolve to, the Spark version and the session settings, then runs one small
query on the executors. When the session cannot be reached it exits with code 2 and says why,
instead of a run failing half-way.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from retail_lakehouse.cli.context import EngineChoice, UsageProblem, console, state_from


def doctor(
    ctx: typer.Context,
    engine: Annotated[
        EngineChoice | None,
        typer.Option(help="duckdb or spark (default: engine in retail.toml, else duckdb)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the engine session a run would use (Spark: master or remote, version, settings)
    and check it with a tiny query; exit code 2 when it cannot be reached."""
    state = state_from(ctx)
    name = engine.value if engine else state.settings.engine
    report = _spark(state.settings) if name == "spark" else _duckdb()
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    for key, value in report.items():
        if isinstance(value, dict):
            console.print(f"{key}:")
            for inner, text in value.items():
                console.print(f"  {inner} = {text}")
        else:
            console.print(f"{key}: {value}")


def _spark(settings: Any) -> dict[str, Any]:
    from retail_lakehouse.engines.spark_session import describe, open_session

    session = open_session(settings.spark)  # SparkUnavailable is a usage error: exit 2
    report = describe(session, settings.spark)
    try:
        row = session.range(0, 1000, numPartitions=4).selectExpr("sum(id) AS total").first()
    except Exception as error:
        raise UsageProblem(f"the Spark session answered but a query failed: {error}") from None
    total = row["total"] if row is not None else None
    if total != 499500:
        raise UsageProblem(f"the Spark check query returned {total}, expected 499500")
    report["check"] = "ok: sum of 0..999 on 4 partitions = 499500"
    return report


def _duckdb() -> dict[str, Any]:
    import duckdb

    total = duckdb.sql("SELECT sum(range) FROM range(1000)").fetchone()
    return {
        "engine": "duckdb",
        "version": duckdb.__version__,
        "check": "ok" if total and total[0] == 499500 else f"unexpected {total}",
    }

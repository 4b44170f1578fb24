"""``retail sql``: read-only SQL over every lake table."""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from retail_lakehouse.cli.context import UsageProblem, console, lake_from

if TYPE_CHECKING:
    import pyarrow as pa


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="One read-only SQL statement (DuckDB dialect).")],
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table, json or csv.")
    ] = OutputFormat.table,
    limit: Annotated[int, typer.Option(help="Most rows printed as a table.")] = 1000,
) -> None:
    """Query the lake read-only. Tables are named layer.table, e.g. gold.fact_sales."""
    import duckdb

    from retail_lakehouse.lake.query import LakeSQL, ReadOnlyQueryError

    with LakeSQL(lake_from(ctx)) as lake_sql:
        try:
            result = lake_sql.user_query(query)
        except ReadOnlyQueryError as refused:
            raise UsageProblem(f"query refused: {refused}") from None
        except duckdb.Error as error:
            raise UsageProblem(f"query failed: {str(error).splitlines()[0]}") from None
    write_result(result, output, limit)


def write_result(result: pa.Table, output: OutputFormat, limit: int = 1000) -> None:
    """Print an Arrow result in the requested format."""
    rows: list[dict[str, Any]] = result.to_pylist()
    if output is OutputFormat.json:
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
    elif output is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=result.column_names)
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    else:
        table = Table(*result.column_names)
        for row in rows[:limit]:
            table.add_row(*("" if v is None else str(v) for v in row.values()))
        console.print(table)
        console.print(f"{result.num_rows:,} row(s)", style="dim")

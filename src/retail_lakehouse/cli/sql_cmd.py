"""``retail sql``: read-only SQL over every lake table."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sys
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from retail_lakehouse.cli.context import UsageProblem, console, err_console, existing_lake

if TYPE_CHECKING:
    import pyarrow as pa

    from retail_lakehouse.lake import Lake


class OutputFormat(str, Enum):
    auto = "auto"
    table = "table"
    vertical = "vertical"
    json = "json"
    csv = "csv"


_SHOW_TABLES = re.compile(r"^\s*show\s+(all\s+)?tables\s*;?\s*$", re.IGNORECASE)
_LAKE_TABLES = """
    SELECT schema_name || '.' || view_name AS "table"
    FROM duckdb_views()
    WHERE NOT internal AND schema_name IN ('bronze', 'silver', 'gold', 'meta')
    ORDER BY list_position(['bronze', 'silver', 'gold', 'meta'], schema_name), view_name
"""


def sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="One read-only SQL statement (DuckDB dialect).")],
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            help="auto (a table, or one record per block when too wide), table, vertical, "
            "json or csv.",
        ),
    ] = OutputFormat.auto,
    limit: Annotated[
        int, typer.Option(min=0, max=10**12, help="Most rows printed as a table or vertically.")
    ] = 1000,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Read every table as it was when this run finished (a run id from "
            "`retail history`) or at this time (2026-12-04T10:15:00).",
        ),
    ] = None,
) -> None:
    """Query the lake read-only. Tables are named layer.table, e.g. gold.fact_sales;
    `SHOW TABLES` lists them. While another command is writing, every table is read as the
    last finished command left it."""
    import duckdb

    from retail_lakehouse.lake.history import AsOfError, resolve_as_of
    from retail_lakehouse.lake.query import LakeSQL, ReadOnlyQueryError

    lake = existing_lake(ctx)
    try:
        versions = None if as_of is None else resolve_as_of(lake, as_of).versions
        if versions is None:
            versions = _finished_while_writing(lake)
        lake_sql = LakeSQL(lake, versions=versions)  # a vacuumed past state: AsOfError
    except AsOfError as bad:
        raise UsageProblem(str(bad)) from None
    with lake_sql:
        try:
            if _SHOW_TABLES.match(query):
                result = lake_sql.arrow(_LAKE_TABLES)
            else:
                result = lake_sql.user_query(query)
        except ReadOnlyQueryError as refused:
            raise UsageProblem(f"query refused: {refused}") from None
        except duckdb.Error as error:
            raise UsageProblem(f"query failed: {str(error).splitlines()[0]}") from None
    write_result(result, output, limit)


def _finished_while_writing(lake: Lake) -> dict[str, int | None] | None:
    """Versions of the state the last finished command left, when another process's command
    is writing now (None otherwise: the latest versions are a finished state). Each table's
    latest version alone would put that command's first commits (a run's new fact) beside the
    tables it has not reached (its old marts) in one query. Read from the holder note beside
    the writer lock, without touching the lock."""
    from retail_lakehouse.lake.history import last_finished_state

    writer = lake.writer()
    if writer is None or writer.get("pid") == os.getpid():
        return None
    state = last_finished_state(lake)
    if state is None:
        return None
    err_console.print(
        f"note: {writer.get('command', 'a command')} (pid {writer.get('pid')}) is writing to "
        f"the lake; reading the state {state.label} left (its commits so far are left out)",
        markup=False,
        highlight=False,
    )
    return state.versions


def write_result(result: pa.Table, output: OutputFormat, limit: int = 1000) -> None:
    """Print an Arrow result in the requested format.

    JSON keeps numbers as numbers: integers of any size and decimals written exactly as stored
    (``2.5500``, never through a float), like DuckDB's own ``to_json``. CSV lines end with
    ``\\n``, so shell pipelines see no carriage returns."""
    if output is OutputFormat.json:
        sys.stdout.write(to_json(result) + "\n")
    elif output is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.column_names)
        for row in result.to_pylist():
            writer.writerow(["" if v is None else v for v in row.values()])
    else:
        shown = result.slice(0, limit)
        table = _table(shown)
        vertical = output is OutputFormat.vertical or (
            output is OutputFormat.auto and _natural_width(shown) > console.width
        )
        console.print(_vertical(shown) if vertical else table)
        if shown.num_rows < result.num_rows:
            console.print(
                f"showing {shown.num_rows:,} of {result.num_rows:,} rows (--limit {limit:,})",
                style="dim",
            )
        else:
            console.print(f"{result.num_rows:,} row(s)", style="dim")


def _is_number(data_type: pa.DataType) -> bool:
    import pyarrow as pa  # loaded by the query already; kept off the CLI's import path

    return bool(
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
    )


def _cell(value: Any, numeric: bool) -> str:
    if value is None:
        return ""
    if numeric and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table(result: pa.Table) -> Table:
    """Numbers right-aligned with thousands separators; long text wraps inside its cell."""
    table = Table()
    numeric = [_is_number(f.type) for f in result.schema]
    for field, is_number in zip(result.schema, numeric, strict=True):
        table.add_column(field.name, justify="right" if is_number else "left", overflow="fold")
    for row in result.to_pylist():
        table.add_row(*(_cell(v, n) for v, n in zip(row.values(), numeric, strict=True)))
    return table


def _natural_width(result: pa.Table) -> int:
    """Characters a table of ``result`` needs without wrapping any cell (borders included)."""
    numeric = [_is_number(f.type) for f in result.schema]
    widths = [len(name) for name in result.column_names]
    for row in result.to_pylist():
        for index, (value, is_number) in enumerate(zip(row.values(), numeric, strict=True)):
            widths[index] = max(widths[index], len(_cell(value, is_number)))
    return sum(widths) + 3 * len(widths) + 1


def _vertical(result: pa.Table) -> Table:
    """One block per record, ``column | value`` (like psql's ``\\x``): readable at any width."""
    numeric = [_is_number(f.type) for f in result.schema]
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", justify="right")
    grid.add_column(overflow="fold")
    for number, row in enumerate(result.to_pylist(), start=1):
        grid.add_row(f"-[ record {number:,} ]-", "")
        for (name, value), is_number in zip(row.items(), numeric, strict=True):
            grid.add_row(name, _cell(value, is_number))
    return grid


def to_json(result: pa.Table) -> str:
    """The rows as a JSON array of objects, numbers exact (see :func:`write_result`)."""
    return "[" + ", ".join(_json_value(row) for row in result.to_pylist()) + "]"


def _json_value(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            return "null"
        return format(value, "f")
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {_json_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_json_value(v) for v in value) + "]"
    return json.dumps(value, default=str)

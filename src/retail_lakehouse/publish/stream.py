"""Lake rows into PostgreSQL's ``COPY``, streamed in record batches.

DuckDB reads one pinned Delta snapshot and hands Arrow record batches over one at a time; each
batch is encoded column by column in C++ and numpy and the bytes go straight into
``COPY ... FROM STDIN``. Memory holds one batch, never the table, and no Python code runs per row.

The format is PostgreSQL's binary one (:mod:`retail_lakehouse.publish.binary`: the server parses
it faster than text, decision 0014, third pass) whenever every column has a binary encoding,
which every gold contract has. Otherwise (lists) ``pyarrow.csv`` writes CSV: PostgreSQL's CSV
format tells NULL (an unquoted empty field) from the empty string (``""``), which pyarrow writes
that way, and lists become PostgreSQL array literals in DuckDB first (CSV has no lists).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import Cursor, sql
from psycopg.copy import QueuedLibpqWriter

from retail_lakehouse.lake.query import LakeSQL, quoted_identifier
from retail_lakehouse.publish import binary

BINARY = True
"""Send rows in PostgreSQL's binary ``COPY`` format when every column has an encoding
(:mod:`retail_lakehouse.publish.binary`), CSV otherwise. A switch for side-by-side measurements
and the test that both formats publish the same values."""

BATCH_ROWS = 65_536
_CSV = pacsv.WriteOptions(include_header=False, batch_size=BATCH_ROWS)


def _select_expression(field: pa.Field) -> str:
    """DuckDB SQL selecting one column in a form PostgreSQL's CSV ``COPY`` reads back exactly."""
    column = quoted_identifier(field.name)
    if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
        if pa.types.is_string(field.type.value_type):
            item = (
                "CASE WHEN x IS NULL THEN 'NULL' ELSE "
                "'\"' || replace(replace(x, '\\', '\\\\'), '\"', '\\\"') || '\"' END"
            )
        else:
            item = "coalesce(CAST(x AS VARCHAR), 'NULL')"
        return (
            f"CASE WHEN {column} IS NULL THEN NULL ELSE "
            f"'{{' || array_to_string(list_transform({column}, x -> {item}), ',') || '}}' END "
            f"AS {column}"
        )
    return column


def _copy_statement(
    target: sql.Composable, schema: pa.Schema, *, use_binary: bool, freeze: bool
) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(f.name) for f in schema)
    options = "FORMAT binary" if use_binary else "FORMAT csv"
    return sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
        target, columns, sql.SQL(options + (", FREEZE" if freeze else ""))
    )


def _batches(
    con: duckdb.DuckDBPyConnection,
    schema: pa.Schema,
    source: str,
    where: str,
    params: Sequence[Any] | None,
    use_binary: bool,
) -> pa.RecordBatchReader:
    select = ", ".join(
        quoted_identifier(f.name) if use_binary else _select_expression(f) for f in schema
    )
    query = f"SELECT {select} FROM {source} {where}"
    result = con.execute(query, list(params) if params is not None else None)
    return result.to_arrow_reader(BATCH_ROWS)


def _encoded(batch: pa.RecordBatch, schema: pa.Schema) -> pa.Buffer:
    # the lake's type may be wider than the contract's (a sum stored as a double): a safe
    # cast, so a value that does not fit fails here as it would in CSV
    typed = batch if batch.schema == schema else batch.cast(schema)
    return binary.encode(typed)


def copy_query(
    cursor: Cursor[Any],
    target: sql.Composable,
    schema: pa.Schema,
    lake_sql: LakeSQL,
    source: str,
    *,
    where: str = "",
    params: Sequence[Any] | None = None,
    freeze: bool = False,
) -> int:
    """``COPY`` the rows of lake table ``source`` (its contract ``schema``) matching ``where``
    into ``target``; return the number of rows sent. ``freeze`` writes the rows already frozen
    (allowed into a table created or truncated by the same transaction: no later rewrite of
    every page by VACUUM)."""
    use_binary = BINARY and binary.supports(schema)
    reader = _batches(lake_sql.con, schema, source, where, params, use_binary)
    statement = _copy_statement(target, schema, use_binary=use_binary, freeze=freeze)
    sent = 0
    # a writer thread sends each encoded batch while this thread reads and encodes the next
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        if use_binary:
            copy.write(binary.SIGNATURE)
        for batch in reader:
            if batch.num_rows == 0:
                continue
            if use_binary:
                copy.write(memoryview(_encoded(batch, schema)))
            else:
                sink = pa.BufferOutputStream()
                pacsv.write_csv(batch, sink, _CSV)
                copy.write(memoryview(sink.getvalue()))
            sent += batch.num_rows
        if use_binary:
            copy.write(binary.TRAILER)
    return sent


@dataclass(frozen=True)
class Encoded:
    """Rows read from the lake and encoded for a binary ``COPY`` ahead of time (by the second
    thread of an incremental publish), so sending them is all that is left."""

    schema: pa.Schema
    rows: int
    chunks: list[pa.Buffer]


def read_rows(
    con: duckdb.DuckDBPyConnection,
    schema: pa.Schema,
    source: str,
    *,
    where: str = "",
    rows: int,
    limit: int,
) -> list[pa.RecordBatch] | None:
    """The rows of ``source`` matching ``where`` (``rows`` of them, as the caller counted), read
    for :func:`encode_rows`; None when the schema has no binary encoding or ``rows`` is over
    ``limit`` (the caller then streams them with :func:`copy_query`: memory holds at most
    ``limit`` rows here)."""
    if rows > limit or not (BINARY and binary.supports(schema)):
        return None
    return [b for b in _batches(con, schema, source, where, None, True) if b.num_rows]


def encode_rows(schema: pa.Schema, batches: list[pa.RecordBatch]) -> Encoded:
    """Rows read by :func:`read_rows`, encoded for a binary ``COPY``."""
    return Encoded(schema, sum(b.num_rows for b in batches), [_encoded(b, schema) for b in batches])


def encode_query(
    con: duckdb.DuckDBPyConnection,
    schema: pa.Schema,
    source: str,
    *,
    where: str = "",
    rows: int,
    limit: int,
) -> Encoded | None:
    """:func:`read_rows` then :func:`encode_rows`: the rows encoded for a binary ``COPY``, or
    None (see :func:`read_rows`)."""
    batches = read_rows(con, schema, source, where=where, rows=rows, limit=limit)
    return None if batches is None else encode_rows(schema, batches)


def copy_encoded(cursor: Cursor[Any], target: sql.Composable, encoded: Encoded) -> int:
    """``COPY`` rows encoded by :func:`encode_query` into ``target``; the number of rows."""
    if not encoded.rows:
        return 0
    statement = _copy_statement(target, encoded.schema, use_binary=True, freeze=False)
    with cursor.copy(statement) as copy:  # one write per chunk: no writer thread to start
        copy.write(binary.SIGNATURE)
        for chunk in encoded.chunks:
            copy.write(memoryview(chunk))
        copy.write(binary.TRAILER)
    return encoded.rows

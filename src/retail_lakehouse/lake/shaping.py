"""Arrow data shaped to a table's contract, and the Parquet options of every lake file.

Apart from :mod:`retail_lakehouse.lake.store` so that the reader worker, which shapes and
writes bronze files but never opens a Delta table, does not import delta-rs and the writer's
lock with the store: 15 CPU ms of its warm-up, which is the later of the two processes of
``retail ingest`` (decision 0021, eleventh round). The store re-exports all three names.
"""

from __future__ import annotations

import pyarrow as pa

from retail_lakehouse.lake.contracts import TableContract


def cast_batch(batch: pa.RecordBatch | pa.Table, target: TableContract) -> pa.Table:
    """Shape data to the contract: contract columns in order (missing ones as nulls), declared
    types, and, for tables that evolve, any extra columns kept as strings after them."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    n = table.num_rows
    columns: list[pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for field in target.schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            # no cast where the type is already right: ``cast`` is pyarrow.compute's, whose
            # import the ingest's own process otherwise avoids (decision 0021, twelfth round)
            columns.append(column if column.type == field.type else column.cast(field.type))
        else:
            columns.append(pa.nulls(n, field.type))
        fields.append(field.with_nullable(True))
    if target.evolves:
        known = set(target.schema.names)
        for name in table.column_names:
            if name not in known:
                extra = table.column(name)
                columns.append(extra if extra.type == pa.string() else extra.cast(pa.string()))
                fields.append(pa.field(name, pa.string()))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


ROW_GROUP_ROWS = 131_072
"""Parquet row-group size of every lake file. Readers parallelise per row group (DuckDB runs one
thread per row group), so a 500k-line batch written as one row group is scanned by one core."""

DUCKDB_PARQUET_OPTIONS = f"FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE {ROW_GROUP_ROWS}"
"""``COPY ... TO`` options of every lake file DuckDB writes (bronze lines, silver, the fact)."""

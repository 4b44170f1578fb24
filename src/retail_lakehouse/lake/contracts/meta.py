"""Meta contracts: runs, schema history and watermarks beside every layer."""

from __future__ import annotations

import pyarrow as pa

from retail_lakehouse.lake.contracts.base import STR, TS, TableContract, register

META_RUNS = TableContract(
    "meta",
    "runs",
    pa.schema(
        [
            pa.field("run_id", STR, nullable=False),
            pa.field("command", STR, nullable=False),
            pa.field("started_at", TS, nullable=False),
            pa.field("finished_at", TS, nullable=False),
            pa.field("status", STR, nullable=False),
            pa.field("rows", STR),  # JSON: {"table": {"in": n, "out": n}, ...}
            pa.field("error", STR),
            pa.field("engine", STR),
            pa.field("seconds", pa.float64()),
        ]
    ),
    append_only=True,
)

META_SCHEMA_HISTORY = TableContract(
    "meta",
    "schema_history",
    pa.schema(
        [
            pa.field("changed_at", TS, nullable=False),
            pa.field("run_id", STR, nullable=False),
            pa.field("table_name", STR, nullable=False),
            pa.field("source_file", STR),
            pa.field("change", STR, nullable=False),  # initial | added_columns | aliases
            pa.field("columns", pa.list_(STR)),
            pa.field("schema_version", pa.int32(), nullable=False),
            pa.field("detail", STR),
        ]
    ),
    append_only=True,
)

META_WATERMARKS = TableContract(
    "meta",
    "watermarks",
    pa.schema(
        [
            pa.field("consumer", STR, nullable=False),  # e.g. "silver", "gold"
            pa.field("batch_seq", pa.int64(), nullable=False),
            pa.field("run_id", STR, nullable=False),
            pa.field("updated_at", TS, nullable=False),
        ]
    ),
)
"""How far each layer has read its input (highest bronze ``_batch_seq`` processed).

Layer writes are idempotent overwrites keyed by batch, so a crash between a layer's commit and
its watermark commit only means the same batches are processed again with the same result."""


for _contract in (META_RUNS, META_SCHEMA_HISTORY, META_WATERMARKS):
    register(_contract)

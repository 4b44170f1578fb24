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
            pa.field("time_zone", STR),  # the wall clock silver was built in (NULL: UTC)
        ]
    ),
    evolves=True,  # lakes from before the time zone get the column on the next write
)
"""How far each layer has read its input (highest bronze ``_batch_seq`` processed).

Layer writes are idempotent overwrites keyed by batch, so a crash between a layer's commit and
its watermark commit only means the same batches are processed again with the same result."""


META_QUALITY_RESULTS = TableContract(
    "meta",
    "quality_results",
    pa.schema(
        [
            pa.field("run_id", STR, nullable=False),
            pa.field("table_name", STR, nullable=False),
            pa.field("rule", STR, nullable=False),
            pa.field("dimension", STR, nullable=False),
            pa.field("action", STR, nullable=False),  # warn | quarantine | fail
            pa.field("weight", pa.float64()),
            pa.field("lines_checked", pa.int64(), nullable=False),
            pa.field("lines_failed", pa.int64(), nullable=False),
            pa.field("score", pa.float64(), nullable=False),  # % of checked lines passing
            pa.field("checked_at", TS, nullable=False),
        ]
    ),
    append_only=True,
)
"""Per-rule results of every run: the history behind trends, alerts and reports."""

META_QUALITY_SCORES = TableContract(
    "meta",
    "quality_scores",
    pa.schema(
        [
            pa.field("run_id", STR, nullable=False),
            pa.field("table_name", STR, nullable=False),
            pa.field("scope", STR, nullable=False),  # overall | dimension
            pa.field("name", STR, nullable=False),  # "overall" or the dimension name
            pa.field("score", pa.float64(), nullable=False),  # 0-100
            pa.field("grade", STR),
            pa.field("lines_checked", pa.int64(), nullable=False),
            pa.field("computed_at", TS, nullable=False),
        ]
    ),
    append_only=True,
)
"""Per-run overall and per-dimension scores (derived from quality_results, kept for history)."""

META_ALERTS = TableContract(
    "meta",
    "alerts",
    pa.schema(
        [
            pa.field("alert_id", STR, nullable=False),
            pa.field("run_id", STR),  # the run that raised it, if any
            pa.field("raised_at", TS, nullable=False),
            pa.field("kind", STR, nullable=False),  # run_failed, freshness, ... (observe.alerts)
            pa.field("severity", STR, nullable=False),
            pa.field("message", STR, nullable=False),
            pa.field("value", pa.float64()),
            pa.field("baseline", pa.float64()),
            pa.field("delivered", pa.bool_()),  # None: no channel configured
            pa.field("delivery_error", STR),
            pa.field("condition", STR),  # one open alert per condition (no storm)
            pa.field("channels", STR),  # JSON: {"channel": "delivered" | "the error"}
            pa.field("attempts", pa.int32()),
            pa.field("next_attempt_at", TS),  # when a failed delivery is retried
            pa.field("resolved_at", TS),  # when the condition cleared
            pa.field("subject", STR),  # the table, file or source pattern concerned
        ]
    ),
    evolves=True,  # lakes from before the delivery columns get them on the next write
)
"""One row per alert, updated in place as deliveries are retried and when it clears."""

META_RETRACTIONS = TableContract(
    "meta",
    "retractions",
    pa.schema(
        [
            pa.field("retraction_id", pa.int64(), nullable=False),
            pa.field("batch_seq", pa.int64(), nullable=False),
            pa.field("batch_id", STR, nullable=False),
            pa.field("source_file", STR, nullable=False),
            pa.field("source_sha256", STR, nullable=False),
            pa.field("lines", pa.int64(), nullable=False),
            pa.field("rejects", pa.int64(), nullable=False),
            pa.field("run_id", STR, nullable=False),
            pa.field("retracted_at", TS, nullable=False),
            pa.field("replaced_by", STR),
        ]
    ),
    append_only=True,
)
"""Bronze batches taken back (``retail retract``): written FIRST, so a retraction interrupted
midway is found and completed; silver and gold apply the ones above their ``*.retractions``
watermark on the next run. A retracted batch number is never given to a new file."""

for _contract in (
    META_RUNS,
    META_SCHEMA_HISTORY,
    META_WATERMARKS,
    META_QUALITY_RESULTS,
    META_QUALITY_SCORES,
    META_ALERTS,
    META_RETRACTIONS,
):
    register(_contract)

META_PUBLISH_STATE = register(
    TableContract(
        "meta",
        "publish_state",
        pa.schema(
            [
                pa.field("run_id", STR, nullable=False),
                pa.field("published_at", TS, nullable=False),
                pa.field("target", STR, nullable=False),  # postgresql://user@host:port/db schema s
                pa.field("lake_id", STR, nullable=False),
                pa.field("table_name", STR, nullable=False),
                pa.field("delta_version", pa.int64(), nullable=False),
                pa.field("mode", STR, nullable=False),  # full | incremental
                pa.field("action", STR, nullable=False),  # loaded | synced | batches | unchanged
                pa.field("rows_written", pa.int64()),
                pa.field("rows_deleted", pa.int64()),
                pa.field("batches", STR),  # JSON {batch_seq: fingerprint} for batched tables
            ]
        ),
        append_only=True,
    )
)
"""What each ``retail publish`` put where: one row per gold table per publish that wrote.

The target's own ``_retail_publish`` table is what the next publish trusts (it commits with the
data); this is the lake's record of it, written right after the target commits."""

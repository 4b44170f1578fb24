"""The silver pass: bronze batches to deduplicated, rule-checked lines, computed once.

Two intermediate results are materialised, each exactly once:

1. *marked*: every bronze line of the batches, standardised, keyed and marked as kept or
   duplicate (one window over the batch, plus one join against keys kept by earlier runs);
2. *evaluated*: the kept lines with every rule's result, the scores and the flags (statistics
   as grouped aggregates over (1), joined back).

``silver.sales_lines``, ``silver.quarantine`` and ``silver.duplicates`` are projections of these,
streamed to Delta; the rule counts are one aggregate over (2). Nothing here commits: the caller
decides (after the gates) what to write.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.silver import (
    SILVER_DUPLICATES,
    SILVER_QUARANTINE,
    SILVER_SALES_LINES,
)
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.pipeline.silver.dedup import line_key, mark_duplicates
from retail_lakehouse.pipeline.silver.standardise import standardise
from retail_lakehouse.quality.evaluate import Evaluated, evaluate, summarise
from retail_lakehouse.quality.results import QualityOutcome
from retail_lakehouse.quality.rules import RuleSet

CONSUMER = "silver"
_ids = itertools.count()


# -- which batches ---------------------------------------------------------------------------


def watermark(lake: Lake, consumer: str = CONSUMER) -> int | None:
    """Highest bronze ``_batch_seq`` the consumer has fully processed (None: nothing yet)."""
    if not lake.exists("meta.watermarks"):
        return None
    with LakeSQL(lake) as sql:
        rows = sql.arrow(
            "SELECT max(batch_seq) AS seq FROM meta.watermarks WHERE consumer = ?", [consumer]
        ).to_pylist()
    value = rows[0]["seq"] if rows else None
    return None if value is None else int(value)


def bronze_batches(lake: Lake, *, after: int | None = None, upto: int | None = None) -> list[int]:
    """Committed bronze batches in ``(after, upto]``, oldest first.

    A batch is committed when the ingestion manifest (``bronze.files``) lists it; lines of an
    ingestion that crashed before its manifest commit are not a batch yet and are left alone.
    Lakes written without a manifest fall back to the batches present in the lines."""
    table = "bronze.files" if lake.exists("bronze.files") else "bronze.sales_lines"
    if not lake.exists(table):
        return []
    low = -1 if after is None else after
    high = 2**62 if upto is None else upto
    with LakeSQL(lake) as sql:
        rows = sql.arrow(
            f"SELECT DISTINCT _batch_seq AS seq FROM {table} "
            "WHERE _batch_seq > ? AND _batch_seq <= ? ORDER BY 1",
            [low, high],
        ).to_pylist()
    return [int(r["seq"]) for r in rows]


def pending_batches(lake: Lake) -> list[int]:
    """Bronze batches silver has not processed yet."""
    return bronze_batches(lake, after=watermark(lake))


def processed_batches(lake: Lake) -> list[int]:
    """Bronze batches already in silver (up to the watermark)."""
    mark = watermark(lake)
    return [] if mark is None else bronze_batches(lake, upto=mark)


# -- the pass --------------------------------------------------------------------------------


@dataclass
class SilverPass:
    """The materialised results of one silver pass and what the rules decided about them."""

    engine: Engine
    batches: list[int]
    marked: ir.Table
    evaluated: Evaluated
    outcome: QualityOutcome
    bronze_lines: int
    duplicates: int

    @property
    def quarantined(self) -> int:
        return self.outcome.quarantined

    @property
    def silver_lines(self) -> int:
        return self.outcome.lines_checked - self.outcome.quarantined

    # -- outputs (expressions; the caller streams them to Delta) ----------------------------
    def silver_rows(self, run_id: str, processed_at: datetime) -> ir.Table:
        t = self.evaluated.table
        return _project(t.filter(~t._quarantined), SILVER_SALES_LINES.schema.names, run_id,
                        processed_at)

    def quarantine_rows(self, run_id: str, processed_at: datetime) -> ir.Table:
        t = self.evaluated.table
        return _project(t.filter(t._quarantined), SILVER_QUARANTINE.schema.names, run_id,
                        processed_at)

    def duplicate_rows(self, run_id: str) -> ir.Table:
        t = self.marked
        return _project(t.filter(t._is_duplicate), SILVER_DUPLICATES.schema.names, run_id, None)


def _project(
    t: ir.Table, names: list[str], run_id: str, processed_at: datetime | None
) -> ir.Table:
    columns: list[Any] = []
    for name in names:
        if name == "_run_id":
            columns.append(ibis.literal(run_id, type="string").name(name))
        elif name == "_processed_at":
            stamp = (processed_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
            columns.append(ibis.timestamp(stamp).name(name))
        else:
            columns.append(t[name])
    return t.select(*columns)


def source_lines(engine: Engine, batches: list[int]) -> ir.Table:
    """The bronze lines of ``batches`` (one committed snapshot)."""
    bronze = engine.table("bronze.sales_lines")
    return bronze.filter(bronze._batch_seq.isin(batches))


def existing_keys(engine: Engine, before: int) -> ir.Table:
    """Keys of lines kept by earlier batches (silver and quarantine), for cross-run dedup."""
    parts = []
    for qualified in ("silver.sales_lines", "silver.quarantine"):
        table = engine.table(qualified)
        parts.append(
            table.filter(table._batch_seq < before).select("_line_key", "_batch_seq",
                                                           "_row_number")
        )
    return parts[0].union(parts[1])


def build_pass(
    engine: Engine,
    ruleset: RuleSet,
    *,
    batches: list[int],
    existing: bool,
    now: datetime,
) -> SilverPass:
    """Standardise, deduplicate and evaluate ``batches``; materialise; count. Writes nothing.

    ``existing`` dedupes against lines already kept from batches before ``min(batches)`` (an
    incremental run); a full refresh passes False and starts from nothing."""
    n = next(_ids)
    lines = standardise(engine, source_lines(engine, batches))
    keyed = lines.mutate(_line_key=line_key(lines))
    earlier = existing_keys(engine, min(batches)) if existing else None
    marked = engine.materialize(mark_duplicates(keyed, earlier), f"silver_marked_{n}")
    counts = engine.to_arrow(
        marked.aggregate(lines=marked.count(), duplicates=marked._is_duplicate.sum())
    ).to_pylist()[0]
    kept = marked.filter(~marked._is_duplicate).drop(
        "_is_duplicate", "kept_batch_seq", "kept_row_number"
    )
    evaluated = evaluate(kept, ruleset, now=now)
    keep = [c for c in evaluated.table.columns if c in _EVALUATED_COLUMNS or c.startswith("_fail_")]
    table = engine.materialize(evaluated.table.select(*keep), f"silver_evaluated_{n}")
    evaluated = Evaluated(table, evaluated.ruleset, evaluated.compiled, evaluated.rule_columns)
    outcome = summarise(engine, evaluated)
    return SilverPass(
        engine=engine,
        batches=list(batches),
        marked=marked,
        evaluated=evaluated,
        outcome=outcome,
        bronze_lines=int(counts["lines"] or 0),
        duplicates=int(counts["duplicates"] or 0),
    )


_EVALUATED_COLUMNS = (
    set(SILVER_SALES_LINES.schema.names)
    | set(SILVER_QUARANTINE.schema.names)
    | {"_quarantined", "raw_invoice_no", "raw_stock_code", "raw_customer_id", "raw_description"}
)

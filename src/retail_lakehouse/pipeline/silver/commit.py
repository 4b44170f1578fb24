"""Committing a silver pass: idempotent writes keyed by batch, then the watermark, last.

Each silver table is rewritten for the batches of the pass only (``replaceWhere``-style
overwrite with ``_batch_seq >= first batch``), so processing the same batches again after a
crash between these commits and the watermark gives the same content, never doubles. A full
refresh overwrites the tables whole.

The evaluated lines are streamed once (:mod:`.stream`): the rule counts are tallied on the way
and the gates decided at the end of the stream, before the silver transaction commits; a gate
that fires aborts it, so a failed gate leaves every table as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.silver import (
    SILVER_DUPLICATES,
    SILVER_QUARANTINE,
    SILVER_SALES_LINES,
)
from retail_lakehouse.lake.prefetch import prefetch
from retail_lakehouse.lake.watermarks import write_watermark
from retail_lakehouse.pipeline.errors import GateFailed
from retail_lakehouse.pipeline.silver.stream import RuleTally, SpillBuffer, split
from retail_lakehouse.pipeline.silver.transform import CONSUMER, SilverPass
from retail_lakehouse.quality.evaluate import with_gate_failures
from retail_lakehouse.quality.results import (
    QualityOutcome,
    outcome_from_counts,
    with_uniqueness,
)

_CHUNK = 131_072


@dataclass(frozen=True)
class Committed:
    """What the commit wrote and what the rules said."""

    outcome: QualityOutcome
    bronze_lines: int
    silver_lines: int
    quarantined: int
    duplicates: int


class _GateTripped(Exception):
    """Raised at the end of the silver stream to make the Delta writer abandon its commit."""


def commit_pass(
    lake: Lake, silver_pass: SilverPass, run_id: str, *, full_refresh: bool
) -> Committed:
    """Stream, tally, gate, and write silver lines, quarantine and duplicates for the pass.

    Raises GateFailed (nothing committed) when a ``fail`` rule is over its threshold."""
    engine = silver_pass.engine
    evaluated = silver_pass.evaluated
    processed_at = datetime.now(UTC)
    source = prefetch(engine.to_batches(silver_pass.evaluated_rows(run_id, processed_at), _CHUNK))
    tally = RuleTally(evaluated.fail_columns, silver_pass.dimension_columns())
    decided: list[QualityOutcome] = []

    def finish() -> None:
        lines = outcome_from_counts(evaluated.ruleset, tally.totals, evaluated.rule_columns)
        outcome = with_uniqueness(
            lines, lines.lines_checked + silver_pass.duplicates, silver_pass.duplicates
        )
        decided.append(outcome)
        if any(result.gate_fires for result in outcome.rules):
            raise _GateTripped

    quarantine_schema = pa.schema(
        [source.schema.field(name) for name in SILVER_QUARANTINE.schema.names]
    )
    with SpillBuffer(quarantine_schema) as aside:
        silver_stream = split(
            source,
            silver_columns=SILVER_SALES_LINES.schema.names,
            quarantine_columns=SILVER_QUARANTINE.schema.names,
            tally=tally,
            aside=aside,
            finish=finish,
        )
        try:
            _write(lake, SILVER_SALES_LINES.qualified, silver_stream, silver_pass, full_refresh)
        except Exception:
            if decided and any(result.gate_fires for result in decided[0].rules):
                failed = with_gate_failures(engine, evaluated, decided[0])
                raise GateFailed(gate_message(failed)) from None
            raise
        _write(lake, SILVER_QUARANTINE.qualified, aside.reader(), silver_pass, full_refresh)
        quarantined = aside.rows
    duplicates = engine.to_batches(silver_pass.duplicate_rows(run_id), _CHUNK)
    _write(lake, SILVER_DUPLICATES.qualified, duplicates, silver_pass, full_refresh)
    outcome = decided[0]
    return Committed(
        outcome=outcome,
        bronze_lines=outcome.lines_checked + silver_pass.duplicates,
        silver_lines=outcome.lines_checked - quarantined,
        quarantined=quarantined,
        duplicates=silver_pass.duplicates,
    )


def gate_message(outcome: QualityOutcome) -> str:
    """Names each failed gate, how many lines failed, and example lines (file, line number)."""
    parts = [failure.describe() for failure in outcome.gate_failures]
    parts.append("nothing was committed to silver or gold")
    return "\n".join(parts)


def _write(
    lake: Lake,
    qualified: str,
    reader: pa.RecordBatchReader,
    silver_pass: SilverPass,
    full_refresh: bool,
) -> None:
    if not lake.exists(qualified):
        lake.write(qualified, reader, mode="append")
    elif full_refresh:
        lake.write(qualified, reader, mode="overwrite")
    else:
        first = min(silver_pass.batches)
        lake.write(qualified, reader, mode="overwrite", predicate=f"_batch_seq >= {first}")


def advance_watermark(lake: Lake, batch_seq: int, run_id: str, consumer: str = CONSUMER) -> None:
    """Record that ``consumer`` has processed every batch up to ``batch_seq`` (the last commit)."""
    write_watermark(lake, consumer, batch_seq, run_id)

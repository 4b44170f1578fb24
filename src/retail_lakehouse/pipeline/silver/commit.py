"""Committing a silver pass: staged files, one commit per table, then the watermark, last.

The engine writes the silver lines, the quarantine and the duplicates of the pass as Parquet
files into their tables' folders, unseen by readers (:mod:`retail_lakehouse.lake.staged`). The
rule counts are tallied from the staged files and the gates decided *before* anything commits: a
gate that fires deletes the files, so a failed gate leaves every table as it was. Each table is
then rewritten for the batches of the pass only (its files holding ``_batch_seq >= first batch``
are replaced in the same commit), so processing the same batches again after a crash between
these commits and the watermark gives the same content, never doubles. A full refresh replaces
the tables whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.silver import (
    SILVER_DUPLICATES,
    SILVER_QUARANTINE,
    SILVER_SALES_LINES,
)
from retail_lakehouse.lake.staged import (
    BatchSelection,
    commit_staged,
    discard,
    staged_path,
    staged_rows,
    write_empty,
)
from retail_lakehouse.lake.watermarks import write_watermark
from retail_lakehouse.pipeline.errors import GateFailed
from retail_lakehouse.pipeline.silver.tally import tally_staged
from retail_lakehouse.pipeline.silver.transform import CONSUMER, SilverPass
from retail_lakehouse.quality.evaluate import with_gate_failures
from retail_lakehouse.quality.results import (
    QualityOutcome,
    outcome_from_counts,
    with_uniqueness,
)


@dataclass(frozen=True)
class Committed:
    """What the commit wrote and what the rules said."""

    outcome: QualityOutcome
    bronze_lines: int
    silver_lines: int
    quarantined: int
    duplicates: int


def commit_pass(
    lake: Lake, silver_pass: SilverPass, run_id: str, *, full_refresh: bool
) -> Committed:
    """Stage, tally, gate, and commit silver lines, quarantine and duplicates for the pass.

    Raises GateFailed (nothing committed) when a ``fail`` rule is over its threshold."""
    engine = silver_pass.engine
    evaluated = silver_pass.evaluated
    processed_at = datetime.now(UTC)
    files = {
        SILVER_SALES_LINES: staged_path(lake, SILVER_SALES_LINES.qualified),
        SILVER_QUARANTINE: staged_path(lake, SILVER_QUARANTINE.qualified),
        SILVER_DUPLICATES: staged_path(lake, SILVER_DUPLICATES.qualified),
    }
    try:
        engine.write_parquet(
            silver_pass.silver_rows(run_id, processed_at),
            SILVER_SALES_LINES,
            files[SILVER_SALES_LINES],
        )
        if staged_rows([files[SILVER_SALES_LINES]]) < silver_pass.kept:
            engine.write_parquet(
                silver_pass.quarantine_rows(run_id, processed_at),
                SILVER_QUARANTINE,
                files[SILVER_QUARANTINE],
            )
        else:  # every kept line is in silver: no second pass over the rules to find none
            write_empty(SILVER_QUARANTINE, files[SILVER_QUARANTINE])
        totals = tally_staged(
            files[SILVER_SALES_LINES],
            files[SILVER_QUARANTINE],
            evaluated.ruleset,
            evaluated.rule_columns,
        )
        lines = outcome_from_counts(evaluated.ruleset, totals, evaluated.rule_columns)
        outcome = with_uniqueness(
            lines, lines.lines_checked + silver_pass.duplicates, silver_pass.duplicates
        )
        if any(result.gate_fires for result in outcome.rules):
            discard(list(files.values()))
            raise GateFailed(gate_message(with_gate_failures(engine, evaluated, outcome)))
        engine.write_parquet(
            silver_pass.duplicate_rows(run_id), SILVER_DUPLICATES, files[SILVER_DUPLICATES]
        )
    except BaseException:
        discard(list(files.values()))
        raise
    replace = _replaced(silver_pass, full_refresh)
    for target, path in files.items():
        commit_staged(lake, target.qualified, [path], replace)
    quarantined = totals["_quarantined"]
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


def _replaced(silver_pass: SilverPass, full_refresh: bool) -> BatchSelection:
    """What a pass replaces: every line of a full refresh, else its own batches and above."""
    if full_refresh:
        return BatchSelection(everything=True)
    return BatchSelection(above=min(silver_pass.batches) - 1)


def advance_watermark(
    lake: Lake, batch_seq: int, run_id: str, consumer: str = CONSUMER, *, time_zone: str = "UTC"
) -> None:
    """Record that ``consumer`` has processed every batch up to ``batch_seq`` in ``time_zone``
    (the last commit of the layer; the zone is what a later run is checked against)."""
    write_watermark(lake, consumer, batch_seq, run_id, time_zone)

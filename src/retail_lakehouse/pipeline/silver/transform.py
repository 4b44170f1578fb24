"""The silver pass: bronze batches to deduplicated, rule-checked lines, each computed once.

One wide table is materialised: every bronze line of the batches, standardised and keyed
(``_line_key``). From it come small materialised tables: the removed duplicates (found with a
grouped count; only repeated keys are ranked, and keys kept by earlier runs win), the per-batch
lineage, and one statistics table per partition the rules use. The evaluated lines (kept lines,
statistics joined, one failed-flag column per rule, scores and flags) stay an expression that the
commit streams exactly once. Nothing here commits; it also tells which bronze batches to read.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.silver import (
    SILVER_DUPLICATES,
    SILVER_QUARANTINE,
    SILVER_SALES_LINES,
)
from retail_lakehouse.lake.watermarks import read_watermark
from retail_lakehouse.pipeline.bronze_manifest import query_arrow, small_query
from retail_lakehouse.pipeline.hashing import int64_from_hex
from retail_lakehouse.pipeline.silver.dedup import find_duplicates, line_key
from retail_lakehouse.pipeline.silver.file_formats import COLUMNS as FORMAT_COLUMNS
from retail_lakehouse.pipeline.silver.file_formats import PassFormats, not_default_predicate
from retail_lakehouse.pipeline.silver.standardise import standardise
from retail_lakehouse.quality.evaluate import Evaluated, evaluate, summarise
from retail_lakehouse.quality.results import QualityOutcome, with_uniqueness
from retail_lakehouse.quality.rules import RuleSet

CONSUMER = "silver"
BRONZE_FILES = "bronze.files"
_ids = itertools.count()


# -- which batches ---------------------------------------------------------------------------


def _manifest_rows(
    lake: Lake, columns: list[str], batches: list[int], *, not_default: bool = False
) -> pa.Table | None:
    """The ``bronze.files`` rows of ``batches`` (``columns`` the manifest has; a lake from
    before a column lacks it), asked by predicate: a range of batch numbers, which the Delta
    statistics of a manifest appended in batch order prune to the pending batches' files, so
    an append's pass reads a few rows however many files the lake has seen (reading the
    whole manifest cost 1.5 CPU-s at 1,000,001 file rows, decision 0020's fifteenth-round
    addendum). ``not_default``: only the rows whose formats silver must be told
    (:func:`~.file_formats.not_default_predicate`). None: a lake without a manifest."""
    table = lake.delta(BRONZE_FILES)
    if table is None:
        return None
    names = set(table.schema().to_arrow().names)
    present = ", ".join(c for c in columns if c in names)
    low, high = (min(batches), max(batches)) if batches else (0, -1)
    where = f"_batch_seq >= {int(low)} AND _batch_seq <= {int(high)}"
    if not_default:
        where += f" AND {not_default_predicate(names)}"
    return query_arrow(lake, BRONZE_FILES, f"SELECT {present} FROM t WHERE {where}")


def watermark(lake: Lake, consumer: str = CONSUMER) -> int | None:
    """Highest bronze ``_batch_seq`` the consumer has fully processed (None: nothing yet)."""
    return read_watermark(lake, consumer)


def bronze_batches(lake: Lake, *, after: int | None = None, upto: int | None = None) -> list[int]:
    """Committed bronze batches in ``(after, upto]``, oldest first.

    A batch is committed when the ingestion manifest (``bronze.files``) lists it; lines of an
    ingestion that crashed before its manifest commit are not a batch yet and are left alone.
    Lakes written without a manifest fall back to the batches present in the lines."""
    low = -1 if after is None else int(after)
    high = 2**62 if upto is None else int(upto)
    for table in (BRONZE_FILES, "bronze.sales_lines"):  # (by predicate: pruned by statistics)
        if lake.delta(table) is not None:
            found = small_query(
                lake,
                table,
                f"SELECT DISTINCT _batch_seq AS s FROM t "
                f"WHERE _batch_seq > {low} AND _batch_seq <= {high} ORDER BY s",
            )
            return [int(v) for v in found.get("s", [])]
    return []


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
    """One silver pass, ready to stream: the evaluated lines (an expression over the single
    materialised table) and the removed duplicates (a small materialised table)."""

    engine: Engine
    batches: list[int]
    duplicates_table: ir.Table  # the lines removed as duplicates, with the kept line
    evaluated: Evaluated  # the kept lines with rule results and scores
    duplicates: int
    kept: int  # lines of the pass that are not removed duplicates (silver + quarantine)

    def dimension_columns(self) -> dict[str, list[str]]:
        """Failed-flag columns of the rules of each dimension."""
        columns: dict[str, list[str]] = {}
        for rule in self.evaluated.ruleset:
            columns.setdefault(rule.dimension, []).append(self.evaluated.rule_columns[rule.name])
        return columns

    # -- outputs (expressions; the caller streams them to Delta) ----------------------------
    def silver_rows(self, run_id: str, processed_at: datetime) -> ir.Table:
        t = self.evaluated.table
        return _project(
            t.filter(~t._quarantined), SILVER_SALES_LINES.schema.names, run_id, processed_at
        )

    def quarantine_rows(self, run_id: str, processed_at: datetime) -> ir.Table:
        t = self.evaluated.table
        return _project(
            t.filter(t._quarantined), SILVER_QUARANTINE.schema.names, run_id, processed_at
        )

    def duplicate_rows(self, run_id: str) -> ir.Table:
        return _project(self.duplicates_table, SILVER_DUPLICATES.schema.names, run_id, None)

    def outcome(self) -> QualityOutcome:
        """Rule counts with one aggregate query (``retail quality check``; the run itself tallies
        them while streaming)."""
        lines = summarise(self.engine, self.evaluated)
        return with_uniqueness(lines, lines.lines_checked + self.duplicates, self.duplicates)


def _column(t: ir.Table, name: str, run_id: str, processed_at: datetime | None) -> Any:
    if name == "_run_id":
        return ibis.literal(run_id, type="string").name(name)
    if name == "_processed_at":
        stamp = (processed_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        return ibis.timestamp(stamp).name(name)
    return t[name]


def _project(t: ir.Table, names: list[str], run_id: str, processed_at: datetime | None) -> ir.Table:
    return t.select(*[_column(t, name, run_id, processed_at) for name in names])


def source_lines(engine: Engine, batches: list[int]) -> ir.Table:
    """The bronze lines of ``batches`` (one committed snapshot)."""
    bronze = engine.table("bronze.sales_lines")
    return bronze.filter(among(bronze._batch_seq, batches))


RANGES_AT_MOST = 64
"""Above this many runs of consecutive batch numbers, :func:`among` lists the numbers."""


def among(column: ir.IntegerValue, batches: list[int]) -> ir.BooleanValue:
    """``column`` is one of ``batches``, said as ranges of consecutive numbers. A full refresh
    of a lake of a million batches passed a million-literal ``IN`` list, which Ibis spent CPU
    minutes building (decision 0020, sixteenth-round addendum); its batches are one range, or
    a few where retracted batches left gaps. Scattered numbers are still listed."""
    import pyarrow.compute as pc

    from retail_lakehouse.lake import arrays

    # Arrow values built from their buffers: pa.array or pa.scalar of Python values (or a
    # Python value handed to a compute function) imports pandas, 0.15-0.3 s (lake/arrays.py)
    values = pc.unique(arrays.array(batches, pa.int64()))
    values = values.take(pc.array_sort_indices(values))
    if len(values) == 0:
        return ibis.literal(False)
    one, yes = arrays.array([1], pa.int64())[0], arrays.array([True], pa.bool_())[0]
    breaks = pc.not_equal(pc.pairwise_diff(values), one)
    starts = pc.indices_nonzero(pc.fill_null(breaks, yes))
    if len(starts) > RANGES_AT_MOST:
        return column.isin(values.to_pylist())
    first = values.take(starts).to_pylist()
    ends = [*(i - 1 for i in starts.to_pylist()[1:]), len(values) - 1]
    last = values.take(arrays.array(ends, pa.int64())).to_pylist()
    test = column.between(first[0], last[0])
    for low, high in zip(first[1:], last[1:], strict=True):
        test |= column.between(low, high)
    return test


def existing_keys(
    engine: Engine, before: int, instants: tuple[datetime | None, datetime | None] | None = None
) -> ir.Table | None:
    """Keys of lines kept by earlier batches (silver and quarantine), for cross-run dedup;
    None when neither table exists yet (the first run).

    ``instants`` (the new lines' first and last ``invoice_ts``) narrows them to the lines that
    can share a key with a new line: the key includes the line's instant (to the second), or
    its raw date text when it did not parse, so only earlier lines within those instants (a
    second of margin either side) or without one can. The files' ``invoice_ts`` statistics
    then skip the rest of the lake unread: an append of later lines no longer reads every
    earlier line's key (decision 0020, addendum of 2026-12-05)."""
    parts = []
    for qualified in ("silver.sales_lines", "silver.quarantine"):
        if not engine.lake.exists(qualified):
            continue
        table = engine.table(qualified)
        keep = table._batch_seq < before
        if instants is not None:
            keep &= _near(table.invoice_ts, *instants)
        parts.append(table.filter(keep).select(*_DEDUP_COLUMNS))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts[0].union(parts[1])


def _near(ts: ir.TimestampValue, first: datetime | None, last: datetime | None) -> ir.BooleanValue:
    """``ts`` missing, or within ``[first, last]`` widened by a second each way (the key keeps
    whole seconds); only missing when the new lines have no instant at all."""
    missing: ir.BooleanValue = ts.isnull()
    if first is None or last is None:
        return missing
    second = timedelta(seconds=1)
    result: ir.BooleanValue = missing | ts.between(first - second, last + second)
    return result


def _instants(engine: Engine, lines: ir.Table) -> tuple[datetime | None, datetime | None]:
    """The first and last ``invoice_ts`` of ``lines`` (one aggregate over the new lines)."""
    row = (
        engine.to_batches(
            lines.aggregate(first=lines.invoice_ts.min(), last=lines.invoice_ts.max())
        )
        .read_all()
        .to_pylist()[0]
    )
    return row["first"], row["last"]


_DEDUP_COLUMNS = ("_line_key", "_batch_seq", "_source_file", "_row_number")
_LINE_IDENTITY = ["_batch_seq", "_source_file", "_row_number"]
"""What tells one bronze line from another: a workbook's sheets share a batch and each number
their rows from 1 (``_source_file`` names the sheet)."""
_PER_BATCH = ("_batch_id",)
"""Lineage that is constant within a batch: kept once per batch, not once per line, in the
materialised lines and joined back on output. Not ``_source_file``: a workbook's lines name
their sheet (``book.xlsx#December``), so one batch has several, and joining them back per batch
doubled every line of a two-sheet workbook (the accounting identity caught it)."""


def build_pass(
    engine: Engine,
    ruleset: RuleSet,
    *,
    batches: list[int],
    existing: bool,
    now: datetime,
    time_zone: str = "UTC",
) -> SilverPass:
    """Standardise, deduplicate and set up the evaluation of ``batches``. Writes nothing.

    ``existing`` dedupes against lines already kept from batches before ``min(batches)`` (an
    incremental run); a full refresh passes False and starts from nothing. ``time_zone`` is
    the lake's (the wall clock of ``invoice_ts``).

    One wide table is materialised: the standardised, keyed lines. Duplicates and statistics are
    small tables computed from it; the evaluated lines are an expression over it joined with
    those small tables, streamed once by the commit (copying half a million wide rows again
    would cost more than everything the rules do)."""
    n = next(_ids)
    source = source_lines(engine, batches)
    manifest = _manifest_rows(engine.lake, ["_batch_seq", "rows_ingested"], batches)
    formats = PassFormats.from_manifest(
        _manifest_rows(engine.lake, FORMAT_COLUMNS, batches, not_default=True), batches
    )
    standardised = standardise(engine, source, formats, time_zone=time_zone)
    per_batch = engine.materialize(
        source.select("_batch_seq", *_PER_BATCH).distinct(), f"silver_batches_{n}"
    )
    lines = engine.materialize_wide(
        standardised.mutate(
            _line_key=int64_from_hex(engine, line_key(standardised)),
            _record_hash=int64_from_hex(engine, standardised._record_hash),
        ).drop(*_PER_BATCH),
        f"silver_lines_{n}",
        rows=_lines_of(manifest, batches),
    )
    earlier = existing_keys(engine, min(batches), _instants(engine, lines)) if existing else None
    found = find_duplicates(lines.select(*_DEDUP_COLUMNS), earlier)
    duplicates = engine.materialize(
        _with_batch(found.filter(among(found._batch_seq, batches)), per_batch),
        f"silver_duplicates_{n}",
    )
    kept = _with_batch(lines.anti_join(duplicates, _LINE_IDENTITY), per_batch)
    stats_ids = itertools.count()
    evaluated = evaluate(
        kept,
        ruleset,
        now=now,
        materialize=lambda t: engine.materialize(t, f"silver_stats_{n}_{next(stats_ids)}"),
    )
    named = dataclasses.replace(
        evaluated, table=engine.view(evaluated.table, f"silver_evaluated_{n}")
    )
    removed = _count(engine, duplicates)
    return SilverPass(
        engine=engine,
        batches=list(batches),
        duplicates_table=duplicates,
        evaluated=named,
        duplicates=removed,
        kept=_count(engine, lines) - removed,
    )


def pending_lines(lake: Lake, batches: list[int]) -> int | None:
    """Bronze lines of ``batches`` by the manifest (None: a lake without the count)."""
    return _lines_of(_manifest_rows(lake, ["_batch_seq", "rows_ingested"], batches), batches)


def _lines_of(manifest: pa.Table | None, batches: list[int]) -> int | None:
    """Bronze lines of ``batches`` by the manifest (None: a lake without the count)."""
    if manifest is None or "rows_ingested" not in manifest.column_names:
        return None
    import pyarrow.compute as pc

    wanted = pc.is_in(manifest.column("_batch_seq"), value_set=pa.array(batches, pa.int64()))
    total = pc.sum(manifest.column("rows_ingested").filter(wanted)).as_py()
    return int(total or 0)


def _with_batch(lines: ir.Table, per_batch: ir.Table) -> ir.Table:
    """Join the per-batch lineage back onto lines (a tiny build side)."""
    renamed = per_batch.rename(_seq="_batch_seq")
    return lines.inner_join(renamed, lines._batch_seq == renamed._seq).drop("_seq")


def _count(engine: Engine, table: ir.Table) -> int:
    # A count is int64 on every engine, so the batch stream can be read as is (the engines'
    # to_arrow path makes Ibis import its pandas converters: noticeable on a 2 s budget).
    batches = engine.to_batches(table.aggregate(n=table.count())).read_all()
    values = batches.column("n").to_pylist()
    return int(values[0] or 0) if values else 0

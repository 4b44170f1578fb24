"""Reading quality history back out of the lake: scores per run, rule results, failing lines.

Every run appends its results to ``meta.quality_results`` and ``meta.quality_scores``; reports
and alerts only ever read those tables (and the current silver tables for examples), so what a
report says is exactly what the lake recorded. All queries take the table name and run id as
bound parameters: both may come from the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any

import pyarrow as pa

from retail_lakehouse.lake.query import LakeSQL

DEFAULT_TABLE = "silver.sales_lines"

EXAMPLE_COLUMNS: tuple[str, ...] = (
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "unit_price",
    "invoice_ts",
    "customer_id",
    "country",
)
"""Business columns shown for an example failing line (raw values are added for quarantine)."""

_RAW_COLUMNS: tuple[str, ...] = ("raw_quantity", "raw_unit_price", "raw_invoice_date")


@dataclass(frozen=True)
class RunScores:
    """One run's overall score and per-dimension scores for one table."""

    run_id: str
    computed_at: datetime
    overall: float
    grade: str | None
    lines_checked: int
    dimensions: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleResult:
    """How one rule did in one run."""

    rule: str
    dimension: str
    action: str
    weight: float | None
    lines_checked: int
    lines_failed: int
    score: float

    @property
    def share_failed(self) -> float:
        """Percentage of checked lines that failed (0 when nothing was checked)."""
        return 100.0 * self.lines_failed / self.lines_checked if self.lines_checked else 0.0


@dataclass(frozen=True)
class FailingLine:
    """An example line that failed a rule: where it came from and what it held."""

    table: str  # silver.sales_lines (kept, flagged) or silver.quarantine
    source_file: str
    row_number: int
    run_id: str
    values: dict[str, Any]

    @property
    def file_name(self) -> str:
        """The file's name without its folder: what a person recognises in a table."""
        return PurePath(self.source_file).name or self.source_file


@dataclass(frozen=True)
class ReasonCount:
    """How many quarantined lines name a rule, in total and for the selected run."""

    reason: str
    lines: int
    lines_in_run: int


def score_history(sql: LakeSQL, table: str = DEFAULT_TABLE) -> list[RunScores]:
    """Every run that scored ``table``, oldest first.

    A run id written twice (a retried write) keeps its latest rows, so a run counts once."""
    rows = sql.rows(
        """
        SELECT run_id, scope, name, score, grade, lines_checked, computed_at
        FROM meta.quality_scores
        WHERE table_name = ?
        ORDER BY computed_at, run_id
        """,
        [table],
    )
    overall: dict[str, dict[str, Any]] = {}
    dimensions: dict[str, dict[str, float]] = {}
    for row in rows:
        if row["scope"] == "overall":
            overall[row["run_id"]] = row
        else:
            dimensions.setdefault(row["run_id"], {})[row["name"]] = float(row["score"])
    history = [
        RunScores(
            run_id=run_id,
            computed_at=row["computed_at"],
            overall=float(row["score"]),
            grade=row["grade"],
            lines_checked=int(row["lines_checked"]),
            dimensions=dict(sorted(dimensions.get(run_id, {}).items())),
        )
        for run_id, row in overall.items()
    ]
    history.sort(key=lambda r: (r.computed_at, r.run_id))
    return history


def recent_scores(
    sql: LakeSQL, run_id: str, table: str = DEFAULT_TABLE, earlier: int = 5
) -> list[RunScores]:
    """``run_id``'s overall score and those of up to ``earlier`` runs before it, oldest first
    (empty when the run has no score): what a score-drop alert compares, as
    :func:`score_history` orders and deduplicates runs, without its per-dimension scores.

    Asked of the engine, not read whole: every ``retail run`` asks, and the history grows by a
    run's rows each time (decision 0020's fifteenth-round addendum, branch ``manifest15``)."""
    rows = sql.rows(
        """
        WITH runs AS (
            SELECT run_id, computed_at, score, grade, lines_checked
            FROM meta.quality_scores
            WHERE table_name = ? AND scope = 'overall'
            QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY computed_at DESC) = 1
        ), this AS (
            SELECT computed_at, run_id FROM runs WHERE run_id = ?
        )
        SELECT r.* FROM runs r, this
        WHERE r.computed_at < this.computed_at
           OR (r.computed_at = this.computed_at AND r.run_id <= this.run_id)
        ORDER BY r.computed_at DESC, r.run_id DESC
        LIMIT ?
        """,
        [table, run_id, int(earlier) + 1],
    )
    return [
        RunScores(
            run_id=row["run_id"],
            computed_at=row["computed_at"],
            overall=float(row["score"]),
            grade=row["grade"],
            lines_checked=int(row["lines_checked"]),
        )
        for row in reversed(rows)
    ]


def rule_results(sql: LakeSQL, run_id: str, table: str = DEFAULT_TABLE) -> list[RuleResult]:
    """Every rule's result in one run, most failed lines first."""
    rows: list[dict[str, Any]] = sql.rows(
        """
        SELECT rule, any_value(dimension) AS dimension, any_value(action) AS action,
               any_value(weight) AS weight, max(lines_checked) AS lines_checked,
               max(lines_failed) AS lines_failed, min(score) AS score
        FROM meta.quality_results
        WHERE run_id = ? AND table_name = ?
        GROUP BY rule
        ORDER BY lines_failed DESC, rule
        """,
        [run_id, table],
    )
    return [
        RuleResult(
            rule=row["rule"],
            dimension=row["dimension"],
            action=row["action"],
            weight=None if row["weight"] is None else float(row["weight"]),
            lines_checked=int(row["lines_checked"]),
            lines_failed=int(row["lines_failed"]),
            score=float(row["score"]),
        )
        for row in rows
    ]


def failing_lines(
    sql: LakeSQL, rule: str, *, run_id: str | None = None, limit: int = 5
) -> list[FailingLine]:
    """Example lines that failed ``rule``, from silver and the quarantine.

    Lines written by ``run_id`` come first (they are what that run judged); older lines fill in
    when the run added none, so a report on a quiet rerun still shows what the rule catches.
    The built-in ``no_exact_duplicates`` shows removed lines from ``silver.duplicates``."""
    if rule == DUPLICATES_RULE:
        return duplicate_lines(sql, run_id=run_id, limit=limit)
    columns = ", ".join(EXAMPLE_COLUMNS)
    raw_nulls = ", ".join(f"NULL::VARCHAR AS {c}" for c in _RAW_COLUMNS)
    raw = ", ".join(_RAW_COLUMNS)
    result: pa.Table = sql.arrow(
        f"""
        SELECT * FROM (
            SELECT 'silver.sales_lines' AS lake_table, _source_file, _row_number, _run_id,
                   {columns}, {raw_nulls}
            FROM silver.sales_lines
            WHERE list_contains(quality_flags, $rule)
            UNION ALL
            SELECT 'silver.quarantine' AS lake_table, _source_file, _row_number, _run_id,
                   {columns}, {raw}
            FROM silver.quarantine
            WHERE list_contains(quarantine_reasons, $rule) OR list_contains(quality_flags, $rule)
        )
        ORDER BY (_run_id = $run) DESC NULLS LAST, _source_file, _row_number
        LIMIT $limit
        """,
        {"rule": rule, "run": run_id, "limit": limit},
    )
    examples: list[FailingLine] = []
    for row in result.to_pylist():
        values = {c: row[c] for c in EXAMPLE_COLUMNS}
        values.update({c: row[c] for c in _RAW_COLUMNS if row[c] is not None})
        examples.append(
            FailingLine(
                table=row["lake_table"],
                source_file=row["_source_file"],
                row_number=int(row["_row_number"]),
                run_id=row["_run_id"],
                values=values,
            )
        )
    return examples


DUPLICATES_RULE = "no_exact_duplicates"


def duplicate_lines(
    sql: LakeSQL, *, run_id: str | None = None, limit: int = 5
) -> list[FailingLine]:
    """Removed exact duplicates (``silver.duplicates``): where each came from, with the values
    of the line that was kept in its place (they are equal in every business column).

    Both lines are named by their own ``_source_file`` (a workbook's names its sheet); rows of
    lakes from before those columns (NULL, or no column yet) fall back to the batch's file."""
    columns = ", ".join(f"k.{c}" for c in EXAMPLE_COLUMNS)
    recorded = set(sql.arrow("SELECT * FROM silver.duplicates LIMIT 0").column_names)
    removed, kept = (
        (f"d.{name}" if name in recorded else "NULL::VARCHAR")
        for name in ("_source_file", "kept_source_file")
    )
    result: pa.Table = sql.arrow(
        f"""
        SELECT coalesce({removed}, f._source_file) AS _source_file, d._row_number, d._run_id,
               {columns}, coalesce({kept}, kf._source_file) AS kept_file, d.kept_row_number
        FROM silver.duplicates AS d
        JOIN bronze.files AS f ON f._batch_seq = d._batch_seq
        LEFT JOIN silver.sales_lines AS k
          ON k._batch_seq = d.kept_batch_seq AND k._row_number = d.kept_row_number
         AND k._source_file = coalesce({kept}, k._source_file)
        LEFT JOIN bronze.files AS kf ON kf._batch_seq = d.kept_batch_seq
        ORDER BY (d._run_id = $run) DESC NULLS LAST, d._batch_seq, d._row_number
        LIMIT $limit
        """,
        {"run": run_id, "limit": limit},
    )
    examples: list[FailingLine] = []
    for row in result.to_pylist():
        kept = f"{PurePath(row['kept_file'] or '?').name}:{row['kept_row_number']}"
        values = {"copy_of": kept, **{c: row[c] for c in EXAMPLE_COLUMNS}}
        examples.append(
            FailingLine(
                table="silver.duplicates",
                source_file=row["_source_file"],
                row_number=int(row["_row_number"]),
                run_id=row["_run_id"],
                values=values,
            )
        )
    return examples


@dataclass(frozen=True)
class RejectedLine:
    """A source line bronze could not read as a record (wrong field count, bad encoding...)."""

    source_file: str
    line_number: int | None
    reason: str
    raw_line: str | None

    @property
    def file_name(self) -> str:
        return PurePath(self.source_file).name or self.source_file


@dataclass(frozen=True)
class RejectSummary:
    """Lines refused at ingest (``bronze.rejects``): they never reach silver, so no rule scores
    them; the report and the API show them beside the scores."""

    lines: int
    reasons: dict[str, int]
    examples: list[RejectedLine]


Query = Callable[[str, dict[str, Any]], list[dict[str, Any]]]
"""Runs project SQL with named parameters: ``LakeSQL`` (reports) and a serving snapshot (API)."""

MAX_RAW = 200


def ingest_rejects(query: Query, *, examples: int = 5) -> RejectSummary:
    """How many lines were rejected at ingest, per reason, with the first examples."""
    reasons = query(
        "SELECT reason, count(*) AS n FROM bronze.rejects GROUP BY reason ORDER BY n DESC, reason",
        {},
    )
    rows = query(
        f"""
        SELECT _source_file, line_number, reason, left(raw_line, {MAX_RAW}) AS raw_line
        FROM bronze.rejects ORDER BY _batch_seq DESC, line_number LIMIT $limit
        """,
        {"limit": examples},
    )
    return RejectSummary(
        lines=sum(int(r["n"]) for r in reasons),
        reasons={str(r["reason"]): int(r["n"]) for r in reasons},
        examples=[
            RejectedLine(
                source_file=str(r["_source_file"]),
                line_number=None if r["line_number"] is None else int(r["line_number"]),
                reason=str(r["reason"]),
                raw_line=r["raw_line"],
            )
            for r in rows
        ],
    )


LAKE_SCORE_SQL = """
    SELECT avg(quality_score) AS score, count(*) AS lines FROM (
        SELECT quality_score FROM silver.sales_lines
        UNION ALL
        SELECT quality_score FROM silver.quarantine
    )
"""
"""The lake's current score: the mean line ``quality_score`` over every line silver holds now
(kept and quarantined), whichever run scored it. A run's score says how good *its* lines were;
this says how good the data is, and an 8-line run cannot swing it."""


@dataclass(frozen=True)
class LakeScore:
    score: float | None
    grade: str | None
    lines: int


def lake_score(query: Query) -> LakeScore:
    """:data:`LAKE_SCORE_SQL` with its grade."""
    from retail_lakehouse.quality.scoring import grade

    row = query(LAKE_SCORE_SQL, {})[0]
    score = None if row["score"] is None else round(float(row["score"]), 2)
    return LakeScore(score, grade(score), int(row["lines"] or 0))


def weighted_trend(points: Sequence[tuple[float, int]]) -> list[float]:
    """Per run, the mean of the run scores so far weighted by each run's lines checked.

    A run of 8 lines then moves the curve by 8 lines' worth, not as much as a 24,750-line
    refresh: the trend of the lines checked, not of the runs. (Runs that checked no line count
    for nothing; before any line, the run's own score stands.)"""
    weighted: list[float] = []
    total = lines = 0.0
    for score, checked in points:
        total += score * max(checked, 0)
        lines += max(checked, 0)
        weighted.append(round(total / lines, 2) if lines else score)
    return weighted


def lake_query(sql: LakeSQL) -> Query:
    """:data:`Query` over a :class:`LakeSQL`."""

    def run(text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = sql.rows(text, params or None)
        return rows

    return run


def quarantine_reasons(sql: LakeSQL, run_id: str | None = None) -> list[ReasonCount]:
    """Quarantined lines per reason (a line with two reasons counts for both), most first."""
    rows: list[dict[str, Any]] = sql.rows(
        """
        SELECT reason, count(*) AS lines,
               count(*) FILTER (WHERE _run_id = $run) AS lines_in_run
        FROM (SELECT unnest(quarantine_reasons) AS reason, _run_id FROM silver.quarantine)
        GROUP BY reason
        ORDER BY lines DESC, reason
        """,
        {"run": run_id},
    )
    return [ReasonCount(str(r["reason"]), int(r["lines"]), int(r["lines_in_run"])) for r in rows]


def quarantined_lines(sql: LakeSQL) -> int:
    """Lines currently held in the quarantine."""
    count: int = sql.arrow("SELECT count(*) AS n FROM silver.quarantine").column("n")[0].as_py()
    return count

"""Evaluating the rules over lines, in one vectorised pass, and summarising the outcome.

:func:`evaluate` adds, for every rule, a boolean column that is TRUE when the line fails, plus
``quality_score``, ``quality_flags``, ``quarantine_reasons`` and ``_quarantined``. Statistics the
rules need are grouped aggregates joined back to the lines (one aggregate per partition, shared by
every rule that uses it). :func:`summarise` turns the evaluated lines into per-rule, per-dimension
and overall counts with a single aggregate query: no Python per line, no repeated scans.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
from sqlglot import exp

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.quality.compile import (
    CompiledRule,
    StatSpec,
    Translator,
    parse_rule,
)
from retail_lakehouse.quality.results import (
    CheckResult,
    Example,
    GateFailure,
    QualityOutcome,
    RuleOutcome,
    outcome_from_counts,
    table_outcome,
)
from retail_lakehouse.quality.rules import DIMENSIONS, RuleSet, TableTest
from retail_lakehouse.quality.scoring import failed_names, line_score

BATCH_COLUMN = "_batch_seq"
"""Statistics never span source batches (see :func:`add_statistics`)."""

_MAD_SCALE = 1.4826  # MAD -> standard deviation of a normal distribution
_MEAN_AD_SCALE = 1.2533  # mean absolute deviation -> standard deviation (when MAD is 0)


@dataclass(frozen=True)
class Evaluated:
    """Lines with one ``_fail_<n>`` column per rule and the score columns."""

    table: ir.Table
    ruleset: RuleSet
    compiled: tuple[CompiledRule, ...]
    rule_columns: dict[str, str]  # rule name -> its failed-flag column

    @property
    def fail_columns(self) -> list[str]:
        return list(self.rule_columns.values())


Materializer = Callable[[ir.Table], ir.Table]
"""Computes a (small) intermediate table once, e.g. ``lambda t: engine.materialize(t, name)``."""


def evaluate(
    lines: ir.Table, ruleset: RuleSet, *, now: datetime, materialize: Materializer | None = None
) -> Evaluated:
    """Add the rule columns and scores to ``lines`` (an expression; nothing runs yet).

    With ``materialize``, the statistics tables are computed once up front, so every query over
    the evaluated lines (counts, silver, quarantine) only joins small ready tables."""
    compiled = tuple(parse_rule(rule) for rule in ruleset)
    specs = list(dict.fromkeys(spec for item in compiled for spec in item.stats))
    with_stats = add_statistics(lines, specs, now=now, materialize=materialize)
    translate = Translator(with_stats, now=now, stat=lambda spec: with_stats[spec.column])
    rule_columns = {item.name: f"_fail_{i}" for i, item in enumerate(compiled)}
    failed = {
        rule_columns[item.name]: (~item.passes(translate)).fill_null(False) for item in compiled
    }
    flagged = with_stats.mutate(**failed)
    pairs = [(flagged[rule_columns[r.name]], r) for r in ruleset]
    quarantine_pairs = [(col, rule.name) for col, rule in pairs if rule.action == "quarantine"]
    scored = flagged.mutate(
        quality_score=line_score([(col, rule.weight) for col, rule in pairs]),
        _quarantined=_any([col for col, _ in quarantine_pairs]),
        _any_failed=_any([col for col, _ in pairs]),
    )
    scored = scored.mutate(
        quality_flags=failed_names(
            [(scored[rule_columns[r.name]], r.name) for r in ruleset], scored._any_failed
        ),
        quarantine_reasons=failed_names(
            [(scored[rule_columns[name]], name) for _, name in quarantine_pairs],
            scored._quarantined,
        ),
    ).drop("_any_failed")
    stat_columns = [c for c in scored.columns if c.startswith("_stat_")]
    table = scored.drop(*stat_columns) if stat_columns else scored
    return Evaluated(table, ruleset, compiled, rule_columns)


def _any(columns: Sequence[ir.BooleanValue]) -> ir.BooleanValue:
    if not columns:
        return ibis.literal(False)
    result = columns[0]
    for column in columns[1:]:
        result = result | column
    return result


# -- statistics ------------------------------------------------------------------------------


def add_statistics(
    lines: ir.Table,
    specs: Sequence[StatSpec],
    *,
    now: datetime,
    materialize: Materializer | None = None,
) -> ir.Table:
    """Join every statistic the rules need onto the lines, as ``spec.column``.

    One small table per partition (e.g. per ``stock_code``) holds every statistic over that
    partition and is joined once. ``robust_z`` needs the median first and then the median (and
    mean) absolute deviation from it, so its partition table is built in two grouped steps.

    Every partition is also split by source batch (:data:`BATCH_COLUMN`, when the lines carry
    it): a line's statistics, and so its score, depend only on the file it came from, never on
    which other files the same run processed. Two runs over two files, one run over both and a
    full refresh therefore score every line the same."""
    if not specs:
        return lines
    by_partition: dict[tuple[str, ...], list[StatSpec]] = defaultdict(list)
    for spec in specs:
        by_partition[spec.partition].append(spec)
    table = lines
    per_batch = (BATCH_COLUMN,) if BATCH_COLUMN in lines.columns else ()
    for spec_partition, group in by_partition.items():
        partition = per_batch + spec_partition
        stats = partition_statistics(lines, partition, group, now=now)
        if materialize is not None:
            stats = materialize(stats)
        table = _attach(table, stats, partition)
    for spec in specs:
        if spec.kind == "robust_z":
            value = _arg(table, spec, now)
            table = table.mutate(**{spec.column: _robust_z(table, spec, value)}).drop(
                f"{spec.column}_med", f"{spec.column}_mad", f"{spec.column}_mean_ad"
            )
    return table


def partition_statistics(
    lines: ir.Table, partition: tuple[str, ...], specs: Sequence[StatSpec], *, now: datetime
) -> ir.Table:
    """The statistics of ``specs`` per value of ``partition`` (keys named ``_pk0``, ...)."""
    first: dict[str, ir.Scalar] = {}
    for spec in specs:
        if spec.kind == "robust_z":
            first[f"{spec.column}_med"] = _arg(lines, spec, now).cast("float64").median()
        elif spec.arg == "*":
            first[spec.column] = lines.count()
        else:
            first[spec.column] = _reduce(spec.kind, _arg(lines, spec, now))
    stage1 = _grouped(lines, partition, first)
    robust = [s for s in specs if s.kind == "robust_z"]
    if not robust:
        return stage1
    joined = _attach(
        lines, stage1.select(*_keys(partition), *[f"{s.column}_med" for s in robust]), partition
    )
    second: dict[str, ir.Scalar] = {}
    for spec in robust:
        deviation = (_arg(joined, spec, now).cast("float64") - joined[f"{spec.column}_med"]).abs()
        second[f"{spec.column}_mad"] = deviation.median()
        second[f"{spec.column}_mean_ad"] = deviation.mean()
    stage2 = _grouped(joined, partition, second)
    if not partition:
        return stage1.cross_join(stage2)
    right = stage2.rename({f"_r{k}": k for k in _keys(partition)})
    predicates = [stage1[k] == right[f"_r{k}"] for k in _keys(partition)]
    return stage1.left_join(right, predicates).drop(*[f"_r{k}" for k in _keys(partition)])


def _keys(partition: tuple[str, ...]) -> list[str]:
    return [f"_pk{i}" for i in range(len(partition))]


def _grouped(
    table: ir.Table, partition: tuple[str, ...], aggregates: dict[str, ir.Scalar]
) -> ir.Table:
    if not partition:
        return table.aggregate(**aggregates)
    keys = {f"_pk{i}": table[column] for i, column in enumerate(partition)}
    return table.group_by(**keys).aggregate(**aggregates)


def _attach(table: ir.Table, stats: ir.Table, partition: tuple[str, ...]) -> ir.Table:
    """Left-join a partition's statistics onto the lines (lines with a NULL key get NULLs)."""
    if not partition:
        return table.cross_join(stats)
    predicates = [table[column] == stats[f"_pk{i}"] for i, column in enumerate(partition)]
    return table.left_join(stats, predicates).drop(*_keys(partition))


def _arg(table: ir.Table, spec: StatSpec, now: datetime) -> ir.Value:
    return Translator(table, now=now, stat=_no_nesting)(spec.arg_ast)


def _no_nesting(spec: StatSpec) -> ir.Value:
    raise ValueError(f"statistics cannot be nested ({spec.kind})")


def _reduce(kind: str, value: ir.Value) -> ir.Scalar:
    if kind == "count":
        result: ir.Scalar = value.count()
    elif kind == "median":
        result = value.cast("float64").median()
    elif kind == "avg":
        result = value.cast("float64").mean()
    elif kind == "stddev":
        result = value.cast("float64").std()
    elif kind == "sum":
        result = value.sum()
    elif kind == "min":
        result = value.min()
    elif kind == "max":
        result = value.max()
    else:
        raise ValueError(f"unknown statistic {kind}")
    return result


def _robust_z(table: ir.Table, spec: StatSpec, value: ir.Value) -> ir.FloatingValue:
    """Modified z-score (Iglewicz & Hoaglin): (x - median) / (1.4826 MAD), with the mean
    absolute deviation standing in when more than half the values equal the median."""
    x = value.cast("float64")
    median = table[f"{spec.column}_med"]
    mad = table[f"{spec.column}_mad"]
    mean_ad = table[f"{spec.column}_mean_ad"]
    deviation = x - median
    result: ir.FloatingValue = ibis.cases(
        (deviation == 0, 0.0),
        (mad > 0, deviation / (mad * _MAD_SCALE)),
        (mean_ad > 0, deviation / (mean_ad * _MEAN_AD_SCALE)),
        else_=ibis.null("float64"),
    )
    return result


# -- summaries -------------------------------------------------------------------------------


def summary_aggregates(evaluated: Evaluated) -> dict[str, ir.Scalar]:
    """Named aggregates of the one summary query (counts per rule, dimension, and overall)."""
    t = evaluated.table
    aggregates: dict[str, ir.Scalar] = {
        "_lines": t.count(),
        "_quarantined": t._quarantined.sum(),
        "_score_sum": t.quality_score.cast("int64").sum(),
    }
    for column in evaluated.fail_columns:
        aggregates[column] = t[column].sum()
    for dimension in DIMENSIONS:
        columns = [
            t[evaluated.rule_columns[r.name]] for r in evaluated.ruleset if r.dimension == dimension
        ]
        if columns:
            aggregates[f"_dim_{dimension}"] = _any(columns).sum()
    return aggregates


def summarise(engine: Engine, evaluated: Evaluated, *, examples: int = 5) -> QualityOutcome:
    """Counts for every rule and dimension, the overall score, and the gates that fire."""
    row = _one_row(engine, evaluated.table.aggregate(**summary_aggregates(evaluated)))
    outcome = outcome_from_counts(evaluated.ruleset, row, evaluated.rule_columns)
    return with_gate_failures(engine, evaluated, outcome, examples=examples)


def small_result(engine: Engine, expr: ir.Table) -> list[dict[str, Any]]:
    """The rows of a small result (counts, examples), converted to the expression's types."""
    rows: list[dict[str, Any]] = engine.to_arrow(expr).to_pylist()
    return rows


def _one_row(engine: Engine, expr: ir.Table) -> dict[str, Any]:
    rows = small_result(engine, expr)
    return rows[0] if rows else {}


def with_gate_failures(
    engine: Engine, evaluated: Evaluated, outcome: QualityOutcome, *, examples: int = 5
) -> QualityOutcome:
    """Attach the ``fail`` rules over their threshold, each with a few example lines."""
    failures = tuple(
        GateFailure(
            r.rule,
            r.lines_failed,
            r.lines_checked,
            failing_examples(engine, evaluated, r.name, limit=examples),
        )
        for r in outcome.rules
        if r.gate_fires
    )
    return QualityOutcome(
        lines_checked=outcome.lines_checked,
        quarantined=outcome.quarantined,
        rules=outcome.rules,
        dimensions=outcome.dimensions,
        overall_score=outcome.overall_score,
        gate_failures=failures,
    )


def failing_examples(
    engine: Engine, evaluated: Evaluated, rule_name: str, *, limit: int = 5
) -> tuple[Example, ...]:
    """The first failing lines of a rule (by file order), with the columns the rule reads."""
    t = evaluated.table
    compiled = next(c for c in evaluated.compiled if c.name == rule_name)
    shown = _columns_shown(compiled, t.columns)
    expr = (
        t.filter(t[evaluated.rule_columns[rule_name]])
        .order_by(["_batch_seq", "_row_number"])
        .limit(limit)
        .select("_source_file", "_row_number", "_batch_seq", *shown)
    )
    rows = small_result(engine, expr)
    return tuple(
        Example(
            source_file=str(row.pop("_source_file")),
            row_number=int(row.pop("_row_number")),
            batch_seq=int(row.pop("_batch_seq")),
            values={k: _plain(v) for k, v in row.items()},
        )
        for row in rows
    )


def _columns_shown(compiled: CompiledRule, available: Sequence[str]) -> list[str]:
    names = ["invoice_no", "stock_code"]
    for column in compiled.tree.find_all(exp.Column):
        name = column.name.lower()
        raw = f"raw_{'invoice_date' if name == 'invoice_ts' else name}"
        names += [name, raw]
    present = [n for n in dict.fromkeys(names) if n in available and not n.startswith("_")]
    return present[:8]


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# -- table tests (dbt-style, on whole tables) ------------------------------------------------


def evaluate_tests(
    engine: Engine, tests: Sequence[TableTest], *, now: datetime | None = None
) -> dict[str, QualityOutcome]:
    """Run every table test; one outcome per tested table (scored and gated like rules).

    Per table, one aggregate query holds the counts of all its column tests; each
    ``relationships`` test is one anti-join count. Nothing is written."""
    moment = now or datetime.now()
    by_table: dict[str, list[TableTest]] = defaultdict(list)
    for test in tests:
        by_table[test.table].append(test)
    outcomes: dict[str, QualityOutcome] = {}
    for name, table_tests in by_table.items():
        table = engine.table(name)
        aggregates: dict[str, ir.Scalar] = {"_rows": table.count()}
        for k, test in enumerate(table_tests):
            aggregates.update(_test_aggregates(table, test, f"_t{k}"))
        row = _one_row(engine, table.aggregate(**aggregates))
        rows = int(row.get("_rows") or 0)
        results: list[RuleOutcome] = []
        for k, test in enumerate(table_tests):
            if test.kind == "relationships":
                checked, failed = _relationship_counts(engine, table, test)
            else:
                checked, failed = _test_counts(test, row, f"_t{k}", rows, moment)
            results.append(RuleOutcome(test.as_rule(), checked, failed))
        outcomes[name] = table_outcome(results, rows)
    return outcomes


def _test_aggregates(table: ir.Table, test: TableTest, key: str) -> dict[str, ir.Scalar]:
    if test.kind in {"row_count", "relationships"}:
        return {}
    column = table[test.column]
    if test.kind == "unique":
        return {f"{key}_n": column.count(), f"{key}_distinct": column.nunique()}
    if test.kind == "not_null":
        return {f"{key}_n": column.count()}
    if test.kind == "accepted_values":
        outside = column.notnull() & ~column.isin(list(test.values))
        return {f"{key}_n": column.count(), f"{key}_failed": outside.sum()}
    return {f"{key}_newest": column.max()}  # freshness


def _test_counts(
    test: TableTest, row: dict[str, Any], key: str, rows: int, now: datetime
) -> tuple[int, int]:
    """(checked, failed) of a column test from the table's aggregate row."""
    if test.kind == "unique":
        values = int(row.get(f"{key}_n") or 0)
        return values, values - int(row.get(f"{key}_distinct") or 0)
    if test.kind == "not_null":
        return rows, rows - int(row.get(f"{key}_n") or 0)
    if test.kind == "accepted_values":
        return int(row.get(f"{key}_n") or 0), int(row.get(f"{key}_failed") or 0)
    if test.kind == "row_count":
        low = test.min_rows if test.min_rows is not None else rows
        high = test.max_rows if test.max_rows is not None else rows
        return 1, 0 if low <= rows <= high else 1
    newest = row.get(f"{key}_newest")
    if isinstance(newest, datetime):
        stamp = newest.replace(tzinfo=None) if newest.tzinfo is None else newest
        reference = now if stamp.tzinfo is None else now.astimezone()
    elif newest is not None:  # a date
        stamp = datetime.combine(newest, datetime.min.time())
        reference = now
    else:
        return 1, 1  # nothing to be fresh
    age_hours = (reference - stamp).total_seconds() / 3600
    return 1, 0 if age_hours <= (test.max_age_hours or 0) else 1


def _relationship_counts(engine: Engine, table: ir.Table, test: TableTest) -> tuple[int, int]:
    """Rows with a non-null key, and those whose key is missing from the referenced table."""
    assert test.column and test.to_table and test.to_column
    keys = table.filter(table[test.column].notnull()).select(key=table[test.column])
    reference = engine.table(test.to_table)
    ref = reference.select(ref_key=reference[test.to_column]).distinct()
    if keys.key.type() != ref.ref_key.type():  # compare as text rather than fail on types
        keys = keys.select(key=keys.key.cast("string"))
        ref = ref.select(ref_key=ref.ref_key.cast("string"))
    missing = keys.anti_join(ref, keys.key == ref.ref_key)
    row = _one_row(
        engine,
        keys.aggregate(n=keys.count()).cross_join(missing.aggregate(m=missing.count())),
    )
    return int(row.get("n") or 0), int(row.get("m") or 0)


# -- retail quality check --------------------------------------------------------------------


def check_current(
    lake: Lake,
    engine: Engine,
    rules: RuleSet,
    *,
    now: datetime | None = None,
    time_zone: str = "UTC",
) -> CheckResult:
    """Evaluate ``rules`` over the lines currently in silver (and quarantine), writing nothing.

    The lines are re-derived from the bronze batches silver has processed (up to its
    watermark), exactly as a run would see them, so rules may use the raw text columns and the
    result matches what ``retail run --full-refresh`` with these rules would decide."""
    from retail_lakehouse.pipeline.silver.transform import build_pass, processed_batches

    batches = processed_batches(lake)
    if not batches:
        return QualityOutcome(0, 0, (), (), None)
    silver_pass = build_pass(
        engine,
        rules,
        batches=batches,
        existing=False,
        now=now or datetime.now(),
        time_zone=time_zone,
    )
    return silver_pass.outcome()

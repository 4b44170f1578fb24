"""Data quality from the meta tables: the latest scores, their history, quarantined lines."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retail_lakehouse.quality.history import ingest_rejects, weighted_trend
from retail_lakehouse.serve.filters import Paging
from retail_lakehouse.serve.models import (
    LakeScoreOut,
    QualityHistory,
    QualityLatest,
    QualityPoint,
    QualityRun,
    QualityTrend,
    QuarantineLine,
    QuarantinePage,
    RejectedLineOut,
    Rejects,
    RuleResult,
    ScorePart,
)
from retail_lakehouse.serve.readers import Snapshot

SCORED_TABLE = "silver.sales_lines"


def latest(snapshot: Snapshot, table: str = SCORED_TABLE) -> QualityLatest:
    """The latest run's results for ``table`` (silver's lines, or a table with table tests)."""
    head = snapshot.scalar_row(
        """
        SELECT run_id, table_name, computed_at FROM meta.quality_scores
        WHERE scope = 'overall' AND table_name = $table
        ORDER BY computed_at DESC, run_id DESC LIMIT 1
        """,
        {"table": table},
    )
    if not head:
        return QualityLatest(
            run_id=None,
            table_name=None,
            computed_at=None,
            overall=None,
            grade=None,
            dimensions=[],
            rules=[],
        )
    params = {"run": head["run_id"], "table": head["table_name"]}
    parts = snapshot.rows(
        "SELECT scope, name, score, grade, lines_checked FROM meta.quality_scores "
        "WHERE run_id = $run AND table_name = $table ORDER BY scope DESC, name",
        params,
    )
    rules = snapshot.rows(
        "SELECT rule, dimension, action, weight, lines_checked, lines_failed, score "
        "FROM meta.quality_results WHERE run_id = $run AND table_name = $table "
        "ORDER BY score, rule",
        params,
    )
    overall = next((p for p in parts if p["scope"] == "overall"), None)
    return QualityLatest(
        run_id=head["run_id"],
        table_name=head["table_name"],
        computed_at=head["computed_at"],
        overall=overall["score"] if overall else None,
        grade=overall["grade"] if overall else None,
        dimensions=[ScorePart.model_validate(p) for p in parts if p["scope"] != "overall"],
        rules=[RuleResult.model_validate(r) for r in rules],
    )


def history(snapshot: Snapshot, limit: int) -> QualityHistory:
    rows = snapshot.rows(
        """
        WITH runs AS (
            SELECT run_id, table_name, max(computed_at) AS computed_at
            FROM meta.quality_scores GROUP BY run_id, table_name
            ORDER BY computed_at DESC LIMIT $limit
        )
        SELECT r.run_id, r.table_name, r.computed_at,
               max(s.score) FILTER (WHERE s.scope = 'overall') AS overall,
               max(s.grade) FILTER (WHERE s.scope = 'overall') AS grade,
               max(s.lines_checked) FILTER (WHERE s.scope = 'overall') AS lines_checked,
               map_from_entries(
                   coalesce(list({'k': s.name, 'v': s.score}) FILTER (WHERE s.scope <> 'overall'),
                            [])
               ) AS dimensions
        FROM runs r JOIN meta.quality_scores s USING (run_id, table_name)
        GROUP BY ALL
        ORDER BY r.computed_at, r.run_id
        """,
        {"limit": limit},
    )
    runs: list[QualityRun] = []
    for row in rows:
        dims = row.pop("dimensions") or []
        pairs: Any = dims.items() if isinstance(dims, dict) else dims
        runs.append(QualityRun(**row, dimensions={str(k): float(v) for k, v in pairs}))
    return QualityHistory(runs=runs)


def trend(snapshot: Snapshot, limit: int) -> QualityTrend:
    """Per-run scores with the line-weighted trend (over every run, then cut to ``limit``) and
    the lake's current score (derived once per snapshot)."""
    from retail_lakehouse.quality.scoring import grade  # imports ibis: only when asked

    rows = snapshot.rows(
        """
        SELECT run_id, computed_at, score, grade, coalesce(lines_checked, 0) AS lines_checked
        FROM meta.quality_scores
        WHERE scope = 'overall' AND table_name = $table
        ORDER BY computed_at, run_id
        """,
        {"table": SCORED_TABLE},
    )
    weighted = weighted_trend([(float(r["score"]), int(r["lines_checked"])) for r in rows])
    points = [
        QualityPoint.model_validate({**r, "weighted_score": w})
        for r, w in zip(rows, weighted, strict=True)
    ][-limit:]
    current = snapshot.scalar_row("SELECT score, lines FROM serve_mem.lake_score")
    score = None if current.get("score") is None else round(float(current["score"]), 2)
    return QualityTrend(
        points=points,
        current=LakeScoreOut(score=score, grade=grade(score), lines=int(current.get("lines") or 0)),
    )


def rejects(snapshot: Snapshot, examples: int) -> Rejects:
    """Lines rejected at ingest: count, reasons and the latest examples."""
    summary = ingest_rejects(snapshot.rows, examples=examples)
    return Rejects(
        lines=summary.lines,
        reasons=summary.reasons,
        examples=[RejectedLineOut.model_validate(e) for e in summary.examples],
    )


def known_rules(snapshot: Snapshot, rule_files: Sequence[Path]) -> set[str]:
    """Rule names a quarantine filter may name: the rules in effect (the shipped defaults and
    the configured files) and any reason already recorded in the quarantine (a rule since
    removed still names the lines it caught)."""
    from retail_lakehouse.pipeline.errors import RulesError
    from retail_lakehouse.quality.rules import load_rules

    recorded = snapshot.rows(
        "SELECT DISTINCT unnest(quarantine_reasons) AS reason FROM silver.quarantine"
    )
    names = {str(r["reason"]) for r in recorded}
    try:
        names.update(load_rules(rule_files, validate=False).names())
    except RulesError:  # a broken rules file stops runs, not reads: the recorded names remain
        names.update(load_rules(validate=False).names())
    return names


def quarantine(snapshot: Snapshot, rule: str | None, paging: Paging) -> QuarantinePage:
    where = "(CAST($rule AS VARCHAR) IS NULL OR list_contains(quarantine_reasons, $rule))"
    total = snapshot.scalar_row(
        f"SELECT count(*) AS n FROM silver.quarantine WHERE {where}", {"rule": rule}
    )["n"]
    rows = snapshot.rows(
        f"""
        SELECT invoice_no, stock_code, description, quantity, unit_price, invoice_ts,
               customer_id, country, coalesce(quarantine_reasons, []) AS quarantine_reasons,
               raw_quantity, raw_unit_price, raw_invoice_date, raw_country,
               _source_file AS source_file, _row_number AS row_number, _batch_id AS batch_id
        FROM silver.quarantine WHERE {where}
        ORDER BY _batch_seq, _row_number LIMIT $limit OFFSET $offset
        """,
        {"rule": rule, **paging.params()},
    )
    by_rule = snapshot.rows(
        "SELECT reason, count(*) AS n FROM (SELECT unnest(quarantine_reasons) AS reason "
        "FROM silver.quarantine) GROUP BY reason ORDER BY n DESC, reason"
    )
    return QuarantinePage(
        rows=[QuarantineLine.model_validate(r) for r in rows],
        page=paging.page,
        page_size=paging.page_size,
        total_rows=int(total),
        total_pages=math.ceil(total / paging.page_size) if total else 0,
        by_rule={r["reason"]: int(r["n"]) for r in by_rule},
    )

"""Quality scores: per line, per rule, per dimension, overall, and the letter grade.

- A line's ``quality_score`` is 100 minus the weights of the rules it fails, floored at 0.
- A rule's score is the share of checked lines that pass it (0-100).
- A dimension's score is the share of checked lines that pass *every* rule of the dimension.
- The overall score is the mean line ``quality_score`` over the checked lines: the rule weights
  decide how much each kind of problem costs, and the number reads as "the average line scores
  92 out of 100".

Grades (documented in docs/quality-rules.md): A >= 90, B >= 80, C >= 70, D >= 60, F below.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

GRADE_SCALE: tuple[tuple[float, str], ...] = ((90.0, "A"), (80.0, "B"), (70.0, "C"), (60.0, "D"))


def grade(score: float | None) -> str | None:
    """Letter grade of a 0-100 score (None when nothing was checked)."""
    if score is None:
        return None
    for floor, letter in GRADE_SCALE:
        if score >= floor:
            return letter
    return "F"


def share_passing(checked: int, failed: int) -> float:
    """Percentage of checked lines that pass (100 when nothing was checked)."""
    if checked <= 0:
        return 100.0
    return round(100.0 * (checked - failed) / checked, 4)


def line_score(failed: Sequence[tuple[ir.BooleanValue, float]]) -> ir.IntegerValue:
    """``quality_score`` expression: 100 minus the weights of the failed rules, at least 0.

    Whole-number weights (the usual case) are summed as integers; a float literal such as
    ``30.0`` is a DECIMAL in DuckDB's SQL, and a chain of 24 widening decimal additions costs a
    noticeable share of the rules' pass. Fractional weights are summed as doubles."""
    weights = [(is_failed, weight) for is_failed, weight in failed if weight]
    if all(float(weight).is_integer() for _, weight in weights):
        points: ir.IntegerValue = ibis.literal(0, type="int64")
        for is_failed, weight in weights:
            points = points + ibis.ifelse(is_failed, int(weight), 0)
        whole: ir.IntegerValue = ibis.greatest(100 - points, 0).cast("int32")
        return whole
    penalty: ir.FloatingValue = ibis.literal(0.0, type="float64")
    for is_failed, weight in weights:
        penalty = penalty + ibis.ifelse(
            is_failed, ibis.literal(weight, type="float64"), ibis.literal(0.0, type="float64")
        )
    score: ir.IntegerValue = (100.0 - penalty).clip(lower=0.0).round().cast("int32")
    return score


def failed_names(
    failed: Sequence[tuple[ir.BooleanValue, str]], any_failed: ir.BooleanValue | None = None
) -> ir.ArrayValue:
    """An array of the names of the failed rules (empty, never NULL, when none failed).

    Built as comma-joined text split once (rule names cannot contain commas), and only for lines
    that failed something (``any_failed``): most lines pass everything, and building a list per
    line is the expensive part."""
    empty: ir.ArrayValue = ibis.literal([], type="array<string>")
    if not failed:
        return empty
    joined = ibis.literal(",").join(
        [ibis.ifelse(is_failed, name, ibis.null("string")) for is_failed, name in failed]
    )
    condition = any_failed if any_failed is not None else joined != ""
    result: ir.ArrayValue = ibis.ifelse(condition, joined.split(","), empty)
    return result

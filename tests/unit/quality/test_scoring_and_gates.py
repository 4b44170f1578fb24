"""Letter grades, shares, and when a ``fail`` rule stops a run."""

from __future__ import annotations

import pytest

from retail_lakehouse.quality.results import (
    EXACT_DUPLICATES,
    DimensionOutcome,
    QualityOutcome,
    RuleOutcome,
    outcome_from_counts,
    with_uniqueness,
)
from retail_lakehouse.quality.rules import Rule, rules_from_text
from retail_lakehouse.quality.scoring import grade, share_passing


@pytest.mark.parametrize(
    ("score", "letter"),
    [(100, "A"), (90, "A"), (89.99, "B"), (80, "B"), (75, "C"), (60, "D"), (59.9, "F"), (0, "F")],
)
def test_grade_scale(score: float, letter: str) -> None:
    assert grade(score) == letter


def test_no_lines_no_grade() -> None:
    assert grade(None) is None
    assert share_passing(0, 0) == 100.0
    assert share_passing(4, 1) == 75.0


def gate(threshold: float | None) -> Rule:
    return Rule("g", "validity", "quantity > 0", 1.0, "fail", threshold)


@pytest.mark.parametrize(
    ("threshold", "failed", "checked", "fires"),
    [
        (None, 0, 100, False),
        (None, 1, 100, True),
        (0.0, 1, 100, True),
        (0.01, 1, 100, False),  # exactly at the threshold: allowed
        (0.01, 2, 100, True),
        (0.5, 50, 100, False),
        (1.0, 100, 100, False),
        (None, 0, 0, False),
    ],
)
def test_threshold_is_the_share_allowed_to_fail(
    threshold: float | None, failed: int, checked: int, fires: bool
) -> None:
    assert RuleOutcome(gate(threshold), checked, failed).gate_fires is fires


def test_warn_and_quarantine_rules_never_fire() -> None:
    for action in ("warn", "quarantine"):
        rule = Rule("r", "validity", "x", 1.0, action)  # type: ignore[arg-type]
        assert not RuleOutcome(rule, 10, 10).gate_fires


def test_outcome_from_the_summary_counts() -> None:
    rules = rules_from_text(
        "rules:\n"
        "  - {name: a, dimension: completeness, weight: 5, action: warn, expression: true}\n"
        "  - {name: b, dimension: validity, weight: 5, action: warn, expression: true}\n"
    )
    counts = {
        "_lines": 10,
        "_quarantined": 2,
        "_score_sum": 950,
        "_fail_0": 1,
        "_fail_1": 3,
        "_dim_completeness": 1,
        "_dim_validity": 3,
    }
    outcome = outcome_from_counts(rules, counts, {"a": "_fail_0", "b": "_fail_1"})
    assert outcome.overall_score == 95.0 and outcome.grade == "A"
    assert [(r.name, r.lines_failed, r.score) for r in outcome.rules] == [
        ("a", 1, 90.0),
        ("b", 3, 70.0),
    ]
    assert [(d.name, d.score) for d in outcome.dimensions] == [
        ("completeness", 90.0),
        ("validity", 70.0),
    ]
    assert outcome.passed


def test_exact_duplicates_make_the_uniqueness_score() -> None:
    base = QualityOutcome(
        lines_checked=90,
        quarantined=0,
        rules=(),
        dimensions=(DimensionOutcome("validity", 90, 9, 1),),
        overall_score=99.0,
    )
    outcome = with_uniqueness(base, bronze_lines=100, duplicates=10)
    assert outcome.rule("no_exact_duplicates").rule is EXACT_DUPLICATES
    assert outcome.rule("no_exact_duplicates").score == 90.0
    assert [(d.name, d.lines_checked, d.lines_failed) for d in outcome.dimensions] == [
        ("validity", 90, 9),
        ("uniqueness", 100, 10),
    ]
    assert outcome.overall_score == 99.0

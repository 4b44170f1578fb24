"""Outcomes of evaluating the rules, and their history rows in ``meta.quality_results`` and
``meta.quality_scores`` (written on every run so reports and alerts have trends to work with)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from retail_lakehouse.lake import Lake, arrays
from retail_lakehouse.lake.contracts.meta import META_QUALITY_RESULTS, META_QUALITY_SCORES
from retail_lakehouse.quality.rules import DIMENSIONS, Rule, RuleSet
from retail_lakehouse.quality.scoring import grade, share_passing

TABLE_NAME = "silver.sales_lines"
"""The table the rules judge (quarantined lines are part of the checked population)."""


@dataclass(frozen=True)
class Example:
    """A failing line, identified the way a user finds it: file and line number."""

    source_file: str
    row_number: int
    batch_seq: int
    values: Mapping[str, Any]

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{self.source_file} line {self.row_number}: {shown}"


@dataclass(frozen=True)
class RuleOutcome:
    """How one rule did over the checked lines."""

    rule: Rule
    lines_checked: int
    lines_failed: int

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def score(self) -> float:
        return share_passing(self.lines_checked, self.lines_failed)

    @property
    def failed_share(self) -> float:
        return self.lines_failed / self.lines_checked if self.lines_checked else 0.0

    @property
    def gate_fires(self) -> bool:
        """A ``fail`` rule fires when the share of failing lines exceeds its threshold."""
        return (
            self.rule.action == "fail"
            and self.lines_failed > 0
            and self.failed_share > self.rule.allowed_share
        )


@dataclass(frozen=True)
class DimensionOutcome:
    """Share of lines passing every rule of one dimension."""

    name: str
    lines_checked: int
    lines_failed: int
    rules: int

    @property
    def score(self) -> float:
        return share_passing(self.lines_checked, self.lines_failed)


@dataclass(frozen=True)
class GateFailure:
    """A ``fail`` rule over its threshold, with a few failing lines to look at."""

    rule: Rule
    lines_failed: int
    lines_checked: int
    examples: tuple[Example, ...] = ()

    def describe(self) -> str:
        share = 100.0 * self.lines_failed / self.lines_checked if self.lines_checked else 0.0
        allowed = 100.0 * self.rule.allowed_share
        lines = [
            f"quality gate {self.rule.name!r} failed: {self.lines_failed:,} of "
            f"{self.lines_checked:,} lines ({share:.2f}%) fail `{self.rule.expression}` "
            f"(allowed: {allowed:.2f}%)"
        ]
        lines += [f"  e.g. {example.describe()}" for example in self.examples]
        return "\n".join(lines)


@dataclass(frozen=True)
class QualityOutcome:
    """Everything the rules said about one population of lines."""

    lines_checked: int
    quarantined: int
    rules: tuple[RuleOutcome, ...]
    dimensions: tuple[DimensionOutcome, ...]
    overall_score: float | None
    gate_failures: tuple[GateFailure, ...] = field(default=())

    @property
    def grade(self) -> str | None:
        return grade(self.overall_score)

    @property
    def passed(self) -> bool:
        """True when no gate fires (what ``retail quality check`` exits 0 on)."""
        return not self.gate_failures

    def rule(self, name: str) -> RuleOutcome:
        for outcome in self.rules:
            if outcome.name == name:
                return outcome
        raise KeyError(name)


CheckResult = QualityOutcome
"""What :func:`retail_lakehouse.quality.evaluate.check_current` returns."""


def outcome_from_counts(
    ruleset: RuleSet, counts: Mapping[str, Any], rule_columns: Mapping[str, str]
) -> QualityOutcome:
    """Build the outcome from the one-row aggregate of the evaluated lines."""
    checked = int(counts.get("_lines") or 0)
    rules = tuple(
        RuleOutcome(rule, checked, int(counts.get(rule_columns[rule.name]) or 0))
        for rule in ruleset
    )
    dimensions = tuple(
        DimensionOutcome(
            dim,
            checked,
            int(counts.get(f"_dim_{dim}") or 0),
            sum(1 for r in ruleset if r.dimension == dim),
        )
        for dim in DIMENSIONS
        if any(r.dimension == dim for r in ruleset)
    )
    score_sum = counts.get("_score_sum")
    overall = round(float(score_sum) / checked, 4) if checked and score_sum is not None else None
    return QualityOutcome(
        lines_checked=checked,
        quarantined=int(counts.get("_quarantined") or 0),
        rules=rules,
        dimensions=dimensions,
        overall_score=overall,
    )


EXACT_DUPLICATES = Rule(
    name="no_exact_duplicates",
    dimension="uniqueness",
    expression="(built in) the line is not an exact copy of an earlier line",
    weight=0.0,
    action="warn",
    description=(
        "Exact duplicates (equal in every business column after standardisation) are removed "
        "before the rules run and recorded in silver.duplicates; this counts them, over every "
        "bronze line of the run."
    ),
    source="<built-in>",
)
"""Not a YAML rule: the deduplication step reported like one, so uniqueness has a score."""


def with_uniqueness(outcome: QualityOutcome, bronze_lines: int, duplicates: int) -> QualityOutcome:
    """Add the exact-duplicate result and fold it into the uniqueness dimension.

    The uniqueness dimension then counts, over every bronze line, the lines removed as exact
    duplicates plus the kept lines failing any uniqueness rule."""
    builtin = RuleOutcome(EXACT_DUPLICATES, bronze_lines, duplicates)
    dimensions = [d for d in outcome.dimensions if d.name != "uniqueness"]
    ruled = next((d for d in outcome.dimensions if d.name == "uniqueness"), None)
    uniqueness = DimensionOutcome(
        "uniqueness",
        bronze_lines,
        duplicates + (ruled.lines_failed if ruled else 0),
        1 + (ruled.rules if ruled else 0),
    )
    dimensions.append(uniqueness)
    dimensions.sort(key=lambda d: DIMENSIONS.index(d.name))
    return QualityOutcome(
        lines_checked=outcome.lines_checked,
        quarantined=outcome.quarantined,
        rules=(*outcome.rules, builtin),
        dimensions=tuple(dimensions),
        overall_score=outcome.overall_score,
        gate_failures=outcome.gate_failures,
    )


def table_outcome(outcomes: Sequence[RuleOutcome], rows: int) -> QualityOutcome:
    """The outcome of one table's tests, scored like rules: each test's score is the share of
    its checks passing; a dimension's score pools the checks of its tests; the overall score is
    the mean of the test scores weighted by their ``weight`` (plain mean when all weigh 0), so a
    one-check ``row_count`` test counts as much as a million-row ``unique`` of equal weight."""
    dimensions = tuple(
        DimensionOutcome(
            dim,
            sum(o.lines_checked for o in outcomes if o.rule.dimension == dim),
            sum(o.lines_failed for o in outcomes if o.rule.dimension == dim),
            sum(1 for o in outcomes if o.rule.dimension == dim),
        )
        for dim in DIMENSIONS
        if any(o.rule.dimension == dim for o in outcomes)
    )
    weights = [o.rule.weight for o in outcomes]
    if not sum(weights):
        weights = [1.0] * len(outcomes)
    overall = (
        round(sum(o.score * w for o, w in zip(outcomes, weights, strict=True)) / sum(weights), 4)
        if outcomes
        else None
    )
    return QualityOutcome(
        lines_checked=rows,
        quarantined=0,
        rules=tuple(outcomes),
        dimensions=dimensions,
        overall_score=overall,
        gate_failures=tuple(
            GateFailure(o.rule, o.lines_failed, o.lines_checked) for o in outcomes if o.gate_fires
        ),
    )


def write_results(
    lake: Lake, run_id: str, outcome: QualityOutcome, table: str = TABLE_NAME
) -> None:
    """Append this run's per-rule rows and overall/per-dimension score rows for ``table``
    (silver's lines, or a table judged by table tests)."""
    now = datetime.now(UTC)
    results = arrays.table(
        {
            "run_id": [run_id] * len(outcome.rules),
            "table_name": [table] * len(outcome.rules),
            "rule": [r.name for r in outcome.rules],
            "dimension": [r.rule.dimension for r in outcome.rules],
            "action": [r.rule.action for r in outcome.rules],
            "weight": [r.rule.weight for r in outcome.rules],
            "lines_checked": [r.lines_checked for r in outcome.rules],
            "lines_failed": [r.lines_failed for r in outcome.rules],
            "score": [r.score for r in outcome.rules],
            "checked_at": [now] * len(outcome.rules),
        },
        META_QUALITY_RESULTS.schema,
    )
    if results.num_rows:
        lake.write(META_QUALITY_RESULTS.qualified, results)
    scopes = [("overall", "overall", outcome.overall_score, outcome.grade)] + [
        ("dimension", d.name, d.score, grade(d.score)) for d in outcome.dimensions
    ]
    scopes = [s for s in scopes if s[2] is not None]
    scores = arrays.table(
        {
            "run_id": [run_id] * len(scopes),
            "table_name": [table] * len(scopes),
            "scope": [s[0] for s in scopes],
            "name": [s[1] for s in scopes],
            "score": [s[2] for s in scopes],
            "grade": [s[3] for s in scopes],
            "lines_checked": [outcome.lines_checked] * len(scopes),
            "computed_at": [now] * len(scopes),
        },
        META_QUALITY_SCORES.schema,
    )
    if scores.num_rows:
        lake.write(META_QUALITY_SCORES.qualified, scores)

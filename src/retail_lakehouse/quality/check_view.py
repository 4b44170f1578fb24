"""How ``retail quality check`` shows an evaluation: a Rich table per rule, or JSON for CI.

The evaluation itself belongs to :mod:`retail_lakehouse.quality.evaluate`; this module only
decides what a person (or a CI job) needs to see to act: which rules fail how many lines, what
each action would do with them, and which gates would stop a run, with example lines.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from retail_lakehouse.quality.report_terminal import style_for
from retail_lakehouse.quality.results import QualityOutcome, RuleOutcome


def verdict(result: RuleOutcome) -> tuple[str, str]:
    """What a run would do about this rule's failures, and the style to show it in."""
    if not result.lines_failed:
        return "ok", "green"
    if result.gate_fires:
        return "GATE FAILS", "bold red"
    if result.rule.action == "fail":
        return "within threshold", "yellow"
    if result.rule.action == "quarantine":
        return "quarantined", "red"
    return "flagged", "yellow"


def render_check(outcome: QualityOutcome, console: Console) -> None:
    """Per-rule table, the score a run would record, then every gate that would fail."""
    table = Table(
        "rule",
        "dimension",
        "action",
        "failed",
        "share",
        "allowed",
        "result",
        title=f"quality check of {outcome.lines_checked:,} current lines",
        title_justify="left",
    )
    for result in sorted(outcome.rules, key=lambda r: (-r.lines_failed, r.name)):
        label, style = verdict(result)
        allowed = f"{100 * result.rule.allowed_share:.2f}%" if result.rule.action == "fail" else ""
        table.add_row(
            result.name,
            result.rule.dimension,
            result.rule.action,
            f"{result.lines_failed:,}",
            f"{100 * result.failed_share:.2f}%",
            allowed,
            Text(label, style=style),
        )
    parts: list[Table | Text] = [table]
    if outcome.overall_score is not None:
        parts.append(
            Text.assemble(
                "overall score ",
                (f"{outcome.overall_score:.1f}", f"bold {style_for(outcome.overall_score)}"),
                f" (grade {outcome.grade}) · ",
                ", ".join(f"{d.name} {d.score:.1f}" for d in outcome.dimensions),
                f" · {outcome.quarantined:,} lines would be quarantined",
            )
        )
    if outcome.passed:
        parts.append(Text("no quality gate would fail", style="green"))
    for failure in outcome.gate_failures:
        parts.append(Text(failure.describe(), style="red"))
    console.print(Group(*parts))


def check_as_dict(outcome: QualityOutcome) -> dict[str, Any]:
    """The evaluation as plain data (``retail quality check --json``)."""
    return {
        "passed": outcome.passed,
        "lines_checked": outcome.lines_checked,
        "quarantined": outcome.quarantined,
        "overall_score": outcome.overall_score,
        "grade": outcome.grade,
        "dimensions": {d.name: d.score for d in outcome.dimensions},
        "rules": [
            {
                "rule": r.name,
                "dimension": r.rule.dimension,
                "action": r.rule.action,
                "lines_checked": r.lines_checked,
                "lines_failed": r.lines_failed,
                "score": r.score,
                "result": verdict(r)[0],
            }
            for r in outcome.rules
        ],
        "gate_failures": [
            {
                "rule": g.rule.name,
                "lines_failed": g.lines_failed,
                "lines_checked": g.lines_checked,
                "examples": [
                    {"source_file": e.source_file, "row_number": e.row_number, **e.values}
                    for e in g.examples
                ],
            }
            for g in outcome.gate_failures
        ],
    }

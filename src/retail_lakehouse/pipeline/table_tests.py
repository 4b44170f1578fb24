"""Table tests in a run: dbt-style tests on whole tables (usually gold), after gold is built.

The tests come from the same YAML files as the rules (a top-level ``tests:`` list, see
``quality/rules.py``), are evaluated by ``quality/evaluate.py`` and recorded by
``quality/results.py`` exactly like rules: per test in ``meta.quality_results``, per table in
``meta.quality_scores`` (so ``retail quality report --table gold.fact_sales`` reports on them).
A ``fail`` test over its threshold stops the run (exit 1) naming the test, after its results
are recorded.

They run after gold's commits, in runs that changed gold: the failing run is recorded as failed
in ``meta.runs``, and its gold stays published, as in dbt, where a test judges a built model
(decision 0009).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.runs import RunContext
from retail_lakehouse.pipeline.errors import GateFailed


@dataclass
class TableTestsReport:
    """What the table tests said, per table."""

    tables: dict[str, tuple[float | None, int, int]] = field(default_factory=dict)
    """table -> (score, tests, failing tests)."""

    def render(self) -> Text:
        if not self.tables:
            return Text("")
        parts = [
            f"{name}: {score:.1f} ({tests - failing}/{tests} tests pass)"
            if score is not None
            else f"{name}: no test"
            for name, (score, tests, failing) in self.tables.items()
        ]
        return Text("table tests  " + " · ".join(parts))


def process(
    lake: Lake, engine: Engine, run: RunContext, rule_files: Sequence[Path]
) -> TableTestsReport | None:
    """Run the table tests of ``rule_files`` (and the defaults); None when there are none."""
    from retail_lakehouse.quality.evaluate import evaluate_tests
    from retail_lakehouse.quality.results import write_results
    from retail_lakehouse.quality.rules import load_rules

    tests = load_rules(list(rule_files), validate=False).tests
    if not tests:
        return None
    report = TableTestsReport()
    failures: list[str] = []
    for table, outcome in evaluate_tests(engine, tests).items():
        write_results(lake, run.run_id, outcome, table)
        failing = sum(1 for r in outcome.rules if r.lines_failed)
        report.tables[table] = (outcome.overall_score, len(outcome.rules), failing)
        failures += [
            failure.describe()
            .replace("quality gate", "table test", 1)
            .replace(" lines (", " checks (", 1)
            for failure in outcome.gate_failures
        ]
    if failures:
        raise GateFailed("\n".join(failures))
    return report

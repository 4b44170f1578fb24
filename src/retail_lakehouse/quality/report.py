"""The quality report: one run's scores, worst rules, failing lines and history, as data and HTML.

:func:`build_report` gathers everything from the lake once into a :class:`QualityReport`; the
terminal (``retail quality report``) and the HTML page (``--html``) both render that object, so
they always tell the same story. The HTML is a single self-contained file: inline CSS, charts as
inline SVG drawn here, no scripts and no external requests, so it can be mailed or archived and
still open offline years later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from retail_lakehouse import __version__
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.store import Lake
from retail_lakehouse.quality import report_charts
from retail_lakehouse.quality.alerts import recent_alerts
from retail_lakehouse.quality.history import (
    DEFAULT_TABLE,
    FailingLine,
    LakeScore,
    ReasonCount,
    RejectSummary,
    RuleResult,
    RunScores,
    failing_lines,
    ingest_rejects,
    lake_query,
    lake_score,
    quarantine_reasons,
    quarantined_lines,
    rule_results,
    score_history,
    weighted_trend,
)

_TEMPLATES = Path(__file__).parent / "templates"


class NoQualityHistory(LookupError):
    """No run has scored the table yet: there is nothing to report."""


class UnknownRun(LookupError):
    """The requested run id has no quality scores for the table."""


@dataclass(frozen=True)
class RuleInfo:
    """What a rule checks, as currently defined: shown next to its results."""

    expression: str
    description: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class WorstRule:
    """A rule that failed lines in the reported run, with examples of those lines."""

    result: RuleResult
    examples: list[FailingLine]
    info: RuleInfo | None = None


@dataclass(frozen=True)
class QualityReport:
    """Everything a quality report shows, read from the lake in one go."""

    lake: str
    table: str
    run: RunScores
    previous: RunScores | None
    history: list[RunScores]
    rules: list[RuleResult]
    worst: list[WorstRule]
    reasons: list[ReasonCount]
    quarantined: int
    alerts: list[dict[str, Any]] = field(default_factory=list)
    rejects: RejectSummary = field(default_factory=lambda: RejectSummary(0, {}, []))
    current: LakeScore | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def change(self) -> float | None:
        """Overall score change since the previous run (None for the first run)."""
        return None if self.previous is None else self.run.overall - self.previous.overall

    @property
    def weighted(self) -> list[float]:
        """The line-weighted trend, one value per run of :attr:`history`."""
        return weighted_trend([(r.overall, r.lines_checked) for r in self.history])

    @property
    def failing_rules(self) -> int:
        return sum(1 for r in self.rules if r.lines_failed)


def describe_rules(extra: Sequence[Path] = ()) -> dict[str, RuleInfo]:
    """Expression, description and columns of every rule in effect (defaults + ``extra``).

    Results in the lake name rules, not what they check; this reads the current definitions so
    a report can say *which columns* fail. A rules file that no longer loads only costs the
    report that detail, never the report itself."""
    from sqlglot import exp, parse_one
    from sqlglot.errors import ParseError, TokenError

    from retail_lakehouse.pipeline.errors import RulesError
    from retail_lakehouse.quality.rules import load_rules

    try:
        ruleset = load_rules(list(extra), validate=False)
    except (RulesError, OSError):
        return {}
    described: dict[str, RuleInfo] = {}
    for rule in ruleset:
        try:
            tree = parse_one(rule.expression, read="duckdb")
            in_order = (n for n in tree.walk(bfs=False) if isinstance(n, exp.Column))
            columns = tuple(dict.fromkeys(c.name.lower() for c in in_order))
        except (ParseError, TokenError):  # an unparsable expression just lists no columns
            columns = ()
        described[rule.name] = RuleInfo(rule.expression, rule.description, columns)
    return described


def build_report(
    lake: Lake,
    *,
    run_id: str | None = None,
    table: str = DEFAULT_TABLE,
    top: int = 10,
    examples: int = 3,
    rule_info: dict[str, RuleInfo] | None = None,
) -> QualityReport:
    """Read one run's report (the latest by default) from the lake.

    Raises :class:`NoQualityHistory` when no run scored ``table`` and :class:`UnknownRun` when
    ``run_id`` is not among the runs that did. ``rule_info`` (from :func:`describe_rules`) adds
    what each failing rule checks."""
    with LakeSQL(lake) as sql:
        history = score_history(sql, table)
        if not history:
            raise NoQualityHistory(_no_history_advice(sql, table))
        position = len(history) - 1
        if run_id is not None:
            ids = [r.run_id for r in history]
            if run_id not in ids:
                recent = ", ".join(ids[-5:])
                raise UnknownRun(
                    f"run {run_id!r} has no quality scores for {table}; recent runs: {recent}"
                )
            position = ids.index(run_id)
        run = history[position]
        rules = rule_results(sql, run.run_id, table)
        worst = [
            WorstRule(
                result,
                failing_lines(sql, result.rule, run_id=run.run_id, limit=examples)
                if table == DEFAULT_TABLE
                else [],
                (rule_info or {}).get(result.rule),
            )
            for result in [r for r in rules if r.lines_failed][:top]
        ]
        reasons = quarantine_reasons(sql, run.run_id)
        quarantined = quarantined_lines(sql)
        alerts = recent_alerts(sql, [r.run_id for r in history])
        rejects = ingest_rejects(lake_query(sql), examples=examples)
        current = lake_score(lake_query(sql)) if table == DEFAULT_TABLE else None
    return QualityReport(
        lake=str(lake.root),
        table=table,
        run=run,
        previous=history[position - 1] if position > 0 else None,
        history=history,
        rules=rules,
        worst=worst,
        reasons=reasons,
        quarantined=quarantined,
        alerts=alerts,
        rejects=rejects,
        current=current,
    )


def _no_history_advice(sql: LakeSQL, table: str) -> str:
    """Why ``table`` has no scores, and what would give it some: a run only helps a table that
    runs score (advising ``retail run`` for a table no run ever scores sends the user in a
    circle)."""
    scored = [
        str(r["table_name"])
        for r in sql.arrow(
            "SELECT DISTINCT table_name FROM meta.quality_scores ORDER BY table_name"
        ).to_pylist()
    ]
    if table == DEFAULT_TABLE:
        return f"no quality scores for {table} yet: run `retail ingest FILES` then `retail run`"
    tables = sorted({DEFAULT_TABLE, *scored})
    return (
        f"{table} is not a table that runs score: quality is scored on "
        f"{', '.join(tables)}; report on one of those with --table"
    )


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["colour"] = report_charts.score_colour
    env.filters["value"] = format_value
    return env


def format_value(value: Any) -> str:
    """A cell value as a person reads it: ∅ for NULL (unlike "", it cannot be mistaken for an
    empty string), minutes for times."""
    if value is None:
        return "∅"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def render_html(report: QualityReport) -> str:
    """The whole report as one self-contained HTML document."""
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=report,
        version=__version__,
        gauge=report_charts.gauge(report.run.overall, report.run.grade or "–"),
        history_chart=report_charts.history_chart(
            report.history, report.run.run_id, weighted=report.weighted
        ),
        reasons_chart=report_charts.reasons_chart(report.reasons),
        # a reader-friendly order: the most recent runs first in the table under the chart
        recent_runs=list(reversed(report.history))[:15],
    )


def write_html(report: QualityReport, path: Path) -> Path:
    """Write the report page, creating parent folders; returns the path written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path

"""The quality report in the terminal (Rich): the same content as the HTML page, in text.

Rich drops colour when stdout is not a terminal, so the output also reads well in CI logs and
when piped to a file.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from retail_lakehouse.quality.history import DEFAULT_TABLE, RunScores
from retail_lakehouse.quality.report import QualityReport, format_value

_SPARKS = "▁▂▃▄▅▆▇█"


def style_for(score: float) -> str:
    """Same cut-offs as the HTML colours: green ≥ 90, yellow ≥ 75, red below."""
    if score >= 90:
        return "green"
    if score >= 75:
        return "yellow"
    return "red"


def sparkline(values: list[float]) -> str:
    """Scores as a row of block characters scaled between their min and max."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low or 1.0
    return "".join(_SPARKS[round((v - low) / span * (len(_SPARKS) - 1))] for v in values)


def _short(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _change(value: float | None, first: str = "first run") -> Text:
    if value is None:
        return Text(first, style="dim")  # nothing to compare with
    if value > 0.05:
        return Text(f"▲ {value:.1f}", style="green")
    if value < -0.05:
        return Text(f"▼ {-value:.1f}", style="red")
    return Text("± 0.0", style="dim")


def _lake_now(report: QualityReport) -> list[str | tuple[str, str]]:
    """The lake's current score beside the run's: every line silver holds now."""
    current = report.current
    if current is None or current.score is None:
        return []
    return [
        ("lake now ", "bold"),
        (f"{current.score:.1f}", f"bold {style_for(current.score)}"),
        (f" grade {current.grade}", style_for(current.score)),
        (f" over all {current.lines:,} lines in silver", "dim"),
        (f" · trend weighted by lines {report.weighted[-1]:.1f}\n", "dim"),
    ]


def _rejects(report: QualityReport) -> Table | Text:
    rejects = report.rejects
    if not rejects.lines:
        return Text("No line was rejected at ingest.", style="dim")
    table = Table(
        "reason",
        "lines",
        "example (file:line raw text)",
        title=f"rejected at ingest (bronze.rejects): {rejects.lines:,} lines, never scored",
        title_justify="left",
    )
    for reason, count in rejects.reasons.items():
        examples = "\n".join(
            f"{ex.file_name}:{ex.line_number} {ex.raw_line or ''}"
            for ex in rejects.examples
            if ex.reason == reason
        )
        table.add_row(reason, f"{count:,}", Text(examples or "–", style="dim"))
    return table


def _headline(report: QualityReport) -> Panel:
    run = report.run
    line = Text.assemble(
        ("overall ", "bold"),
        (f"{run.overall:.1f}", f"bold {style_for(run.overall)}"),
        ("  grade ", "bold"),
        (run.grade or "–", f"bold {style_for(run.overall)}"),
        "   ",
        _change(report.change, "first scored run"),
        "\n" if report.change is None else " vs previous run\n",
        *_lake_now(report),
        (
            f"{run.lines_checked:,} lines checked · {report.failing_rules} of {len(report.rules)} "
            f"rules failing · {report.quarantined:,} lines in quarantine",
            "dim",
        ),
    )
    return Panel(
        line,
        title=f"quality of {report.table}",
        subtitle=f"run {run.run_id} · scored {format_value(run.computed_at)} UTC",
        expand=False,
    )


def _dimensions(report: QualityReport) -> Table:
    table = Table(
        "dimension", "score", "", "change", title="scores by dimension", title_justify="left"
    )
    previous = report.previous.dimensions if report.previous else {}
    for name, score in report.run.dimensions.items():
        bar = "█" * round(score / 5)
        table.add_row(
            name,
            Text(f"{score:.1f}", style=style_for(score)),
            Text(bar, style=style_for(score)),
            _change(score - previous[name] if name in previous else None),
        )
    return table


def _no_examples(report: QualityReport) -> str:
    if report.table != DEFAULT_TABLE:  # a table test counts rows of a table, not source lines
        return "a table test: query the table for the failing rows"
    return "no example lines left"


def _worst(report: QualityReport) -> Table:
    table = Table(
        "rule",
        "dimension",
        "action",
        "failed",
        "share",
        "examples (file:line values)",
        title="worst rules",
        title_justify="left",
        show_lines=True,
    )
    table.columns[0].max_width = 30
    for item in report.worst:
        r = item.result
        examples = "\n".join(
            f"{ex.file_name}:{ex.row_number} "
            + " ".join(f"{k}={_short(format_value(v))}" for k, v in ex.values.items())
            for ex in item.examples
        )
        rule = Text(r.rule)
        if item.info and item.info.columns:
            rule.append("\n" + ", ".join(item.info.columns), style="dim")
        table.add_row(
            rule,
            r.dimension,
            r.action,
            f"{r.lines_failed:,}",
            f"{r.share_failed:.2f}%",
            Text(examples or _no_examples(report), style="dim"),
        )
    return table


def _reasons(report: QualityReport) -> Table:
    table = Table(
        "quarantine reason",
        "lines",
        "from this run",
        title="quarantine reasons",
        title_justify="left",
    )
    for reason in report.reasons:
        table.add_row(reason.reason, f"{reason.lines:,}", f"{reason.lines_in_run:,}")
    return table


def _history(history: list[RunScores], selected: str) -> Table:
    shown = history[-15:]
    table = Table(
        "#",
        "run",
        "scored (UTC)",
        "lines",
        "overall",
        "grade",
        title=f"score history {sparkline([r.overall for r in history])}",
        title_justify="left",
    )
    offset = len(history) - len(shown)
    for i, run in enumerate(shown, start=offset + 1):
        marker = " ◀" if run.run_id == selected else ""
        table.add_row(
            str(i),
            run.run_id + marker,
            format_value(run.computed_at),
            f"{run.lines_checked:,}",
            Text(f"{run.overall:.1f}", style=style_for(run.overall)),
            run.grade or "–",
        )
    return table


def render_terminal(report: QualityReport, console: Console) -> None:
    """Print the report: headline, dimensions, worst rules, quarantine reasons, history."""
    parts: list[Panel | Table | Text] = [_headline(report)]
    if report.run.dimensions:
        parts.append(_dimensions(report))
    if report.worst:
        parts.append(_worst(report))
    else:
        parts.append(Text("No rule failed a line in this run.", style="green"))
    if report.reasons:
        parts.append(_reasons(report))
    else:
        parts.append(Text("The quarantine is empty.", style="dim"))
    parts.append(_rejects(report))
    parts.append(_history(report.history, report.run.run_id))
    for alert in report.alerts[:5]:
        parts.append(Text(f"alert ({alert['severity']}): {alert['message']}", style="yellow"))
    console.print(Group(*parts))

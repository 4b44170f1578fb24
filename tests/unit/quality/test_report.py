"""The quality report model, its HTML page and the ``retail quality report`` command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.quality import report_charts
from retail_lakehouse.quality.alerts import check_score_drop
from retail_lakehouse.quality.history import RunScores, failing_lines, score_history
from retail_lakehouse.quality.report import (
    NoQualityHistory,
    UnknownRun,
    build_report,
    describe_rules,
    render_html,
)
from retail_lakehouse.quality.report_terminal import sparkline
from tests.conftest import run_retail
from tests.unit.quality.quality_history_builder import sample_lake, write_run, write_silver

SCORES = [96.0, 95.5, 97.1, 94.0, 96.2, 93.8, 81.0]


@pytest.fixture
def lake_and_runs(tmp_path: Path) -> tuple[Lake, list[str]]:
    return sample_lake(tmp_path / "lake", SCORES)


# -- the report model --------------------------------------------------------------------------


def test_latest_run_is_reported_by_default(lake_and_runs: tuple[Lake, list[str]]) -> None:
    lake, runs = lake_and_runs
    report = build_report(lake)
    assert report.run.run_id == runs[-1]
    assert report.run.overall == 81.0
    assert report.run.grade == "C"
    assert report.run.dimensions == {"completeness": 84.0, "validity": 77.0}
    assert report.previous is not None and report.previous.run_id == runs[-2]
    assert report.change == pytest.approx(81.0 - 93.8)
    assert [r.overall for r in report.history] == SCORES


def test_worst_rules_come_with_failing_lines(lake_and_runs: tuple[Lake, list[str]]) -> None:
    lake, _ = lake_and_runs
    report = build_report(lake)
    # future_date failed no line: it is counted among the rules but is not a "worst" rule
    assert [w.result.rule for w in report.worst] == ["missing_customer", "zero_quantity"]
    assert report.failing_rules == 2 and len(report.rules) == 3
    missing = report.worst[0]
    assert missing.result.lines_failed == 126
    assert missing.result.share_failed == pytest.approx(12.6)
    assert {(e.source_file, e.row_number) for e in missing.examples} == {
        ("online_retail.csv", 7),
        ("b<x>.csv", 9),
    }
    assert all(e.values["customer_id"] is None for e in missing.examples)
    zero = report.worst[1]
    assert {e.table for e in zero.examples} == {"silver.quarantine"}
    assert zero.examples[0].values["raw_quantity"] == "0"


def test_quarantine_reasons_are_counted_per_reason(
    lake_and_runs: tuple[Lake, list[str]],
) -> None:
    lake, _ = lake_and_runs
    report = build_report(lake)
    assert [(r.reason, r.lines, r.lines_in_run) for r in report.reasons] == [
        ("zero_quantity", 2, 2),
        ("missing_quantity", 1, 1),
    ]
    assert report.quarantined == 2


def test_an_earlier_run_can_be_reported(lake_and_runs: tuple[Lake, list[str]]) -> None:
    lake, runs = lake_and_runs
    report = build_report(lake, run_id=runs[0])
    assert report.run.overall == 96.0
    assert report.previous is None and report.change is None
    # examples fall back to lines written by other runs when the run wrote none
    assert report.worst[0].examples


def test_unknown_run_and_empty_lake_are_reported_as_such(
    lake_and_runs: tuple[Lake, list[str]], tmp_path: Path
) -> None:
    lake, _ = lake_and_runs
    with pytest.raises(UnknownRun, match="no-such-run"):
        build_report(lake, run_id="no-such-run")
    with pytest.raises(NoQualityHistory, match="retail run"):
        build_report(Lake(tmp_path / "empty"))
    with pytest.raises(NoQualityHistory):
        build_report(lake, table="gold.fact_sales")


def test_examples_prefer_the_reported_run(tmp_path: Path) -> None:
    lake, runs = sample_lake(tmp_path, [90.0, 91.0])
    write_silver(lake, "another-run", [{"flags": ["missing_customer"], "row": 1, "file": "a.csv"}])
    with LakeSQL(lake) as sql:
        first = failing_lines(sql, "missing_customer", run_id=runs[-1], limit=1)
        other = failing_lines(sql, "missing_customer", run_id="another-run", limit=1)
    assert first[0].run_id == runs[-1]
    assert other[0].run_id == "another-run" and other[0].source_file == "a.csv"


def test_a_run_written_twice_counts_once(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    write_run(lake, "r1", 90.0, index=0)
    write_run(lake, "r1", 92.0, index=1)
    write_run(lake, "r2", 93.0, index=2)
    with LakeSQL(lake) as sql:
        history = score_history(sql)
    assert [(r.run_id, r.overall) for r in history] == [("r1", 92.0), ("r2", 93.0)]


# -- the HTML page -----------------------------------------------------------------------------


def test_html_is_self_contained_and_escaped(lake_and_runs: tuple[Lake, list[str]]) -> None:
    lake, _ = lake_and_runs
    check_score_drop(lake, lake_and_runs[1][-1])
    html = render_html(build_report(lake))
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert "b&lt;x&gt;.csv" in html and "b<x>.csv" not in html
    assert html.count("<svg") == 3  # gauge, history chart, quarantine reasons
    assert 'data-testid="overall-score">81.0<' in html
    assert "quality_score_drop" not in html  # alerts show their message, not the kind
    assert "points below the mean" in html


def test_html_shows_every_dimension_and_worst_rule(
    lake_and_runs: tuple[Lake, list[str]],
) -> None:
    lake, _ = lake_and_runs
    html = render_html(build_report(lake))
    for text in (
        'data-dimension="completeness"',
        'data-dimension="validity"',
        'data-rule="missing_customer"',
        'data-rule="zero_quantity"',
        'data-reason="missing_quantity"',
        ">84.0<",
        ">77.0<",
    ):
        assert text in html
    assert 'data-rule="future_date"' not in html


def test_history_chart_handles_one_run_and_hostile_names() -> None:
    from datetime import UTC, datetime

    run = RunScores("<run>", datetime(2026, 1, 1, tzinfo=UTC), 88.0, "B", 10, {"a<b": 80.0})
    svg = str(report_charts.history_chart([run], "<run>"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "&lt;run&gt;" in svg and "a&lt;b" in svg and "<run>" not in svg
    assert str(report_charts.history_chart([])) == ""


def test_score_colours_and_sparkline() -> None:
    assert report_charts.score_colour(95) != report_charts.score_colour(80)
    assert report_charts.score_colour(80) != report_charts.score_colour(50)
    assert sparkline([1.0, 2.0, 3.0]) == "▁▅█"
    assert sparkline([5.0, 5.0]) == "▁▁"
    assert sparkline([]) == ""


# -- the command -------------------------------------------------------------------------------


def test_cli_report_prints_and_writes_html(
    lake_and_runs: tuple[Lake, list[str]], tmp_path: Path
) -> None:
    lake, runs = lake_and_runs
    out = tmp_path / "out" / "r.html"
    done = run_retail("--lake", str(lake.root), "quality", "report", "--html", str(out))
    assert done.code == 0, done.stderr
    for text in ("81.0", "grade C", "missing_customer", "zero_quantity", "missing_quantity"):
        assert text in done.stdout
    assert runs[0] in done.stdout  # history
    assert "online_retail.csv:7" in done.stdout  # an example line: file and line number
    assert out.is_file() and 'data-testid="overall-score">81.0<' in out.read_text()


def test_cli_report_on_an_earlier_run(
    lake_and_runs: tuple[Lake, list[str]], tmp_path: Path
) -> None:
    lake, runs = lake_and_runs
    done = run_retail("--lake", str(lake.root), "quality", "report", "--run", runs[2])
    assert done.code == 0, done.stderr
    assert "97.1" in done.stdout


def test_cli_report_without_runs_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    (tmp_path / "lake").mkdir()  # an empty lake (a missing folder is "no lake at PATH")
    done = run_retail("--lake", str(tmp_path / "lake"), "quality", "report", "--html", str(out))
    assert done.code == 2
    assert "no quality scores" in done.stderr
    assert not out.exists()


def test_cli_report_refuses_unknown_run_and_bad_table(
    lake_and_runs: tuple[Lake, list[str]], tmp_path: Path
) -> None:
    lake, _ = lake_and_runs
    done = run_retail("--lake", str(lake.root), "quality", "report", "--run", "nope")
    assert done.code == 2 and "nope" in done.stderr
    done = run_retail("--lake", str(lake.root), "quality", "report", "--table", "x; drop")
    assert done.code == 2 and "not a lake table" in done.stderr


# -- what each rule checks ---------------------------------------------------------------------


def test_rules_are_described_with_their_columns(tmp_path: Path) -> None:
    extra = tmp_path / "rules.yaml"
    extra.write_text(
        "rules:\n"
        "  - name: big_spender\n"
        "    dimension: accuracy\n"
        "    expression: quantity * unit_price < 10000 OR is_adjustment\n"
        "    weight: 1\n"
        "    action: warn\n"
        "    description: Lines worth more than 10k are checked by hand.\n",
        encoding="utf-8",
    )
    info = describe_rules([extra])
    assert info["big_spender"].columns == ("quantity", "unit_price", "is_adjustment")
    assert info["big_spender"].description == "Lines worth more than 10k are checked by hand."
    assert "customer_id" in info["customer_present"].columns  # the shipped defaults too


def test_a_broken_rules_file_only_costs_the_descriptions(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [", encoding="utf-8")
    assert describe_rules([broken]) == {}
    lake, _ = sample_lake(tmp_path / "lake", [90.0, 80.0])
    report = build_report(lake, rule_info=describe_rules([broken]))
    assert all(w.info is None for w in report.worst)

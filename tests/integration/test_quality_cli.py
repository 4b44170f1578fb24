"""``retail quality check`` and ``retail quality report`` over a lake built by the real CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.lake import Lake
from tests.conftest import REAL_DATA, CliResult, run_retail

SAMPLE = REAL_DATA / "online_retail_head_1071.csv"

CUSTOMER_GATE = """\
rules:
  - name: customer_required
    dimension: completeness
    expression: customer_id IS NOT NULL
    weight: 5
    action: fail
"""
"""The sample has one line without a customer: with no threshold this gate must fail."""

TOLERANT_GATE = CUSTOMER_GATE + "    threshold: 0.01\n"


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("quality-cli") / "lake"
    for args in (("ingest", SAMPLE), ("run",)):
        done = run_retail(*args, lake=lake)
        assert done.code == 0, done.stderr
    return lake


def versions(lake: Path) -> dict[str, int | None]:
    return Lake(lake).versions()


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_passes_with_the_default_rules(built_lake: Path) -> None:
    before = versions(built_lake)
    done = run_retail("quality", "check", lake=built_lake)
    assert done.code == 0, done.stderr
    assert "customer_present" in done.stdout and "flagged" in done.stdout
    assert "no quality gate would fail" in done.stdout
    assert versions(built_lake) == before  # nothing written, not even meta.runs


def test_check_exits_1_naming_the_gate_and_writes_nothing(built_lake: Path, tmp_path: Path) -> None:
    before = versions(built_lake)
    done = run_retail(
        "quality", "check", "--rules", rules_file(tmp_path, CUSTOMER_GATE), lake=built_lake
    )
    assert done.code == 1
    assert "GATE FAILS" in done.stdout
    assert "customer_required" in done.stderr  # the error line names the rule
    assert "online_retail_head_1071.csv line 624" in done.stdout  # with an example line
    assert versions(built_lake) == before


def test_check_respects_a_gate_threshold(built_lake: Path, tmp_path: Path) -> None:
    done = run_retail(
        "quality", "check", "--rules", rules_file(tmp_path, TOLERANT_GATE), lake=built_lake
    )
    assert done.code == 0, done.stderr
    assert "within threshold" in done.stdout


def test_check_json_for_ci(built_lake: Path, tmp_path: Path) -> None:
    done: CliResult = run_retail(
        "quality",
        "check",
        "--json",
        "--rules",
        rules_file(tmp_path, CUSTOMER_GATE),
        lake=built_lake,
    )
    assert done.code == 1
    result: dict[str, Any] = done.json()
    assert result["passed"] is False
    assert result["lines_checked"] > 1000
    [gate] = result["gate_failures"]
    assert gate["rule"] == "customer_required" and gate["lines_failed"] == 1
    assert gate["examples"][0]["row_number"] == 624
    verdicts = {r["rule"]: r["result"] for r in result["rules"]}
    assert verdicts["customer_required"] == "GATE FAILS"
    assert verdicts["invoice_no_present"] == "ok"


def test_check_refuses_bad_input(built_lake: Path, tmp_path: Path) -> None:
    done = run_retail("quality", "check", "--rules", tmp_path / "missing.yaml", lake=built_lake)
    assert done.code == 2 and "rules file not found" in done.stderr
    bad = rules_file(tmp_path, "rules:\n  - name: x\n    expression: nope(\n")
    done = run_retail("quality", "check", "--rules", bad, lake=built_lake)
    assert done.code == 2
    done = run_retail("quality", "check", lake=tmp_path / "empty-lake")
    assert done.code == 2 and "nothing to check" in done.stderr


def test_report_matches_the_recorded_scores(built_lake: Path, tmp_path: Path) -> None:
    scores: list[dict[str, Any]] = Lake(built_lake).read("meta.quality_scores").to_pylist()
    [overall] = [s for s in scores if s["scope"] == "overall"]
    page = tmp_path / "r.html"
    done = run_retail("quality", "report", "--html", page, lake=built_lake)
    assert done.code == 0, done.stderr
    assert f"overall {overall['score']:.1f}" in done.stdout
    assert f"grade {overall['grade']}" in done.stdout
    html = page.read_text(encoding="utf-8")
    assert f'data-testid="overall-score">{overall["score"]:.1f}<' in html
    assert "customer_present" in html and "customer_id" in html

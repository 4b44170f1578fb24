"""``retail quality check`` and ``retail quality report`` over a lake built by the real CLI."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

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
    (tmp_path / "empty-lake").mkdir()
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


# -- a score drop during `retail run` reaches the configured webhook ---------------------------

MESSY = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
581001,85123A,WHITE HANGING HEART T-LIGHT HOLDER,0,12/9/2011 9:01,2.95,12680,France
581001,,MYSTERY ITEM,4,12/9/2011 9:01,1.25,12680,France
581002,47566,PARTY BUNTING,three,12/9/2011 9:05,4.95,,United Kingdom
581002,22720,SET OF 3 CAKE TINS PANTRY DESIGN,3,someday,4.95,,United Kingdom
581003,22457,NATURAL SLATE HEART CHALKBOARD,6,12/9/2011 9:10,n/a,,EIRE
581004,23298,SPOTTY BUNTING,4,12/9/2011 9:15,0,,Unspecified
"""


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_score_drop_in_a_run_is_stored_and_posted_to_the_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("RETAIL_WEBHOOK_URL", f"http://127.0.0.1:{server.server_address[1]}/")
        lake = tmp_path / "lake"
        generated = tmp_path / "generated.csv"
        messy = tmp_path / "messy.csv"
        messy.write_text(MESSY, encoding="utf-8")
        steps: list[tuple[str | Path, ...]] = [
            ("ingest", SAMPLE),
            ("run",),
            ("generate", "--rows", "500", "--seed", "3", "--out", generated),
            ("ingest", generated),
            ("run",),
            ("ingest", messy),
            ("run",),
        ]
        outputs = []
        for step in steps:
            done = run_retail(*step, lake=None if step[0] == "generate" else lake)
            assert done.code == 0, done.stderr
            outputs.append(done.stdout)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert "alert:" in outputs[-1] and "alert:" not in "".join(outputs[:-1])
    [posted] = _Hook.received
    [stored] = Lake(lake).read("meta.alerts").to_pylist()
    assert posted["kind"] == stored["kind"] == "quality_score_drop"
    assert posted["run_id"] == stored["run_id"]
    assert posted["message"] == stored["message"]
    assert stored["delivered"] is True and stored["delivery_error"] is None
    assert stored["value"] < stored["baseline"] - 10


GOOD_RULES = """\
rules:
  - name: big_orders
    dimension: validity
    expression: "quantity < 10000"
    action: warn
  - name: quantity_not_zero
    action: fail
    threshold: 0.2
tests:
  - name: invoice_no_everywhere
    table: silver.sales_lines
    column: invoice_no
    test: not_null
"""


def test_quality_rules_checks_a_rules_file_without_a_lake(tmp_path: Path) -> None:
    """A rules repository's CI has no lake: `retail quality rules FILE` loads the file with the
    same loader as a run (defaults, then the file) and lists the rules in effect, exit 0, and
    makes no lake folder."""
    good = tmp_path / "team.yaml"
    good.write_text(GOOD_RULES, encoding="utf-8")
    lake = tmp_path / "no-lake"
    # the file as a user in their repository names it (the table shows the path as given; a
    # pytest-xdist worker's long absolute path wrapped the rule column at 200 columns)
    done = run_retail("quality", "rules", good.name, lake=lake, cwd=tmp_path)
    assert done.code == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "big_orders │ validity │ warn" in out and str(good.name) in out
    assert "quantity_not_zero │ validity │ fail │ 20%" in out  # the override
    assert "1 table test" in out
    assert not lake.exists()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "rules:\n  - name: broken\n    dimension: validity\n    action: warn\n"
            '    expression: "quantity >"\n',
            "rule 'broken': cannot read the expression",
        ),
        (
            "rules:\n  - name: typed\n    dimension: validity\n    action: warn\n"
            "    expression: \"quantity + 'abc' > 1\"\n",
            "does not type-check",
        ),
        ("rules: [\n", "team.yaml"),
    ],
)
def test_quality_rules_refuses_a_bad_file_as_a_run_does(
    tmp_path: Path, text: str, reason: str
) -> None:
    """The refusal is the run's own: exit 2, the file and the reason, word for word."""
    bad = tmp_path / "team.yaml"
    bad.write_text(text, encoding="utf-8")
    lake = tmp_path / "lake"
    ok_lake = run_retail("ingest", REAL_DATA / "online_retail_ii_head_99_bom.csv", lake=lake)
    assert ok_lake.code == 0, ok_lake.stderr
    checked = run_retail("quality", "rules", bad, lake=tmp_path / "no-lake")
    ran = run_retail("run", "--rules", bad, lake=lake)
    assert checked.code == 2 and ran.code == 2
    assert f"{bad}" in checked.stderr and reason in checked.stderr
    assert checked.stderr == ran.stderr
    missing = run_retail("quality", "rules", tmp_path / "nope.yaml", lake=tmp_path / "no-lake")
    assert missing.code == 2 and "rules file not found" in missing.stderr
    assert not (tmp_path / "no-lake").exists()

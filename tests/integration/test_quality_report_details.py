"""Issue 14's quality-report points, from the user's side (``retail`` subprocesses, HTTP).

A first run over the real sample (with exact duplicates), then an 8-line run from a messy file
whose broken lines bronze rejects. The report (terminal and HTML) and the API must show the
rejects, the lake's current score beside the run's, a trend weighted by lines, duplicate
examples from ``silver.duplicates``, and advice that does not send the user in a circle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import REAL_DATA, run_retail
from tests.integration.api.live import Server, serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SAMPLE = REAL_DATA / "online_retail_head_1071.csv"
SMALL_RUN = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
581001,22423,REGENCY CAKESTAND 3 TIER,2,12/9/2011 9:01,12.75,12680,France
581001,85123A,WHITE HANGING HEART T-LIGHT HOLDER,0,12/9/2011 9:01,2.95,12680,France
581001,22424,"BROKEN QUOTE,3,12/9/2011 9:01,1.25,12680,France
581002,47566,PARTY BUNTING,three,12/9/2011 9:05,4.95,,United Kingdom
581002,84879
581002,22720,SET OF 3 CAKE TINS PANTRY DESIGN,3,someday,4.95,,United Kingdom
581003,22457,NATURAL SLATE HEART CHALKBOARD,6,12/9/2011 9:10,n/a,14911,EIRE
581004,23084,RABBIT NIGHT LIGHT,12,12/9/2011 9:15,2.08,,Unspecified
581004,23298,SPOTTY BUNTING,4,12/9/2011 9:15,0,,Unspecified
581004,22961,JAM MAKING SET PRINTED,-2,12/9/2011 9:15,1.45,,Unspecified
"""
"""Ten lines: two that bronze cannot read as records (a broken quote, too few fields) and
eight messy ones that reach silver and are scored in a small run."""


def ok(*args: str | Path, lake: Path) -> str:
    done = run_retail(*args, lake=lake)
    assert done.code == 0, f"retail {args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("report-details")
    root = work / "lake"
    ok("ingest", SAMPLE, lake=root)
    ok("run", lake=root)
    messy = work / "small-run.csv"
    messy.write_text(SMALL_RUN, encoding="utf-8")
    ok("ingest", messy, lake=root)
    ok("run", lake=root)
    return root


def truth(lake: Path) -> dict[str, Any]:
    with LakeSQL(Lake(lake)) as sql:
        current = sql.arrow(
            "SELECT avg(quality_score) AS s, count(*) AS n FROM (SELECT quality_score FROM "
            "silver.sales_lines UNION ALL SELECT quality_score FROM silver.quarantine)"
        ).to_pylist()[0]
        runs = sql.arrow(
            "SELECT run_id, score, lines_checked FROM meta.quality_scores "
            "WHERE scope = 'overall' AND table_name = 'silver.sales_lines' "
            "ORDER BY computed_at, run_id"
        ).to_pylist()
        rejects = sql.arrow(
            "SELECT reason, count(*) AS n FROM bronze.rejects GROUP BY reason"
        ).to_pylist()
    weighted = sum(r["score"] * r["lines_checked"] for r in runs) / sum(
        r["lines_checked"] for r in runs
    )
    return {
        "current": float(current["s"]),
        "lines": int(current["n"]),
        "runs": runs,
        "weighted": weighted,
        "rejects": {r["reason"]: int(r["n"]) for r in rejects},
    }


def test_the_terminal_report_shows_rejects_and_the_lake_score(lake: Path) -> None:
    facts = truth(lake)
    assert sum(facts["rejects"].values()) == 2
    assert facts["runs"][-1]["lines_checked"] == 8  # the small run
    out = ok("quality", "report", lake=lake)
    assert "rejected at ingest (bronze.rejects): 2 lines" in out
    for reason in facts["rejects"]:
        assert reason[:30] in out
    assert "small-run.csv:4" in out and "small-run.csv:6" in out  # file:line examples
    assert f"lake now {facts['current']:.1f}" in out
    assert f"over all {facts['lines']:,} lines in silver" in out
    assert f"trend weighted by lines {facts['weighted']:.1f}" in out
    # the weighted trend is not swung by 8 lines the way the per-run score is
    last = facts["runs"][-1]["score"]
    assert abs(facts["weighted"] - facts["runs"][0]["score"]) < abs(
        last - facts["runs"][0]["score"]
    )


def test_the_html_report_shows_the_same(lake: Path, tmp_path: Path) -> None:
    facts = truth(lake)
    page = tmp_path / "quality.html"
    ok("quality", "report", "--html", page, lake=lake)
    html = page.read_text(encoding="utf-8")
    assert f'data-testid="lake-score">{facts["current"]:.1f}<' in html
    assert f'data-testid="weighted-score">{facts["weighted"]:.1f}<' in html
    shown = dict(
        re.findall(r'data-reject="([^"]+)">.*?data-testid="reject-lines">(\d+)<', html, re.S)
    )
    assert {k: int(v) for k, v in shown.items()} == facts["rejects"]
    assert "stroke-dasharray" in html  # the weighted line in the history chart


def test_duplicates_show_examples_on_a_first_run(lake: Path) -> None:
    first = truth(lake)["runs"][0]["run_id"]
    out = ok("quality", "report", "--run", first, "--examples", "2", lake=lake)
    assert "first scored run" in out and "vs previous run" not in out  # nothing to compare
    row = out[out.index("no_exact_duplicates") :].split("├")[0]
    assert "no example lines left" not in row
    assert "online_retail_head_1071.csv:" in row and "copy_of=" in row


def test_a_table_no_run_scores_gets_advice_that_can_work(lake: Path) -> None:
    done = run_retail("quality", "report", "--table", "gold.fact_sales", lake=lake)
    assert done.code == 2
    assert "retail run" not in done.stderr
    assert "gold.fact_sales is not a table that runs score" in done.stderr
    assert "silver.sales_lines" in done.stderr


@pytest.fixture(scope="module")
def server(lake: Path) -> Iterator[Server]:
    with serve(lake) as running:
        yield running


def test_the_api_shows_rejects_and_the_lake_score(server: Server) -> None:
    facts = truth(server.lake)
    with server.client("analyst") as analyst:
        rejects = analyst.get("/api/v1/quality/rejects", params={"examples": 5}).json()
        assert rejects["lines"] == 2 and rejects["reasons"] == facts["rejects"]
        assert {
            (e["source_file"].rsplit("/", 1)[-1], e["line_number"]) for e in rejects["examples"]
        } == {
            ("small-run.csv", 4),
            ("small-run.csv", 6),
        }
        assert any("BROKEN QUOTE" in (e["raw_line"] or "") for e in rejects["examples"])
    with server.client("viewer") as viewer:
        assert viewer.get("/api/v1/quality/rejects").status_code == 403  # analyst data
        trend = viewer.get("/api/v1/quality/trend").json()
    assert trend["current"]["score"] == pytest.approx(facts["current"], abs=0.01)
    assert trend["current"]["lines"] == facts["lines"]
    assert [p["lines_checked"] for p in trend["points"]] == [
        r["lines_checked"] for r in facts["runs"]
    ]
    assert trend["points"][-1]["weighted_score"] == pytest.approx(facts["weighted"], abs=0.01)
    assert trend["points"][0]["weighted_score"] == pytest.approx(
        trend["points"][0]["score"], abs=0.01
    )

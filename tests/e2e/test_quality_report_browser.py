"""The HTML quality report in a real headless Chromium: built by the real CLI, rendered clean.

The lake is built the way a user builds it (``retail ingest`` then ``retail run``, once per
sample file so there is history), the page is written by ``retail quality report --html``, and
the numbers the browser shows are compared with ``meta.quality_scores``. With
``RETAIL_UPDATE_SCREENSHOTS=1`` it refreshes ``docs/images/quality-report.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REAL_DATA,
    REAL_FILES,
    CliResult,
    run_retail,
    screenshot_path,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

SCREENSHOT_HEIGHT = 1900
"""The docs show the top of the page (scores, dimensions, history, the worst rule)."""


def retail(*args: str | Path) -> CliResult:
    done = run_retail(*args)
    assert done.code == 0, (
        f"retail {' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    )
    return done


MESSY_LINES = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
581001,22423,REGENCY CAKESTAND 3 TIER,2,12/9/2011 9:01,12.75,12680,France
581001,85123A,WHITE HANGING HEART T-LIGHT HOLDER,0,12/9/2011 9:01,2.95,12680,France
581001,,MYSTERY ITEM,4,12/9/2011 9:01,1.25,12680,France
581002,47566,PARTY BUNTING,three,12/9/2011 9:05,4.95,,United Kingdom
581002,84879,ASSORTED COLOUR BIRD ORNAMENT,8,12/9/2011 9:05,£1.69,,United Kingdom
581002,22720,SET OF 3 CAKE TINS PANTRY DESIGN,3,someday,4.95,,United Kingdom
581003,22457,NATURAL SLATE HEART CHALKBOARD,6,12/9/2011 9:10,n/a,14911,EIRE
581003,21730,GLASS STAR FROSTED T-LIGHT HOLDER,0,12/9/2011 9:10,4.25,14911,EIRE
,22386,JUMBO BAG PINK POLKADOT,10,12/9/2011 9:12,1.95,,United Kingdom
581004,23084,RABBIT NIGHT LIGHT,12,12/9/2011 9:15,2.08,,Unspecified
581004,23298,SPOTTY BUNTING,4,12/9/2011 9:15,0,,Unspecified
581004,22961,JAM MAKING SET PRINTED,-2,12/9/2011 9:15,1.45,,Unspecified
"""
"""A small export with the usual faults: zero and unparseable quantities, missing stock code
and invoice number, bad dates and prices, guests, a zero price and a negative quantity."""


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Path]:
    """A lake with four scored runs: the real samples (whose later files are exact duplicates
    of the first, so they add no scored run), two generated files, then a messy export."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make system-deps)")
    work = tmp_path_factory.mktemp("quality-report")
    lake = work / "lake"
    retail("--lake", lake, "ingest", *(REAL_DATA / name for name in REAL_FILES))
    retail("--lake", lake, "run")
    for seed, layout in ((1, "uci"), (2, "uci2")):
        generated = work / f"generated_{seed}.csv"
        retail(
            "generate",
            "--rows",
            "2000",
            "--seed",
            str(seed),
            "--layout",
            layout,
            "--out",
            generated,
        )
        retail("--lake", lake, "ingest", generated)
        retail("--lake", lake, "run")
    messy = work / "messy_export.csv"
    messy.write_text(MESSY_LINES, encoding="utf-8")
    retail("--lake", lake, "ingest", messy)
    retail("--lake", lake, "run")
    page = work / "r.html"
    retail("--lake", lake, "quality", "report", "--html", page)
    return Lake(lake), page


def recorded_scores(lake: Lake) -> dict[str, Any]:
    """The latest run's overall and dimension scores straight from meta.quality_scores."""
    with LakeSQL(lake) as sql:
        rows: list[dict[str, Any]] = sql.arrow(
            """
            SELECT run_id, scope, name, score, grade, lines_checked FROM meta.quality_scores
            WHERE table_name = 'silver.sales_lines'
              AND run_id = (SELECT run_id FROM meta.quality_scores
                            WHERE table_name = 'silver.sales_lines'
                            ORDER BY computed_at DESC, run_id DESC LIMIT 1)
            """
        ).to_pylist()
        runs: int = (
            sql.arrow(
                "SELECT count(DISTINCT run_id) AS n FROM meta.quality_scores "
                "WHERE table_name = 'silver.sales_lines'"
            )
            .column("n")[0]
            .as_py()
        )
        [overall] = [r for r in rows if r["scope"] == "overall"]
        failed: dict[str, int] = {
            r["rule"]: r["lines_failed"]
            for r in sql.arrow(
                "SELECT rule, lines_failed FROM meta.quality_results "
                "WHERE run_id = ? AND lines_failed > 0",
                [overall["run_id"]],
            ).to_pylist()
        }
        reasons: dict[str, int] = {
            r["reason"]: r["n"]
            for r in sql.arrow(
                "SELECT reason, count(*) AS n FROM "
                "(SELECT unnest(quarantine_reasons) AS reason FROM silver.quarantine) GROUP BY 1"
            ).to_pylist()
        }
        alerts: list[dict[str, Any]] = sql.arrow(
            "SELECT run_id, message FROM meta.alerts"
        ).to_pylist()
    return {
        "failed": failed,
        "reasons": reasons,
        "alerts": alerts,
        "run_id": overall["run_id"],
        "overall": overall["score"],
        "grade": overall["grade"],
        "lines": overall["lines_checked"],
        "dimensions": {r["name"]: r["score"] for r in rows if r["scope"] == "dimension"},
        "runs": runs,
    }


def test_report_renders_without_errors_and_shows_the_recorded_scores(
    report_page: tuple[Lake, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    lake, page_file = report_page
    expected = recorded_scores(lake)
    console_errors: list[str] = []
    page_errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")

            assert page.title().startswith("Data quality")
            assert page.get_by_test_id("run-id").inner_text() == expected["run_id"]
            shown = page.get_by_test_id("overall-score").inner_text()
            assert shown == f"{expected['overall']:.1f}"
            assert page.get_by_test_id("overall-grade").inner_text() == (expected["grade"] or "–")
            assert page.get_by_test_id("lines-checked").inner_text() == f"{expected['lines']:,}"
            for name, score in expected["dimensions"].items():
                row = page.locator(f'tr[data-dimension="{name}"]')
                assert row.get_by_test_id("dimension-score").inner_text() == f"{score:.1f}"
            assert page.locator("tr[data-dimension]").count() == len(expected["dimensions"])
            assert page.locator("tr[data-run]").count() == min(expected["runs"], 15)
            assert page.locator("#history svg circle").count() >= expected["runs"]
            for heading in ("Scores by dimension", "Score history", "Worst rules"):
                assert page.get_by_role("heading", name=heading).is_visible()
            assert page.get_by_role("heading", name="Quarantine reasons").is_visible()
            # worst rules, quarantine reasons and alerts agree with the lake too
            shown_failed = {
                rule.get_attribute("data-rule"): rule.get_by_test_id("rule-failed").inner_text()
                for rule in page.locator("div.rule[data-rule]").all()
            }
            worst = sorted(expected["failed"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            assert shown_failed == {rule: f"{n:,}" for rule, n in worst}
            for reason, lines in expected["reasons"].items():
                row = page.locator(f'tr[data-reason="{reason}"]')
                assert row.get_by_test_id("reason-lines").inner_text() == f"{lines:,}"
            # the messy export drags the score far below the three clean runs: one alert
            [alert] = expected["alerts"]
            assert alert["run_id"] == expected["run_id"]
            assert alert["message"] in page.locator("#alerts").inner_text()

            screenshot = screenshot_path("quality-report.png", tmp_path)
            height = min(SCREENSHOT_HEIGHT, page.evaluate("document.body.scrollHeight"))
            clip = {"x": 0, "y": 0, "width": 1200, "height": height}
            page.screenshot(path=str(screenshot), full_page=True, clip=clip)
        finally:
            browser.close()
    assert console_errors == []
    assert page_errors == []
    assert requests == [page_file.as_uri()]  # self-contained: nothing else was fetched
    assert 10_000 < screenshot.stat().st_size < 500_000

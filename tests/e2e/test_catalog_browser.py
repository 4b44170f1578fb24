"""The HTML data catalog in a real headless Chromium: written by ``retail catalog --html`` on a
lake built by the real CLI, rendered with no console error and no request leaving the page.
With ``RETAIL_UPDATE_SCREENSHOTS=1`` it refreshes ``docs/images/catalog.png``."""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_lakehouse.lake.contracts import contract, contracts
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, REAL_DATA, run_retail, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def test_catalog_renders_offline_with_the_lineage_graph(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make system-deps)")
    lake, site = tmp_path / "lake", tmp_path / "catalog"
    for args in (
        ("ingest", REAL_DATA / "online_retail_head_1071.csv"),
        ("run",),
        ("catalog", "--html", site),
    ):
        done = run_retail(*args, lake=lake)
        assert done.code == 0, done.stderr
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto((site / "index.html").as_uri(), wait_until="load")
            assert page.get_by_role("heading", name="Data catalog").is_visible()
            graph = page.locator("#lineage svg")
            assert graph.is_visible()
            drawn = {t.text_content() for t in graph.locator("g.node text").all()}
            assert {"source files", "bronze.sales_lines", "gold.fact_sales"} <= drawn
            assert graph.locator("path.edge").count() >= 20
            for target in contracts():
                assert page.locator(f'section[id="{target.qualified}"]').count() == 1
            fact = page.locator('section[id="gold.fact_sales"]')
            assert "1,046" in fact.inner_text()
            assert contract("gold.fact_sales").column_description("line_key") in fact.inner_text()
            page.screenshot(path=str(screenshot_path("catalog.png", tmp_path)))
        finally:
            browser.close()
    assert errors == []
    assert all(url.startswith("file://") for url in requests), requests

"""``/docs`` and the dashboard layout in a real headless Chromium, on a lake with seven-digit
revenue, with every request outside the server blocked and recorded.

- ``/docs`` must render every operation of the OpenAPI 3.1 document (Swagger UI 4 could not
  read 3.1 and left a blank page) without a single request leaving the server (no CDN, no
  favicon, no validator badge).
- The KPI tiles must show seven-digit amounts whole at common desktop widths and on a phone:
  no tile's text wider than its box. With ``RETAIL_UPDATE_SCREENSHOTS=1`` it refreshes
  ``docs/images/dashboard-1366.png`` and ``docs/images/dashboard-phone.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot_path
from tests.integration.api.live import Server, _ok, copy_lake, create_key, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

WIDTHS = (1280, 1366, 1400, 1920, 390)
"""Common laptop and desktop widths (where the tiles used to clip) and a phone."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    work = tmp_path_factory.mktemp("big-dashboard")
    lake = copy_lake(work / "lake")
    batch = work / "more-sales.csv"  # 20,000 + 20,000 lines: gross revenue past £1,000,000
    _ok("generate", "--rows", "20000", "--seed", "11", "--out", batch)
    _ok("ingest", batch, lake=lake)
    _ok("run", lake=lake)
    with serve(lake) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def offline_page(browser: Any, server: Server, width: int, height: int = 900) -> tuple[Any, list]:
    """A page whose requests to anywhere but the server are aborted and recorded."""
    page = browser.new_page(viewport={"width": width, "height": height})
    outside: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(server.url) or url.startswith("data:"):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    page.route("**/*", route)
    return page, outside


def test_docs_render_every_operation_offline(server: Server, browser: Any) -> None:
    schema = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    assert schema["openapi"].startswith("3.1")
    operations = sum(
        1
        for item in schema["paths"].values()
        for method in item
        if method in ("get", "post", "put", "delete", "patch", "head")
    )
    page, outside = offline_page(browser, server, 1366)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{server.url}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() == operations
    body = page.inner_text("body")
    assert "does not specify a valid version" not in body
    assert "retail-lakehouse API" in body and "/api/v1/kpis" in body
    page.wait_for_load_state("networkidle")
    assert outside == [], outside
    assert problems == []
    page.close()


def tile_overflows(page: Any) -> list[dict[str, Any]]:
    """Tiles whose figure or box is wider than the space it has."""
    measured: list[dict[str, Any]] = page.locator("#kpis .tile").evaluate_all(
        """tiles => tiles.map(t => {
            const v = t.querySelector('.value');
            return {kpi: t.dataset.kpi, text: v.textContent,
                    value: [v.scrollWidth, v.clientWidth], tile: [t.scrollWidth, t.clientWidth],
                    right: t.getBoundingClientRect().right};
        })"""
    )
    width = page.viewport_size["width"]
    return [
        m
        for m in measured
        if m["value"][0] > m["value"][1] or m["tile"][0] > m["tile"][1] or m["right"] > width
    ]


def test_revenue_tiles_show_seven_digit_figures_whole_at_common_widths(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    viewer = create_key(server.lake, "viewer", "layout")
    kpis = httpx.get(f"{server.url}/api/v1/kpis", headers={"X-API-Key": viewer}, timeout=30).json()
    assert kpis["gross_revenue"] >= 1_000_000, "the fixture must have seven-digit revenue"
    trend = httpx.get(
        f"{server.url}/api/v1/quality/trend", headers={"X-API-Key": viewer}, timeout=30
    ).json()
    for width in WIDTHS:
        page, outside = offline_page(browser, server, width)
        page.goto(server.url + "/")
        page.wait_for_selector("#login:not([hidden])")
        page.fill("#api-key", viewer)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("body[data-loaded=true]", timeout=60_000)
        gross = page.inner_text('.tile[data-kpi="gross_revenue"] .value')
        assert gross.startswith("£1,") and len(gross) >= len("£1,000,000.00"), gross
        assert tile_overflows(page) == [], width
        page_width = page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= width, f"the page scrolls sideways at {width} px ({page_width} px)"
        assert outside == []
        if width == 1366:  # the quality card shows the lake's score beside the per-run line
            now = page.get_attribute("#quality-now", "data-score")
            assert float(now) == trend["current"]["score"] and "lake now" in page.inner_text(
                "#quality-now"
            )
            assert page.locator("#chart-quality path.series").count() == 2
        if width in (1366, 390):
            name = "dashboard-phone.png" if width < 800 else f"dashboard-{width}.png"
            shot = screenshot_path(name, tmp_path)
            page.screenshot(path=str(shot), full_page=width >= 800)
            assert shot.stat().st_size > 10_000
        page.close()

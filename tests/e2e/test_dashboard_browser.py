"""The dashboard in a real headless Chromium against ``retail serve`` on a generated lake.

A user opens ``/``, enters a viewer key once, and reads KPI tiles that must show exactly what
``/api/v1/kpis`` returns, with and without filters, with no console errors. With
``RETAIL_UPDATE_SCREENSHOTS=1`` it refreshes ``docs/images/dashboard.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot_path
from tests.integration.api.live import Server, _ok, copy_lake, create_key, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

TILES = (
    "gross_revenue",
    "returns_amount",
    "net_revenue",
    "orders",
    "customers",
    "units",
    "avg_order_value",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    work = tmp_path_factory.mktemp("dashboard")
    lake = copy_lake(work / "lake")
    for seed in (5,):  # one more run: the quality chart gets a history of three
        batch = work / f"batch-{seed}.csv"
        _ok("generate", "--rows", "3000", "--seed", str(seed), "--out", batch)
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


def shown_number(text: str) -> float:
    return float(re.sub(r"[£,\s]", "", text))


def tiles(page: Any) -> dict[str, tuple[str, str]]:
    return {
        kpi: (
            page.get_attribute(f'.tile[data-kpi="{kpi}"]', "data-value"),
            page.inner_text(f'.tile[data-kpi="{kpi}"] .value'),
        )
        for kpi in TILES
    }


def assert_tiles_match(page: Any, kpis: dict[str, Any]) -> None:
    for kpi, (value, text) in tiles(page).items():
        expected = kpis[kpi]
        if expected is None:
            assert value == "" and text == "–"
            continue
        assert float(value) == expected, (kpi, value, expected)
        assert shown_number(text) == pytest.approx(expected, abs=0.005), (kpi, text, expected)


def test_dashboard_shows_the_api_numbers_without_console_errors(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    viewer = create_key(server.lake, "viewer", "dashboard viewer")
    api = httpx.Client(base_url=server.url, headers={"X-API-Key": viewer}, timeout=30)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))

    page.goto(server.url + "/")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#api-key", viewer)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
    assert_tiles_match(page, api.get("/api/v1/kpis").json())
    assert page.inner_text("#who") == "dashboard viewer · viewer"
    for chart in ("revenue", "countries", "products", "segments", "quality"):
        assert page.locator(f"#chart-{chart} svg").count() == 1, chart
    assert page.locator("#chart-revenue path.series").count() == 2  # revenue and returns
    assert page.locator("#chart-countries .bar").count() == min(
        10, len(api.get("/api/v1/sales/countries").json())
    )
    assert page.locator("#chart-quality circle").count() == 3
    page.mouse.move(700, 560)  # hover the revenue chart: a tooltip, no error
    screenshot = screenshot_path("dashboard.png", tmp_path)
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    # Filters: a country (by its code's name) and a date range, same numbers as the API.
    page.select_option("#country", "United Kingdom")
    page.fill("#from", "2011-03-01")
    page.fill("#to", "2011-05-31")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
    filtered = api.get(
        "/api/v1/kpis",
        params={"country": "United Kingdom", "from": "2011-03-01", "to": "2011-05-31"},
    ).json()
    assert_tiles_match(page, filtered)
    assert "United Kingdom" in page.inner_text("#status")

    # The key is kept for the session: a reload goes straight to the dashboard.
    page.reload()
    page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
    assert page.is_hidden("#login")
    assert page.evaluate("sessionStorage.getItem('retail.apiKey')") == viewer
    assert problems == []

    page.click("#signout")
    page.wait_for_selector("#login:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('retail.apiKey')") is None
    page.close()


def test_a_wrong_key_is_refused_in_the_page(server: Server, browser: Any) -> None:
    page = browser.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("#login:not([hidden])")  # the page's script has set up the form
    page.fill("#api-key", "rlk_000000000000_" + "x" * 43)
    page.click("#login-form button[type=submit]")
    # a selector, not wait_for_function: the page's CSP forbids eval, which that would need
    page.wait_for_selector("#login-error:not(:empty)")
    assert "not accepted" in page.inner_text("#login-error")
    assert page.is_hidden("#dashboard")
    page.close()


def test_an_empty_lake_loads_with_empty_charts_and_no_console_errors(
    browser: Any, tmp_path: Path
) -> None:
    """A lake with only its key store (``retail keys create`` on a new folder; nothing ingested):
    the page loads, every KPI is zero (the average "–"), every chart says it has no data, and
    the browser reports no error, warning or failed request (fifteenth round's audit)."""
    lake = tmp_path / "lake"
    with serve(lake) as empty:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on(
            "console",
            lambda m: problems.append(m.text) if m.type in ("error", "warning") else None,
        )
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
        page.on(
            "response",
            lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.goto(empty.url + "/")
        page.wait_for_selector("#login:not([hidden])")
        page.fill("#api-key", empty.keys["viewer"])
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
        shown = {kpi: text for kpi, (_, text) in tiles(page).items()}
        assert shown == {
            **dict.fromkeys(TILES, "0"),
            **{
                "gross_revenue": "£0.00",
                "returns_amount": "£0.00",
                "net_revenue": "£0.00",
                "avg_order_value": "–",
            },
        }, shown
        for chart in ("revenue", "countries", "products", "segments", "quality"):
            assert "No data for this selection." in page.inner_text(f"#chart-{chart}"), chart
        assert problems == []
        page.close()

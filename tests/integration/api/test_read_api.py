"""The read endpoints over HTTP against a lake built from generated data by the real CLI.

Numbers are checked against SQL over the same lake: sums against the gold marts, distinct
counts against ``fact_sales`` with the gold definitions (``pipeline.gold.definitions``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.pipeline.gold.definitions import kpi_select_sql
from tests.integration.api.live import Server

pytestmark = pytest.mark.slow


def one(sql: LakeSQL, query: str, params: list[Any] | None = None) -> dict[str, Any]:
    rows: list[dict[str, Any]] = sql.arrow(query, params).to_pylist()
    return rows[0]


def money(value: Decimal | float | None) -> float:
    return float(value or 0)


@pytest.fixture(scope="module")
def viewer(server: Server) -> httpx.Client:
    return server.client("viewer")


def test_kpis_need_a_key_and_equal_the_gold_sums(
    server: Server, viewer: httpx.Client, lake_sql: LakeSQL
) -> None:
    assert server.client().get("/api/v1/kpis").status_code == 401
    response = viewer.get("/api/v1/kpis")
    assert response.status_code == 200
    kpis = response.json()
    assert set(kpis) == {
        "gross_revenue",
        "returns_amount",
        "net_revenue",
        "orders",
        "customers",
        "units",
        "avg_order_value",
    }
    mart = one(
        lake_sql,
        "SELECT sum(gross_revenue) AS g, sum(returns_amount) AS r, sum(net_revenue) AS n, "
        "sum(units) AS u FROM gold.mart_daily_sales",
    )
    assert kpis["gross_revenue"] == money(mart["g"]) > 0
    assert kpis["returns_amount"] == money(mart["r"])
    assert kpis["net_revenue"] == money(mart["n"])
    assert kpis["units"] == int(mart["u"])
    fact = one(lake_sql, kpi_select_sql())
    assert kpis["orders"] == fact["orders"] > 0
    assert kpis["customers"] == fact["customers"] > 0
    assert kpis["avg_order_value"] == pytest.approx(fact["avg_order_value"], abs=1e-4)


def test_filtered_kpis_use_distinct_counts_over_the_period(
    viewer: httpx.Client, lake_sql: LakeSQL
) -> None:
    top = one(
        lake_sql,
        "SELECT country, min(sale_date) AS lo, max(sale_date) AS hi FROM gold.mart_daily_sales "
        "GROUP BY country ORDER BY sum(gross_revenue) DESC LIMIT 1",
    )
    start, end = top["lo"].isoformat(), top["lo"].replace(day=28).isoformat()
    kpis = viewer.get(
        "/api/v1/kpis", params={"from": start, "to": end, "country": top["country"].upper()}
    ).json()
    where = (
        " WHERE CAST(invoice_ts AS DATE) BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) "
        "AND country = ?"
    )
    fact = one(lake_sql, kpi_select_sql() + where, [start, end, top["country"]])
    mart = one(
        lake_sql,
        "SELECT sum(gross_revenue) AS g, sum(customers) AS c FROM gold.mart_daily_sales "
        "WHERE sale_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) AND country = ?",
        [start, end, top["country"]],
    )
    assert kpis["gross_revenue"] == money(mart["g"])
    assert kpis["orders"] == fact["orders"]
    assert kpis["customers"] == fact["customers"]
    assert kpis["customers"] <= int(mart["c"])  # summing daily counts would over-count


def test_country_accepts_codes_and_spellings_and_refuses_unknown_ones(
    viewer: httpx.Client,
) -> None:
    by_name = viewer.get("/api/v1/kpis", params={"country": "United Kingdom"}).json()
    assert viewer.get("/api/v1/kpis", params={"country": "gb"}).json() == by_name
    assert viewer.get("/api/v1/kpis", params={"country": " united kingdom "}).json() == by_name
    refused = viewer.get("/api/v1/kpis", params={"country": "Atlantis"})
    assert refused.status_code == 422
    message = refused.json()["detail"][0]["msg"]
    assert "unknown country 'Atlantis'" in message and "/api/v1/countries" in message
    assert (
        viewer.get("/api/v1/kpis", params={"from": "2011-02-01", "to": "2011-01-01"}).status_code
        == 422
    )
    assert viewer.get("/api/v1/kpis", params={"from": "yesterday"}).status_code == 422


HOSTILE = [
    "' OR '1'='1",
    "'; DROP TABLE gold.mart_daily_sales; --",
    "United Kingdom' --",
    '" UNION SELECT * FROM meta.runs --',
    "$country",
    "?",
    "%' AND 1=1 AND '%'='",
    "../../etc/passwd",
    "\u0000",
    "x" * 5000,
    "Ünïcødé 🛒",
]
FILTERS = [
    ("/api/v1/kpis", "country"),
    ("/api/v1/kpis", "from"),
    ("/api/v1/sales/daily", "country"),
    ("/api/v1/sales/daily", "sort"),
    ("/api/v1/sales/daily", "page"),
    ("/api/v1/sales/daily", "by"),
    ("/api/v1/sales/monthly", "to"),
    ("/api/v1/sales/countries", "country"),
    ("/api/v1/products/top", "month"),
    ("/api/v1/products/top", "metric"),
    ("/api/v1/products/top", "limit"),
    ("/api/v1/products/search", "q"),
    ("/api/v1/products/search", "category"),
    ("/api/v1/cohorts", "max_months"),
    ("/api/v1/quarantine", "rule"),
    ("/api/v1/quality/history", "limit"),
]


@pytest.mark.parametrize(("path", "name"), FILTERS)
def test_hostile_filter_values_are_refused_or_match_nothing(
    server: Server, path: str, name: str
) -> None:
    with server.client("analyst") as client:
        for value in HOSTILE:
            response = client.get(path, params={name: value})
            assert response.status_code in (200, 422), (path, name, value, response.text)
            if response.status_code == 200 and name == "q":
                assert isinstance(response.json()["results"], list)
            if response.status_code == 200 and name == "rule":
                assert response.json()["rows"] == []
    with server.client("viewer") as client:
        for value in HOSTILE[:4]:
            path_value = httpx.URL(f"/api/v1/customers/{value}").path
            assert client.get(path_value).status_code in (404, 422)
    # The lake is unharmed.
    with server.client("viewer") as client:
        assert client.get("/api/v1/kpis").json()["gross_revenue"] > 0


def test_daily_sales_are_mart_rows_paginated_and_sorted(
    viewer: httpx.Client, lake_sql: LakeSQL
) -> None:
    total = one(lake_sql, "SELECT count(*) AS n FROM gold.mart_daily_sales")["n"]
    first = viewer.get("/api/v1/sales/daily", params={"page_size": 50}).json()
    assert first["total_rows"] == total
    assert first["total_pages"] == -(-total // 50)
    assert len(first["rows"]) == 50
    dates = [r["sale_date"] for r in first["rows"]]
    assert dates == sorted(dates)
    row = first["rows"][0]
    mart = one(
        lake_sql,
        "SELECT * FROM gold.mart_daily_sales WHERE sale_date = CAST(? AS DATE) AND country = ?",
        [row["sale_date"], row["country"]],
    )
    assert row["gross_revenue"] == money(mart["gross_revenue"])
    assert row["orders"] == mart["orders"] and row["customers"] == mart["customers"]
    assert type(row["units"]) is int and row["units"] == mart["units"]  # OpenAPI: integer
    second = viewer.get("/api/v1/sales/daily", params={"page_size": 50, "page": 2}).json()
    keys = {(r["sale_date"], r["country"]) for r in first["rows"]}
    assert keys.isdisjoint({(r["sale_date"], r["country"]) for r in second["rows"]})
    past = viewer.get("/api/v1/sales/daily", params={"page": 10_000}).json()
    assert past["rows"] == [] and past["total_rows"] == total
    ranked = viewer.get(
        "/api/v1/sales/daily", params={"sort": "-gross_revenue", "page_size": 20}
    ).json()["rows"]
    revenue = [r["gross_revenue"] for r in ranked]
    assert revenue == sorted(revenue, reverse=True)
    assert viewer.get("/api/v1/sales/daily", params={"page_size": 5000}).status_code == 422
    assert (
        viewer.get("/api/v1/sales/daily", params={"sort": "gross_revenue; --"}).status_code == 422
    )


def test_totals_and_monthly_roll_ups_add_up_to_the_kpis(viewer: httpx.Client) -> None:
    kpis = viewer.get("/api/v1/kpis").json()
    days = viewer.get("/api/v1/sales/daily", params={"by": "total", "page_size": 1000}).json()
    assert days["total_pages"] == 1
    assert all(r["country"] is None for r in days["rows"])
    assert sum(r["gross_revenue"] for r in days["rows"]) == pytest.approx(kpis["gross_revenue"])
    months = viewer.get("/api/v1/sales/monthly", params={"by": "total"}).json()["rows"]
    assert sum(r["gross_revenue"] for r in months) == pytest.approx(kpis["gross_revenue"])
    assert sum(r["orders"] for r in months) >= kpis["orders"]  # distinct per month
    assert [r["month"] for r in months] == sorted(r["month"] for r in months)
    assert all(r["month"].endswith("-01") for r in months)
    countries = viewer.get("/api/v1/sales/countries").json()
    assert sum(c["gross_revenue"] for c in countries) == pytest.approx(kpis["gross_revenue"])
    assert sum(c["revenue_share"] for c in countries) == pytest.approx(1.0)
    uk = viewer.get("/api/v1/sales/monthly", params={"country": "GB"}).json()["rows"]
    assert {r["country"] for r in uk} == {"United Kingdom"}


def test_a_period_ending_on_the_calendar_s_last_day_is_answered(viewer: httpx.Client) -> None:
    """``/sales/monthly?to=9999-12-31`` (a client's "no end") was a 500: telling whether the
    period ends on a month's last day added a day to it, past the calendar (OverflowError;
    sixteenth round's audit). It is the whole of every month, as an open end is."""
    months = viewer.get("/api/v1/sales/monthly", params={"by": "total"}).json()
    for params in ({"to": "9999-12-31"}, {"from": "0001-01-01", "to": "9999-12-31"}):
        answered = viewer.get("/api/v1/sales/monthly", params={"by": "total", **params})
        assert answered.status_code == 200, answered.text
        assert answered.json()["rows"] == months["rows"]
    late = viewer.get("/api/v1/sales/monthly", params={"from": "9999-12-01", "to": "9999-12-31"})
    assert late.status_code == 200 and late.json()["rows"] == [], late.text


def test_customer_segments_and_one_customer(viewer: httpx.Client, lake_sql: LakeSQL) -> None:
    segments = viewer.get("/api/v1/customers/segments").json()
    customers = one(lake_sql, "SELECT count(*) AS n FROM gold.mart_customer_rfm")["n"]
    assert segments["total_customers"] == customers
    assert sum(s["customers"] for s in segments["segments"]) == customers
    assert sum(s["share"] for s in segments["segments"]) == pytest.approx(1.0)
    someone = one(
        lake_sql, "SELECT customer_id FROM gold.mart_customer_rfm ORDER BY monetary DESC LIMIT 1"
    )["customer_id"]
    detail = viewer.get(f"/api/v1/customers/{someone}").json()
    assert detail["rfm"]["customer_id"] == someone
    assert detail["history"] and sum(v["is_current"] for v in detail["history"]) == 1
    assert viewer.get("/api/v1/customers/00000").status_code == 404
    assert viewer.get("/api/v1/customers/a%20b").status_code == 422


def test_top_products_and_cohorts(viewer: httpx.Client, lake_sql: LakeSQL) -> None:
    top = viewer.get("/api/v1/products/top", params={"limit": 5}).json()
    revenue = [p["revenue"] for p in top["products"]]
    assert len(revenue) == 5 and revenue == sorted(revenue, reverse=True)
    assert [p["rank"] for p in top["products"]] == [1, 2, 3, 4, 5]
    month = one(
        lake_sql, "SELECT strftime(max(month), '%Y-%m') AS m FROM gold.mart_product_performance"
    )["m"]
    by_units = viewer.get("/api/v1/products/top", params={"metric": "units", "month": month}).json()
    units = [p["units"] for p in by_units["products"]]
    assert units == sorted(units, reverse=True) and by_units["month"] == month
    assert all(p["return_rate"] is not None for p in by_units["products"])
    assert viewer.get("/api/v1/products/top", params={"month": "2011-13"}).status_code == 422
    assert viewer.get("/api/v1/products/top", params={"month": "0000-01"}).status_code == 422
    cohorts = viewer.get("/api/v1/cohorts", params={"max_months": 2}).json()
    assert cohorts and all(0 <= c["retention"] <= 1 and c["months_since"] <= 2 for c in cohorts)


def test_product_search_is_case_insensitive_and_typo_tolerant(
    viewer: httpx.Client, lake_sql: LakeSQL
) -> None:
    product = one(
        lake_sql,
        "SELECT stock_code, description, category FROM gold.dim_product "
        "WHERE NOT is_non_product AND length(description) > 15 ORDER BY stock_code LIMIT 1",
    )
    words = product["description"].split()
    typo = " ".join(w[:1] + w[2:] if len(w) > 4 else w for w in words).lower()
    found = viewer.get("/api/v1/products/search", params={"q": typo, "limit": 5}).json()
    assert product["stock_code"] in [r["stock_code"] for r in found["results"]], typo
    exact = viewer.get("/api/v1/products/search", params={"q": product["stock_code"].lower()})
    assert exact.json()["results"][0]["stock_code"] == product["stock_code"]
    in_category = viewer.get(
        "/api/v1/products/search", params={"category": product["category"].upper(), "limit": 100}
    ).json()["results"]
    assert in_category and {r["category"] for r in in_category} == {product["category"]}
    assert viewer.get("/api/v1/products/search").status_code == 422
    assert (
        viewer.get("/api/v1/products/search", params={"category": "Spaceships"}).status_code == 422
    )


def test_quality_endpoints_follow_meta_tables(server: Server, lake_sql: LakeSQL) -> None:
    with server.client("analyst") as analyst:
        latest = analyst.get("/api/v1/quality/latest").json()
        history = analyst.get("/api/v1/quality/history").json()["runs"]
        typo = analyst.get("/api/v1/quality/latest", params={"table": "gold.fact_sale"})
        assert typo.status_code == 422 and "unknown table 'gold.fact_sale'" in typo.text, typo.text
        untested = analyst.get("/api/v1/quality/latest", params={"table": "gold.fact_sales"})
        assert untested.status_code == 200 and untested.json()["rules"] == []  # no table tests
        page = analyst.get("/api/v1/quarantine", params={"page_size": 10}).json()
    overall = one(
        lake_sql,
        "SELECT run_id, score FROM meta.quality_scores WHERE scope = 'overall' "
        "ORDER BY computed_at DESC LIMIT 1",
    )
    assert latest["run_id"] == overall["run_id"] and latest["overall"] == overall["score"]
    assert latest["rules"] and latest["dimensions"]
    assert history[-1]["run_id"] == overall["run_id"]
    quarantined = one(lake_sql, "SELECT count(*) AS n FROM silver.quarantine")["n"]
    assert page["total_rows"] == quarantined and len(page["rows"]) == min(10, quarantined)
    assert sum(page["by_rule"].values()) >= quarantined
    with server.client("viewer") as viewer:
        trend = viewer.get("/api/v1/quality/trend").json()["points"]
        assert trend[-1]["score"] == overall["score"]
        assert viewer.get("/api/v1/quality/latest").status_code == 403


def test_health_metrics_and_snapshot_header(server: Server, viewer: httpx.Client) -> None:
    health = server.client().get("/api/v1/health").json()
    assert health["status"] == "ok"
    assert health["snapshot"]["versions"]["gold.mart_daily_sales"] is not None
    response = viewer.get("/api/v1/kpis")
    assert response.headers["X-Snapshot"] == health["snapshot"]["id"]
    metrics = server.client().get("/metrics")
    assert metrics.status_code == 200
    assert (
        'retail_api_requests_total{method="GET",route="/api/v1/kpis",status="200"}' in metrics.text
    )
    assert "retail_api_request_seconds_bucket" in metrics.text
    # the pipeline's own metrics, read from the lake the server serves
    assert 'retail_table_rows{table="gold.fact_sales"}' in metrics.text
    assert "retail_layer_duration_seconds" in metrics.text
    assert 'retail_runs_total{command="run",status="succeeded"} 2.0' in metrics.text
    assert server.client().get("/docs").status_code == 200
    schema = server.client().get("/openapi.json").json()
    assert {"APIKeyHeader", "HTTPBearer"} <= set(schema["components"]["securitySchemes"])


def test_tokens_work_until_the_key_is_revoked(server: Server) -> None:
    from tests.integration.api.live import _ok, create_key

    key = create_key(server.lake, "viewer", "short-lived")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        issued = client.post("/api/v1/auth/token", headers={"X-API-Key": key}).json()
        assert issued["token_type"] == "bearer" and 0 < issued["expires_in"] <= 3600
        bearer = {"Authorization": f"Bearer {issued['access_token']}"}
        assert client.get("/api/v1/kpis", headers=bearer).status_code == 200
        assert client.get("/api/v1/me", headers=bearer).json()["role"] == "viewer"
        tampered = {"Authorization": f"Bearer {issued['access_token'][:-3]}abc"}
        assert client.get("/api/v1/kpis", headers=tampered).status_code == 401
        assert client.post("/api/v1/auth/token").status_code == 401
        _ok("keys", "revoke", key.split("_")[1], lake=server.lake)
        assert client.get("/api/v1/kpis", headers={"X-API-Key": key}).status_code == 401
        assert client.get("/api/v1/kpis", headers=bearer).status_code == 401
        wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        assert client.get("/api/v1/kpis", headers={"X-API-Key": wrong}).status_code == 401


def _truth(
    sql: LakeSQL, key: str, where: str = "", params: list[Any] | None = None
) -> dict[Any, tuple[int, int]]:
    """Distinct (orders, customers) of sale lines per ``key``, straight from the fact with the
    gold definitions."""
    rows = sql.arrow(
        f"SELECT {key} AS k, count(DISTINCT invoice_no) FILTER (WHERE is_sale) AS o, "
        "count(DISTINCT customer_id) FILTER (WHERE is_sale AND NOT is_guest) AS c "
        f"FROM gold.fact_sales {where} GROUP BY ALL HAVING o > 0 OR c > 0",
        params,
    ).to_pylist()
    return {str(r["k"]): (r["o"], r["c"]) for r in rows}


def _counts(rows: list[dict[str, Any]], *keys: str) -> dict[str, tuple[int, int]]:
    return {
        "|".join(str(r[k]) for k in keys): (r["orders"], r["customers"])
        for r in rows
        if r["orders"] or r["customers"]
    }


@pytest.mark.parametrize(
    "period",
    [{}, {"from": "2011-03-01", "to": "2011-06-30"}, {"from": "2011-03-15", "to": "2011-06-10"}],
    ids=["all-time", "whole-months", "part-months"],
)
def test_distinct_counts_are_exact_for_every_grouping_and_period(
    viewer: httpx.Client, lake_sql: LakeSQL, period: dict[str, str]
) -> None:
    where, params = "", None
    if period:
        where = "WHERE CAST(invoice_ts AS DATE) BETWEEN CAST(? AS DATE) AND CAST(? AS DATE)"
        params = [period["from"], period["to"]]
    month = "CAST(date_trunc('month', invoice_ts) AS DATE)"
    monthly = viewer.get("/api/v1/sales/monthly", params={**period, "page_size": 1000}).json()
    assert _counts(monthly["rows"], "month", "country") == _truth(
        lake_sql, f"{month} || '|' || country", where, params
    )
    totals = viewer.get(
        "/api/v1/sales/monthly", params={**period, "by": "total", "page_size": 1000}
    ).json()["rows"]
    assert _counts(totals, "month") == _truth(lake_sql, month, where, params)
    uk = viewer.get(
        "/api/v1/sales/monthly", params={**period, "by": "total", "country": "GB"}
    ).json()["rows"]
    uk_where = (where + " AND " if where else "WHERE ") + "country = 'United Kingdom'"
    assert _counts(uk, "month") == _truth(lake_sql, month, uk_where, params)
    days = viewer.get(
        "/api/v1/sales/daily", params={**period, "by": "total", "page_size": 1000}
    ).json()["rows"]
    assert _counts(days, "sale_date") == _truth(lake_sql, "CAST(invoice_ts AS DATE)", where, params)
    countries = viewer.get("/api/v1/sales/countries", params=period).json()
    assert _counts(countries, "country") == _truth(lake_sql, "country", where, params)
    kpis = viewer.get("/api/v1/kpis", params=period).json()
    everyone = one(lake_sql, kpi_select_sql() + f" {where}", params)
    assert (kpis["orders"], kpis["customers"]) == (everyone["orders"], everyone["customers"])
    assert kpis["avg_order_value"] == pytest.approx(everyone["avg_order_value"], abs=1e-4)


DASHBOARD_REQUESTS = [  # what serve/web/app.js asks for on first load
    ("/api/v1/kpis", {}),
    ("/api/v1/sales/daily", {"by": "total", "page_size": 1000}),
    ("/api/v1/sales/countries", {}),
    ("/api/v1/products/top", {"metric": "revenue", "limit": 10}),
    ("/api/v1/customers/segments", {}),
    ("/api/v1/quality/trend", {"limit": 100}),
]


def cache_misses(server: Server) -> float:
    metrics = server.client().get("/metrics").text
    line = next(x for x in metrics.splitlines() if x.startswith("retail_api_cache_misses "))
    return float(line.split()[1])


def test_the_dashboard_first_load_is_answered_from_the_warmed_cache(
    server: Server, viewer: httpx.Client
) -> None:
    before = cache_misses(server)
    for path, params in DASHBOARD_REQUESTS:
        assert viewer.get(path, params=params).status_code == 200
    assert cache_misses(server) == before


def test_openapi_docs_page_works_offline(server: Server) -> None:
    """/docs is served from packaged assets, not a CDN (the machine may be offline)."""
    client = server.client()
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    script = client.get("/docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert client.get("/openapi.json").json()["info"]["title"] == "retail-lakehouse API"

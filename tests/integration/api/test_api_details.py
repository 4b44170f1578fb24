"""Issue 14's API details, from the user's side: HTTP calls against a real ``retail serve``.

Each test names the behaviour a new user tripped over: a token minting its successor, a blank
search matching everything, a repeated filter silently dropped, an unknown rule answering an
empty page, a spreadsheet-style customer id not found, ``HEAD /`` refused, and
``include_non_product`` doing nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from retail_lakehouse.lake.query import LakeSQL
from tests.integration.api.live import Server, create_key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def one(sql: LakeSQL, query: str, params: list[Any] | None = None) -> dict[str, Any]:
    rows: list[dict[str, Any]] = sql.arrow(query, params).to_pylist()
    return rows[0]


@pytest.fixture(scope="module")
def viewer(server: Server) -> httpx.Client:
    return server.client("viewer")


def test_a_bearer_token_cannot_mint_its_successor(server: Server) -> None:
    key = create_key(server.lake, "viewer", "token chain")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        issued = client.post("/api/v1/auth/token", headers={"X-API-Key": key})
        assert issued.status_code == 200
        bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        assert client.get("/api/v1/kpis", headers=bearer).status_code == 200  # the token works
        renewed = client.post("/api/v1/auth/token", headers=bearer)
        assert renewed.status_code == 403, renewed.text
        assert "API key" in renewed.json()["detail"]
        assert "access_token" not in renewed.json()


def test_blank_search_text_is_refused(viewer: httpx.Client) -> None:
    for blank in (" ", "   ", "\t"):
        response = viewer.get("/api/v1/products/search", params={"q": blank})
        assert response.status_code == 422, (blank, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", "q"]


def test_an_exact_description_outscores_a_partial_match(
    viewer: httpx.Client, lake_sql: LakeSQL
) -> None:
    # A description whose words all appear in other, longer descriptions ("SKULL EGG CUP" and
    # "SKULL EGG CUP SET"): every word matches both, yet the exact one must rank first, higher.
    row = one(
        lake_sql,
        """
        SELECT s.description AS description, count(*) AS longer
        FROM gold.dim_product AS s JOIN gold.dim_product AS l
          ON l.description <> s.description
         AND list_has_all(string_split(lower(l.description), ' '),
                          string_split(lower(s.description), ' '))
        WHERE NOT s.is_non_product
        GROUP BY s.description ORDER BY longer DESC, description LIMIT 1
        """,
    )
    query = row["description"].lower()
    results = viewer.get("/api/v1/products/search", params={"q": query, "limit": 10}).json()[
        "results"
    ]
    assert results[0]["description"] == row["description"], results[:3]
    partial = [r for r in results if r["description"] != row["description"]]
    assert partial and results[0]["score"] > max(r["score"] for r in partial)


@pytest.mark.parametrize(
    ("path", "name", "values"),
    [
        ("/api/v1/kpis", "country", ["gb", "fr"]),
        ("/api/v1/sales/daily", "from", ["2011-01-01", "2011-02-01"]),
        ("/api/v1/products/top", "limit", ["3", "5"]),
        ("/api/v1/sales/countries", "country", ["gb", "gb"]),
    ],
)
def test_a_repeated_filter_is_refused_not_silently_dropped(
    viewer: httpx.Client, path: str, name: str, values: list[str]
) -> None:
    response = viewer.get(path, params=[(name, v) for v in values])
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", name] and "given 2 times" in detail["msg"]


def test_an_unknown_quarantine_rule_is_refused_naming_the_known_ones(server: Server) -> None:
    with server.client("analyst") as analyst:
        unknown = analyst.get("/api/v1/quarantine", params={"rule": "price_positive"})
        assert unknown.status_code == 422, unknown.text
        message = unknown.json()["detail"][0]["msg"]
        assert "unknown rule 'price_positive'" in message and "price_not_negative" in message
        # the example of docs/api.md uses a real rule
        known = analyst.get("/api/v1/quarantine", params={"rule": "price_not_negative"})
        assert known.status_code == 200
        assert known.json()["total_rows"] == known.json()["by_rule"].get("price_not_negative", 0)


def test_a_spreadsheet_style_customer_id_is_found_as_silver_stores_it(
    viewer: httpx.Client, lake_sql: LakeSQL
) -> None:
    someone = one(
        lake_sql, "SELECT customer_id FROM gold.mart_customer_rfm ORDER BY customer_id LIMIT 1"
    )["customer_id"]
    plain = viewer.get(f"/api/v1/customers/{someone}")
    for variant in (f"{someone}.0", f"{someone}.00"):
        found = viewer.get(f"/api/v1/customers/{variant}")
        assert found.status_code == 200, (variant, found.text)
        assert found.json() == plain.json()
    assert viewer.get(f"/api/v1/customers/{someone}.5").status_code == 404


def test_head_of_the_dashboard_is_answered(server: Server) -> None:
    with server.client() as anonymous:
        head = anonymous.head("/")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"].startswith("text/html")


def test_include_non_product_adds_postage_and_fees(viewer: httpx.Client, lake_sql: LakeSQL) -> None:
    truth = {
        r["stock_code"]: r
        for r in lake_sql.arrow(
            """
            SELECT stock_code,
                   sum(line_amount) FILTER (WHERE quantity > 0 AND NOT is_cancellation) AS revenue,
                   sum(quantity) FILTER (WHERE quantity > 0 AND NOT is_cancellation) AS units
            FROM gold.fact_sales WHERE is_non_product OR is_adjustment
            GROUP BY stock_code
            """
        ).to_pylist()
    }
    assert truth, "the generated lake has postage and fee lines"
    params: dict[str, Any] = {"limit": 100, "metric": "revenue"}
    products_only = viewer.get("/api/v1/products/top", params=params).json()["products"]
    everything = viewer.get(
        "/api/v1/products/top", params={**params, "include_non_product": "true"}
    ).json()["products"]
    assert not {p["stock_code"] for p in products_only} & set(truth)
    shown = {p["stock_code"]: p for p in everything if p["stock_code"] in truth}
    assert shown, "non-product lines appear when asked for"
    for code, product in shown.items():
        expected = truth[code]["revenue"] or Decimal(0)
        assert product["revenue"] == pytest.approx(float(expected), abs=0.005), code
        assert product["units"] == (truth[code]["units"] or 0), code
    revenue = [p["revenue"] for p in everything]
    assert revenue == sorted(revenue, reverse=True)
    # One month: the monthly path ranks product and non-product lines together.
    month = one(
        lake_sql,
        """
        SELECT strftime(invoice_ts, '%Y-%m') AS m FROM gold.fact_sales
        WHERE is_non_product AND quantity > 0 GROUP BY m ORDER BY sum(line_amount) DESC LIMIT 1
        """,
    )["m"]
    expected = (
        lake_sql.arrow(
            """
        SELECT stock_code FROM (
            SELECT stock_code, revenue, units FROM gold.mart_product_performance
            WHERE strftime(month, '%Y-%m') = $m
            UNION ALL
            SELECT stock_code,
                   coalesce(sum(line_amount) FILTER (WHERE quantity > 0 AND NOT is_cancellation),
                            0),
                   coalesce(sum(quantity) FILTER (WHERE quantity > 0 AND NOT is_cancellation), 0)
            FROM gold.fact_sales
            WHERE (is_non_product OR is_adjustment) AND strftime(invoice_ts, '%Y-%m') = $m
            GROUP BY stock_code
        ) ORDER BY revenue DESC, units DESC, stock_code LIMIT 100
        """,
            {"m": month},
        )
        .column("stock_code")
        .to_pylist()
    )
    monthly = viewer.get(
        "/api/v1/products/top",
        params={"month": month, "limit": 100, "include_non_product": "true"},
    ).json()["products"]
    assert [p["stock_code"] for p in monthly] == expected
    assert set(expected) & set(truth)

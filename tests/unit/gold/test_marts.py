"""The marts' exact definitions on hand-made lines: RFM, cohorts, product ranks, daily windows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.pipeline.gold.marts.rfm import SEGMENTS, fm_score
from tests.unit.gold.silver_rows import line, rows, run_gold, write_batch

NAMED_SEGMENTS = {
    "Champions",
    "Loyal Customers",
    "Potential Loyalists",
    "New Customers",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Cannot Lose Them",
    "Hibernating",
    "Lost",
}


def test_segment_map_covers_every_score_with_the_standard_names() -> None:
    assert set(SEGMENTS) == {(r, fm) for r in range(1, 6) for fm in range(1, 6)}
    assert set(SEGMENTS.values()) == NAMED_SEGMENTS
    assert fm_score(5, 4) == 5 and fm_score(1, 2) == 2 and fm_score(1, 1) == 1


@pytest.fixture
def rfm_lake(lake: Lake) -> Lake:
    lines = []
    # ten customers: customer k buys k times (one invoice a month from January), 10 each
    for k in range(1, 11):
        for n in range(k):
            lines.append(
                line(f"{k}{n:02d}", "A1", 10, "1.00", f"2011-{n + 1:02d}-03 10:00", f"c{k:02d}")
            )
    lines.append(line("C999", "A1", -5, "1.00", "2011-10-20 10:00", "c10"))  # a return
    lines.append(line("998", "POST", 1, "40.00", "2011-10-21 10:00", "c10"))  # not a product
    lines.append(line("997", "A1", 1, "1.00", "2011-11-30 17:00", None))  # last invoice: guest
    write_batch(lake, 1, lines)
    run_gold(lake)
    return lake


def test_rfm_measures_and_scores(rfm_lake: Lake) -> None:
    got = {r["customer_id"]: r for r in rows(rfm_lake, "SELECT * FROM gold.mart_customer_rfm")}
    assert len(got) == 10
    c10, c01 = got["c10"], got["c01"]
    assert c10["as_of_date"] == date(2011, 12, 1)  # the day after the last invoice
    assert c10["recency_days"] == (date(2011, 12, 1) - date(2011, 10, 3)).days
    assert (c10["frequency"], c10["monetary"]) == (10, Decimal("95.0000"))  # 100 - 5 returned
    assert (c01["recency_days"], c01["frequency"], c01["monetary"]) == (332, 1, Decimal("10.0000"))
    # ntile(5) over 10 customers: two per score, best customers score 5
    for measure in ("r_score", "f_score", "m_score"):
        assert sorted(r[measure] for r in got.values()) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert (c10["r_score"], c10["f_score"], c10["m_score"]) == (5, 5, 5)
    assert c10["rfm_segment"] == "Champions" and c01["rfm_segment"] == "Lost"
    tenure = (date(2011, 12, 1) - date(2011, 1, 3)).days
    assert tenure < 365
    assert c10["lifetime_value"] == Decimal("95") * 3  # tenure under a year counts as a year
    assert c10["first_purchase"].date() == date(2011, 1, 3)


def test_cohort_triangle(rfm_lake: Lake) -> None:
    cohorts = rows(
        rfm_lake, "SELECT * FROM gold.mart_cohort_retention ORDER BY cohort_month, months_since"
    )
    january = [r for r in cohorts if r["cohort_month"] == date(2011, 1, 1)]
    # everyone starts in January; the data ends in November: months_since 0..10
    assert [r["months_since"] for r in january] == list(range(11))
    assert [r["active_customers"] for r in january] == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert {r["cohort_size"] for r in january} == {10}
    assert january[1]["retention"] == pytest.approx(0.9)
    assert len(cohorts) == len(january)


def test_product_rank_abc_and_return_rate(lake: Lake) -> None:
    lines = [
        line("1", "BIG", 1, "85.00", "2011-05-02 10:00"),
        line("2", "MID", 1, "10.00", "2011-05-02 10:00"),
        line("3", "SMALL", 1, "5.00", "2011-05-02 10:00"),
        line("4", "SMALL", 4, "5.00", "2011-05-03 10:00"),
        line("C5", "SMALL", -2, "5.00", "2011-05-04 10:00"),
        line("C6", "ONLYRET", -1, "3.00", "2011-05-04 10:00"),
    ]
    write_batch(lake, 1, lines)
    run_gold(lake)
    got = {r["stock_code"]: r for r in rows(lake, "SELECT * FROM gold.mart_product_performance")}
    # month total 120; share of revenue ranked above: BIG 0% (A), SMALL 70.8% (A), MID 91.7% (B)
    assert [(c, got[c]["revenue_rank"], got[c]["abc_class"]) for c in ("BIG", "SMALL", "MID")] == [
        ("BIG", 1, "A"),
        ("SMALL", 2, "A"),
        ("MID", 3, "B"),
    ]
    small = got["SMALL"]
    assert (small["units"], small["orders"], small["returned_units"]) == (5, 2, 2)
    assert small["return_rate"] == pytest.approx(0.4)
    assert small["returns_amount"] == Decimal("10.0000")
    only = got["ONLYRET"]
    assert (only["revenue"], only["abc_class"], only["return_rate"]) == (0, "C", None)


def test_daily_windows(lake: Lake) -> None:
    lines = [
        line("1", "A1", 1, "10.00", "2011-05-02 10:00"),  # Monday
        line("2", "A1", 1, "20.00", "2011-05-03 10:00"),
        line("3", "A1", 1, "30.00", "2011-05-09 10:00"),  # next Monday: 02 left the window
        line("4", "A1", 1, "15.00", "2011-05-08 10:00", country="France"),
    ]
    write_batch(lake, 1, lines)
    run_gold(lake)
    uk = rows(
        lake,
        "SELECT * FROM gold.mart_daily_sales WHERE country = 'United Kingdom' ORDER BY sale_date",
    )
    assert [r["gross_revenue_dod_pct"] for r in uk] == [None, 100.0, 50.0]
    assert [r["gross_revenue_7d_avg"] for r in uk] == [
        Decimal("1.4286"),  # 10 / 7
        Decimal("4.2857"),  # 30 / 7
        Decimal("7.1429"),  # (20 + 30) / 7: 3 May is within 6 days of 9 May
    ]
    france = rows(lake, "SELECT * FROM gold.mart_daily_sales WHERE country = 'France'")
    assert france[0]["gross_revenue_dod_pct"] is None

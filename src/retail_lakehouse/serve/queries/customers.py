"""Customers: RFM segment sizes and one customer's RFM row with their SCD2 history."""

from __future__ import annotations

import functools

from retail_lakehouse.serve.models import (
    Country,
    Customer,
    CustomerRfm,
    CustomerVersion,
    Segment,
    Segments,
)
from retail_lakehouse.serve.readers import Snapshot


def segments(snapshot: Snapshot) -> Segments:
    rows = snapshot.rows(
        """
        SELECT rfm_segment AS segment, count(*) AS customers,
               count(*) / sum(count(*)) OVER () AS share,
               coalesce(sum(monetary), 0) AS monetary,
               avg(recency_days) AS avg_recency_days,
               avg(frequency) AS avg_frequency,
               avg(monetary) AS avg_monetary
        FROM gold.mart_customer_rfm
        WHERE rfm_segment IS NOT NULL
        GROUP BY rfm_segment
        ORDER BY customers DESC, segment
        """
    )
    head = snapshot.scalar_row(
        "SELECT max(as_of_date) AS as_of_date, count(*) AS n FROM gold.mart_customer_rfm"
    )
    return Segments(
        as_of_date=head.get("as_of_date"),
        total_customers=int(head.get("n") or 0),
        segments=[Segment.model_validate(r) for r in rows],
    )


@functools.cache
def normalised_id_sql() -> str:
    """SQL giving silver's form of a customer id from ``requested.id``.

    Compiled once from the very expression silver applies to source ids
    (:func:`~retail_lakehouse.pipeline.silver.parse.normalise_customer_id`), so ``12347.0`` finds
    customer ``12347`` exactly when silver would have stored it so: one rule, two callers."""
    import ibis

    from retail_lakehouse.pipeline.silver.parse import normalise_customer_id

    requested = ibis.table({"id": "string"}, name="requested")
    return str(ibis.to_sql(requested.select(id=normalise_customer_id(requested.id)), "duckdb"))


def normalise(snapshot: Snapshot, customer_id: str) -> str:
    """``customer_id`` as silver stores it (``12347.0`` -> ``12347``)."""
    row = snapshot.scalar_row(
        f"WITH requested AS (SELECT CAST($id AS VARCHAR) AS id) {normalised_id_sql()}",
        {"id": customer_id},
    )
    return str(row["id"])


def customer(snapshot: Snapshot, customer_id: str) -> Customer | None:
    """The customer's RFM row and SCD2 versions, or None when neither exists (the id is first
    normalised as silver normalises source ids)."""
    customer_id = normalise(snapshot, customer_id)
    params = {"id": customer_id}
    rfm = snapshot.rows("SELECT * FROM gold.mart_customer_rfm WHERE customer_id = $id", params)
    history = snapshot.rows(
        # the int64 key travels as decimal text: JSON numbers beyond 2^53 lose digits in
        # JavaScript clients
        "SELECT * REPLACE (CAST(customer_key AS VARCHAR) AS customer_key) FROM gold.dim_customer "
        "WHERE customer_id = $id ORDER BY version, valid_from",
        params,
    )
    if not rfm and not history:
        return None
    return Customer(
        customer_id=customer_id,
        rfm=CustomerRfm.model_validate(rfm[0]) if rfm else None,
        history=[CustomerVersion.model_validate(r) for r in history],
    )


def countries(snapshot: Snapshot) -> list[Country]:
    rows = snapshot.rows(
        "SELECT country, iso2, iso3, region, continent, currency, is_eu_member "
        "FROM gold.dim_country WHERE country IS NOT NULL AND country_key <> 0 ORDER BY country"
    )
    return [Country.model_validate(r) for r in rows]

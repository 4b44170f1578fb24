"""The business definitions behind every gold number, in one place.

- product line: not ``is_non_product`` and not ``is_adjustment``;
- sale line: a product line with quantity > 0 that is not a cancellation;
- return line: a product line that is a cancellation or has quantity < 0;
- ``gross_revenue`` = sum of ``line_amount`` over sale lines; ``returns_amount`` = minus the sum of
  ``line_amount`` over return lines (a positive number); ``net_revenue`` = gross - returns;
  ``orders`` = distinct invoices among sale lines; ``customers`` = distinct non-guest customers
  among sale lines; ``units`` = sum of quantity over sale lines; ``avg_order_value`` = gross /
  orders.

Every mart uses these functions, and ``gold.fact_sales`` stores the line classification
(``is_sale``, ``is_return_line``) so any consumer (the API's ``/kpis``, a BI tool) computes the
same numbers with plain sums: :data:`KPI_SQL` is the SQL form over the fact, tested against the
Ibis form. Only silver lines reach gold (quarantined lines never do), and silver has already
removed exact duplicates, so nothing here de-duplicates again.
"""

from __future__ import annotations

from decimal import Decimal

import ibis
import ibis.expr.types as ir

KPI_COLUMNS: tuple[str, ...] = (
    "gross_revenue",
    "returns_amount",
    "net_revenue",
    "orders",
    "customers",
    "units",
    "avg_order_value",
)


def _flag(column: ir.BooleanColumn) -> ir.BooleanValue:
    flag: ir.BooleanValue = column.fill_null(False)
    return flag


def is_product_line(t: ir.Table) -> ir.BooleanValue:
    """Goods, not postage, fees, manual adjustments or bad-debt write-offs."""
    return ~_flag(t.is_non_product) & ~_flag(t.is_adjustment)


def is_sale_line(t: ir.Table) -> ir.BooleanValue:
    """A product line that sold something: quantity > 0 on an invoice that is not cancelled."""
    sale: ir.BooleanValue = is_product_line(t) & (t.quantity > 0) & ~_flag(t.is_cancellation)
    return sale.fill_null(False)


def is_return_line(t: ir.Table) -> ir.BooleanValue:
    """A product line that gave money back: on a cancellation invoice, or a negative quantity."""
    returned: ir.BooleanValue = is_product_line(t) & (
        _flag(t.is_cancellation) | (t.quantity < 0).fill_null(False)
    )
    return returned


def kpi_aggregates(t: ir.Table) -> dict[str, ir.Scalar]:
    """The KPIs as Ibis aggregates over rows carrying ``is_sale`` and ``is_return_line``.

    Sums are exact decimals; ``avg_order_value`` is computed in float64 (identical IEEE
    arithmetic on every engine, where decimal division rules differ) and stored as a decimal
    rounded to 4 places by the writer."""
    zero = ibis.literal(0)
    gross = t.line_amount.sum(where=t.is_sale).coalesce(zero)
    returns = (-t.line_amount.sum(where=t.is_return_line)).coalesce(zero)
    orders = t.invoice_no.nunique(where=t.is_sale).cast("int64")
    return {
        "gross_revenue": gross,
        "returns_amount": returns,
        "net_revenue": gross - returns,
        "orders": orders,
        "customers": t.customer_id.nunique(where=t.is_sale & ~t.is_guest.fill_null(False)).cast(
            "int64"
        ),
        "units": t.quantity.sum(where=t.is_sale).coalesce(zero).cast("int64"),
        "avg_order_value": ratio(gross, orders),
    }


def as_float(value: ir.NumericValue) -> ir.FloatingValue:
    """``value`` as float64, the same double on every engine.

    A decimal's cast to double is not the same everywhere: Spark divides the unscaled long,
    converted to double, by ``10**scale`` (two roundings) where DuckDB rounds once, so a
    15-digit amount (hostile data) came out one unit of the last place apart and the mart's
    rounded decimal a 0.0001 apart. Here both engines take Spark's path explicitly: the
    unscaled value as a whole number (exact), converted to double, divided by ``10**scale``."""
    dtype = value.type()
    if not dtype.is_decimal() or not dtype.scale:
        return value.cast("float64")
    unit = 10**dtype.scale
    wide = value.cast(f"decimal(38, {dtype.scale})")
    unscaled = (wide * unit).cast("int64").cast("float64") / float(unit)
    # Past what the unscaled value holds in 64 bits, the plain cast (no overflow error).
    fits = value.abs() < ibis.literal(Decimal(2**63 - 1) / unit, f"decimal(38, {dtype.scale})")
    result: ir.FloatingValue = fits.ifelse(unscaled, value.cast("float64"))
    # Below 2**53 the unscaled value is exact as a double, so that path rounds once (one
    # division by an exact power of ten), which is the correctly rounded value every engine's
    # own cast gives there too (DuckDB and Spark divide the same way): the plain cast, without
    # the 128-bit multiplication and BIGINT cast, which cost DuckDB 0.5 us a row (a quarter
    # of the RFM mart's query at 39,000 customers; decision 0020, tenth round). The rule
    # above is still what every larger value gets.
    exact = value.abs() < ibis.literal(Decimal(2**53) / unit, f"decimal(38, {dtype.scale})")
    result = exact.ifelse(value.cast("float64"), result)
    return result


def ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    """``numerator / denominator`` in float64; NULL when the denominator is 0 or NULL."""
    result: ir.FloatingValue = (denominator == 0).ifelse(
        ibis.null("float64"), as_float(numerator) / as_float(denominator)
    )
    return result


KPI_SQL: dict[str, str] = {
    "gross_revenue": "coalesce(sum(line_amount) FILTER (WHERE is_sale), 0)",
    "returns_amount": "coalesce(-sum(line_amount) FILTER (WHERE is_return_line), 0)",
    "net_revenue": (
        "coalesce(sum(line_amount) FILTER (WHERE is_sale), 0)"
        " + coalesce(sum(line_amount) FILTER (WHERE is_return_line), 0)"
    ),
    "orders": "count(DISTINCT invoice_no) FILTER (WHERE is_sale)",
    "customers": "count(DISTINCT customer_id) FILTER (WHERE is_sale AND NOT is_guest)",
    "units": "CAST(coalesce(sum(quantity) FILTER (WHERE is_sale), 0) AS BIGINT)",
    "avg_order_value": (
        "CAST(sum(line_amount) FILTER (WHERE is_sale) AS DOUBLE)"
        " / nullif(count(DISTINCT invoice_no) FILTER (WHERE is_sale), 0)"
    ),
}
"""The same KPIs as DuckDB SQL aggregates over ``gold.fact_sales`` (any filter, any grouping):
``SELECT {", ".join(f"{sql} AS {name}" for name, sql in KPI_SQL.items())} FROM gold.fact_sales``."""


def kpi_select_sql(table: str = "gold.fact_sales") -> str:
    """A complete ``SELECT`` of every KPI over ``table`` (add ``WHERE``/``GROUP BY`` after it)."""
    columns = ", ".join(f"{sql} AS {name}" for name, sql in KPI_SQL.items())
    return f"SELECT {columns} FROM {table}"

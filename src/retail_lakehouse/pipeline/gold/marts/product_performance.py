"""``gold.mart_product_performance``: one row per product (stock code) and month.

A row exists for every month in which the product had a sale or return line (product lines
only). Per row: ``revenue`` (gross revenue: sale lines), ``units`` (sold), ``orders`` (distinct
sale invoices), ``returned_units`` (minus the quantity of return lines), ``returns_amount``
(minus their amount), ``return_rate`` = returned_units / units (NULL when nothing sold),
``revenue_rank`` (1 = highest revenue of the month; ties by stock code) and ``abc_class``:
products ranked by revenue, ``A`` while the revenue of the higher-ranked products is below 80% of
the month's total, ``B`` below 95%, ``C`` for the rest and for products without revenue.
``product_key``, ``description`` and ``category`` come from ``dim_product`` (current values;
a stock code the dimension lacks, which a full rebuild never produces, gets the unknown key).

Incremental runs recompute the sums only for the months touched by new lines (or, when the new
lines are all on new invoices, add theirs to the previous sums); rank and class are per month, so
the months before the first touched one keep their rows. When no product's
key, description or category changed, a run writes only the rows from its first touched month
on (:func:`build_recent_months`, reading only the fact's row groups from that month on) and
replaces only those months' files; otherwise every row is re-joined with the products and the
whole mart is written, so the mart always equals a full rebuild (decision 0020).
"""

from __future__ import annotations

from datetime import date, datetime

import ibis
import ibis.expr.types as ir

from retail_lakehouse.lake.contracts.gold import MART_PRODUCT_PERFORMANCE
from retail_lakehouse.pipeline.gold.definitions import ratio
from retail_lakehouse.pipeline.gold.frames import conform
from retail_lakehouse.pipeline.gold.keys import UNKNOWN_KEY

BASE: tuple[str, ...] = (
    "month",
    "stock_code",
    "revenue",
    "units",
    "orders",
    "returned_units",
    "returns_amount",
)
A_SHARE = (4, 5)  # 80%
B_SHARE = (19, 20)  # 95%


def _with_month(lines: ir.Table) -> ir.Table:
    return lines.mutate(month=lines.invoice_ts.truncate("M").date())


def touched_months(lines: ir.Table) -> ir.Table:
    """Months of ``lines`` holding sale or return lines."""
    return (
        _with_month(lines.filter(lines.is_sale | lines.is_return_line)).select("month").distinct()
    )


def product_month_base(fact: ir.Table) -> ir.Table:
    """The sums per (month, stock_code)."""
    counted = _with_month(fact.filter(fact.is_sale | fact.is_return_line))
    # The sums in one grouped step per product and month; the orders (distinct sale invoices)
    # in a second, narrow one: the distinct (month, stock code, invoice) of the sale lines,
    # counted per product and month. Not ``count(DISTINCT invoice_no)``, which keeps a set per
    # group (30 s of 35 at 20 million lines, decision 0011), and not one grouping per invoice
    # carrying every sum, whose 20 million wide groups spilled past the pool (fifth round).
    zero = ibis.literal(0)
    sums = counted.group_by(["month", "stock_code"]).agg(
        revenue=counted.line_amount.sum(where=counted.is_sale).coalesce(zero),
        units=counted.quantity.sum(where=counted.is_sale).coalesce(zero),
        returned_units=(-counted.quantity.sum(where=counted.is_return_line)).coalesce(zero),
        returns_amount=(-counted.line_amount.sum(where=counted.is_return_line)).coalesce(zero),
    )
    sold = counted.filter(counted.is_sale & counted.invoice_no.notnull())
    invoices = sold.select("month", "stock_code", "invoice_no").distinct()
    orders = invoices.group_by(["month", "stock_code"]).agg(orders=invoices.count())
    orders = orders.rename(_o_month="month", _o_stock_code="stock_code")
    # NULL-safe: a NULL month or stock code is one group on both sides, as in one grouping
    joined = sums.left_join(
        orders,
        [
            sums.month.identical_to(orders._o_month),
            sums.stock_code.identical_to(orders._o_stock_code),
        ],
    )
    grouped = joined.select(
        "month",
        "stock_code",
        "revenue",
        "units",
        orders=joined.orders.fill_null(0),
        returned_units=joined.returned_units,
        returns_amount=joined.returns_amount,
    )
    return _base_columns(grouped)


def _base_columns(table: ir.Table) -> ir.Table:
    schema = ibis.Schema.from_pyarrow(MART_PRODUCT_PERFORMANCE.schema)
    return table.select(*[table[c].cast(schema[c]).name(c) for c in BASE])


def finish(base: ir.Table, products: ir.Table) -> ir.Table:
    """Add product attributes, return rate, rank and ABC class."""
    attributes = products.filter(products.stock_code.notnull()).select(
        "stock_code", "product_key", "description", "category"
    )
    joined = base.left_join(attributes, "stock_code").select(
        *[base[c] for c in BASE],
        attributes.product_key,
        attributes.description,
        attributes.category,
    )
    order = [ibis.desc(joined.revenue), joined.stock_code]
    running = ibis.window(group_by=joined.month, order_by=order, rows=(None, 0))
    total = joined.revenue.sum().over(ibis.window(group_by=joined.month))
    before = joined.revenue.sum().over(running) - joined.revenue
    positive = joined.revenue > 0
    result = joined.mutate(
        product_key=joined.product_key.fill_null(UNKNOWN_KEY),
        return_rate=ratio(joined.returned_units, joined.units),
        revenue_rank=ibis.row_number().over(ibis.window(group_by=joined.month, order_by=order)) + 1,
        abc_class=ibis.cases(
            (positive & (before * A_SHARE[1] < total * A_SHARE[0]), "A"),
            (positive & (before * B_SHARE[1] < total * B_SHARE[0]), "B"),
            else_="C",
        ),
    )
    return conform(result, MART_PRODUCT_PERFORMANCE)


def build_product_performance(
    fact: ir.Table, products: ir.Table, touched: ir.Table | None, previous: ir.Table | None
) -> ir.Table:
    """The whole mart: recomputed ``touched`` months (all when None) plus the previous others."""
    if touched is None or previous is None:
        return finish(product_month_base(fact), products)
    recomputed = product_month_base(_with_month(fact).semi_join(touched, "month"))
    kept = _base_columns(previous).anti_join(touched, "month")
    return finish(kept.union(recomputed), products)


def build_recent_months(
    fact: ir.Table,
    products: ir.Table,
    touched: ir.Table,
    previous: ir.Table,
    start: date,
    new_rows: ir.Table | None = None,
) -> ir.Table:
    """The mart's rows from month ``start`` on: the ``touched`` months recomputed, the previous
    rows of the others. The fact is read from ``start`` on (a range on ``invoice_ts``, which the
    engines serve from row-group statistics), not as a whole.

    ``new_rows``, given when they are the only fact rows the run changed and all their invoices
    are new, are added to the previous sums instead: every sum adds up, and so does the count
    of distinct sale invoices when no invoice was counted before. The fact's earlier rows of
    the touched months are then not read (the lake's last month, whose rows grow with it)."""
    later = previous.filter(previous.month >= ibis.date(start.isoformat()))
    if new_rows is not None:
        return finish(_added(_base_columns(later), product_month_base(new_rows)), products)
    since = ibis.timestamp(datetime(start.year, start.month, start.day))
    recent = fact.filter(fact.invoice_ts >= since)
    recomputed = product_month_base(_with_month(recent).semi_join(touched, "month"))
    kept = _base_columns(later).anti_join(touched, "month")
    return finish(kept.union(recomputed), products)


def _added(before: ir.Table, new: ir.Table) -> ir.Table:
    """Per (month, stock code), ``before``'s sums plus ``new``'s (a group missing from one
    side counts as zero there; NULL keys group together, as in one grouping).

    Each side has one row per (month, stock code), so this is an outer join of the two, not a
    grouping of their union: the new lines' few thousand groups are looked up from the
    previous rows of the month (32,806 at 5 M lines), whose five decimal sums a grouping
    re-aggregated (two fifths of the mart's query; decision 0020, tenth round)."""
    old = before.mutate(_before=ibis.literal(True))
    added = new.rename(**{f"_new_{name}": name for name in BASE})
    joined = old.outer_join(
        added,
        [
            old.month.identical_to(added._new_month),
            old.stock_code.identical_to(added._new_stock_code),
        ],
    )
    present = joined._before.notnull()
    keys = {name: present.ifelse(joined[name], joined[f"_new_{name}"]) for name in BASE[:2]}
    sums = {name: _plus(joined[name], joined[f"_new_{name}"]) for name in BASE[2:]}
    return _base_columns(joined.select(**keys, **sums))


def _plus(a: ir.Value, b: ir.Value) -> ir.Value:
    """``a + b`` as ``sum`` adds them: NULL when both are NULL, else a NULL counts as 0."""
    result: ir.Value = ibis.cases((a.isnull(), b), (b.isnull(), a), else_=a + b)
    return result


def with_attributes(rows: ir.Table, products: ir.Table) -> ir.Table:
    """Mart rows with their product's current key, description and category (what
    :func:`finish` joins); sums, rank and class as they were (a product's attributes change
    none of them)."""
    attributes = products.filter(products.stock_code.notnull()).select(
        "stock_code",
        _key=products.product_key,
        _description=products.description,
        _category=products.category,
    )
    joined = rows.left_join(attributes, "stock_code")
    result = joined.mutate(
        product_key=joined._key.fill_null(UNKNOWN_KEY),
        description=joined._description,
        category=joined._category,
    )
    return conform(result, MART_PRODUCT_PERFORMANCE)


def attributes_changed(previous: ir.Table, products: ir.Table) -> ir.Table:
    """Stock codes whose key, description or category differs between two ``dim_product``
    snapshots (their rows in every month must be re-joined)."""
    old = previous.filter(previous.stock_code.notnull()).select(
        "stock_code",
        old_key=previous.product_key,
        old_description=previous.description,
        old_category=previous.category,
    )
    new = products.filter(products.stock_code.notnull())
    joined = new.join(old, "stock_code")
    differs = (
        ~joined.product_key.identical_to(joined.old_key)
        | ~joined.description.identical_to(joined.old_description)
        | ~joined.category.identical_to(joined.old_category)
    )
    return joined.filter(differs).select("stock_code")

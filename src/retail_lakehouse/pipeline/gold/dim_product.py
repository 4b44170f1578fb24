"""``gold.dim_product`` (SCD1): one row per stock code with its current attributes.

- ``description``: the most recent non-empty description (latest ``invoice_ts``; on a tie the
  greatest text, so every engine picks the same one);
- ``category``: from the description keywords (:mod:`.categories`), ``Non-product`` for
  non-product codes;
- ``is_non_product``: any of the code's lines was flagged non-product by silver;
- ``typical_price``: the median ``unit_price`` of the code's charged lines (quantity > 0, not
  cancelled, not an adjustment, price > 0; for product codes these are exactly the sale lines).
  With an even count it is the lower of the two middle prices, so it is always a price that
  was actually charged and needs no engine-specific rounding;
- ``first_sold`` / ``last_sold``: dates of the first and last charged line.

Incremental runs recompute the statistics only for the stock codes in the new batches (from all
of their silver lines) and keep the other rows. Categories are derived for the recomputed rows;
the kept rows keep theirs only when the previous commit says it used the same mapping (its
fingerprint in the commit metadata), otherwise every row is re-derived, so a changed mapping
applies everywhere, as a full rebuild would.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake.contracts.gold import DIM_PRODUCT
from retail_lakehouse.lake.store import cast_batch
from retail_lakehouse.pipeline.gold.categories import CategoryRule, with_category
from retail_lakehouse.pipeline.gold.frames import conform
from retail_lakehouse.pipeline.gold.keys import UNKNOWN_KEY, surrogate_key

STAT_COLUMNS: tuple[str, ...] = (
    "stock_code",
    "description",
    "is_non_product",
    "typical_price",
    "first_sold",
    "last_sold",
)


def _charged(lines: ir.Table) -> ir.BooleanValue:
    result: ir.BooleanValue = (
        (lines.quantity > 0)
        & ~lines.is_cancellation.fill_null(False)
        & ~lines.is_adjustment.fill_null(False)
    ).fill_null(False)
    return result


def product_stats(lines: ir.Table) -> ir.Table:
    """Per stock code: current description, non-product flag, typical price, first/last sold.

    Only group-bys and joins over the lines (a window over every line costs a sort); the
    median's window runs over one row per code and price."""
    lines = lines.filter(lines.stock_code.notnull())
    charged = _charged(lines)
    described = lines.filter(lines.description.notnull())
    last_seen = described.group_by("stock_code").agg(last_ts=described.invoice_ts.max())
    at_last = described.join(
        last_seen,
        [
            described.stock_code == last_seen.stock_code,
            described.invoice_ts == last_seen.last_ts,
        ],
    )
    descriptions = at_last.group_by(described.stock_code).agg(description=at_last.description.max())
    priced = lines.filter(charged & (lines.unit_price > 0))
    prices = priced.group_by("stock_code", "unit_price").agg(n=priced.count())
    by_price = ibis.window(group_by=prices.stock_code, order_by=prices.unit_price, rows=(None, 0))
    cumulative = prices.mutate(
        upto=prices.n.sum().over(by_price),
        total=prices.n.sum().over(ibis.window(group_by=prices.stock_code)),
    )
    # lower median: the price at 1-based position ceil(total / 2), i.e. the first price whose
    # cumulative count reaches half the lines
    reaching = cumulative.filter(2 * cumulative.upto >= cumulative.total)
    medians = reaching.group_by("stock_code").agg(typical_price=reaching.unit_price.min())
    stats = lines.group_by("stock_code").agg(
        is_non_product=lines.is_non_product.fill_null(False).any(),
        first_sold=lines.invoice_ts.min(where=charged).date(),
        last_sold=lines.invoice_ts.max(where=charged).date(),
    )
    joined = stats.left_join(descriptions, "stock_code").left_join(medians, "stock_code")
    return joined.select(
        stats.stock_code,
        descriptions.description,
        stats.is_non_product,
        typical_price=medians.typical_price.cast(DIM_PRODUCT.schema.field("typical_price").type),
        first_sold=stats.first_sold,
        last_sold=stats.last_sold,
    )


def build_dim_product(
    engine: Engine,
    silver: ir.Table,
    affected: ir.Table | None,
    previous: ir.Table | None,
    rules: list[CategoryRule],
    *,
    same_rules: bool = False,
) -> ir.Table:
    """The whole dimension: recomputed rows for ``affected`` stock codes (all codes when None),
    previous rows for the others, and the unknown member. Categories are derived for every
    row, or only for the recomputed ones when ``same_rules`` (the previous rows were derived
    with this very mapping, so theirs stand)."""
    if affected is None or previous is None:
        stats = product_stats(silver)
    else:
        recomputed = product_stats(silver.semi_join(affected, "stock_code"))
        kept = previous.filter(previous.product_key != UNKNOWN_KEY).anti_join(
            affected, "stock_code"
        )
        if same_rules:
            fresh = with_category(
                engine,
                recomputed.mutate(product_key=surrogate_key(engine, recomputed.stock_code)),
                "stock_code",
                rules,
            )
            rows = conform(kept, DIM_PRODUCT).union(conform(fresh, DIM_PRODUCT))
            return rows.union(_unknown(engine))
        stats = _stat_columns(kept).union(_stat_columns(recomputed))
    keyed = with_category(
        engine,
        stats.mutate(product_key=surrogate_key(engine, stats.stock_code)),
        "stock_code",
        rules,
    )
    return conform(keyed, DIM_PRODUCT).union(_unknown(engine))


def _unknown(engine: Engine) -> ir.Table:
    unknown = engine.arrow_table(
        cast_batch(
            pa.table(
                {
                    "product_key": [UNKNOWN_KEY],
                    "description": ["Unknown"],
                    "category": ["Unknown"],
                    "is_non_product": [False],
                }
            ),
            DIM_PRODUCT,
        ),
        "gold_unknown_product",
    )
    return conform(unknown, DIM_PRODUCT)


def _stat_columns(table: ir.Table) -> ir.Table:
    schema = ibis.Schema.from_pyarrow(DIM_PRODUCT.schema)
    return table.select(*[table[c].cast(schema[c]).name(c) for c in STAT_COLUMNS])

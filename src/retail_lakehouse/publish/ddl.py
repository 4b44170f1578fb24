"""PostgreSQL DDL derived from the lake's contracts: tables, keys, indexes, comments, views.

Nothing here is a hand-kept copy of a schema: column names and types come from each contract's
Arrow schema (a key that becomes ``int64`` upstream becomes ``bigint`` here), keys and indexes
from its ``primary_key``, ``references`` and ``filter_columns``, comments from its
descriptions. Every identifier is composed with :mod:`psycopg.sql` (quoted), every comment is a
quoted literal; no user text reaches SQL except the schema name, which :class:`Target` checks.

Types are spelled exactly as PostgreSQL's ``format_type`` prints them, so the shape of a table
already in the target can be compared with the contract by plain string equality.
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa
from psycopg import sql

from retail_lakehouse.lake.contracts import TableContract, contracts

BATCH_COLUMN = "_batch_seq"
"""Tables with this column are published batch by batch (the fact)."""

MAINTENANCE_MEMORY = "256MB"
"""``maintenance_work_mem`` of a full publish's transaction: index builds of the fact sort in
memory, and PostgreSQL gives a build parallel workers only with 32 MB each."""

MAINTENANCE_WORKERS = 4
"""``max_parallel_maintenance_workers`` of a full publish's transaction (PostgreSQL's default is
2; the server's ``max_parallel_workers`` still caps it, and the fact's size gives it 3). Measured
side by side on the shared 2-core machine (load 17-19): the key and index builds took 5.8 s with
4, 7.3 s with the default 2, 10.2 s with 0 (medians of 3; decision 0014). Keys are built inside the
publish's one transaction, where no other session can see the new rows, so parallel workers of
one ``CREATE INDEX`` are the only way to use more than one core for them."""

DIFF_FILLFACTOR = 50
"""``fillfactor`` of the tables an incremental publish brings in step row by row (every table
but the fact, which changes by whole batches): each page keeps half its space free, so a changed
row is updated on its own page as a heap-only tuple, without an entry added to each index
(``incremental.UPDATE_IN_PLACE``). Half, because the RFM mart changes every row when its as-of
date moves and a month's product ranks change together; the space of the old versions is
reclaimed by PostgreSQL's page pruning at the next update. These tables are a few percent of the
rows of a full publish (decision 0014, fifth addendum, has the measurements)."""


def fillfactor(contract: TableContract) -> int | None:
    """The ``fillfactor`` of a published table (None: PostgreSQL's default, 100)."""
    return None if BATCH_COLUMN in contract.schema.names else DIFF_FILLFACTOR


_SIMPLE = {
    "string": "text",
    "large_string": "text",
    "int8": "smallint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "float": "real",
    "double": "double precision",
    "bool": "boolean",
    "date32[day]": "date",
}


def pg_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL type of a contract's Arrow type: exact ``numeric`` for decimals (money is
    never a float), ``timestamp with time zone`` only for zoned timestamps, arrays for lists."""
    if pa.types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        zoned = "with" if arrow_type.tz else "without"
        return f"timestamp {zoned} time zone"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return pg_type(arrow_type.value_type) + "[]"
    name = str(arrow_type)
    if name not in _SIMPLE:
        raise TypeError(f"no PostgreSQL type for Arrow type {name}")
    return _SIMPLE[name]


def published_tables() -> list[TableContract]:
    """The gold tables, dimensions before the fact before the marts (contract order)."""
    return [c for c in contracts() if c.layer == "gold" and not c.internal]


def shape(contract: TableContract) -> list[tuple[str, str]]:
    """``(column, PostgreSQL type)`` in order: what the target table must look like."""
    return [(f.name, pg_type(f.type)) for f in contract.schema]


DDL_VERSION = 3
"""Bumped when the generated DDL changes in a way ``format_type`` does not show (collations,
index choice), so the next publish rebuilds the tables."""


def key_columns(contract: TableContract) -> set[str]:
    """Text columns holding keys get ``COLLATE "C"``: keys are compared, never sorted for
    people, and byte order makes their indexes and foreign-key checks several times cheaper."""
    return set(contract.primary_key) | {column for column, _ in contract.references}


def shape_digest(tables: list[TableContract]) -> str:
    """A short fingerprint of every published table's shape, keys and indexes."""
    document = [DDL_VERSION] + [
        [c.name, shape(c), c.primary_key, c.references, indexes(c)] for c in tables
    ]
    return hashlib.sha256(json.dumps(document).encode()).hexdigest()[:16]


def ident(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def create_table(schema: str, contract: TableContract) -> sql.Composed:
    """``CREATE TABLE`` with columns only (keys and indexes come after a bulk load)."""
    key = set(contract.primary_key)
    keys = key_columns(contract)
    columns = [
        sql.SQL("{} {}{}{}").format(
            sql.Identifier(name),
            sql.SQL(type_),
            sql.SQL(' COLLATE "C"' if name in keys and type_ == "text" else ""),
            sql.SQL(" NOT NULL" if name in key else ""),
        )
        for name, type_ in shape(contract)
    ]
    factor = fillfactor(contract)
    return sql.SQL("CREATE TABLE {} ({}){}").format(
        ident(schema, contract.name),
        sql.SQL(", ").join(columns),
        sql.SQL(f" WITH (fillfactor = {int(factor)})" if factor else ""),
    )


def set_fillfactor(schema: str, contract: TableContract) -> sql.Composed:
    """:func:`fillfactor` on a table kept by a full publish (truncated and loaded again), so a
    target created before it had one gets it: storage only, not part of the shape."""
    factor = fillfactor(contract)
    if factor is None:
        return sql.SQL("ALTER TABLE {} RESET (fillfactor)").format(ident(schema, contract.name))
    return sql.SQL("ALTER TABLE {} SET (fillfactor = {})").format(
        ident(schema, contract.name), sql.Literal(int(factor))
    )


def indexes(contract: TableContract) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Indexes of one table, name -> (method, columns): a b-tree per filter column, and ONE
    block-range (BRIN) index over all the ordered columns.

    A multi-column BRIN index serves a filter on any of its columns (unlike a b-tree), and is
    built in one scan of the table where one index per column scans it once each (the fact's
    ``date_key`` and ``_batch_seq``: 0.15-0.23 s against 0.31-0.38 s for two, decision 0014,
    third pass). Foreign-key columns are not indexed for their own sake: a publish re-inserts a
    changed dimension row under the same key in the same transaction, so the deferred check
    never has to search the fact; each b-tree costs a sort of the whole fact on a full
    publish."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for column in contract.filter_columns:
        if column not in contract.primary_key[:1]:
            found[_index_name(contract, column)] = ("btree", (column,))
    if contract.ordered_columns:
        name = _index_name(contract, "_".join(c.strip("_") for c in contract.ordered_columns))
        found[name] = ("brin", tuple(contract.ordered_columns))
    return found


def _index_name(contract: TableContract, column: str) -> str:
    return f"{contract.name}_{column.strip('_')}_idx"[:63]


def _fk_name(contract: TableContract, column: str) -> str:
    return f"{contract.name}_{column}_fkey"[:63]


def _pk_name(contract: TableContract) -> str:
    return f"{contract.name}_pkey"[:63]


def add_keys(schema: str, contract: TableContract) -> list[sql.Composed]:
    """Primary key and indexes of one table (built after its rows are loaded)."""
    table = ident(schema, contract.name)
    statements = []
    if contract.primary_key:
        statements.append(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
                table,
                sql.Identifier(_pk_name(contract)),
                sql.SQL(", ").join(map(sql.Identifier, contract.primary_key)),
            )
        )
    for name, (method, columns) in indexes(contract).items():
        statements.append(
            sql.SQL("CREATE INDEX {} ON {} USING {} ({})").format(
                sql.Identifier(name),
                table,
                sql.SQL(method),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
            )
        )
    return statements


def add_foreign_keys(schema: str, contract: TableContract) -> list[sql.Composed]:
    """Foreign keys of one table, deferred to commit: a publish replaces dimension rows and fact
    rows in one transaction, in whatever order, and only the end state must be consistent."""
    by_name = {c.qualified: c for c in contracts()}
    statements = []
    for column, referenced in contract.references:
        parent = by_name[referenced]
        statements.append(
            sql.SQL(
                "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) "
                "DEFERRABLE INITIALLY DEFERRED"
            ).format(
                ident(schema, contract.name),
                sql.Identifier(_fk_name(contract, column)),
                sql.Identifier(column),
                ident(schema, parent.name),
                sql.SQL(", ").join(map(sql.Identifier, parent.primary_key)),
            )
        )
    return statements


def orphan_counts(schema: str, contract: TableContract, batches: list[int]) -> sql.Composed:
    """One query counting, per foreign key, the rows of ``batches`` whose key has no row in the
    referenced dimension (MATCH SIMPLE: a NULL key references nothing and is fine): the check
    of rows loaded without the per-row foreign-key triggers, in one pass over those rows."""
    by_name = {c.qualified: c for c in contracts()}
    joins, counts = [], []
    for i, (column, referenced) in enumerate(contract.references):
        parent = by_name[referenced]
        alias = sql.Identifier(f"r{i}")
        key = sql.Identifier(parent.primary_key[0])
        joins.append(
            sql.SQL("LEFT JOIN {} {} ON {}.{} = f.{}").format(
                ident(schema, parent.name), alias, alias, key, sql.Identifier(column)
            )
        )
        counts.append(
            sql.SQL("count(*) FILTER (WHERE f.{} IS NOT NULL AND {}.{} IS NULL)").format(
                sql.Identifier(column), alias, key
            )
        )
    return sql.SQL("SELECT {} FROM {} f {} WHERE f.{} = ANY({})").format(
        sql.SQL(", ").join(counts),
        ident(schema, contract.name),
        sql.SQL(" ").join(joins),
        sql.Identifier(BATCH_COLUMN),
        sql.Literal([int(b) for b in batches]),
    )


def missing_keys(schema: str, contract: TableContract) -> sql.Composed:
    """One query counting, per foreign key, the keys of a bound array (one array parameter per
    key, in ``references`` order: the distinct keys of the rows just loaded) that have no row in
    the referenced dimension: the same check as :func:`orphan_counts` without reading the rows
    back, one index probe per distinct key instead of a join per row."""
    by_name = {c.qualified: c for c in contracts()}
    counts = []
    for _, referenced in contract.references:
        parent = by_name[referenced]
        key = parent.primary_key[0]
        type_ = pg_type(parent.schema.field(key).type)
        counts.append(
            sql.SQL(
                "(SELECT count(*) FROM unnest(%s::{}[]) AS k(v) "
                "WHERE NOT EXISTS (SELECT FROM {} d WHERE d.{} = k.v))"
            ).format(sql.SQL(type_), ident(schema, parent.name), sql.Identifier(key))
        )
    return sql.SQL("SELECT {}").format(sql.SQL(", ").join(counts))


def referenced_tables(schema: str, contract: TableContract) -> list[sql.Composed]:
    """The dimensions ``contract`` references, as identifiers (to lock them)."""
    by_name = {c.qualified: c for c in contracts()}
    names = dict.fromkeys(by_name[referenced].name for _, referenced in contract.references)
    return [ident(schema, name) for name in names]


def drop_keys(schema: str, contract: TableContract) -> list[sql.Composed]:
    """Undo :func:`add_keys` (before a full reload; foreign keys must be dropped first)."""
    table = ident(schema, contract.name)
    statements = [
        sql.SQL("DROP INDEX IF EXISTS {}").format(ident(schema, name)) for name in indexes(contract)
    ]
    if contract.primary_key:
        statements.append(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                table, sql.Identifier(_pk_name(contract))
            )
        )
    return statements


def drop_foreign_keys(schema: str, contract: TableContract) -> list[sql.Composed]:
    return [
        sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
            ident(schema, contract.name), sql.Identifier(_fk_name(contract, column))
        )
        for column, _ in contract.references
    ]


def comments(schema: str, contract: TableContract) -> list[sql.Composed]:
    """``COMMENT ON`` the table and each described column, from the contract's descriptions."""
    table = ident(schema, contract.name)
    statements = [
        sql.SQL("COMMENT ON TABLE {} IS {}").format(table, sql.Literal(contract.description))
    ]
    for field in contract.schema:
        text = contract.column_description(field.name)
        if text:
            statements.append(
                sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                    table, sql.Identifier(field.name), sql.Literal(text)
                )
            )
    return statements


VIEWS: dict[str, tuple[str, str]] = {
    "sales": (
        "Every sales line with its day, time, product, country and customer attributes: "
        "the fact joined to its dimensions, no joins needed.",
        """
        SELECT f.*,
               d.date AS sale_date, d.year, d.quarter, d.month, d.month_name, d.day_name,
               d.iso_week, d.fiscal_year, d.is_weekend, d.is_bank_holiday,
               t.hour, t.day_part, t.is_business_hour,
               p.description AS product_description, p.category AS product_category,
               c.iso2 AS country_iso2, c.region, c.continent, c.currency,
               cu.country AS customer_country_at_sale, cu.version AS customer_version,
               cur.country AS customer_current_country
        FROM {s}.fact_sales f
        JOIN {s}.dim_date d ON d.date_key = f.date_key
        JOIN {s}.dim_time t ON t.time_key = f.time_key
        JOIN {s}.dim_product p ON p.product_key = f.product_key
        JOIN {s}.dim_country c ON c.country_key = f.country_key
        JOIN {s}.dim_customer cu ON cu.customer_key = f.customer_key
        LEFT JOIN {s}.dim_customer cur
               ON cur.customer_id = f.customer_id AND cur.is_current
        """,
    ),
    "daily_sales_by_country": (
        "Daily revenue, returns, orders and customers by country, with ISO code and region.",
        """
        SELECT m.sale_date, m.country, c.iso2, c.region, c.continent, m.gross_revenue,
               m.returns_amount, m.net_revenue, m.orders, m.customers, m.units,
               m.avg_order_value, m.gross_revenue_dod_pct, m.gross_revenue_7d_avg
        FROM {s}.mart_daily_sales m
        LEFT JOIN {s}.dim_country c ON c.country = m.country
        """,
    ),
    "monthly_sales": (
        "Revenue, returns, net revenue, orders and customers by month and country.",
        """
        SELECT date_trunc('month', f.invoice_ts)::date AS month, f.country,
               coalesce(sum(f.line_amount) FILTER (WHERE f.is_sale), 0) AS gross_revenue,
               coalesce(-sum(f.line_amount) FILTER (WHERE f.is_return_line), 0)
                   AS returns_amount,
               coalesce(sum(f.line_amount) FILTER (WHERE f.is_sale), 0)
                 + coalesce(sum(f.line_amount) FILTER (WHERE f.is_return_line), 0)
                   AS net_revenue,
               count(DISTINCT f.invoice_no) FILTER (WHERE f.is_sale) AS orders,
               count(DISTINCT f.customer_id) FILTER (WHERE f.is_sale) AS customers,
               coalesce(sum(f.quantity) FILTER (WHERE f.is_sale), 0) AS units
        FROM {s}.fact_sales f
        WHERE f.invoice_ts IS NOT NULL
        GROUP BY 1, 2
        """,
    ),
    "customer_segments": (
        "RFM segments: how many customers each holds and what they are worth.",
        """
        SELECT rfm_segment, count(*) AS customers, sum(monetary) AS monetary,
               round(avg(recency_days), 1) AS avg_recency_days,
               round(avg(frequency), 2) AS avg_frequency,
               sum(lifetime_value) AS lifetime_value
        FROM {s}.mart_customer_rfm
        GROUP BY rfm_segment
        """,
    ),
    "current_customers": (
        "Each customer's current version (is_current) with its country attributes.",
        """
        SELECT cu.customer_key, cu.customer_id, cu.country, c.iso2, c.region,
               cu.valid_from, cu.version, cu.first_purchase, cu.last_purchase
        FROM {s}.dim_customer cu
        LEFT JOIN {s}.dim_country c ON c.country_key = cu.country_key
        WHERE cu.is_current
        """,
    ),
}
"""The views for the common BI questions: name -> (comment, SELECT over the published tables).
``{s}`` is the schema (an identifier); nothing else is substituted."""


def create_views(schema: str) -> list[sql.Composed]:
    statements = []
    for name, (comment, body) in VIEWS.items():
        view = ident(schema, name)
        statements.append(
            sql.SQL("CREATE OR REPLACE VIEW {} AS {}").format(
                view, sql.SQL(body).format(s=sql.Identifier(schema))
            )
        )
        statements.append(sql.SQL("COMMENT ON VIEW {} IS {}").format(view, sql.Literal(comment)))
    return statements


def drop_views(schema: str) -> list[sql.Composed]:
    return [sql.SQL("DROP VIEW IF EXISTS {}").format(ident(schema, name)) for name in VIEWS]

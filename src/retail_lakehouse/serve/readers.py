"""Snapshot-cached reads: what every API request queries, without ever touching the writer lock.

A :class:`Snapshot` is one in-memory DuckDB database holding the tables the API serves, copied
from one committed Delta version of each. Copying (rather than viewing the Parquet files) makes
a snapshot immune to later commits, overwrites and vacuums, and makes queries cost a few
milliseconds. Everything derived from a snapshot (the product search index, the known
countries, finished JSON responses) hangs off it, so it is all replaced at once and never mixes
two versions.

A :class:`SnapshotReader` owns the current snapshot. A background thread polls the ``_delta_log``
folders (a directory listing, no table opened) and builds the next snapshot beside the current
one, swapping a single reference when it is ready: requests never wait for a rebuild. It waits
for a command to finish (``meta.runs`` changes last, and no live process holds the writer lock)
or for the lake to be quiet for ``settle_seconds`` with no writer before rebuilding, so it does
not serve a pipeline run's half-written gold.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.fingerprint import latest_version
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.quality.history import LAKE_SCORE_SQL
from retail_lakehouse.serve.search import ProductIndex
from retail_lakehouse.serve.vocab import CountryNames

log = logging.getLogger(__name__)

MATERIALIZED: tuple[str, ...] = (
    "gold.dim_country",
    "gold.dim_product",
    "gold.dim_customer",
    "gold.mart_daily_sales",
    "gold.mart_customer_rfm",
    "gold.mart_product_performance",
    "gold.mart_cohort_retention",
    "silver.quarantine",
    "bronze.rejects",
    "meta.quality_scores",
    "meta.quality_results",
    "meta.alerts",
)
"""Tables copied into every snapshot (all small next to the fact table)."""

SOURCES: tuple[str, ...] = (*MATERIALIZED, "gold.fact_sales")
"""Tables a snapshot is built from; a new version of any of them means a new snapshot."""

PAST_SNAPSHOTS = 4
"""Snapshots of past states (``as_of``) kept for repeated requests."""

COMMAND_LOG = "meta.runs"
"""Written last by every lake-changing command: a new version means a command finished."""


DERIVED_SQL: tuple[str, ...] = (
    # One row per (day, country, invoice) of sale lines, with its customer (NULL for guests),
    # both as dense integers: exact distinct orders and customers over any period and
    # countries, fast. (Summing the mart's daily counts would count a returning customer once
    # per day, and an invoice number seen on several days, as in merged exports, more than once.)
    """
    CREATE TABLE serve_mem.sale_keys AS
    SELECT sale_date, country,
           CAST(dense_rank() OVER (ORDER BY invoice_no) AS INTEGER) AS invoice,
           CASE WHEN customer_id IS NOT NULL
                THEN CAST(dense_rank() OVER (ORDER BY customer_id) AS INTEGER) END AS customer
    FROM (
        SELECT DISTINCT CAST(invoice_ts AS DATE) AS sale_date, country, invoice_no,
               CASE WHEN coalesce(is_guest, false) THEN NULL ELSE customer_id END AS customer_id
        FROM gold.fact_sales
        WHERE is_sale
    )
    ORDER BY sale_date, country
    """,
    # The same counts already made for the common groupings, per country and (all_countries)
    # over all countries: whole days, whole months, all time. Used when a request's period
    # covers whole days/months; other periods count from sale_keys.
    """
    CREATE TABLE serve_mem.counts_by_day AS
    SELECT sale_date, country, grouping(country) = 1 AS all_countries,
           count(DISTINCT invoice) AS orders, count(DISTINCT customer) AS customers
    FROM serve_mem.sale_keys GROUP BY GROUPING SETS ((sale_date, country), (sale_date))
    """,
    """
    CREATE TABLE serve_mem.counts_by_month AS
    SELECT CAST(date_trunc('month', sale_date) AS DATE) AS month, country,
           grouping(country) = 1 AS all_countries,
           count(DISTINCT invoice) AS orders, count(DISTINCT customer) AS customers
    FROM serve_mem.sale_keys GROUP BY GROUPING SETS ((month, country), (month))
    """,
    """
    CREATE TABLE serve_mem.counts_by_country AS
    SELECT country, grouping(country) = 1 AS all_countries,
           count(DISTINCT invoice) AS orders, count(DISTINCT customer) AS customers
    FROM serve_mem.sale_keys GROUP BY GROUPING SETS ((country), ())
    """,
    # Products with their non-product flag, by month and over all months: top-N lists are a
    # sort of one small table instead of a join and aggregation per request. The mart holds
    # product lines only (its revenue is gross revenue); postage, fees and adjustments are
    # summed here from the fact with the same shape of definitions (sold: quantity > 0 on an
    # invoice that is not cancelled; returned: cancelled or negative), for
    # ``include_non_product``.
    """
    CREATE TABLE serve_mem.product_months AS
    SELECT * FROM (
        SELECT m.month, m.stock_code, m.description, m.category,
               CAST(m.revenue AS DECIMAL(18, 4)) AS revenue, CAST(m.units AS BIGINT) AS units,
               CAST(m.orders AS BIGINT) AS orders, CAST(m.return_rate AS DOUBLE) AS return_rate,
               coalesce(d.is_non_product, false) AS is_non_product
        FROM gold.mart_product_performance AS m
        LEFT JOIN (SELECT stock_code, bool_or(is_non_product) AS is_non_product
                   FROM gold.dim_product GROUP BY stock_code) AS d
          ON d.stock_code = m.stock_code
        UNION ALL
        SELECT n.month, n.stock_code, p.description, p.category,
               CAST(n.revenue AS DECIMAL(18, 4)), n.units, n.orders,
               CAST(n.returned AS DOUBLE) / nullif(n.units, 0), true
        FROM (
            SELECT CAST(date_trunc('month', invoice_ts) AS DATE) AS month, stock_code,
                   coalesce(sum(line_amount) FILTER (WHERE sold), 0) AS revenue,
                   CAST(coalesce(sum(quantity) FILTER (WHERE sold), 0) AS BIGINT) AS units,
                   count(DISTINCT invoice_no) FILTER (WHERE sold) AS orders,
                   coalesce(-sum(quantity) FILTER (WHERE NOT sold), 0) AS returned
            FROM (
                SELECT *, quantity > 0 AND NOT coalesce(is_cancellation, false) AS sold
                FROM gold.fact_sales
                WHERE coalesce(is_non_product, false) OR coalesce(is_adjustment, false)
            )
            GROUP BY ALL
        ) AS n
        LEFT JOIN (SELECT stock_code, arg_max(description, description IS NOT NULL) AS description,
                          arg_max(category, category IS NOT NULL) AS category
                   FROM gold.dim_product GROUP BY stock_code) AS p
          ON p.stock_code = n.stock_code
    )
    ORDER BY month, revenue DESC
    """,
    """
    CREATE TABLE serve_mem.product_totals AS
    SELECT stock_code,
           arg_max(description, month) AS description,
           arg_max(category, month) AS category,
           bool_or(is_non_product) AS is_non_product,
           sum(revenue) AS revenue, sum(units) AS units, sum(orders) AS orders
    FROM serve_mem.product_months
    GROUP BY stock_code
    """,
)
"""Tables derived once per snapshot so every request is a small query. Distinct counts follow
``pipeline.gold.definitions.KPI_SQL`` (customers: distinct non-guest customers of sale lines)."""


class ResponseCache:
    """Finished response bodies of one snapshot, LRU-bounded (entries and bytes), computed once
    per key.

    A snapshot never changes, so a cached body is exactly what a query would return. Concurrent
    requests for the same missing key wait for the first one instead of all running the query
    (50 dashboards opening at once after a refresh would otherwise do the same work 50 times)."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 256 * 2**20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0
        self._data: OrderedDict[Hashable, bytes] = OrderedDict()
        self._inflight: dict[Hashable, Future[bytes]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._data.get(key)
            if body is not None:
                self._data.move_to_end(key)
                self.hits += 1
            return body

    def compute(self, key: Hashable, produce: Callable[[], bytes]) -> bytes:
        with self._lock:
            body = self._data.get(key)
            if body is not None:
                self.hits += 1
                return body
            pending = self._inflight.get(key)
            owner = pending is None
            if pending is None:
                pending = self._inflight[key] = Future()
                self.misses += 1
        if not owner:
            return pending.result()
        try:
            body = produce()
        except BaseException as error:
            with self._lock:
                self._inflight.pop(key, None)
            pending.set_exception(error)
            raise
        with self._lock:
            self._data[key] = body
            self.size += len(body)
            while len(self._data) > 1 and (
                len(self._data) > self.max_entries or self.size > self.max_bytes
            ):
                _, dropped = self._data.popitem(last=False)
                self.size -= len(dropped)
            self._inflight.pop(key, None)
        pending.set_result(body)
        return body


@dataclass
class Snapshot:
    """One consistent, immutable view of the served tables."""

    sql: LakeSQL
    versions: dict[str, int | None]
    built_at: datetime
    build_seconds: float
    countries: CountryNames
    products: ProductIndex
    runs_version: int | None
    cache: ResponseCache = field(default_factory=ResponseCache)

    @property
    def id(self) -> str:
        text = ",".join(f"{k}={self.versions.get(k)}" for k in SOURCES)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def arrow(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Run project SQL with bound parameters on a cursor of its own (thread-safe)."""
        cursor = self.sql.con.cursor()
        try:
            result = cursor.execute(sql, params) if params else cursor.execute(sql)
            table: pa.Table = result.to_arrow_table()
        finally:
            cursor.close()
        return table

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Result rows as dictionaries, decimals as floats (what the API serves; building a
        Python ``Decimal`` per value would cost more than the query)."""
        table = self.arrow(sql, params)
        for index, column in enumerate(table.schema):
            if pa.types.is_decimal(column.type):
                # Through text: Arrow's direct cast scales in binary (583433.69 would become
                # 583433.6900000001); parsing the exact decimal text rounds correctly.
                exact = table.column(index).cast(pa.string()).cast(pa.float64())
                table = table.set_column(index, column.name, exact)
        rows: list[dict[str, Any]] = table.to_pylist()
        return rows

    def json_page(self, sql: str, order_by: str, params: dict[str, Any]) -> tuple[list[bytes], int]:
        """One page (``$limit``/``$offset``) of ``sql`` as JSON objects, and the total count.

        The JSON is written by DuckDB (dates as ISO strings, decimals with their exact digits)
        while it does not hold the GIL, so large pages cost Python almost nothing and other
        requests keep being served. ``order_by`` is project text, never user input."""
        cursor = self.sql.con.cursor()
        try:
            result = cursor.execute(
                f"""
                WITH q AS MATERIALIZED ({sql}),
                page AS (SELECT * FROM q ORDER BY {order_by} LIMIT $limit OFFSET $offset)
                SELECT CAST(to_json(page) AS VARCHAR) AS j, (SELECT count(*) FROM q) AS n
                FROM page
                """,
                params,
            )
            rows: list[tuple[str, int]] = result.fetchall()
            if rows:
                return [row[0].encode() for row in rows], int(rows[0][1])
            counted = cursor.execute(
                f"SELECT count(*) FROM ({sql})",
                {k: v for k, v in params.items() if k not in ("limit", "offset")},
            ).fetchall()
        finally:
            cursor.close()
        return [], int(counted[0][0])

    def scalar_row(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        rows = self.rows(sql, params)
        return rows[0] if rows else {}


def build_snapshot(
    lake: Lake, *, threads: int | None = None, versions: dict[str, int | None] | None = None
) -> Snapshot:
    """Copy the served tables of the lake's current versions (or of ``versions``, a past state
    from :func:`~retail_lakehouse.lake.history.resolve_as_of`) into a new in-memory database."""
    clock = time.perf_counter()
    runs_version = latest_version(lake.path(COMMAND_LOG))
    sql = LakeSQL(lake, threads=threads, versions=versions)
    con: duckdb.DuckDBPyConnection = sql.con
    con.execute("CREATE SCHEMA serve_mem")
    for name in MATERIALIZED:
        layer, table = name.split(".")
        copy = f'serve_mem."{layer}__{table}"'
        con.execute(f'CREATE TABLE {copy} AS SELECT * FROM "{layer}"."{table}"')
        con.execute(f'CREATE OR REPLACE VIEW "{layer}"."{table}" AS SELECT * FROM {copy}')
    for statement in DERIVED_SQL:
        con.execute(statement)
    # The lake's current quality score (every line silver holds now), as the report computes it.
    con.execute(f"CREATE TABLE serve_mem.lake_score AS {LAKE_SCORE_SQL}")
    products: pa.Table = con.execute(
        "SELECT stock_code, description, category, is_non_product FROM gold.dim_product "
        "WHERE stock_code IS NOT NULL ORDER BY stock_code"
    ).to_arrow_table()
    gold_countries: pa.Table = con.execute(
        "SELECT country FROM gold.dim_country UNION SELECT country FROM gold.mart_daily_sales"
    ).to_arrow_table()
    # Requests are many small queries in parallel: one thread each beats splitting each one.
    con.execute("SET threads = 1")
    versions = {name: sql.versions.get(name) for name in SOURCES}
    return Snapshot(
        sql=sql,
        versions=versions,
        built_at=datetime.now(UTC),
        build_seconds=round(time.perf_counter() - clock, 3),
        countries=CountryNames.from_gold(gold_countries.column("country").to_pylist()),
        products=ProductIndex.from_arrow(products),
        runs_version=runs_version,
    )


Warmer = Callable[[Snapshot], None]


class SnapshotReader:
    """Holds the current snapshot and replaces it in the background when the lake changes."""

    def __init__(
        self,
        lake: Lake,
        *,
        poll_seconds: float = 1.0,
        settle_seconds: float = 30.0,
        threads: int | None = None,
        warm: Warmer | None = None,
    ) -> None:
        self.lake = lake
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.threads = threads
        self.warm = warm
        self._snapshot: Snapshot | None = None
        self._build_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: dict[str, int | None] = {}
        self._seen_since = time.monotonic()
        self.last_error: str | None = None
        self.refreshes = 0
        self._past: OrderedDict[tuple[int | None, ...], Snapshot] = OrderedDict()
        self._past_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Build the first snapshot now (so the server starts ready), then poll in background."""
        self.refresh(force=True)
        if self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="snapshot-reader", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def current(self) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is None:
            self.refresh(force=True)
            snapshot = self._snapshot
        assert snapshot is not None
        return snapshot

    def at(self, as_of: str) -> Snapshot:
        """The snapshot of the lake as of a run or a time (``as_of`` of the read endpoints).

        Resolved by the same rule as ``retail sql --as-of``; the current snapshot when nothing
        changed since, else a snapshot of the past versions, a few kept (LRU). Raises
        :class:`~retail_lakehouse.lake.history.AsOfError` for a value that is neither."""
        from retail_lakehouse.lake.history import resolve_as_of

        versions = resolve_as_of(self.lake, as_of).versions
        key = tuple(versions.get(name) for name in SOURCES)
        current = self.current()
        if key == tuple(current.versions.get(name) for name in SOURCES):
            return current
        with self._past_lock:
            hit = self._past.get(key)
            if hit is not None:
                self._past.move_to_end(key)
                return hit
        snapshot = build_snapshot(self.lake, threads=self.threads, versions=versions)
        with self._past_lock:
            self._past[key] = snapshot
            while len(self._past) > PAST_SNAPSHOTS:
                self._past.popitem(last=False)  # closed when no request holds it any more
        return snapshot

    # -- refreshing ------------------------------------------------------------------------
    def on_disk(self) -> dict[str, int | None]:
        return {name: latest_version(self.lake.path(name)) for name in SOURCES}

    def refresh(self, *, force: bool = False) -> bool:
        """Build and publish a new snapshot if the lake changed (or always, with ``force``)."""
        with self._build_lock:
            disk = self.on_disk()
            now = time.monotonic()
            if disk != self._seen:
                self._seen, self._seen_since = disk, now
            current = self._snapshot
            if current is not None and not force:
                if disk == current.versions:
                    return False
                if self.lake.writer() is not None:
                    # A command is between its commits. Comparing meta.runs with the snapshot's
                    # is not enough: an ingest that changed no served table moved it, and the
                    # run after it then looked finished at its first gold commit, its new fact
                    # served beside its old marts (sixteenth round, decision 0004).
                    return False
                runs = latest_version(self.lake.path(COMMAND_LOG))
                command_finished = runs != current.runs_version
                quiet = now - self._seen_since >= self.settle_seconds
                if not (command_finished or quiet):
                    return False
            try:
                snapshot = build_snapshot(self.lake, threads=self.threads)
                if self.warm is not None:
                    self.warm(snapshot)
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("snapshot refresh failed; still serving the previous one")
                if current is None:
                    raise
                return False
            self._snapshot = snapshot
            self.last_error = None
            self.refreshes += 1
            # A snapshot holds hundreds of thousands of long-lived Python objects (indexes,
            # cached bodies); leaving them to the cyclic GC makes every full collection scan
            # them all, a pause of tens of milliseconds under load. Freeze what exists now
            # (after collecting what earlier snapshots left behind).
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            return True

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:
                continue

"""What a gold run did (:class:`GoldReport`) and what the gold layer says (:func:`summary`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL


@dataclass
class GoldReport:
    """The outcome of :func:`retail_lakehouse.pipeline.gold.process`."""

    nothing_to_do: bool = False
    full_refresh: bool = False
    batches: tuple[int, int] | None = None
    """First and last silver batch sequence processed (inclusive)."""
    lines_in: int = 0
    """New silver lines read."""
    tables: dict[str, int] = field(default_factory=dict)
    """Rows written per table (``gold.fact_sales``: the rows of the rewritten batches)."""
    unchanged: list[str] = field(default_factory=list)
    """Gold tables left as they were (no new commit)."""
    rekeyed_batches: list[int] = field(default_factory=list)
    """Earlier batches rewritten because late lines changed customers' SCD2 history."""
    retracted_batches: list[int] = field(default_factory=list)
    """Retracted batches whose rows left the fact (dimensions and marts recomputed for them)."""
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    """Wall seconds per step, for benchmarks."""

    def render(self) -> RenderableType:
        if self.nothing_to_do:
            return "gold: nothing to do (no new silver batches)"
        title = "gold: full rebuild" if self.full_refresh else "gold: incremental run"
        if self.batches:
            first, last = self.batches
            title += f" of batch {last}" if first == last else f" of batches {first}-{last}"
        table = Table(title=f"{title} ({self.seconds:.2f} s)")
        table.add_column("table")
        table.add_column("rows written", justify="right")
        for name, rows in self.tables.items():
            table.add_row(name, f"{rows:,}")
        for name in self.unchanged:
            table.add_row(name, "unchanged")
        notes: list[RenderableType] = []
        if self.rekeyed_batches:
            notes.append(
                "re-keyed earlier batches (late SCD2 history): "
                + ", ".join(map(str, self.rekeyed_batches))
            )
        if self.retracted_batches:
            notes.append(
                "retracted batches taken out: " + ", ".join(map(str, self.retracted_batches))
            )
        return Group(table, *notes) if notes else table


def summary(lake: Lake, *, top: int = 5) -> list[RenderableType]:
    """Top countries and months by revenue and the RFM segment sizes (for the demo)."""
    with LakeSQL(lake) as sql:
        countries = sql.arrow(
            """
            SELECT country, sum(gross_revenue) AS gross, sum(net_revenue) AS net,
                   sum(orders) AS orders
            FROM gold.mart_daily_sales GROUP BY country ORDER BY net DESC LIMIT ?
            """,
            [top],
        ).to_pylist()
        months = sql.arrow(
            """
            SELECT strftime(date_trunc('month', sale_date), '%Y-%m') AS month,
                   sum(gross_revenue) AS gross, sum(net_revenue) AS net, sum(orders) AS orders
            FROM gold.mart_daily_sales GROUP BY 1 ORDER BY net DESC LIMIT ?
            """,
            [top],
        ).to_pylist()
        segments = sql.arrow(
            """
            SELECT rfm_segment AS segment, count(*) AS customers,
                   sum(monetary) AS monetary, avg(recency_days) AS recency
            FROM gold.mart_customer_rfm GROUP BY 1 ORDER BY customers DESC
            """
        ).to_pylist()
    return [
        _money_table(f"Top {top} countries by net revenue", "country", countries),
        _money_table(f"Top {top} months by net revenue", "month", months),
        _segment_table(segments),
    ]


def _money_table(title: str, label: str, rows: list[dict[str, object]]) -> Table:
    table = Table(title=title)
    table.add_column(label)
    for column in ("gross revenue", "net revenue", "orders"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            str(row[label]), f"{row['gross']:,.2f}", f"{row['net']:,.2f}", f"{row['orders']:,}"
        )
    return table


def _segment_table(rows: list[dict[str, object]]) -> Table:
    table = Table(title="Customer RFM segments")
    table.add_column("segment")
    table.add_column("customers", justify="right")
    table.add_column("monetary", justify="right")
    table.add_column("avg recency (days)", justify="right")
    for row in rows:
        table.add_row(
            str(row["segment"]),
            f"{row['customers']:,}",
            f"{row['monetary']:,.2f}",
            f"{row['recency']:,.0f}",
        )
    return table

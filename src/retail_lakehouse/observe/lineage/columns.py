"""Column lineage derived from the transformation definitions themselves.

Silver and gold are Ibis expressions. Building them (on empty tables, so nothing is computed)
and walking each output column's expression tree back to the lake tables it reads gives the
input columns of every output column: the lineage cannot drift from the code because it IS the
code. Intermediate results the layers materialise (``engine.materialize``/``engine.view``) are
followed through by remembering which expression each temporary name stands for.

Only DIRECT dependencies are recorded per column (the values a column is computed from).
Columns that filters, joins, grouping and windows read are recorded once per table as INDIRECT
(OpenLineage's dataset-level column lineage). Gold tables built in Python from reference data
(``dim_date``, ``dim_time``) have no column inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retail_lakehouse import __version__

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from retail_lakehouse.lake import Lake

Column = tuple[str, str]
"""``(layer.table, column)``."""

REFERENCE_PREFIX = "reference."


@dataclass
class ColumnLineage:
    """Direct input columns of every output column, and each table's indirect inputs."""

    columns: dict[str, dict[str, set[Column]]] = field(default_factory=dict)
    indirect: dict[str, set[Column]] = field(default_factory=dict)

    def inputs(self, table: str, column: str) -> set[Column]:
        return self.columns.get(table, {}).get(column, set())

    def upstream_tables(self, table: str) -> set[str]:
        found = {src for cols in self.columns.get(table, {}).values() for src, _ in cols}
        found |= {src for src, _ in self.indirect.get(table, set())}
        return found - {table}

    def tables(self) -> list[str]:
        return list(self.columns)

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": {
                t: {c: sorted(map(list, s)) for c, s in cols.items()}
                for t, cols in self.columns.items()
            },
            "indirect": {t: sorted(map(list, s)) for t, s in self.indirect.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColumnLineage:
        return cls(
            columns={
                t: {c: {(a, b) for a, b in s} for c, s in cols.items()}
                for t, cols in data["columns"].items()
            },
            indirect={t: {(a, b) for a, b in s} for t, s in data["indirect"].items()},
        )


def column_lineage(lake: Lake, rule_files: Sequence[Path] = ()) -> ColumnLineage:
    """The lineage of the current code and rules, cached per user (``~/.cache/retail-lakehouse``,
    or the lake's ``_lineage`` folder when that is not writable) by a fingerprint of the
    transformation sources and the rule files: deriving it costs about half a CPU-second."""
    key = _fingerprint(rule_files)
    cache = _cache_folder(lake) / f"columns-{key}.json"
    if cache.is_file():
        try:
            return ColumnLineage.from_json(json.loads(cache.read_text()))
        except (ValueError, KeyError):
            pass  # a damaged cache is derived again
    lineage = derive(rule_files)
    cache.parent.mkdir(parents=True, exist_ok=True)
    scratch = cache.with_suffix(".tmp")
    scratch.write_text(json.dumps(lineage.to_json(), sort_keys=True))
    scratch.replace(cache)
    return lineage


def _cache_folder(lake: Lake) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "retail-lakehouse" / "lineage"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return lake.root / "_lineage"
    return folder


def _fingerprint(rule_files: Sequence[Path]) -> str:
    """Changes whenever the code or the rules the lineage is derived from change."""
    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parents[2]
    for folder in ("pipeline", "quality", "engines"):
        for source in sorted((package / folder).rglob("*.py")):
            digest.update(source.read_bytes())
    for path in rule_files:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def derive(rule_files: Sequence[Path] = ()) -> ColumnLineage:
    """Build every silver and gold output expression on an empty lake and walk them."""
    from retail_lakehouse.lake import Lake

    with tempfile.TemporaryDirectory(prefix="retail-lineage-") as scratch:
        engine = _tracing_engine(Lake(scratch))
        try:
            outputs = _silver_outputs(engine, rule_files) | _gold_outputs(engine)
            walker = _Walker(engine)
            lineage = ColumnLineage()
            for table, expr in outputs.items():
                values = walker.output_values(expr.op())
                chains = {name: walker.chain(value) for name, value in values.items()}
                lineage.columns[table] = {}
                for name, value in values.items():
                    # a column computed from sibling columns names them (silver's line_amount
                    # reads silver's quantity and unit_price), not their own sources again
                    walker.reset(
                        {
                            pair: (table, other)
                            for other, pairs in chains.items()
                            if other != name
                            for pair in pairs
                        }
                    )
                    lineage.columns[table][name] = walker.value_sources(value)
                walker.reset({})
                lineage.indirect[table] = walker.indirect_sources(expr.op())
            lineage.columns["gold.dim_date"] = {}
            lineage.columns["gold.dim_time"] = {}
            lineage.indirect["gold.dim_date"] = {("silver.sales_lines", "invoice_ts")}
            lineage.indirect["gold.dim_time"] = set()
            return lineage
        finally:
            engine.close()


# -- building the outputs ----------------------------------------------------------------------


def _tracing_engine(lake: Lake) -> Any:
    """An engine that builds expressions without running them: every table it hands out is an
    unbound Ibis table (no SQL is compiled, nothing is executed) whose name it remembers as a
    lake table, a reference table, or the expression a temporary name stands for. It inherits
    DuckDB's engine-specific expressions (timestamp parsing, trimming) so the definitions are
    built exactly as a run builds them."""
    import ibis
    import pyarrow as pa

    from retail_lakehouse.engines.duckdb import DuckDBEngine
    from retail_lakehouse.lake import arrays

    class TracingEngine(DuckDBEngine):
        def __init__(self, lake: Lake) -> None:
            super().__init__(lake)
            self.bases: dict[str, str] = {}  # table name -> the lake or reference table
            self.definitions: dict[str, ir.Table] = {}  # temporary name -> its expression
            self._names = 0

        def _unbound(self, schema: Any, name: str) -> ir.Table:
            self._names += 1
            return ibis.table(schema, name=f"{name}_{self._names}")

        def table(self, qualified: str, version: int | None = None) -> ir.Table:
            arrow = self.lake.arrow_schema(qualified)
            table = self._unbound(ibis.Schema.from_pyarrow(arrow), qualified.replace(".", "__"))
            self.bases[table.op().name] = qualified
            return table

        def arrow_table(self, data: Any, name: str) -> ir.Table:
            table = self._unbound(ibis.Schema.from_pyarrow(data.schema), name)
            if "unknown" not in name:  # a dimension's unknown member is a constant, not data
                reference = name.rstrip("_0123456789").removeprefix("gold_")
                self.bases[table.op().name] = REFERENCE_PREFIX + reference
            return table

        def materialize(self, expr: ir.Table, name: str) -> ir.Table:
            table = self._unbound(expr.schema(), name)
            self.definitions[table.op().name] = expr
            return table

        def view(self, expr: ir.Table, name: str) -> ir.Table:
            return self.materialize(expr, name)

        def materialize_wide(
            self, expr: ir.Table, name: str, *, rows: int | None = None
        ) -> ir.Table:
            return self.materialize(expr, name)

        def to_batches(self, expr: ir.Table, chunk_size: int = 1_000_000) -> Any:
            schema = expr.schema().to_pyarrow()
            return pa.RecordBatchReader.from_batches(schema, iter(()))

        def to_arrow(self, expr: ir.Table) -> Any:
            return arrays.empty_table(expr.schema().to_pyarrow())

    return TracingEngine(lake)


def _silver_outputs(engine: Any, rule_files: Sequence[Path]) -> dict[str, ir.Table]:
    from retail_lakehouse.pipeline.silver.transform import build_pass
    from retail_lakehouse.quality.rules import load_rules

    now = datetime.now(UTC)
    silver = build_pass(engine, load_rules(list(rule_files)), batches=[1], existing=False, now=now)
    return {
        "silver.sales_lines": silver.silver_rows("lineage", now),
        "silver.quarantine": silver.quarantine_rows("lineage", now),
        "silver.duplicates": silver.duplicate_rows("lineage"),
    }


def _gold_outputs(engine: Any) -> dict[str, ir.Table]:
    """The gold definitions as a full rebuild calls them (pipeline/gold/build.py)."""
    from retail_lakehouse.pipeline.gold.categories import category_rules
    from retail_lakehouse.pipeline.gold.dim_country import build_dim_country
    from retail_lakehouse.pipeline.gold.dim_customer import build_dim_customer
    from retail_lakehouse.pipeline.gold.dim_invoice import build_dim_invoice
    from retail_lakehouse.pipeline.gold.dim_product import build_dim_product, price_rows
    from retail_lakehouse.pipeline.gold.fact_sales import Dimensions, fact_rows
    from retail_lakehouse.pipeline.gold.marts.cohorts import build_cohorts
    from retail_lakehouse.pipeline.gold.marts.customer_summary import month_rows, summary_rows
    from retail_lakehouse.pipeline.gold.marts.daily_sales import build_daily_sales
    from retail_lakehouse.pipeline.gold.marts.product_performance import (
        build_product_performance,
    )
    from retail_lakehouse.pipeline.gold.marts.rfm import build_rfm

    silver = engine.table("silver.sales_lines")
    dims = {
        "gold.dim_product": build_dim_product(engine, silver, None, None, category_rules(None)),
        "gold.dim_customer": build_dim_customer(engine, silver, None, None),
        "gold.dim_invoice": build_dim_invoice(engine, silver, None, None),
        "gold.dim_country": build_dim_country(engine, silver),
    }
    built = {}
    for name, expr in dims.items():  # the fact and the marts read them as gold tables
        built[name] = engine.materialize(expr, name.replace(".", "__"))
        del engine.definitions[built[name].op().name]
        engine.bases[built[name].op().name] = name
    keyed = Dimensions(
        built["gold.dim_customer"],
        built["gold.dim_product"],
        built["gold.dim_invoice"],
        built["gold.dim_country"],
    )
    fact = engine.table("gold.fact_sales")  # the marts read the committed fact
    month = date(2010, 12, 1)
    return {
        **dims,
        "gold.fact_sales": fact_rows(silver, keyed, "lineage"),
        "gold.mart_daily_sales": build_daily_sales(fact, None, None),
        "gold.mart_product_performance": build_product_performance(
            fact, built["gold.dim_product"], None, None
        ),
        "gold.mart_customer_rfm": build_rfm(fact, built["gold.dim_customer"], month),
        "gold.mart_cohort_retention": build_cohorts(engine, fact, month, month),
        "gold.customer_summary": summary_rows(fact),
        "gold.customer_months": month_rows(fact),
        "gold.product_prices": price_rows(silver),
    }


# -- walking the expressions -------------------------------------------------------------------


class _Walker:
    """Resolves Ibis value expressions to the lake columns they read."""

    def __init__(self, engine: Any) -> None:
        self.bases: dict[str, str] = engine.bases
        self.definitions: dict[str, ir.Table] = engine.definitions
        self._memo: dict[tuple[int, str], frozenset[Column]] = {}
        self._stops: dict[tuple[int, str], Column] = {}

    def reset(self, stops: dict[tuple[int, str], Column]) -> None:
        """Walk the next column with these stops: fields that ARE another output column."""
        self._stops = stops
        self._memo = {}

    def chain(self, value: Any) -> set[tuple[int, str]]:
        """The fields an output column merely passes through on its way from the expression
        that computes it (renames, filters and temporary tables keep the value as it is)."""
        import ibis.expr.operations as ops

        pairs: set[tuple[int, str]] = set()
        node = value
        while isinstance(node, ops.Field):
            rel, name = node.rel, node.name
            pairs.add((id(rel), name))
            while isinstance(rel, ops.PhysicalTable) and rel.name in self.definitions:
                rel = self.definitions[rel.name].op()
                pairs.add((id(rel), name))
            values = self._values(rel)
            if values is not None:
                node = values.get(name)
            elif isinstance(rel, ops.Set | ops.PhysicalTable):
                return pairs
            else:
                node = ops.Field(rel.parent, name) if hasattr(rel, "parent") else None
        return pairs

    def output_values(self, rel: Any) -> dict[str, Any]:
        """Output column name -> the value node (or a passthrough Field) that computes it."""
        import ibis.expr.operations as ops

        values = self._values(rel)
        if values is not None:
            return dict(values)
        return {name: ops.Field(rel, name) for name in rel.schema.names}

    def value_sources(self, value: Any) -> set[Column]:
        import ibis.expr.operations as ops

        found: set[Column] = set()
        stack = [value]
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, ops.Field):
                stop = self._stops.get((id(node.rel), node.name))
                found |= {stop} if stop else self.column_sources(node.rel, node.name)
            elif isinstance(node, ops.Relation):
                continue  # a subquery: read through indirect lineage
            else:
                stack.extend(c for c in node.__children__ if isinstance(c, ops.Node))
        return found

    def column_sources(self, rel: Any, name: str) -> frozenset[Column]:
        key = (id(rel), name)
        if key in self._stops:
            return frozenset({self._stops[key]})
        if key not in self._memo:
            self._memo[key] = frozenset(self._resolve(rel, name))
        return self._memo[key]

    def _resolve(self, rel: Any, name: str) -> set[Column]:
        import ibis.expr.operations as ops

        if isinstance(rel, ops.PhysicalTable):
            if rel.name in self.definitions:
                return set(self.column_sources(self.definitions[rel.name].op(), name))
            base = self.bases.get(rel.name)
            return {(base, name)} if base else set()
        values = self._values(rel)
        if values is not None:
            return self.value_sources(values[name]) if name in values else set()
        if isinstance(rel, ops.Set):
            return set(self.column_sources(rel.left, name)) | set(
                self.column_sources(rel.right, name)
            )
        parent = getattr(rel, "parent", None)
        return set(self.column_sources(parent, name)) if parent is not None else set()

    @staticmethod
    def _values(rel: Any) -> dict[str, Any] | None:
        import ibis.expr.operations as ops

        if isinstance(rel, ops.Aggregate):
            return {**rel.groups, **rel.metrics}
        if "values" in type(rel).__argnames__:  # Project, JoinChain (others derive a property)
            return dict(rel.values)
        return None

    def indirect_sources(self, rel: Any) -> set[Column]:
        """Columns read by filters, join conditions, grouping, sorting and windows anywhere
        upstream of ``rel`` (within the layer's own expressions)."""
        import ibis.expr.operations as ops

        found: set[Column] = set()
        stack: list[Any] = [rel]
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, ops.PhysicalTable):
                if node.name in self.definitions:
                    stack.append(self.definitions[node.name].op())
                continue
            if isinstance(node, ops.Filter):
                for predicate in node.predicates:
                    found |= self.value_sources(predicate)
            elif isinstance(node, ops.Aggregate):
                for group in node.groups.values():
                    found |= self.value_sources(group)
            elif isinstance(node, ops.JoinChain):
                for link in node.rest:
                    for predicate in link.predicates:
                        found |= self.value_sources(predicate)
            elif isinstance(node, ops.WindowFunction):
                for part in (*node.group_by, *node.order_by):
                    found |= self.value_sources(part)
            stack.extend(c for c in node.__children__ if isinstance(c, ops.Node))
        return found


def column_names(columns: Iterable[Column]) -> list[str]:
    """``table.column`` strings, sorted (for output)."""
    return sorted(f"{table}.{column}" for table, column in columns)

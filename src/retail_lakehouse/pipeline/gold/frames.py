"""Small Ibis helpers shared by the gold builders."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from retail_lakehouse.lake.contracts import TableContract


def conform(expr: ir.Table, target: TableContract) -> ir.Table:
    """Select the contract's columns in order, cast to the contract's types.

    Float results bound for decimal columns (ratios such as ``avg_order_value``) are left as
    float64: engines round float-to-decimal casts differently, while the writer's Arrow cast is
    the same code whatever engine produced the value."""
    schema = ibis.Schema.from_pyarrow(target.schema)
    columns: list[ir.Value] = []
    for name, dtype in schema.items():
        column = expr[name]
        if (column.type().is_floating() and dtype.is_decimal()) or column.type() == dtype:
            columns.append(column.name(name))
        else:
            columns.append(column.cast(dtype).name(name))
    return expr.select(*columns)

"""The cheaper forms of three mart expressions give exactly what the plain rules give
(decision 0020, tenth round): ``as_float`` (the plain cast below 2**53, the unscaled rule above),
the RFM segment (nested by ``r_score``) and the product mart's added sums (an outer join, not a
grouping of the union). Each is compared with the rule written out, on every engine at hand."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pytest

from retail_lakehouse.engines import Engine, open_engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.gold import MART_PRODUCT_PERFORMANCE
from retail_lakehouse.pipeline.gold.definitions import as_float
from retail_lakehouse.pipeline.gold.marts import product_performance
from retail_lakehouse.pipeline.gold.marts.rfm import SEGMENTS, segment_expr


@pytest.fixture(params=["duckdb", "spark"])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "spark":
        request.getfixturevalue("spark_session")
    with open_engine(Lake(tmp_path / "lake"), request.param) as opened:
        yield opened


def _spark_path(value: Decimal | None, scale: int) -> float | None:
    """The rule ``as_float`` states: the unscaled value (exact) as a double, divided by
    ``10**scale`` (None past 64 bits, where the rule is the engine's plain cast)."""
    if value is None:
        return None
    unscaled = int(value.scaleb(scale))
    if abs(unscaled) >= 2**63 - 1:
        return None
    return float(unscaled) / float(10**scale)


def _rule_written_out(value: ir.DecimalValue) -> ir.FloatingValue:
    """``as_float`` before the plain cast's shortcut: every value through the 38-digit
    multiplication while its unscaled value fits 64 bits, else the plain cast."""
    scale = value.type().scale
    unit = 10**scale
    wide = value.cast(f"decimal(38, {scale})")
    unscaled = (wide * unit).cast("int64").cast("float64") / float(unit)
    fits = value.abs() < ibis.literal(Decimal(2**63 - 1) / unit, f"decimal(38, {scale})")
    result: ir.FloatingValue = fits.ifelse(unscaled, value.cast("float64"))
    return result


def _decimals(precision: int, scale: int) -> list[Decimal | None]:
    generator = random.Random(precision * 100 + scale)
    values: list[Decimal | None] = [None, Decimal(0)]
    for digits in range(1, precision + 1):
        for _ in range(40):
            unscaled = generator.randrange(10 ** (digits - 1), 10**digits)
            values.append(Decimal(unscaled * generator.choice((1, -1))).scaleb(-scale))
    for edge in (2**53 - 1, 2**53, 2**53 + 1, 2**63 - 2, 2**63 - 1, 2**63):
        if len(str(edge)) <= precision:
            values += [Decimal(edge).scaleb(-scale), Decimal(-edge).scaleb(-scale)]
    return values


def _column(engine: Engine, name: str, data: pa.Table, make: Any) -> list[Any]:
    table = engine.arrow_table(data, name)
    return engine.to_arrow(table.select(out=make(table))).column("out").to_pylist()


@pytest.mark.parametrize(("precision", "scale"), [(18, 4), (38, 4), (12, 2), (38, 10)])
def test_as_float_is_the_unscaled_rule_on_both_sides_of_2_53(
    any_engine: Engine, precision: int, scale: int
) -> None:
    values = _decimals(precision, scale)
    data = pa.table({"v": pa.array(values, pa.decimal128(precision, scale))})
    name = f"floats_{precision}_{scale}"
    got = _column(any_engine, name, data, lambda t: as_float(t.v))
    assert got == _column(any_engine, name + "_rule", data, lambda t: _rule_written_out(t.v))
    expected = [_spark_path(value, scale) for value in values]
    wrong = [
        (v, g, e) for v, g, e in zip(values, got, expected, strict=True) if e is not None and g != e
    ]
    assert not wrong, wrong[:5]
    assert sum(e is not None for e in expected) > len(values) // 3


def test_segments_follow_the_grid_for_every_score_and_outside_it(any_engine: Engine) -> None:
    combos = list(itertools.product(range(-1, 8), repeat=3))
    combos += [(None, 1, 1), (1, None, 1), (1, 1, None)]
    data = pa.table(
        {name: pa.array([c[i] for c in combos], pa.int32()) for i, name in enumerate("rfm")}
    )
    got = _column(any_engine, "scores", data, lambda t: segment_expr(t.r, t.f, t.m))

    def expected(r: int | None, f: int | None, m: int | None) -> str:
        for (r_score, fm), name in SEGMENTS.items():
            if None not in (r, f, m) and r == r_score and 2 * fm - 1 <= f + m <= 2 * fm:  # type: ignore[operator]
                return name
        return "Unscored"

    assert got == [expected(*c) for c in combos]


def _grouped(before: ir.Table, new: ir.Table) -> ir.Table:
    """The added sums as one grouping of both sides' rows (what the rule means)."""
    both = before.union(new)
    sums = {name: both[name].sum() for name in product_performance.BASE[2:]}
    return both.group_by(["month", "stock_code"]).agg(**sums)


def test_added_month_sums_equal_a_grouping_of_both_sides_nulls_included(engine: Engine) -> None:
    schema = pa.schema([MART_PRODUCT_PERFORMANCE.schema.field(n) for n in product_performance.BASE])
    generator = random.Random(7)
    months = [None, date(2011, 1, 1), date(2011, 2, 1)]
    keys = list(itertools.product(months, [None, "A", "B", "C"]))

    def amount() -> Decimal | None:
        return generator.choice([None, Decimal(generator.randint(-(10**6), 10**6)).scaleb(-4)])

    def side(chosen: list[tuple[date | None, str | None]]) -> pa.Table:
        rows = []
        for month, code in chosen:
            count = {n: generator.choice([None, generator.randint(-9, 9)]) for n in schema.names}
            rows.append(
                {**count, "month": month, "stock_code": code}
                | {"revenue": amount(), "returns_amount": amount()}
            )
        return pa.Table.from_pylist(rows, schema)

    def ordered(table: pa.Table) -> list[dict[str, Any]]:
        return sorted(table.to_pylist(), key=lambda r: (str(r["month"]), str(r["stock_code"])))

    for trial in range(12):
        before = engine.arrow_table(side(generator.sample(keys, trial % len(keys))), f"b{trial}")
        new = engine.arrow_table(side(generator.sample(keys, (5 * trial) % 13)), f"n{trial}")
        added = engine.to_arrow(product_performance._added(before, new))
        grouped = engine.to_arrow(product_performance._base_columns(_grouped(before, new)))
        assert added.schema == grouped.schema
        assert ordered(added) == ordered(grouped), trial

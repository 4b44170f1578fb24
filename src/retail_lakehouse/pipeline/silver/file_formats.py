"""Which bronze lines write dates day first, or numbers with a decimal comma.

Ingest decides each file's conventions, and each sheet's of a workbook, and records them in
``bronze.files`` (:mod:`retail_lakehouse.sources.formats`); silver reads those few rows once
per pass and turns them into per-line conditions: on ``_batch_seq`` for a file, and on
``_batch_seq`` and ``_source_file`` (``book.xlsx#Early``) for the sheets of a workbook whose
sheets differ. A pass whose files are all month first with a decimal point (the UCI convention)
gets no condition at all, so the common case costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from retail_lakehouse.lake.contracts.bronze import PER_SHEET

COLUMNS = [
    "_batch_seq",
    "_source_file",
    "date_order",
    "decimal_separator",
    "quantity_decimal_separator",
    "sheet_formats",
]
"""The ``bronze.files`` columns silver reads (lakes from before them read as month first, '.';
quantities without their own column follow the prices)."""


_NOT_DEFAULT = {
    "date_order": ("dmy", PER_SHEET),
    "decimal_separator": (",", PER_SHEET),
    "quantity_decimal_separator": (",", PER_SHEET),
}
"""The values that make a manifest row matter to :class:`PassFormats`: every other row is
month first with '.' throughout, which is what silver does unasked."""


def not_default_predicate(columns: set[str]) -> str:
    """SQL over ``bronze.files`` keeping only the rows :meth:`PassFormats.from_manifest` can
    use (a day-first, decimal-comma or per-sheet file), so a full refresh over a million
    default files turns a handful of rows into Python, not a million (3 CPU-s: decision 0020,
    sixteenth-round addendum). ``columns``: the manifest's (a lake from before a column)."""
    terms = [
        f"{name} IN ({', '.join(repr(v) for v in values)})"
        for name, values in _NOT_DEFAULT.items()
        if name in columns
    ]
    return f"({' OR '.join(terms)})" if terms else "FALSE"


@dataclass(frozen=True, order=True)
class Unit:
    """The lines of one batch, or of one sheet of it (``source_file``: ``book.xlsx#Early``)."""

    batch_seq: int
    source_file: str | None = None


Units = tuple[Unit, ...]


@dataclass(frozen=True)
class PassFormats:
    """The files and sheets of a pass that differ from month first and decimal point."""

    day_first: Units = ()
    decimal_comma: Units = ()
    quantity_comma: Units = ()

    @classmethod
    def from_manifest(cls, files: pa.Table | None, batches: list[int]) -> PassFormats:
        """From rows of ``bronze.files`` (any subset of :data:`COLUMNS`; the rows that are all
        default can be left out: :func:`not_default_predicate`)."""
        if files is None:
            return cls()
        wanted = set(batches)
        names = files.column_names
        rows = files.select([c for c in COLUMNS if c in names]).to_pylist()
        units = [u for r in rows if r["_batch_seq"] in wanted for u in _units(r)]
        return cls(
            _where(units, lambda f: f.get("date_order") == "dmy"),
            _where(units, lambda f: f.get("decimal_separator") == ","),
            _where(
                units,
                lambda f: (
                    (f.get("quantity_decimal_separator") or f.get("decimal_separator")) == ","
                ),
            ),
        )

    def day_first_lines(
        self, batch_seq: ir.IntegerValue, source_file: ir.StringValue
    ) -> ir.BooleanValue | None:
        """TRUE on lines of a day-first file or sheet; None when the pass has none."""
        return _member(batch_seq, source_file, self.day_first)

    def decimal_comma_lines(
        self, batch_seq: ir.IntegerValue, source_file: ir.StringValue
    ) -> ir.BooleanValue | None:
        """TRUE on lines whose prices have a decimal comma; None when the pass has none."""
        return _member(batch_seq, source_file, self.decimal_comma)

    def quantity_comma_lines(
        self, batch_seq: ir.IntegerValue, source_file: ir.StringValue
    ) -> ir.BooleanValue | None:
        """TRUE on lines whose quantities have a decimal comma (or a thousands dot)."""
        return _member(batch_seq, source_file, self.quantity_comma)


def _units(row: dict[str, Any]) -> list[tuple[Unit, dict[str, Any]]]:
    """A manifest row as the units silver tells apart: the whole batch, or, for a workbook
    whose sheets differ, each sheet (its lines name it: ``<file>#<sheet>``)."""
    sheets = row.get("sheet_formats") or []
    differ = PER_SHEET in (
        row.get("date_order"),
        row.get("decimal_separator"),
        row.get("quantity_decimal_separator"),
    )
    if not (sheets and differ):
        return [(Unit(row["_batch_seq"]), row)]
    return [(Unit(row["_batch_seq"], f"{row['_source_file']}#{s['sheet']}"), s) for s in sheets]


def _where(
    units: list[tuple[Unit, dict[str, Any]]], test: Callable[[dict[str, Any]], bool]
) -> Units:
    return tuple(sorted(unit for unit, formats in units if test(formats)))


def _member(
    batch_seq: ir.IntegerValue, source_file: ir.StringValue, units: Units
) -> ir.BooleanValue | None:
    if not units:
        return None
    whole = [u.batch_seq for u in units if u.source_file is None]
    tests: list[ir.BooleanValue] = []
    if len(whole) == 1:
        tests.append(batch_seq == ibis.literal(whole[0], "int64"))
    elif whole:
        tests.append(batch_seq.isin(whole))
    for unit in units:
        if unit.source_file is not None:
            sheet: ir.BooleanValue = (batch_seq == ibis.literal(unit.batch_seq, "int64")) & (
                source_file == ibis.literal(unit.source_file, "string")
            )
            tests.append(sheet)
    result = tests[0]
    for test in tests[1:]:
        result = result | test
    return result

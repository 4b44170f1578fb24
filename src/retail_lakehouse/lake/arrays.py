"""Arrow arrays and tables from Python values, assembled from their buffers.

Every pyarrow constructor that takes Python values (``pa.array``, ``pa.table`` of lists,
``Table.from_pylist``, ``pa.scalar``, ``Schema.empty_table``, a Python scalar handed to a compute
function) first asks whether the value is a pandas object, and that question imports pandas the
first time it is asked in a process (0.15-0.3 s; pyarrow's "pandas shim"). ``retail ingest`` and
``retail run`` never need pandas, yet built their few metadata rows (runs, watermarks, the
manifest, quality results) that way. Here each column is laid out as Arrow's format defines it
(validity bitmap, offsets, values) and handed to ``pa.Array.from_buffers``, which converts
nothing: the same arrays, no pandas (decision 0011, addendum of the sixth round).

Only the types the lake's contracts use are supported (text, integers, floats, booleans,
timestamps, dates, decimals, lists and structs of them); anything else raises ``TypeError``.
"""

from __future__ import annotations

import itertools
from array import array as _typed
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

_EPOCH = datetime(1970, 1, 1)
_EPOCH_DAY = date(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_INT_CODES = {
    (8, True): "b",
    (16, True): "h",
    (32, True): "i",
    (64, True): "q",
    (8, False): "B",
    (16, False): "H",
    (32, False): "I",
    (64, False): "Q",
}


def array(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
    """``values`` (None for null) as an Arrow array of ``type_``."""
    n = len(values)
    present = [v is not None for v in values]
    null_count = n - sum(present)
    validity = _bits(present) if null_count else None
    if pa.types.is_null(type_):
        return pa.nulls(n)
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        encoded = [_text(v).encode() if v is not None else b"" for v in values]
        offsets = _offsets(map(len, encoded), large=pa.types.is_large_string(type_))
        buffers = [validity, offsets, pa.py_buffer(b"".join(encoded))]
    elif pa.types.is_boolean(type_):
        buffers = [validity, _bits([bool(v) for v in values])]
    elif pa.types.is_integer(type_):
        code = _INT_CODES[(type_.bit_width, pa.types.is_signed_integer(type_))]
        buffers = [validity, _buffer(code, [_integer(v) if v is not None else 0 for v in values])]
    elif pa.types.is_floating(type_) and type_.bit_width in (32, 64):
        code = "d" if type_.bit_width == 64 else "f"
        buffers = [validity, _buffer(code, [float(v) if v is not None else 0.0 for v in values])]
    elif pa.types.is_timestamp(type_):
        counts = [_timestamp(v, type_.unit) if v is not None else 0 for v in values]
        buffers = [validity, _buffer("q", counts)]
    elif pa.types.is_date32(type_):
        buffers = [validity, _buffer("i", [_days(v) if v is not None else 0 for v in values])]
    elif pa.types.is_decimal128(type_):
        units = [_unscaled(v, type_) if v is not None else 0 for v in values]
        packed = b"".join(u.to_bytes(16, "little", signed=True) for u in units)
        buffers = [validity, pa.py_buffer(packed)]
    elif pa.types.is_list(type_) or pa.types.is_large_list(type_):
        items = [list(v) if v is not None else [] for v in values]
        child = array([x for item in items for x in item], type_.value_type)
        offsets = _offsets(map(len, items), large=pa.types.is_large_list(type_))
        return pa.Array.from_buffers(
            type_, n, [validity, offsets], null_count=null_count, children=[child]
        )
    elif pa.types.is_struct(type_):
        children = [
            array([_field(v, f.name) if v is not None else None for v in values], f.type)
            for f in type_
        ]
        return pa.Array.from_buffers(type_, n, [validity], null_count=null_count, children=children)
    else:
        raise TypeError(f"no buffer layout here for Arrow type {type_}")
    return pa.Array.from_buffers(type_, n, buffers, null_count=null_count)


def table(columns: Mapping[str, Sequence[Any]], schema: pa.Schema) -> pa.Table:
    """A table of ``schema`` from column lists; a column missing from ``columns`` is all null,
    and a name ``schema`` does not have is refused (it would be lost silently)."""
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise ValueError(f"columns not in the schema: {sorted(unknown)}")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    arrays = [
        array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def from_rows(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """A table of ``schema`` from row dictionaries (a key a row lacks is null)."""
    names = set(schema.names)
    unknown = {k for row in rows for k in row} - names
    if unknown:
        raise ValueError(f"columns not in the schema: {sorted(unknown)}")
    return table({name: [row.get(name) for row in rows] for name in schema.names}, schema)


def empty_table(schema: pa.Schema) -> pa.Table:
    """``schema.empty_table()`` without the conversion behind it (it imports pandas)."""
    return pa.Table.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)


def pylist(data: pa.Table) -> list[dict[str, Any]]:
    """``data.to_pylist()``, the same values, with zoned timestamps converted here: pyarrow's
    conversion of each one asks whether pandas is installed, which imports it."""
    zoned = {f.name: f.type.tz for f in data.schema if pa.types.is_timestamp(f.type) and f.type.tz}
    zones: dict[str, ZoneInfo] = {}
    for name, zone in zoned.items():
        try:
            zones[name] = ZoneInfo(zone)
        except (ValueError, ZoneInfoNotFoundError):  # an offset such as +01:00: pyarrow's way
            return list(data.to_pylist())
    if not zones:
        return list(data.to_pylist())
    columns = [
        data.column(f.name).cast(pa.timestamp(f.type.unit)) if f.name in zones else data.column(i)
        for i, f in enumerate(data.schema)
    ]
    rows: list[dict[str, Any]] = pa.Table.from_arrays(columns, names=data.column_names).to_pylist()
    for name, zone in zones.items():
        for row in rows:
            if row[name] is not None:
                row[name] = row[name].replace(tzinfo=UTC).astimezone(zone)
    return rows


def _bits(flags: Sequence[bool]) -> pa.Buffer:
    """A little-endian bitmap (Arrow's validity and boolean layout)."""
    packed = sum(1 << i for i, flag in enumerate(flags) if flag)
    return pa.py_buffer(packed.to_bytes((len(flags) + 7) // 8 or 1, "little"))


def _buffer(code: str, values: Sequence[int | float]) -> pa.Buffer:
    return pa.py_buffer(_typed(code, values).tobytes())


def _offsets(lengths: Any, *, large: bool) -> pa.Buffer:
    return _buffer("q" if large else "i", list(itertools.accumulate(lengths, initial=0)))


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}: {value!r}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}: {value!r}")
    return value


def _timestamp(value: Any, unit: str) -> int:
    """A datetime as a count of ``unit`` since the epoch; an aware one by its instant, a naive
    one as UTC wall time (as pyarrow reads both)."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    micros: int = (value - _EPOCH) // _MICROSECOND
    scale = _PER_SECOND[unit]
    if scale >= 1_000_000:
        return micros * (scale // 1_000_000)
    whole, rest = divmod(micros, 1_000_000 // scale)
    if rest:
        raise ValueError(f"{value} has more precision than a timestamp in {unit}")
    return whole


def _days(value: Any) -> int:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected a date, got {type(value).__name__}: {value!r}")
    return (value - _EPOCH_DAY).days


def _unscaled(value: Any, type_: pa.Decimal128Type) -> int:
    """The decimal's digits as an integer at the type's scale; refused if that would round or
    exceed the precision (pyarrow refuses both too)."""
    number = value if isinstance(value, Decimal) else Decimal(_integer(value))
    scaled = number.scaleb(type_.scale)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} does not fit decimal scale {type_.scale}")
    unscaled = int(scaled)
    if abs(unscaled) >= 10**type_.precision:
        raise ValueError(f"{value} does not fit decimal precision {type_.precision}")
    return unscaled


def _field(value: Any, name: str) -> Any:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping for a struct, got {type(value).__name__}")
    return value.get(name)

"""Arrow record batches into PostgreSQL's binary ``COPY`` format, column by column.

Why: PostgreSQL parses a binary ``COPY`` faster than CSV (no text to number, date and numeric
conversions: -15 to -28% on the fact's ``COPY`` statement, decision 0014), and encoding it from
Arrow's columns costs the client less than writing CSV.

The format (PostgreSQL manual, "COPY", "Binary Format"): a signature header, then per row an
int16 field count and per field an int32 byte length (-1 for NULL) followed by the value in the
type's ``send`` representation, big-endian; an int16 -1 ends the stream. No Python code runs per
row: every column is turned into numpy arrays of big-endian bytes at once, and
``pyarrow.compute.binary_join_element_wise`` interleaves the columns into rows in C++:

- fixed-width values (``bigint``, ``integer``, ``smallint``, ``double precision``, ``real``,
  ``boolean``, ``date``, ``timestamp``) are numpy arrays of the big-endian type; dates count days
  and timestamps microseconds from 2000-01-01 (PostgreSQL's epoch);
- a ``numeric(p, s)`` with ``p <= 18`` (its unscaled value fits an int64) is written with a
  FIXED number of base-10000 digit groups (the integer part's ``ceil((p - s) / 4)`` groups, then
  ``ceil(s / 4)`` fractional groups), so it is fixed-width too; PostgreSQL's ``numeric_recv``
  strips the leading and trailing zero groups and keeps ``dscale = s`` (the same value and
  display scale as the text ``'12.5000'``);
- text is the UTF-8 bytes as they are, preceded by their length;
- NULL is a length of -1 and no value (``null_handling="skip"`` of the join).

The 4-byte lengths of every column and the values of columns without NULLs in a batch are
packed side by side into one fixed-width byte matrix per run of such columns; only text and
columns with NULLs stay separate arrays. Types outside this list (lists, wider decimals,
nanosecond timestamps) are not encoded: :func:`supports` says so and the caller uses CSV.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
"""The binary ``COPY`` header: signature, flags (no OIDs), header extension length 0."""

TRAILER = b"\xff\xff"
"""The end of a binary ``COPY`` stream: a field count of -1."""

_PG_EPOCH_DAYS = 10_957  # 2000-01-01 - 1970-01-01 in days
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400 * 1_000_000
_US_PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1}
_NUMERIC_NEGATIVE = 0x4000
_FIXED = {
    "int8": ">i2",  # PostgreSQL has no 1-byte integer: ddl.pg_type makes it smallint
    "int16": ">i2",
    "int32": ">i4",
    "int64": ">i8",
    "float": ">f4",
    "double": ">f8",
}


def supports(schema: pa.Schema) -> bool:
    """Whether every column of ``schema`` has a binary encoding here."""
    return all(_supported(field.type) for field in schema)


def _supported(type_: pa.DataType) -> bool:
    if pa.types.is_decimal(type_):
        return bool(type_.bit_width == 128 and type_.precision <= 18)
    if pa.types.is_timestamp(type_):
        return type_.unit in _US_PER_UNIT
    return (
        str(type_) in _FIXED
        or pa.types.is_boolean(type_)
        or pa.types.is_date32(type_)
        or pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
    )


def _numeric_groups(type_: pa.Decimal128Type) -> tuple[int, int]:
    """(integer groups, fractional groups) of base-10000 digits for ``numeric(p, s)``."""
    integer = -(-(type_.precision - type_.scale) // 4)
    fraction = -(-type_.scale // 4)
    return integer, fraction


def _fixed_values(column: pa.Array) -> tuple[np.dtype[Any], np.ndarray]:
    """Each row's value as PostgreSQL sends it: the big-endian field type and the values in
    native order (numpy converts them when they are stored into the field); NULL rows hold
    arbitrary values, their length says -1."""
    type_ = column.type
    if pa.types.is_boolean(type_):
        values = _numpy(_filled(column))
        return np.dtype("u1"), values
    if pa.types.is_decimal(type_):
        digits = _numeric_values(column)
        return np.dtype((">i2", digits.shape[1])), digits
    if pa.types.is_date32(type_):
        days = _numpy(_filled(column.cast(pa.int32())))
        return np.dtype(">i4"), days - np.int32(_PG_EPOCH_DAYS)
    if pa.types.is_timestamp(type_):
        ticks = _numpy(_filled(column.cast(pa.int64())))
        if type_.unit != "us":
            ticks = ticks * _US_PER_UNIT[type_.unit]
        return np.dtype(">i8"), ticks - np.int64(_PG_EPOCH_US)
    return np.dtype(_FIXED[str(type_)]), _numpy(_filled(column))


_NATIVE = {"int8": "i1", "int16": "i2", "int32": "i4", "int64": "i8", "float": "f4", "double": "f8"}


def _numpy(array: pa.Array) -> np.ndarray:
    """The values of a null-free fixed-width or boolean ``array`` as numpy, read from its data
    buffer: pyarrow's own ``to_numpy`` imports pandas on first use (0.3-0.5 s of a ``retail
    publish`` process; decision 0014, fifth addendum)."""
    if array.null_count:
        raise ValueError("_numpy needs an array without nulls")
    data = array.buffers()[1]
    start, rows = array.offset, len(array)
    if pa.types.is_boolean(array.type):
        bits = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
        unpacked = np.unpackbits(bits, bitorder="little", count=start + rows)
        return unpacked[start:].astype(bool)
    dtype = np.dtype(_NATIVE[str(array.type)])
    return np.frombuffer(data, dtype, count=start + rows)[start:]


def _empty(type_: pa.DataType) -> pa.Scalar:
    """An empty ``binary`` (or ``large_binary``) scalar made from buffers: ``b""`` handed to
    pyarrow would go through its Python converter, which imports pandas (see :func:`_numpy`)."""
    offsets = np.zeros(2, np.int64 if pa.types.is_large_binary(type_) else np.int32)
    return pa.Array.from_buffers(type_, 1, [None, pa.py_buffer(offsets), pa.py_buffer(b"")])[0]


def _filled(column: pa.Array, value: int = 0) -> pa.Array:
    """``column`` with its nulls replaced by ``value`` (zero or false; each null is sent as
    length -1 anyway). The fill value is made from raw bytes: a Python scalar handed to pyarrow
    goes through its Python converter, whose first use imports pandas (0.3-0.5 s of a ``retail
    publish`` process, decision 0014, fifth addendum)."""
    if not column.null_count:
        return column
    width = max(1, column.type.bit_width // 8)
    raw = int(value).to_bytes(width, "little", signed=True)
    fill = pa.Array.from_buffers(column.type, 1, [None, pa.py_buffer(raw)])
    return pc.coalesce(column, fill[0])


def _numeric_values(column: pa.Array) -> np.ndarray:
    """``numeric`` in PostgreSQL's binary form with a fixed number of digit groups: ndigits,
    weight, sign, dscale, then the groups (int16 each)."""
    type_ = column.type
    assert isinstance(type_, pa.Decimal128Type)
    rows = len(column)
    integer_groups, fraction_groups = _numeric_groups(type_)
    scale = type_.scale
    # a decimal128 is 16 little-endian bytes of two's complement; with precision <= 18 the
    # value fits the low 8 bytes, read as a signed int64
    data = column.buffers()[1]
    assert data is not None
    words = np.frombuffer(data, dtype="<i8")
    unscaled = words[2 * column.offset : 2 * (column.offset + rows) : 2]
    if column.null_count:
        unscaled = np.where(_numpy(column.is_valid()), unscaled, 0)
    magnitude = np.abs(unscaled)
    whole, fraction = np.divmod(magnitude, 10**scale)
    fraction = fraction * 10 ** (4 * fraction_groups - scale)  # pad to whole groups
    groups = integer_groups + fraction_groups
    out = np.empty((rows, 4 + groups), dtype=np.int16)
    out[:, 0] = groups
    out[:, 1] = integer_groups - 1
    out[:, 2] = np.where(unscaled < 0, _NUMERIC_NEGATIVE, 0)
    out[:, 3] = scale
    for i in range(integer_groups):  # a loop over digit groups (at most 5), not rows
        out[:, 4 + i] = (whole // 10_000 ** (integer_groups - 1 - i)) % 10_000
    for i in range(fraction_groups):
        out[:, 4 + integer_groups + i] = (fraction // 10_000 ** (fraction_groups - 1 - i)) % 10_000
    return out


class _Packer:
    """Consecutive fixed-width fields of every row packed side by side into one numpy record
    array (a structured dtype without padding): numpy stores each column into its field with
    the byte-order conversion in one strided pass, and the records' memory is the row-major
    bytes the join needs."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.fields: list[tuple[str, np.dtype[Any]]] = []
        self.values: list[Any] = []

    def add(self, dtype: np.dtype[Any], values: Any) -> None:
        self.fields.append((f"f{len(self.fields)}", dtype))
        self.values.append(values)

    def array(self) -> pa.Array | None:
        if not self.fields:
            return None
        records = np.empty(self.rows, dtype=np.dtype(self.fields))
        for (name, _), values in zip(self.fields, self.values, strict=True):
            records[name] = values
        width = records.dtype.itemsize
        offsets = np.arange(0, (self.rows + 1) * width, width, dtype=np.int32)
        self.fields, self.values = [], []
        return pa.Array.from_buffers(
            pa.binary(), self.rows, [None, pa.py_buffer(offsets), pa.py_buffer(records)]
        )


_LENGTH = np.dtype(">i4")


def _variable_array(column: pa.Array, dtype: np.dtype[Any] | None, values: Any) -> pa.Array:
    """The values of a column with NULLs or of variable width, NULLs kept (the join skips them)."""
    if dtype is None:  # text: the UTF-8 bytes as they are
        wide = pa.types.is_large_string(column.type)
        return column.cast(pa.large_binary() if wide else pa.binary())
    rows = len(column)
    stored = np.empty(rows, dtype=dtype)
    stored[...] = values
    width = dtype.itemsize
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    validity = column.is_valid().buffers()[1]
    return pa.Array.from_buffers(
        pa.binary(),
        rows,
        [validity, pa.py_buffer(offsets), pa.py_buffer(stored)],
        null_count=column.null_count,
    )


def encode(batch: pa.RecordBatch) -> pa.Buffer:
    """The rows of ``batch`` as binary ``COPY`` tuples (no signature, no trailer)."""
    rows = batch.num_rows
    pieces: list[pa.Array] = []
    packer = _Packer(rows)
    packer.add(np.dtype(">i2"), batch.num_columns)
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            packer.add(_LENGTH, _numpy(_filled(pc.binary_length(column), -1)))
            dtype, values = None, None
        else:
            dtype, values = _fixed_values(column)
            if column.null_count == 0:
                packer.add(_LENGTH, dtype.itemsize)
                packer.add(dtype, values)
                continue
            valid = _numpy(column.is_valid())
            packer.add(_LENGTH, np.where(valid, dtype.itemsize, -1))
        packed = packer.array()
        assert packed is not None
        pieces.append(packed)
        pieces.append(_variable_array(column, dtype, values))
    last = packer.array()
    if last is not None:
        pieces.append(last)
    if any(pa.types.is_large_binary(p.type) for p in pieces):
        pieces = [p.cast(pa.large_binary()) for p in pieces]
    if len(pieces) == 1:
        joined = pieces[0]
    else:
        joined = pc.binary_join_element_wise(*pieces, _empty(pieces[0].type), null_handling="skip")
    offsets_buffer, data = joined.buffers()[1], joined.buffers()[2]
    assert offsets_buffer is not None and data is not None
    offset_type = np.int64 if pa.types.is_large_binary(joined.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)
    start, end = int(offsets[joined.offset]), int(offsets[joined.offset + rows])
    return data.slice(start, end - start)

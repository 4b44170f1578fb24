"""Deterministic surrogate keys and the calendar keys of the star schema.

A surrogate key is the first 64 bits of the SHA-256 of its natural key, as a signed int64
(``int.from_bytes(sha256(text).digest()[:8], "big", signed=True)``: the same 16 hex digits the
keys were stored as before decision 0011's last point, now 8 bytes). SHA-256 hex is computed
identically by every engine (Ibis ``.hash()`` is not: 64-bit on DuckDB, 32-bit on Spark) and
:func:`~retail_lakehouse.pipeline.hashing.int64_from_hex` is the one hex-to-int64 conversion
of the silver line keys, so DuckDB, Spark and every re-run produce the same keys, and a fact
row can be keyed without looking the dimension up. Multi-part natural keys (a customer plus the
start of one of its SCD2 versions) are joined with the ASCII unit separator, which never occurs
in the data.

Missing references point at each dimension's "unknown" member: key ``0`` for the hashed
dimensions (a natural key hashing to 0 has a chance of 2^-64), ``date_key`` 0 and ``time_key``
-1 for the calendar ones (``0`` is a real time, 00:00).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from retail_lakehouse.engines import Engine
from retail_lakehouse.pipeline.hashing import int64_from_hex

UNKNOWN_KEY = 0
"""Key of the unknown member of ``dim_country``, ``dim_product``, ``dim_customer``,
``dim_invoice`` (guest customers, missing countries...)."""
UNKNOWN_DATE_KEY = 0
UNKNOWN_TIME_KEY = -1
SEPARATOR = "\x1f"
TS_KEY_FORMAT = "%Y-%m-%d %H:%M:%S"
"""How a timestamp enters a natural key (second precision, the precision of the sources)."""


def surrogate_key(engine: Engine, *parts: ir.Value) -> ir.IntegerValue:
    """Key of a natural key made of ``parts``; ``0`` when the first part is NULL.

    The first part is the identifying one (stock code, customer id, ...): a row without it is
    a missing reference and belongs to the unknown member."""
    text: ir.StringValue = parts[0].cast("string")
    for part in parts[1:]:
        text = text.concat(SEPARATOR, part.cast("string").fill_null(""))
    digest = int64_from_hex(engine, text.hexdigest("sha256"))
    key: ir.IntegerValue = parts[0].isnull().ifelse(ibis.literal(UNKNOWN_KEY, "int64"), digest)
    return key


def ts_key_text(ts: ir.TimestampValue) -> ir.StringValue:
    """A timestamp as it enters a natural key."""
    text: ir.StringValue = ts.strftime(TS_KEY_FORMAT)
    return text


def date_key(ts: ir.TimestampValue) -> ir.IntegerValue:
    """``yyyymmdd`` of a timestamp, or the unknown date key when it is NULL."""
    key = ts.year() * 10000 + ts.month() * 100 + ts.day()
    result: ir.IntegerValue = key.fill_null(UNKNOWN_DATE_KEY).cast("int32")
    return result


def time_key(ts: ir.TimestampValue) -> ir.IntegerValue:
    """``hhmm`` of a timestamp, or the unknown time key when it is NULL."""
    key = ts.hour() * 100 + ts.minute()
    result: ir.IntegerValue = key.fill_null(UNKNOWN_TIME_KEY).cast("int32")
    return result

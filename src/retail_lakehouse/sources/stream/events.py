"""A micro-batch of JSON events -> the raw string columns and rejects every reader produces.

An event is one JSON object per message whose keys are the columns of either UCI layout
(``InvoiceNo``/``Invoice``, ``Customer ID``...) or the canonical names, through the same alias
table as file headers (:mod:`retail_lakehouse.sources.aliases`); other keys are kept as ``x_``
extra columns, like extra file columns. Unlike a file, every event stands alone: each must name
all eight canonical columns (its values may be null), and the batch's keys are mapped key by key,
so one batch may mix both layouts. DuckDB's JSON functions validate and unpack the whole batch
in one vectorised pass; an event that is not UTF-8, not JSON, not an object or lacks a column is a
reject with its offset and reason, never a failed batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl
import pyarrow as pa

from retail_lakehouse.lake.contracts.bronze import RAW_COLUMNS
from retail_lakehouse.sources.aliases import canonical_name, extra_column_name
from retail_lakehouse.sources.records import SourceChunk, SourceLayout, rejects
from retail_lakehouse.sources.stream.base import StreamRecord

FORMAT = "stream"


def _texts(records: Sequence[StreamRecord]) -> tuple[pa.Array, pa.Array]:
    """Payloads as text, and whether each was valid UTF-8 (decoded with replacement if not)."""
    raw = pa.array([r.payload for r in records], pa.binary())
    try:
        return raw.cast(pa.string()), pa.array([True] * len(records))
    except pa.ArrowInvalid:  # rare: find the bad ones
        valid = [_is_utf8(r.payload) for r in records]
        text = [r.payload.decode("utf-8", errors="replace") for r in records]
        return pa.array(text, pa.string()), pa.array(valid)


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_events(records: Sequence[StreamRecord]) -> tuple[SourceChunk, SourceLayout]:
    """Rows (canonical + extra columns as text, ``_row_number`` = the record's offset) and the
    rejected events (``line_number`` = offset) of one batch, with the layout it was read in."""
    text, utf8 = _texts(records)
    events = pa.table(  # noqa: F841 - read by DuckDB below
        {
            "pos": pa.array([r.offset for r in records], pa.int64()),
            "raw": text,
            "utf8": utf8,
        }
    )
    with duckdb.connect() as con:
        con.execute(
            "CREATE TEMP TABLE checked AS SELECT pos, raw, CASE "
            "WHEN NOT utf8 THEN 'not UTF-8 text' "
            "WHEN NOT json_valid(raw) THEN 'invalid JSON' "
            "WHEN json_type(raw) <> 'OBJECT' THEN 'not a JSON object' END AS reason "
            "FROM events"
        )
        # the objects only: JSON functions raise on invalid text, so rejects read as '{}'
        con.execute(
            "CREATE TEMP TABLE objects AS SELECT pos, raw, reason, "
            "CASE WHEN reason IS NULL THEN raw ELSE '{}' END AS obj FROM checked"
        )
        found = con.execute(
            "SELECT DISTINCT unnest(json_keys(raw)) AS k FROM checked WHERE reason IS NULL "
            "ORDER BY k"
        ).fetchall()
        keys = [k for (k,) in found]
        sources: dict[str, list[str]] = {}  # output column -> the event keys that fill it
        for key in keys:
            sources.setdefault(canonical_name(key) or extra_column_name(key), []).append(key)
        extras = sorted(name for name in sources if name not in RAW_COLUMNS)
        params: list[str] = []

        def value(column: str) -> str:
            parts = []
            for key in sources.get(column, []):
                params.append(_path(key))
                parts.append(f"json_extract_string(obj, ${len(params)})")
            if not parts:
                return "NULL::VARCHAR"
            return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"

        def present(column: str) -> str:
            parts = []
            for key in sources.get(column, []):
                params.append(_path(key))
                parts.append(f"json_exists(obj, ${len(params)})")
            return " OR ".join(parts) or "false"

        missing = " || ".join(
            f"CASE WHEN {present(c)} THEN '' ELSE ', {c}' END" for c in RAW_COLUMNS
        )
        values = ", ".join(f'{value(c)} AS "{c}"' for c in [*RAW_COLUMNS, *extras])
        result = con.execute(
            f"SELECT pos, raw, coalesce(reason, 'missing key(s): ' || "
            f"nullif(ltrim({missing}, ', '), '')) AS reason, {values} FROM objects",
            params,
        ).to_arrow_table()
    frame = pl.from_arrow(result)
    assert isinstance(frame, pl.DataFrame)
    good = frame.filter(pl.col("reason").is_null())
    bad = frame.filter(pl.col("reason").is_not_null()).rename({"pos": "line_number"})
    rows = good.select(*RAW_COLUMNS, *extras, pl.col("pos").cast(pl.Int64).alias("_row_number"))
    layout = SourceLayout(FORMAT, [*RAW_COLUMNS, *extras], extras, keys, encoding="utf-8")
    return SourceChunk(rows=rows, rejects=rejects(bad, pl.col("reason"))), layout

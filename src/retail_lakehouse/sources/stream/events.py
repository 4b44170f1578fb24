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
from retail_lakehouse.sources.json_depth import line_depths
from retail_lakehouse.sources.limits import ReaderLimits
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


def parse_events(
    records: Sequence[StreamRecord],
    limits: ReaderLimits | None = None,
    known_extra: Sequence[str] = (),
) -> tuple[SourceChunk, SourceLayout]:
    """Rows (canonical + extra columns as text, ``_row_number`` = the record's offset) and the
    rejected events (``line_number`` = offset) of one batch, with the layout it was read in.

    The file limits hold per event (``[limits]``): an event nested deeper than
    ``max_json_depth`` is rejected before any JSON parser sees it (DuckDB's recurses), one larger
    than ``max_line_bytes`` or with more than ``max_json_keys`` keys is rejected, and an event
    bringing extra keys that would widen bronze past ``max_extra_columns`` (``known_extra`` are
    those bronze has) is rejected rather than widening bronze for good."""
    limits = limits or ReaderLimits()
    text, utf8 = _texts(records)
    depth = line_depths(text).line_max
    events = pa.table(  # noqa: F841 - read by DuckDB below
        {
            "pos": pa.array([r.offset for r in records], pa.int64()),
            "raw": text,
            "utf8": utf8,
            "depth": pa.array(depth, pa.int64()),
        }
    )
    with duckdb.connect() as con:
        con.execute(
            "CREATE TEMP TABLE checked AS SELECT pos, raw, CASE "
            "WHEN NOT utf8 THEN 'not UTF-8 text' "
            f"WHEN strlen(raw) > {int(limits.max_line_bytes)} THEN 'event larger than "
            f"{int(limits.max_line_bytes)} bytes (limits.max_line_bytes)' "
            f"WHEN depth > {int(limits.max_json_depth)} THEN 'JSON nested deeper than "
            f"{int(limits.max_json_depth)} levels (limits.max_json_depth)' "
            "WHEN NOT json_valid(raw) THEN 'invalid JSON' "
            "WHEN json_type(raw) <> 'OBJECT' THEN 'not a JSON object' END AS reason "
            "FROM events"
        )
        con.execute(
            "UPDATE checked SET reason = "
            f"'more than {int(limits.max_json_keys)} keys (limits.max_json_keys)' "
            "WHERE reason IS NULL AND "
            "len(json_keys(CASE WHEN reason IS NULL THEN raw ELSE '{}' END)) "
            f"> {int(limits.max_json_keys)}"
        )
        keys_sql = (
            "SELECT k, count(*) AS n FROM (SELECT unnest(json_keys(CASE WHEN reason IS NULL "
            "THEN raw ELSE '{}' END)) AS k FROM checked WHERE reason IS NULL) GROUP BY k "
            "ORDER BY n DESC, k"
        )
        found = con.execute(keys_sql).fetchall()
        named = {key: canonical_name(key) or extra_column_name(key) for key, _ in found}
        room = max(limits.max_extra_columns - len(known_extra), 0)
        new: list[str] = []  # new extra columns, the most used first
        for key, _ in found:
            name = named[key]
            if name not in RAW_COLUMNS and name not in known_extra and name not in new:
                new.append(name)
        if len(new) > room:  # the events bringing the rarest surplus keys are rejected
            surplus = [k for k, n in named.items() if n in set(new[room:])]
            con.execute(
                "UPDATE checked SET reason = 'extra key(s) would widen bronze past "
                f"{int(limits.max_extra_columns)} extra columns (limits.max_extra_columns)' "
                "WHERE reason IS NULL AND "
                "list_has_any(json_keys(CASE WHEN reason IS NULL THEN raw ELSE '{}' END), ?)",
                [surplus],
            )
            found = con.execute(keys_sql).fetchall()  # the keys of the events still accepted
        keys = sorted(k for k, _ in found)
        # the objects only: JSON functions raise on invalid text, so rejects read as '{}'
        con.execute(
            "CREATE TEMP TABLE objects AS SELECT pos, raw, reason, "
            "CASE WHEN reason IS NULL THEN raw ELSE '{}' END AS obj FROM checked"
        )
        sources: dict[str, list[str]] = {}  # output column -> the event keys that fill it
        for key in keys:
            sources.setdefault(named[key], []).append(key)
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

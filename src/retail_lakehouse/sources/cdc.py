"""Change events in the Debezium envelope -> one row per event, row image as text.

One JSON object per line, either the envelope itself or wrapped as ``{"payload": {...}}`` (the
JSON converter with schemas on): ``op`` (``c`` create, ``u`` update, ``d`` delete, ``r`` snapshot
read), ``before`` and ``after`` row images, and ``source`` with the log position (``lsn``, or
``pos``, or ``sequence``) and ``ts_ms``. The row image's keys go through the same alias table as
file headers; the source's line id is the ``line_id`` key of the image (``after``, or ``before``
for a delete). DuckDB validates and unpacks the whole file in one vectorised pass; an event
without a line id, a known ``op`` or a log position is refused with its line number.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.lake.contracts.bronze import RAW_COLUMNS
from retail_lakehouse.sources.aliases import canonical_name
from retail_lakehouse.sources.compressed import split_suffix
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.literal import duckdb_literal

KEY = "line_id"
OPS = ("c", "u", "d", "r")


def read_change_events(path: Path) -> pa.Table:
    """The events of a change-log file (NDJSON of Debezium envelopes), in file order; the
    first event that cannot be applied refuses the file, naming its line and why. A compressed
    file is refused: it is read here, in the command's process, not under the reader's limits
    of a compressed export (``[limits] max_decompressed_mb``, ``max_compression_ratio``)."""
    compression = split_suffix(path)[1]
    if compression is not None:
        raise FileRefused(
            path,
            f"a compressed change log ({compression}): decompress it first and give the file "
            "inside (only sales exports may be compressed)",
        )
    location = duckdb_literal(path).replace("'", "''")
    with duckdb.connect() as con:
        try:
            lines = con.execute(
                "SELECT row_number() OVER () AS n, line FROM "
                f"read_csv('{location}', columns={{'line': 'VARCHAR'}}, header=false, "
                "delim=chr(1), quote='', escape='', auto_detect=false) WHERE trim(line) <> ''"
            ).to_arrow_table()
        except duckdb.Error as error:
            raise FileRefused(path, f"cannot read ({str(error).splitlines()[0]})") from None
    events = change_events(lines)
    bad = events.filter(pc.is_valid(events["reason"]))
    if bad.num_rows:
        raise FileRefused(path, f"line {bad['_row_number'][0]}: {bad['reason'][0]}")
    return events.drop_columns(["reason"])


def change_events(lines: pa.Table) -> pa.Table:
    """Events from a table of ``n`` (line number or stream sequence) and ``line`` (the JSON
    text): ``_row_number``, ``op``, ``log_position``, ``source_ts_ms``, ``line_id``, the row
    image's canonical columns, and ``reason`` (NULL, or why the event cannot be applied)."""
    raw = lines  # noqa: F841 - read by DuckDB below
    with duckdb.connect() as con:
        con.execute(
            "CREATE TEMP TABLE checked AS SELECT n, line, CASE WHEN line IS NULL OR NOT "
            "json_valid(line) OR json_type(line) <> 'OBJECT' THEN 'not a JSON object' END "
            "AS reason FROM raw"
        )
        con.execute(
            "CREATE TEMP TABLE env AS SELECT n, reason, CASE WHEN reason IS NOT NULL THEN "
            "json('{}') WHEN json_exists(line, '$.payload') "
            "AND json_type(line, '$.payload') = 'OBJECT' THEN json_extract(line, '$.payload') "
            "ELSE json(line) END AS e FROM checked"
        )
        con.execute(
            "CREATE TEMP TABLE ev AS SELECT n, reason, json_extract_string(e, '$.op') AS op, "
            "CASE WHEN json_extract_string(e, '$.op') = 'd' THEN json_extract(e, '$.before') "
            "ELSE json_extract(e, '$.after') END AS image, "
            "TRY_CAST(coalesce(json_extract_string(e, '$.source.lsn'), "
            "json_extract_string(e, '$.source.pos'), "
            "json_extract_string(e, '$.source.sequence')) AS BIGINT) AS log_position, "
            "TRY_CAST(coalesce(json_extract_string(e, '$.source.ts_ms'), "
            "json_extract_string(e, '$.ts_ms')) AS BIGINT) AS source_ts_ms FROM env"
        )
        con.execute(
            "UPDATE ev SET image = NULL WHERE image IS NOT NULL AND json_type(image) <> 'OBJECT'"
        )
        found = con.execute(
            "SELECT DISTINCT unnest(json_keys(image)) FROM ev WHERE image IS NOT NULL"
        ).fetchall()
        sources: dict[str, list[str]] = {}
        for (key,) in sorted(found):
            name = KEY if key == KEY else canonical_name(key)
            if name is not None:
                sources.setdefault(name, []).append(key)
        params: list[str] = []

        def value(column: str) -> str:
            parts = []
            for key in sources.get(column, []):
                params.append('$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"')
                parts.append(f"json_extract_string(image, ${len(params)})")
            if not parts:
                return "NULL::VARCHAR"
            return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"

        columns = ", ".join(f'{value(c)} AS "{c}"' for c in (KEY, *RAW_COLUMNS))
        ops = ", ".join(f"'{op}'" for op in OPS)
        return con.execute(
            f"SELECT n AS _row_number, op, log_position, source_ts_ms, {columns}, "
            "coalesce(reason, CASE "
            f"WHEN op IS NULL OR op NOT IN ({ops}) THEN 'an op other than c, u, d, r' "
            "WHEN log_position IS NULL THEN "
            "'no log position (source.lsn, source.pos or source.sequence)' "
            f"WHEN {value(KEY)} IS NULL THEN 'no line id (after.line_id / before.line_id)' "
            "END) AS reason FROM ev ORDER BY n",
            params,
        ).to_arrow_table()

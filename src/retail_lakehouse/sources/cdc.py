"""Change events in the Debezium envelope -> one row per event, row image as text.

One JSON object per line, either the envelope itself or wrapped as ``{"payload": {...}}`` (the
JSON converter with schemas on): ``op`` (``c`` create, ``u`` update, ``d`` delete, ``r`` snapshot
read), ``before`` and ``after`` row images, and ``source`` with the log position (``lsn``, or
``pos``, or ``sequence``) and ``ts_ms``. The row image's keys go through the same alias table as
file headers; the source's line id is the ``line_id`` key of the image (``after``, or ``before``
for a delete). DuckDB validates and unpacks the events in one vectorised pass; an event without
a line id, a known ``op`` or a log position, or past the JSON limits, is refused with its line
number.

A change-log file is untrusted input like any sales export: :func:`stage_change_log` reads it
inside the reader worker (``sandbox.py``), under the same ``[limits]``, and hands the parent
only the parsed events, as an Arrow file beside the table (decision 0018, addendum).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.lake.contracts.bronze import RAW_COLUMNS
from retail_lakehouse.sources.aliases import canonical_name
from retail_lakehouse.sources.compressed import split_suffix
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.records import NUL_IN_VALUE

KEY = "line_id"
OPS = ("c", "u", "d", "r")


@dataclass(frozen=True)
class ChangeLogRequest:
    """A change log to read in the worker; its events go to ``events_file`` (Arrow IPC)."""

    path: Path
    limits: ReaderLimits
    events_file: Path


def stage_change_log(request: ChangeLogRequest) -> int:
    """In the reader worker: read the change log and write its events to ``events_file``; the
    number of events. The parent reads that file back (only parsed, checked events cross)."""
    events = read_change_events(request.path, request.limits)
    try:
        with (
            pa.OSFile(str(request.events_file), "wb") as sink,
            pa.ipc.new_file(sink, events.schema) as writer,
        ):
            writer.write_table(events)
    except BaseException:
        request.events_file.unlink(missing_ok=True)
        raise
    return int(events.num_rows)


def read_events_file(path: Path) -> pa.Table:
    """The events :func:`stage_change_log` wrote (read into memory; the file may then go)."""
    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_file(source).read_all()


def read_change_events(path: Path, limits: ReaderLimits | None = None) -> pa.Table:
    """The events of a change-log file (NDJSON of Debezium envelopes), in file order; the
    first event that cannot be applied refuses the file, naming its line and why.

    Meant for the reader worker: lines are split by the readers' own splitter (a line longer
    than ``limits.max_line_bytes`` refuses the file; DuckDB's CSV reader, used before, skipped
    lines over 2 MB without a word), NUL or control bytes refuse it as binary, and every event
    passes :func:`change_events`' JSON limits before DuckDB parses it. A compressed file is
    refused: change logs are not read through the decompressor's bomb guard."""
    import numpy as np

    from retail_lakehouse.sources.lines import iter_line_chunks
    from retail_lakehouse.sources.readers import binary_reason
    from retail_lakehouse.sources.sniff import file_facts

    limits = limits or ReaderLimits()
    compression = split_suffix(path)[1]
    if compression is not None:
        raise FileRefused(
            path,
            f"a compressed change log ({compression}): decompress it first and give the file "
            "inside (only sales exports may be compressed)",
        )
    facts = file_facts(path)
    if facts.size == 0:
        raise FileRefused(path, "the file is empty")
    if facts.looks_binary:
        raise FileRefused(path, binary_reason(path), line=1)
    parts = []
    for chunk in iter_line_chunks(
        path, facts.encoding, clean_utf8=facts.clean_utf8, max_line_bytes=limits.max_line_bytes
    ):  # chunk by chunk: the worker holds the parsed events, not the whole file's text
        numbers = pa.array(np.arange(chunk.first_line, chunk.first_line + len(chunk.lines)))
        lines = pa.table({"n": numbers, "line": chunk.lines.to_arrow().cast(pa.string())})
        blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(lines["line"])), 0)
        lines = lines.filter(pc.invert(blank))
        if not lines.num_rows:
            continue
        events = change_events(lines, limits)
        bad = events.filter(pc.is_valid(events["reason"]))
        if bad.num_rows:  # the first one refuses the file: the rest is not read
            raise FileRefused(path, f"line {bad['_row_number'][0]}: {bad['reason'][0]}")
        parts.append(events.drop_columns(["reason"]))
    if not parts:  # blank lines only: refused like an empty file (and a CSV without a header)
        raise FileRefused(path, "no change event (blank lines only)")
    return pa.concat_tables(parts)


def _within_limits(lines: pa.Table, limits: ReaderLimits) -> tuple[pa.Table, pa.Array]:
    """``lines`` with the text of an event past the size or nesting limit blanked (no JSON
    parser may see it: DuckDB's recurses, 5,000 levels crashed it), and those events' reasons."""
    from retail_lakehouse.sources.json_depth import line_depths

    text = lines["line"].combine_chunks() if lines.num_rows else pa.array([], pa.string())
    depth = pa.array(line_depths(text).line_max) if lines.num_rows else pa.array([], pa.int64())
    too_long = pc.greater(pc.binary_length(text), limits.max_line_bytes)
    too_deep = pc.greater(depth, limits.max_json_depth)
    reason = pc.if_else(
        too_long,
        f"event larger than {limits.max_line_bytes:,} bytes (limits.max_line_bytes)",
        pc.if_else(
            too_deep,
            f"JSON nested deeper than {limits.max_json_depth} levels (limits.max_json_depth)",
            pa.scalar(None, pa.string()),
        ),
    )
    blanked = pc.if_else(pc.is_valid(reason), pa.scalar(None, pa.string()), text)
    return pa.table({"n": lines["n"], "line": blanked}), reason


def change_events(lines: pa.Table, limits: ReaderLimits | None = None) -> pa.Table:
    """Events from a table of ``n`` (line number or stream sequence) and ``line`` (the JSON
    text): ``_row_number``, ``op``, ``log_position``, ``source_ts_ms``, ``line_id``, the row
    image's canonical columns, and ``reason`` (NULL, or why the event cannot be applied).

    The ``[limits]`` of a JSON record hold per event, for a change-log file and a stream
    micro-batch alike: an event larger than ``max_line_bytes`` or nested deeper than
    ``max_json_depth`` is never parsed, and a row image with more than ``max_json_keys`` keys
    or a value longer than ``max_field_bytes`` cannot be applied, nor one with a NUL character
    (a JSON ``\\u0000`` escape: PostgreSQL's ``text`` cannot store it, so once in gold it made
    every later ``retail publish`` fail; files and sales events set such rows aside the same
    way, ``records.set_aside_nul``)."""
    limits = limits or ReaderLimits()
    raw, limited = _within_limits(lines, limits)
    raw = raw.append_column("limited", limited)  # read by DuckDB below
    with duckdb.connect() as con:
        con.execute(
            "CREATE TEMP TABLE checked AS SELECT n, CASE WHEN limited IS NULL THEN line END "
            "AS line, coalesce(limited, CASE WHEN line IS NULL OR NOT json_valid(line) OR "
            "json_type(line) <> 'OBJECT' THEN 'not a JSON object' END) AS reason FROM raw"
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
        con.execute(
            "UPDATE ev SET image = NULL, reason = "
            f"'a row image with more than {limits.max_json_keys:,} keys (limits.max_json_keys)' "
            "WHERE reason IS NULL AND image IS NOT NULL "
            f"AND len(json_keys(image)) > {int(limits.max_json_keys)}"
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
        longest = ", ".join(f'coalesce(strlen("{c}"), 0)' for c in (KEY, *RAW_COLUMNS))
        nul = " OR ".join(f'coalesce(contains("{c}", chr(0)), false)' for c in (KEY, *RAW_COLUMNS))
        ops = ", ".join(f"'{op}'" for op in OPS)
        limit = int(limits.max_field_bytes)
        return con.execute(
            "SELECT * EXCLUDE (found), coalesce(found, CASE "
            f"WHEN op IS NULL OR op NOT IN ({ops}) THEN 'an op other than c, u, d, r' "
            "WHEN log_position IS NULL THEN "
            "'no log position (source.lsn, source.pos or source.sequence)' "
            "WHEN line_id IS NULL THEN 'no line id (after.line_id / before.line_id)' "
            f"WHEN greatest({longest}) > {limit} THEN 'a value longer than {limit:,} bytes "
            f"(limits.max_field_bytes)' WHEN {nul} THEN '{NUL_IN_VALUE}' END) AS reason FROM ("
            f"SELECT n AS _row_number, op, log_position, source_ts_ms, {columns}, "
            "reason AS found FROM ev) ORDER BY _row_number",
            params,
        ).to_arrow_table()

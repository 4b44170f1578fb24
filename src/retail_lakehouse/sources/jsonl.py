"""JSON sources: newline-delimited JSON (one record per line) and JSON arrays of records.

Both shapes become the same thing, a table of records as JSON text with their position (the
line number of an NDJSON line, the 1-based element index of an array), and go through the same
checks and the same vectorised unpacking by DuckDB's JSON functions. A record that is not valid
JSON, not an object, nested deeper than ``limits.max_json_depth`` or with more keys than
``limits.max_json_keys`` is a reject with its position; it never stops the file. Nesting is
measured before any JSON parser sees the text (``json_depth.py``): DuckDB's JSON reader recurses
and a record 5,000 levels deep crashed the process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from retail_lakehouse.sources.aliases import checked_header
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.json_depth import line_depths
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.lines import iter_line_chunks
from retail_lakehouse.sources.literal import duckdb_literal
from retail_lakehouse.sources.records import OpenedSource, SourceChunk, SourceLayout, rejects
from retail_lakehouse.sources.sniff import FileFacts

ARRAY_BATCH_ROWS = 100_000


def _first_char(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1].decode("ascii", errors="replace")


def open_json(path: Path, facts: FileFacts, limits: ReaderLimits) -> OpenedSource:
    """Dispatch on the file's shape: ``[`` starts an array, anything else is NDJSON."""
    con = duckdb.connect()
    if _first_char(path) == "[":
        return _open(path, con, _array_records(path, facts, limits, con), "json", None, limits)
    return _open(path, con, _ndjson_records(path, facts, limits), "ndjson", facts.encoding, limits)


def _ndjson_records(path: Path, facts: FileFacts, limits: ReaderLimits) -> list[pl.DataFrame]:
    """The file's lines as (line_number, raw) frames, deep lines already marked."""
    frames = []
    chunks = iter_line_chunks(
        path, facts.encoding, clean_utf8=facts.clean_utf8, max_line_bytes=limits.max_line_bytes
    )
    for chunk in chunks:
        frame = pl.DataFrame({"raw": chunk.lines}).with_row_index(
            "line_number", offset=chunk.first_line
        )
        depth = line_depths(frame.get_column("raw").to_arrow()).line_max
        frames.append(frame.with_columns(pl.Series("depth", depth)))
    return frames


def _array_records(
    path: Path, facts: FileFacts, limits: ReaderLimits, con: duckdb.DuckDBPyConnection
) -> list[pl.DataFrame]:
    """The array's elements as (line_number = element index, raw) frames.

    The whole file's nesting is measured first (the array itself is one level), so DuckDB only
    ever parses text of bounded depth."""
    level = 0
    for chunk in iter_line_chunks(
        path, facts.encoding, clean_utf8=facts.clean_utf8, max_line_bytes=limits.max_line_bytes
    ):
        found = line_depths(chunk.lines.to_arrow(), start=level)
        if found.peak > limits.max_json_depth + 1:
            raise FileRefused(
                path,
                f"JSON nested deeper than {limits.max_json_depth} levels (limits.max_json_depth)",
                line=chunk.first_line,
            )
        level = found.end
    try:
        relation = con.read_json(
            duckdb_literal(path),
            format="array",
            records="false",
            columns={"raw": "JSON"},
            maximum_object_size=max(limits.max_line_bytes, 16 * 2**20),
        )
        reader = relation.select("raw::VARCHAR AS raw").fetch_record_batch(ARRAY_BATCH_ROWS)
        frames = []
        offset = 1
        for batch in reader:
            frame = pl.from_arrow(pa.Table.from_batches([batch]))
            assert isinstance(frame, pl.DataFrame)
            frames.append(
                frame.with_row_index("line_number", offset=offset).with_columns(
                    pl.lit(0, dtype=pl.Int64).alias("depth")
                )
            )
            offset += frame.height
    except duckdb.Error as error:
        raise FileRefused(path, f"invalid JSON array ({str(error).splitlines()[0]})") from None
    return frames


def _open(
    path: Path,
    con: duckdb.DuckDBPyConnection,
    frames: list[pl.DataFrame],
    format: str,
    encoding: str | None,
    limits: ReaderLimits,
) -> OpenedSource:
    checked = [_check(con, frame, limits) for frame in frames]
    keys: list[str] = []
    seen: set[str] = set()
    for frame in checked:
        good = frame.filter(  # noqa: F841 - read by DuckDB below
            pl.col("reason").is_null() & (pl.col("raw").str.strip_chars() != "")
        ).to_arrow()  # DuckDB reads Arrow tables, not Polars frames, without pyarrow.dataset
        found = con.execute("SELECT DISTINCT unnest(json_keys(raw)) AS k FROM good").fetchall()
        for (key,) in found:
            if key not in seen:
                seen.add(key)
                keys.append(key)
        if len(keys) > limits.max_columns:
            break
    if not keys:
        first = next(
            (f.filter(pl.col("reason").is_not_null()).head(1) for f in checked if f.height), None
        )
        why = ""
        if first is not None and first.height:
            why = f"; record {first.item(0, 'line_number')}: {first.item(0, 'reason')}"
        raise FileRefused(
            path, f"no readable JSON object (expected one object per line or record){why}"
        )
    names = checked_header(path, keys, limits, what="key")
    layout = SourceLayout(
        format, names, [n for n in names if n.startswith("x_")], keys, encoding=encoding
    )
    blank = [0]
    paths = ["$." + '"' + k.replace('"', '\\"') + '"' for k in keys]
    select = ", ".join(f"json_extract_string(raw, ${i + 1}) AS c{i}" for i in range(len(keys)))

    def parsed() -> Iterator[SourceChunk]:
        for part in checked:
            is_blank = pl.col("raw").str.strip_chars() == ""
            blank[0] += part.filter(is_blank).height
            frame = part.filter(~is_blank)
            good = frame.filter(pl.col("reason").is_null()).to_arrow()  # noqa: F841 - DuckDB
            values = pl.from_arrow(
                con.execute(f"SELECT line_number, {select} FROM good", paths).to_arrow_table()
            )
            assert isinstance(values, pl.DataFrame)
            values.columns = ["_row_number", *names]
            rows = values.select(*names, pl.col("_row_number").cast(pl.Int64))
            bad = frame.filter(pl.col("reason").is_not_null())
            yield SourceChunk(rows=rows, rejects=rejects(bad, pl.col("reason")))

    return OpenedSource(layout, parsed(), blank)


def _check(
    con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, limits: ReaderLimits
) -> pl.DataFrame:
    """``frame`` with a ``reason`` for every record that cannot be read (NULL for good ones).

    Too-deep records are set aside before DuckDB parses anything."""
    too_deep = pl.col("depth") > limits.max_json_depth
    deep = frame.filter(too_deep).select(
        "line_number",
        "raw",
        pl.lit(
            f"JSON nested deeper than {limits.max_json_depth} levels (limits.max_json_depth)"
        ).alias("reason"),
    )
    shallow = frame.filter(~too_deep).select("line_number", "raw").to_arrow()  # noqa: F841
    checked = pl.from_arrow(
        con.execute(
            "SELECT line_number, raw, CASE "
            "WHEN trim(raw) = '' THEN NULL "
            "WHEN NOT json_valid(raw) THEN 'invalid JSON' "
            "WHEN json_type(raw) <> 'OBJECT' THEN 'not a JSON object' "
            "WHEN len(json_keys(raw)) > $1 THEN "
            "  'JSON object with ' || len(json_keys(raw)) || ' keys, more than ' || $1 "
            "  || ' (limits.max_json_keys)' "
            "END AS reason FROM shallow ORDER BY line_number",
            [limits.max_json_keys],
        ).to_arrow_table()
    )
    assert isinstance(checked, pl.DataFrame)
    if deep.height:
        both = pl.concat([checked, deep.cast(checked.schema)]).sort("line_number")
        return both
    return checked

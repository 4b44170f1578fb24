"""JSON sources: newline-delimited JSON (line by line, bad lines rejected) and JSON arrays.

NDJSON lines are validated and unpacked by DuckDB's vectorised JSON functions over the line
table, so a broken line is a reject with its line number rather than a failed file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl

from retail_lakehouse.sources.aliases import map_header
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.lines import iter_line_chunks
from retail_lakehouse.sources.records import OpenedSource, SourceChunk, SourceLayout, rejects
from retail_lakehouse.sources.sniff import FileFacts


def _first_char(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1].decode("ascii", errors="replace")


def open_json(path: Path, facts: FileFacts) -> OpenedSource:
    """Dispatch on the file's shape: ``[`` starts an array, anything else is NDJSON."""
    if _first_char(path) == "[":
        return _open_array(path)
    return _open_ndjson(path, facts)


def _open_array(path: Path) -> OpenedSource:
    con = duckdb.connect()
    try:
        relation = con.read_json(str(path), format="array", records="true")
        table = relation.to_arrow_table()
    except duckdb.Error as error:
        raise FileRefused(path, f"invalid JSON array ({str(error).splitlines()[0]})") from None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    header = frame.columns
    mapping, missing = map_header(header)
    if missing:
        raise FileRefused(path, f"missing required key(s) {', '.join(missing)}")
    names = [mapping[i] for i in range(len(header))]
    text = frame.select(pl.all().cast(pl.String))
    text.columns = names
    rows = text.with_row_index("_row_number", offset=1).with_columns(
        pl.col("_row_number").cast(pl.Int64)
    )
    layout = SourceLayout("json", names, [n for n in names if n.startswith("x_")], header)
    return OpenedSource(layout, iter([SourceChunk(rows=rows)]))


def _open_ndjson(path: Path, facts: FileFacts) -> OpenedSource:
    con = duckdb.connect()
    chunks = list(iter_line_chunks(path, facts.encoding, clean_utf8=facts.clean_utf8))
    keys: list[str] = []
    for chunk in chunks:
        lines = pl.DataFrame({"raw": chunk.lines})  # noqa: F841 - read by DuckDB below
        found = con.execute(
            "SELECT DISTINCT unnest(json_keys(raw)) AS k FROM lines "
            "WHERE json_valid(raw) AND json_type(raw) = 'OBJECT'"
        ).fetchall()
        keys += [k for (k,) in found if k not in keys]
    if not keys:
        raise FileRefused(path, "no JSON object found (expected one object per line)")
    mapping, missing = map_header(keys)
    if missing:
        raise FileRefused(path, f"missing required key(s) {', '.join(missing)}")
    names = [mapping[i] for i in range(len(keys))]
    layout = SourceLayout(
        "ndjson", names, [n for n in names if n.startswith("x_")], keys, encoding=facts.encoding
    )
    blank = [0]

    def parsed() -> Iterator[SourceChunk]:
        for chunk in chunks:
            frame = pl.DataFrame({"raw": chunk.lines}).with_row_index(
                "line_number", offset=chunk.first_line
            )
            is_blank = pl.col("raw").str.strip_chars() == ""
            blank[0] += frame.filter(is_blank).height
            lines = frame.filter(~is_blank)  # noqa: F841 - read by DuckDB below
            checked = pl.from_arrow(
                con.execute(
                    "SELECT line_number, raw, CASE WHEN NOT json_valid(raw) THEN 'invalid JSON' "
                    "WHEN json_type(raw) <> 'OBJECT' THEN 'not a JSON object' END AS reason "
                    "FROM lines"
                ).to_arrow_table()
            )
            assert isinstance(checked, pl.DataFrame)
            good = checked.filter(pl.col("reason").is_null())
            paths = ["$." + '"' + k.replace('"', '\\"') + '"' for k in keys]
            good_lines = good  # noqa: F841 - read by DuckDB below
            select = ", ".join(
                f"json_extract_string(raw, ${i + 1}) AS c{i}" for i in range(len(keys))
            )
            values = pl.from_arrow(
                con.execute(f"SELECT line_number, {select} FROM good_lines", paths).to_arrow_table()
            )
            assert isinstance(values, pl.DataFrame)
            values.columns = ["_row_number", *names]
            rows = values.select(*names, pl.col("_row_number").cast(pl.Int64))
            bad = checked.filter(pl.col("reason").is_not_null())
            yield SourceChunk(rows=rows, rejects=rejects(bad, pl.col("reason")))

    return OpenedSource(layout, parsed(), blank)

"""A lake-wide check that catches a wrong day/month assumption after the fact.

When every date of a file reads both ways (``1/12/2010``), ingest cannot tell its order and
assumes the default (recorded ``assumed`` in ``bronze.files``). Invoice numbers rise with time in
this data, which gives a second witness: an invoice's date should lie between the dates of the
invoices numbered just below and just above it in the files whose order is known (inferred or
declared). A file whose invoices fall outside that window, but would fall inside it with day and
month swapped (numbered among December's invoices, dated in January), is flagged as a likely
day/month swap, naming the file and how to correct it (docs/dates-and-numbers.md).

The unit judged is the file, or the sheet of a workbook whose sheets were decided differently
(``bronze.files.sheet_formats``). One DuckDB query over the committed silver lines (two ASOF
joins on the invoice number), run only when some file or sheet was assumed; no Python loop over
lines. Its input is (batch, file, invoice number, first instant) rows (:mod:`.swap_invoices`):
a run's check takes them from per-file groups kept beside the lake, so an append groups its own
new lines only. Only the invoices numbered between the known invoice just below the lowest
assumed one and the known invoice just above the highest are grouped by invoice and placed
(two ASOF joins sort what they are given): no assumed invoice's neighbour lies outside that
span, so the figures are those of placing among every invoice (decision 0020, twelfth round).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import duckdb

from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.store import Lake
from retail_lakehouse.quality.swap_invoices import invoices_sql

log = logging.getLogger(__name__)

TOLERANCE_DAYS = 2
"""Invoices a little out of order (a late entry) are not evidence: two days of slack."""

MIN_SHARE = 0.5
"""A file is flagged when at least this share of its checked invoices is out of place and
every one of those would be in place with day and month swapped."""

_NO_UNDATED = "CAST(NULL AS BIGINT) AS undated_lines, CAST(NULL AS VARCHAR) AS undated_example"
_WHOLE_FILES = f"""
    SELECT _batch_seq, _source_file AS file, CAST(NULL AS VARCHAR) AS sheet, date_order,
           date_order_source, date_pattern, {_NO_UNDATED}
    FROM bronze.files
"""
_SHEETS = """
    SELECT _batch_seq, _source_file AS file, CAST(NULL AS VARCHAR) AS sheet, date_order,
           date_order_source, date_pattern, {undated}
    FROM bronze.files
    WHERE sheet_formats IS NULL
       OR NOT (date_order = 'per-sheet' OR date_order_source = 'per-sheet')
    UNION ALL
    SELECT f._batch_seq, f._source_file, s.sheet, s.date_order, s.date_order_source,
           s.date_pattern, {sheet_undated}
    FROM bronze.files f, unnest(f.sheet_formats) AS u(s)
    WHERE f.date_order = 'per-sheet' OR f.date_order_source = 'per-sheet'
"""


def _query(lake: Lake, invoices: str) -> str:
    """The check over ``invoices`` (a query of :data:`~.swap_invoices.INVOICES`' columns)."""
    return _QUERY.format(
        units=units_sql(lake), invoices=invoices, tolerance=TOLERANCE_DAYS, share=MIN_SHARE
    )


def units_sql(lake: Lake) -> str:
    """The units whose date order was decided, as a query over ``bronze.files``: a file, or
    each sheet of a workbook whose sheets were decided differently (``sheet``; NULL: the whole
    file). Columns: ``_batch_seq, file, sheet, date_order, date_order_source, date_pattern,
    undated_lines, undated_example`` (the last two NULL in a lake from before them)."""
    names = lake.arrow_schema("bronze.files").names
    if "undated_lines" in names:
        undated = "undated_lines, undated_example"
        sheet_undated = "s.undated_lines, s.undated_example"
    else:
        undated = sheet_undated = _NO_UNDATED
    if "sheet_formats" in names:
        return _SHEETS.format(undated=undated, sheet_undated=sheet_undated)
    return _WHOLE_FILES  # a lake from before per-sheet formats (and the undated columns)


_QUERY = """
WITH units AS ({units}),
invoice_rows AS ({invoices}),
unit_rows AS (
    SELECT i._batch_seq, i._source_file, i.num, i.ts,
           u.file, u.sheet, u.date_order, u.date_order_source
    FROM invoice_rows i JOIN units u ON i._batch_seq = u._batch_seq
        AND (u.sheet IS NULL OR i._source_file = u.file || '#' || u.sheet)
),
suspect_span AS (
    SELECT min(num) AS low, max(num) AS high FROM unit_rows
    WHERE date_order_source = 'assumed'
),
span AS (
    SELECT coalesce((SELECT max(r.num) FROM unit_rows r
                     WHERE r.date_order_source <> 'assumed' AND r.num <= s.low), s.low) AS low,
           coalesce((SELECT min(r.num) FROM unit_rows r
                     WHERE r.date_order_source <> 'assumed' AND r.num >= s.high), s.high) AS high
    FROM suspect_span s
),
judged_units AS (
    SELECT r._batch_seq, r._source_file, r.num, min(r.ts) AS ts,
           r.file, r.sheet, r.date_order, r.date_order_source
    FROM unit_rows r, span
    WHERE r.num BETWEEN span.low AND span.high
    GROUP BY ALL
),
known AS (
    SELECT num, ts FROM judged_units WHERE date_order_source <> 'assumed'
),
suspect AS (
    SELECT *,
           CASE WHEN day(ts) <= 12 THEN make_timestamp(
               year(ts), day(ts), month(ts), hour(ts), minute(ts),
               CAST(second(ts) AS DOUBLE)) END AS swapped
    FROM judged_units
    WHERE date_order_source = 'assumed'
),
placed AS (
    SELECT s.*, below.ts AS below_ts, above.ts AS above_ts
    FROM suspect s
    ASOF JOIN known below ON s.num >= below.num
    ASOF JOIN (SELECT -num AS neg, ts FROM known) above ON -s.num >= above.neg
),
judged AS (
    SELECT *,
        ts < below_ts - INTERVAL {tolerance} DAY
            OR ts > above_ts + INTERVAL {tolerance} DAY AS misplaced,
        swapped BETWEEN below_ts - INTERVAL {tolerance} DAY
            AND above_ts + INTERVAL {tolerance} DAY AS fits_swapped
    FROM placed
)
SELECT _batch_seq, file AS source_file, sheet, any_value(date_order) AS date_order,
       count(*) AS checked,
       count(*) FILTER (WHERE misplaced) AS misplaced,
       count(*) FILTER (WHERE misplaced AND fits_swapped) AS explained,
       arg_min(num, num) FILTER (WHERE misplaced) AS example_no,
       arg_min(ts, num) FILTER (WHERE misplaced) AS example_ts,
       arg_min(below_ts, num) FILTER (WHERE misplaced) AS example_below,
       arg_min(above_ts, num) FILTER (WHERE misplaced) AS example_above
FROM judged
GROUP BY _batch_seq, file, sheet
HAVING count(*) FILTER (WHERE misplaced) >= {share} * count(*)
   AND count(*) FILTER (WHERE misplaced AND fits_swapped) = count(*) FILTER (WHERE misplaced)
ORDER BY _batch_seq, sheet
"""


@dataclass(frozen=True)
class LikelySwap:
    """A file whose dates are probably read with day and month swapped."""

    batch_seq: int
    source_file: str
    date_order: str
    checked: int
    misplaced: int
    example: str
    sheet: str | None = None  # a sheet of a workbook whose sheets were decided differently

    def message(self) -> str:
        other = "dmy" if self.date_order == "mdy" else "mdy"
        where = f" sheet {self.sheet!r}" if self.sheet else ""
        said = (
            f"{self.source_file}{where} (batch {self.batch_seq}): likely day/month swap: its "
            f"date order was assumed {self.date_order}, and {self.misplaced:,} of its "
            f"{self.checked:,} invoices are dated away from the invoices numbered around them, "
            f"each of them in place with day and month swapped ({self.example}). "
        )
        if self.sheet:
            name = self.source_file.rsplit("/", 1)[-1]
            return said + (
                f"If the sheet is written {other}: a [[formats.sources]] rule in retail.toml "
                f'with pattern = "{name}#{self.sheet}" and date_order = "{other}", then retail '
                f"retract {self.source_file}, retail ingest {self.source_file} and retail run"
            )
        return said + (
            f"If the file is written {other}: retail retract {self.source_file}, then retail "
            f"ingest --date-order {other} {self.source_file} and retail run"
        )


def likely_swaps(sql: LakeSQL, *, cached: bool = False) -> list[LikelySwap]:
    """Files with an assumed date order that the invoice numbers contradict (see module).

    ``cached``: the invoices of silver's files from their stored groups
    (:mod:`.swap_invoices`, which groups and stores the files not seen before, also when no
    file is assumed); only for the caller holding the lake's writer lock (silver's step).
    Otherwise every line is grouped."""
    lake = sql.lake
    if not lake.exists("silver.sales_lines") or not lake.exists("bronze.files"):
        return []
    if "date_order_source" not in lake.arrow_schema("bronze.files").names:
        return []  # a lake from before formats were recorded
    assumed = sql.arrow(
        "SELECT count(*) AS n FROM bronze.files WHERE date_order_source IN ('assumed', 'per-sheet')"
    )
    if not assumed.column("n")[0].as_py():
        if cached:  # kept up to date for the run that brings the first assumed file
            from retail_lakehouse.quality.swap_invoices import kept_invoices_sql

            kept_invoices_sql(sql)
        return []
    rows = _cached_rows(sql) if cached else None
    if rows is None:
        rows = sql.rows(_query(lake, invoices_sql()))
    return [
        LikelySwap(
            batch_seq=row["_batch_seq"],
            source_file=row["source_file"],
            sheet=row["sheet"],
            date_order=row["date_order"],
            checked=row["checked"],
            misplaced=row["misplaced"],
            example=(
                f"invoice {row['example_no']} dated {row['example_ts']:%Y-%m-%d}, between "
                f"{row['example_below']:%Y-%m-%d} and {row['example_above']:%Y-%m-%d}"
            ),
        )
        for row in rows
    ]


def _cached_rows(sql: LakeSQL) -> list[dict[str, Any]] | None:
    """The check over the stored per-file invoices (:mod:`.swap_invoices`); None when they
    cannot answer. An entry that cannot be read (a damaged file) makes every file be grouped
    and stored again, once."""
    from retail_lakehouse.quality import swap_invoices

    for _attempt in range(2):
        invoices = swap_invoices.kept_invoices_sql(sql)
        if invoices is None:
            return None
        try:
            return sql.rows(_query(sql.lake, invoices))
        except duckdb.Error as error:
            log.warning("swap check: stored invoices unreadable (%s); grouped again", error)
            swap_invoices.forget(sql)
    return None

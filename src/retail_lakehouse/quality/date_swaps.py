"""A lake-wide check that catches a wrong day/month assumption after the fact.

When every date of a file reads both ways (``1/12/2010``), ingest cannot tell its order and
assumes the default (recorded ``assumed`` in ``bronze.files``). Invoice numbers rise with time in
this data, which gives a second witness: an invoice's date should lie between the dates of the
invoices numbered just below and just above it in the files whose order is known (inferred or
declared). A file whose invoices fall outside that window, but would fall inside it with day and
month swapped (numbered among December's invoices, dated in January), is flagged as a likely
day/month swap, naming the file and how to correct it (docs/dates-and-numbers.md).

One DuckDB query over the committed silver lines (two ASOF joins on the invoice number), run
only when some file was assumed; no Python loop over lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from retail_lakehouse.lake.query import LakeSQL

TOLERANCE_DAYS = 2
"""Invoices a little out of order (a late entry) are not evidence: two days of slack."""

MIN_SHARE = 0.5
"""A file is flagged when at least this share of its checked invoices is out of place and
every one of those would be in place with day and month swapped."""

_QUERY = f"""
WITH files AS (
    SELECT _batch_seq, _source_file, date_order, date_order_source FROM bronze.files
),
invoices AS (
    SELECT s._batch_seq,
           CAST(regexp_extract(s.invoice_no, '^[A-Z]?([0-9]{{1,12}})$', 1) AS BIGINT) AS num,
           min(s.invoice_ts) AS ts
    FROM silver.sales_lines s
    WHERE s.invoice_ts IS NOT NULL AND regexp_matches(s.invoice_no, '^[A-Z]?[0-9]{{1,12}}$')
    GROUP BY ALL
),
known AS (
    SELECT i.num, i.ts FROM invoices i JOIN files f USING (_batch_seq)
    WHERE f.date_order_source <> 'assumed'
),
suspect AS (
    SELECT i.*, f._source_file, f.date_order,
           CASE WHEN day(i.ts) <= 12 THEN make_timestamp(
               year(i.ts), day(i.ts), month(i.ts), hour(i.ts), minute(i.ts),
               CAST(second(i.ts) AS DOUBLE)) END AS swapped
    FROM invoices i JOIN files f USING (_batch_seq)
    WHERE f.date_order_source = 'assumed'
),
placed AS (
    SELECT s.*, below.ts AS below_ts, above.ts AS above_ts
    FROM suspect s
    ASOF JOIN known below ON s.num >= below.num
    ASOF JOIN (SELECT -num AS neg, ts FROM known) above ON -s.num >= above.neg
),
judged AS (
    SELECT *,
        ts < below_ts - INTERVAL {TOLERANCE_DAYS} DAY
            OR ts > above_ts + INTERVAL {TOLERANCE_DAYS} DAY AS misplaced,
        swapped BETWEEN below_ts - INTERVAL {TOLERANCE_DAYS} DAY
            AND above_ts + INTERVAL {TOLERANCE_DAYS} DAY AS fits_swapped
    FROM placed
)
SELECT _batch_seq, any_value(_source_file) AS source_file, any_value(date_order) AS date_order,
       count(*) AS checked,
       count(*) FILTER (WHERE misplaced) AS misplaced,
       count(*) FILTER (WHERE misplaced AND fits_swapped) AS explained,
       arg_min(num, num) FILTER (WHERE misplaced) AS example_no,
       arg_min(ts, num) FILTER (WHERE misplaced) AS example_ts,
       arg_min(below_ts, num) FILTER (WHERE misplaced) AS example_below,
       arg_min(above_ts, num) FILTER (WHERE misplaced) AS example_above
FROM judged
GROUP BY _batch_seq
HAVING count(*) FILTER (WHERE misplaced) >= {MIN_SHARE} * count(*)
   AND count(*) FILTER (WHERE misplaced AND fits_swapped) = count(*) FILTER (WHERE misplaced)
ORDER BY _batch_seq
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

    def message(self) -> str:
        other = "dmy" if self.date_order == "mdy" else "mdy"
        return (
            f"{self.source_file} (batch {self.batch_seq}): likely day/month swap: its date "
            f"order was assumed {self.date_order}, and {self.misplaced:,} of its "
            f"{self.checked:,} invoices are dated away from the invoices numbered around them, "
            f"each of them in place with day and month swapped ({self.example}). If the file "
            f"is written {other}: retail retract {self.source_file}, then retail ingest "
            f"--date-order {other} {self.source_file} and retail run"
        )


def likely_swaps(sql: LakeSQL) -> list[LikelySwap]:
    """Files with an assumed date order that the invoice numbers contradict (see module)."""
    lake = sql.lake
    if not lake.exists("silver.sales_lines") or not lake.exists("bronze.files"):
        return []
    if "date_order_source" not in lake.arrow_schema("bronze.files").names:
        return []  # a lake from before formats were recorded
    assumed = sql.arrow(
        "SELECT count(*) AS n FROM bronze.files WHERE date_order_source = 'assumed'"
    )
    if not assumed.column("n")[0].as_py():
        return []
    rows = sql.arrow(_QUERY).to_pylist()
    return [
        LikelySwap(
            batch_seq=row["_batch_seq"],
            source_file=row["source_file"],
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

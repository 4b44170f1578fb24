"""The day/month swap check reads each invoice number once per invoice, not once per line
(decision 0020, tenth round): the same files flagged, with the same figures and examples, as
matching every line, whatever the spelling of the numbers (a letter prefix, leading zeros, text
that is no number, several lines per invoice, lines without a date); and placing the assumed
invoices among the span of their known neighbours equals placing them among all (twelfth round)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pytest

from retail_lakehouse.quality import date_swaps, swap_invoices

PER_LINE = """
    SELECT s._batch_seq, s._source_file,
           CAST(regexp_extract(s.invoice_no, '^[A-Z]?([0-9]{1,12})$', 1) AS BIGINT) AS num,
           min(s.invoice_ts) AS ts
    FROM silver.sales_lines s
    WHERE s.invoice_ts IS NOT NULL AND regexp_matches(s.invoice_no, '^[A-Z]?[0-9]{1,12}$')
    GROUP BY ALL
"""
"""The invoices as the check read them before: the number matched on every line."""


def _interleaved(number: int) -> int:
    return (number // 50) % 4


def _lake(place: Callable[[int], int] = _interleaved) -> duckdb.DuckDBPyConnection:
    """bronze.files and silver.sales_lines with known files dated in order and assumed files
    read with day and month swapped (their invoices numbered among December's, dated in
    January and later), numbers spelled every way the check must read alike. ``place``: which
    of the four files (known, assumed, known, assumed) holds an invoice number."""
    generator = random.Random(11)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA bronze; CREATE SCHEMA silver")
    con.execute(
        "CREATE TABLE bronze.files (_batch_seq BIGINT, _source_file VARCHAR, date_order VARCHAR,"
        " date_order_source VARCHAR, date_pattern VARCHAR)"
    )
    con.execute(
        "CREATE TABLE silver.sales_lines (_batch_seq BIGINT, _source_file VARCHAR,"
        " invoice_no VARCHAR, invoice_ts TIMESTAMP)"
    )
    files = [(1, "known-a.csv", "inferred"), (2, "assumed-b.csv", "assumed")]
    files += [(3, "known-c.csv", "declared"), (4, "assumed-d.csv", "assumed")]
    con.executemany(
        "INSERT INTO bronze.files VALUES (?, ?, 'mdy', ?, NULL)",
        [list(f) for f in files],
    )
    start = datetime(2011, 1, 2, 8, 0)
    lines: list[list[Any]] = []
    for number in range(1000, 1400):
        batch, file, source = files[place(number)]
        when = start + timedelta(minutes=(number - 1000) * 20)  # 2 to 7 January
        if source == "assumed" and (file == "assumed-b.csv" or number % 3):
            when = when.replace(month=when.day, day=when.month)  # read the other way
        for _ in range(generator.randint(1, 5)):  # one number, spelled apart line by line
            spelled = generator.choice(
                [str(number), f"C{number}", f"00{number}", f"A{number}", f"X-{number}", "abc"]
            )
            later = when + timedelta(minutes=generator.randint(0, 30))
            ts = None if generator.random() < 0.1 else later
            lines.append([batch, file, spelled, ts])
    con.executemany("INSERT INTO silver.sales_lines VALUES (?, ?, ?, ?)", lines)
    return con


def test_reading_numbers_per_invoice_flags_what_reading_every_line_flags() -> None:
    con = _lake()
    options = {"units": date_swaps._WHOLE_FILES, "tolerance": 2, "share": 0.5}
    grouped = {"invoices": swap_invoices.invoices_sql()}
    per_invoice = con.sql(date_swaps._QUERY.format(**options, **grouped)).fetchall()
    per_line = con.sql(date_swaps._QUERY.format(**options, invoices=PER_LINE)).fetchall()
    assert per_invoice == per_line
    assert per_invoice  # the assumed files are flagged, so the figures are compared
    loose = {**options, "share": 0.0}
    per_invoice_all = con.sql(date_swaps._QUERY.format(**loose, **grouped)).fetchall()
    assert (
        per_invoice_all == con.sql(date_swaps._QUERY.format(**loose, invoices=PER_LINE)).fetchall()
    )


def _everything() -> str:
    """The check placing its assumed invoices among every invoice: its span widened to all."""
    query = date_swaps._QUERY
    start, end = query.index("\nspan AS (") + 1, query.index("judged_units AS (")
    wide = "span AS (SELECT min(num) AS low, max(num) AS high FROM unit_rows),\n"
    return query[:start] + wide + query[end:]


@pytest.mark.parametrize(
    "place",
    [
        _interleaved,
        lambda n: 1 if 1003 <= n < 1060 else 0,  # the assumed invoices near the lowest known
        lambda n: 3 if 1340 <= n < 1398 else 2,  # near the highest
        lambda n: 1 if 1195 <= n < 1205 else (3 if n == 1399 else 0),  # a few, at the top
        lambda n: 0,  # none assumed
    ],
    ids=["interleaved", "below", "above", "middle-and-top", "none"],
)
def test_placing_among_the_span_of_the_assumed_invoices_equals_placing_among_all(
    place: Callable[[int], int],
) -> None:
    """The check groups and places only the invoices numbered between the known neighbours
    of the lowest and highest assumed one (decision 0020, twelfth round); the figures and
    examples are those of placing among every invoice."""
    con = _lake(place)
    options = {"units": date_swaps._WHOLE_FILES, "tolerance": 2, "share": 0.5}
    options["invoices"] = swap_invoices.invoices_sql()
    narrow = con.sql(date_swaps._QUERY.format(**options)).fetchall()
    assert narrow == con.sql(_everything().format(**options)).fetchall()
    # every assumed invoice's neighbours, not only the files' verdicts
    placed = con.sql(_placed(date_swaps._QUERY).format(**options)).fetchall()
    assert placed == con.sql(_placed(_everything()).format(**options)).fetchall()
    assert bool(placed) == any(place(n) in (1, 3) for n in range(1000, 1400))


def _placed(query: str) -> str:
    """``query`` answering with its ``placed`` step: each assumed invoice and its neighbours."""
    end = query.index("SELECT _batch_seq, file AS source_file")
    return (
        query[:end].rstrip().removesuffix(",").rsplit("judged AS (", 1)[0].rstrip().rstrip(",")
        + "\nSELECT * FROM placed ORDER BY ALL"
    )

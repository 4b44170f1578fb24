"""The day/month swap check reads each invoice number once per invoice, not once per line
(decision 0020, tenth round): the same files flagged, with the same figures and examples, as
matching every line, whatever the spelling of the numbers (a letter prefix, leading zeros, text
that is no number, several lines per invoice, lines without a date)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import duckdb

from retail_lakehouse.quality import date_swaps

PER_LINE = """invoices AS (
    SELECT s._batch_seq, s._source_file,
           CAST(regexp_extract(s.invoice_no, '^[A-Z]?([0-9]{{1,12}})$', 1) AS BIGINT) AS num,
           min(s.invoice_ts) AS ts
    FROM silver.sales_lines s
    WHERE s.invoice_ts IS NOT NULL AND regexp_matches(s.invoice_no, '^[A-Z]?[0-9]{{1,12}}$')
    GROUP BY ALL
),"""


def _per_line_query() -> str:
    """The query as it matched every line: its two first steps replaced by the one before."""
    query = date_swaps._QUERY
    start = query.index("numbers AS (")
    end = query.index("judged_units AS (")
    return query[:start] + PER_LINE + "\n" + query[end:]


def _lake() -> duckdb.DuckDBPyConnection:
    """bronze.files and silver.sales_lines with known files dated in order and assumed files
    read with day and month swapped (their invoices numbered among December's, dated in
    January and later), numbers spelled every way the check must read alike."""
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
        batch, file, source = files[(number // 50) % 4]
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
    per_invoice = con.sql(date_swaps._QUERY.format(**options)).fetchall()
    per_line = con.sql(_per_line_query().format(**options)).fetchall()
    assert per_invoice == per_line
    assert per_invoice  # the assumed files are flagged, so the figures are compared
    loose = {**options, "share": 0.0}
    per_invoice_all = con.sql(date_swaps._QUERY.format(**loose)).fetchall()
    assert per_invoice_all == con.sql(_per_line_query().format(**loose)).fetchall()

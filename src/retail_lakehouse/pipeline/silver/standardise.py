"""Bronze text to typed, standardised silver columns, flags and lineage.

Three projections, so that each expensive expression runs once per line: (1) clean the text
(trim, empty to NULL, upper-case codes, as :mod:`retail_lakehouse.pipeline.text` defines them),
(2) parse the cleaned text into types, (3) join the country reference and derive the amount and
the flags. The raw text of the columns that can fail to parse travels along (``raw_*``), so
quality rules can tell "missing" from "present but unparseable" and the quarantine shows what
was actually received.
"""

from __future__ import annotations

import functools

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake.contracts.silver import NON_PRODUCT_STOCK_CODES
from retail_lakehouse.pipeline.silver import parse
from retail_lakehouse.pipeline.silver.file_formats import PassFormats
from retail_lakehouse.pipeline.text import ascii_lower, ascii_upper
from retail_lakehouse.reference import countries

LINEAGE = ("_batch_id", "_batch_seq", "_row_number", "_record_hash", "_source_file")
"""Bronze lineage carried into silver, quarantine and duplicates."""


ADJUSTMENT_DESCRIPTION = "ADJUST BAD DEBT"

_MAX_LINE_AMOUNT = 1e13
"""Above this ``quantity * unit_price`` would overflow decimal(18,4): left NULL instead."""


def raw_name(column: str) -> str:
    """The name under which a business column's original text travels (``raw_quantity``)."""
    return f"raw_{column}"


@functools.cache
def country_lookup() -> pa.Table:
    """Reference spellings keyed by lower-cased raw name (unique), with canonical name and ISO2.

    The first row of a key wins (the CSV lists canonical spellings first); ``index_in`` of the
    unique keys gives those rows without an Acero group-by (which costs 0.4 s to start)."""
    ref: pa.Table = countries()
    keys = pc.ascii_lower(pc.utf8_trim_whitespace(ref.column("raw_name")))
    first = pc.index_in(pc.unique(keys), value_set=keys)
    table = pa.table(
        {"_country_key": keys, "_country_name": ref.column("name"), "_iso2": ref.column("iso2")}
    )
    result: pa.Table = table.take(first)
    return result


def standardise(
    engine: Engine,
    bronze: ir.Table,
    formats: PassFormats | None = None,
    *,
    time_zone: str = "UTC",
) -> ir.Table:
    """Typed business columns, derived amount and flags, kept raw text and bronze lineage.

    Dates and numbers are read with the conventions of each line's file or sheet (``formats``,
    from ``bronze.files``; quantities with their own column's separator);
    ``date_against_file_order`` marks a date that does not read in its file's order but would
    in the other one (``25/12/2010`` in a month-first file): such a line fails the
    ``invoice_date_in_file_order`` rule and is quarantined, never swapped. ``invoice_ts`` is
    the wall clock of ``time_zone`` (the lake's setting): instants written with a zone are
    converted into it."""
    formats = formats or PassFormats()
    where = (bronze._batch_seq, bronze._source_file)
    day_first = formats.day_first_lines(*where)
    comma = formats.decimal_comma_lines(*where)
    quantity_comma = formats.quantity_comma_lines(*where)
    cleaned = bronze.select(
        invoice_no=ascii_upper(parse.clean_text(bronze.invoice_no.cast("string"))),
        stock_code=ascii_upper(parse.clean_text(bronze.stock_code.cast("string"))),
        description=parse.clean_text(bronze.description.cast("string")),
        _quantity_text=parse.decimal_comma_to_point(
            parse.clean_text(bronze.quantity.cast("string")), quantity_comma
        ),
        _price_text=parse.decimal_comma_to_point(
            parse.clean_text(bronze.unit_price.cast("string")), comma
        ),
        _date_text=parse.clean_text(bronze.invoice_date.cast("string")),
        _customer_text=parse.clean_text(bronze.customer_id.cast("string")),
        _country_text=parse.clean_text(bronze.country.cast("string")),
        raw_quantity=bronze.quantity.cast("string"),
        raw_unit_price=bronze.unit_price.cast("string"),
        raw_invoice_date=bronze.invoice_date.cast("string"),
        raw_country=bronze.country.cast("string"),
        **{c: bronze[c] for c in LINEAGE},
        **({} if day_first is None else {"_day_first": day_first}),
    )
    day_first_line = None if day_first is None else cleaned._day_first
    typed = cleaned.mutate(
        quantity=parse.parse_quantity(cleaned._quantity_text),
        unit_price=parse.parse_price(cleaned._price_text),
        invoice_ts=parse.parse_invoice_ts(
            engine, cleaned._date_text, day_first_line, time_zone=time_zone
        ),
        customer_id=parse.normalise_customer_id(cleaned._customer_text),
        **locate_country(cleaned._country_text),
    ).drop("_quantity_text", "_price_text", "_customer_text", "_country_text")
    # A second projection, so the swapped reading is tried only on the lines whose date did
    # not parse, with the parsed column computed once.
    swapped = parse.parse_invoice_ts(
        engine, typed._date_text, None if day_first is None else typed._day_first, swapped=True
    )
    typed = typed.mutate(
        date_against_file_order=ibis.ifelse(typed.invoice_ts.isnull(), swapped.notnull(), False)
    ).drop("_date_text", *(() if day_first is None else ("_day_first",)))
    return add_derived(typed)


def locate_country(text: ir.StringValue) -> dict[str, ir.StringValue]:
    """Canonical ``country`` and ``country_code`` from the reference, matched on the lower-cased
    text; a name the reference lacks is kept as written, with no code.

    The reference is small (48 spellings), so the lookup is a ``CASE`` in the projection rather
    than a join: no table to register (registering Arrow data makes DuckDB import pandas, a
    second of start-up, and costs a pandas round trip on Spark), and the most common country
    (listed first) matches on the first comparison."""
    lookup = country_lookup()
    keys = lookup.column("_country_key").to_pylist()
    names = lookup.column("_country_name").to_pylist()
    codes = lookup.column("_iso2").to_pylist()
    lowered = ascii_lower(text)
    name: ir.StringValue = lowered.substitute(dict(zip(keys, names, strict=True)), else_=text)
    code: ir.StringValue = lowered.substitute(
        dict(zip(keys, codes, strict=True)), else_=ibis.null("string")
    )
    return {"country": name, "country_code": code}


def add_derived(t: ir.Table) -> ir.Table:
    """``line_amount`` and the flags of the contract (never NULL: unknown means False)."""
    exact = t.quantity * t.unit_price
    approx = t.quantity.cast("float64") * t.unit_price.cast("float64")
    line_amount = ibis.ifelse(
        approx.abs() < _MAX_LINE_AMOUNT, exact.cast("decimal(18, 4)"), ibis.null("decimal(18, 4)")
    )
    return t.mutate(
        line_amount=line_amount,
        is_cancellation=t.invoice_no.startswith("C").fill_null(False),
        is_return=(t.quantity < 0).fill_null(False),
        is_adjustment=(
            t.invoice_no.startswith("A")
            | ibis.ifelse(  # a CASE, so only the few 15-character texts reach the case change
                t.description.length() == len(ADJUSTMENT_DESCRIPTION),
                ascii_upper(t.description) == ADJUSTMENT_DESCRIPTION,
                False,
            )
        ).fill_null(False),
        is_non_product=t.stock_code.isin(list(NON_PRODUCT_STOCK_CODES)).fill_null(False),
        is_guest=t.customer_id.isnull(),
    )

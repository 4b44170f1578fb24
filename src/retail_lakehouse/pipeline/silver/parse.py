"""Parsing raw bronze text into typed values, as Ibis expressions that run on every engine.

Every parser is *total*: text that does not fit becomes NULL (and fails the matching quality
rule), it never raises. Engines disagree on lenient casts (``try_cast('3.0' as int)`` is 3 on
DuckDB and NULL on Spark; DuckDB's ``%Y`` accepts ``10``), so each parser first checks the text
against a regular expression that both engines read the same way (no ``\\s``, ``\\v`` or
possessive syntax: RE2 and java.util.regex differ there), and only then casts text that is
known to be well formed.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from retail_lakehouse.engines import Engine

_WS = "[ \\t\\r\\n\\f]"
"""Whitespace trimmed from every value (explicit, so RE2 and Java agree)."""

EXCEL_EPOCH_UNIX_DAYS = 25569
"""Days from Excel's day zero (1899-12-30, the 1900 leap-year bug included) to 1970-01-01."""

# (guard regex on the normalised text, strftime format) in the order they are tried.
DATE_LAYOUTS: tuple[tuple[str, str], ...] = (
    (r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}$", "%m/%d/%Y %H:%M"),
    (r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}$", "%m/%d/%Y %H:%M:%S"),
    (r"^\d{1,2}/\d{1,2}/\d{2} \d{1,2}:\d{2}$", "%m/%d/%y %H:%M"),
    (r"^\d{1,2}/\d{1,2}/\d{2} \d{1,2}:\d{2}:\d{2}$", "%m/%d/%y %H:%M:%S"),
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%m/%d/%Y"),
    (r"^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}:\d{2}$", "%Y-%m-%d %H:%M:%S"),
    (r"^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}$", "%Y-%m-%d %H:%M"),
    (r"^\d{4}-\d{1,2}-\d{1,2}$", "%Y-%m-%d"),
)
"""Layouts of ``invoice_date`` seen in the real exports: US month-first with 4- or 2-digit
years and optional zero-padded hours, ISO (``T`` or space, optional fraction and ``Z``)."""

EXCEL_SERIAL = r"^\d{1,7}(\.\d+)?$"
"""An Excel date serial as text (days since 1899-12-30, the time as the fraction)."""

_QUANTITY = r"^[+-]?(\d{1,3}(,\d{3})+|\d{1,18})(\.0*)?$"
_PRICE = r"^[+-]?((\d{1,3}(,\d{3}){1,3}|\d{1,12})(\.\d{0,12})?|\.\d{1,12})$"
_CURRENCY_AND_SPACES = "[£$€ \\t\\r\\n\\f]"


def clean_text(raw: ir.StringValue) -> ir.StringValue:
    """Trim surrounding whitespace; empty text becomes NULL (a missing value)."""
    trimmed: ir.StringValue = raw.re_replace(f"^{_WS}+|{_WS}+$", "")
    return trimmed.nullif("")


def clean_code(raw: ir.StringValue) -> ir.StringValue:
    """Identifiers (invoice numbers, stock codes): trimmed, upper case, NULL when empty."""
    return clean_text(raw).upper()


def parse_quantity(text: ir.StringValue) -> ir.IntegerValue:
    """Whole numbers only: ``3``, ``-3``, ``+3``, ``3.0``, ``1,000`` (after trimming).

    ``3.5`` is refused (NULL): a fractional quantity is a data error, not something to round."""
    valid = text.re_search(_QUANTITY)
    digits = text.re_replace(r"[,+]|\.0*$", "")
    result: ir.IntegerValue = ibis.ifelse(valid, digits.try_cast("int64"), ibis.null("int64"))
    return result


def parse_price(text: ir.StringValue) -> ir.DecimalValue:
    """Decimal(18,4) from text with currency symbols (£ $ €), spaces and thousands separators.

    A comma that is not a thousands separator (``2,55``) makes the value unparseable rather than
    silently a hundred times larger."""
    stripped = text.re_replace(_CURRENCY_AND_SPACES, "")
    valid = stripped.re_search(_PRICE)
    number = stripped.re_replace(r"[,+]", "")
    result: ir.DecimalValue = ibis.ifelse(
        valid, number.try_cast("decimal(18, 4)"), ibis.null("decimal(18, 4)")
    )
    return result


def normalise_customer_id(text: ir.StringValue) -> ir.StringValue:
    """``17850.0`` (a number that went through a spreadsheet) becomes ``17850``."""
    result: ir.StringValue = ibis.ifelse(
        text.re_search(r"^\d+\.0+$"), text.re_replace(r"\.0+$", ""), text
    )
    return result


def parse_invoice_ts(engine: Engine, text: ir.StringValue) -> ir.TimestampValue:
    """Wall-clock timestamp from any supported layout, or NULL.

    ISO text is normalised first (``T`` to a space, fractional seconds and a trailing ``Z``
    dropped: exports carry minute precision). Each layout is tried only when its guard regex
    matches, so both engines accept exactly the same texts."""
    iso = text.re_replace(r"^(\d{4}-\d{1,2}-\d{1,2})T", "$1 ").re_replace(
        r"^(\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}:\d{2})\.\d+", "$1"
    )
    iso = iso.re_replace(r"^(\d{4}-\d{1,2}-\d{1,2} [0-9:]+)Z$", "$1")
    branches: list[tuple[ir.BooleanValue, ir.TimestampValue]] = [
        (iso.re_search(guard), engine.try_timestamp(iso, fmt)) for guard, fmt in DATE_LAYOUTS
    ]
    branches.append((text.re_search(EXCEL_SERIAL), excel_serial_to_ts(text)))
    result: ir.TimestampValue = ibis.cases(*branches, else_=ibis.null("timestamp"))
    return result


def excel_serial_to_ts(text: ir.StringValue) -> ir.TimestampValue:
    """Excel serial day number (as text) to a timestamp, rounded to the second.

    Only called on text that matched :data:`EXCEL_SERIAL`; serials before 1900-03-01 (day 61)
    are refused because Excel's fictitious 1900-02-29 makes them ambiguous."""
    days = text.try_cast("float64")
    seconds = ((days - EXCEL_EPOCH_UNIX_DAYS) * 86400).round().cast("int64")
    ts: ir.TimestampValue = seconds.as_timestamp("s").cast("timestamp")
    result: ir.TimestampValue = ibis.ifelse(
        (days >= 61) & (days < 2958466), ts, ibis.null("timestamp")
    )
    return result

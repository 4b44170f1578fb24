"""Parsing raw bronze text into typed values, as Ibis expressions that run on every engine.

Every parser is *total*: text that does not fit becomes NULL (and fails the matching quality
rule), it never raises. Engines disagree on lenient casts (``try_cast('3.0' as int)`` is 3 on
DuckDB and NULL on Spark; DuckDB's ``%Y`` accepts ``10``), so each parser first checks the text
against a regular expression that both engines read the same way (no ``\\s``, ``\\v`` or
back-references: RE2 and java.util.regex differ there), and only then casts text that is known
to be well formed.

Speed matters (half a million lines in well under a second): the parsers take text that was
cleaned in an earlier projection (:func:`clean_text`), so the trimming
is not repeated inside every branch, and each has a cheap fast path for the common layout, with
the general handling evaluated only for the lines that miss it.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from retail_lakehouse.engines import Engine
from retail_lakehouse.pipeline.text import WHITESPACE_CLASS, strip_whitespace

EXCEL_EPOCH_UNIX_DAYS = 25569
"""Days from Excel's day zero (1899-12-30, the 1900 leap-year bug included) to 1970-01-01."""

US_DATE_LAYOUTS: tuple[tuple[str, str], ...] = (
    (r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}$", "%m/%d/%Y %H:%M"),
    (r"^\d{1,2}/\d{1,2}/\d{2} \d{1,2}:\d{2}$", "%m/%d/%y %H:%M"),
    (r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}$", "%m/%d/%Y %H:%M:%S"),
    (r"^\d{1,2}/\d{1,2}/\d{2} \d{1,2}:\d{2}:\d{2}$", "%m/%d/%y %H:%M:%S"),
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%m/%d/%Y"),
)
"""Month-first layouts of the real exports, most common first; each is tried only when its guard
matches, so a two-digit year is never read as year 10 (DuckDB's ``%Y`` would)."""


def _day_first(fmt: str) -> str:
    """The day-first twin of a month-first format (``%m/%d/%Y`` -> ``%d/%m/%Y``)."""
    return fmt.replace("%m", "\0").replace("%d", "%m").replace("\0", "%d")


def _separated(layouts: tuple[tuple[str, str], ...], sep: str) -> tuple[tuple[str, str], ...]:
    pattern = {".": r"\.", "-": "-"}[sep]
    return tuple((guard.replace("/", pattern), fmt.replace("/", sep)) for guard, fmt in layouts)


def _timed(layouts: tuple[tuple[str, str], ...], sep: str) -> tuple[tuple[str, str], ...]:
    """The layouts that have a time, with ``sep`` between hours and minutes (and seconds;
    ``08h26`` has none)."""
    pattern = {".": r"\.", "h": "h"}[sep]
    return tuple(
        (guard.replace(":", pattern), fmt.replace(":", sep))
        for guard, fmt in layouts
        if fmt.count(":") == 1 or (sep != "h" and ":" in fmt)
    )


_COLON_DAY_MONTH = (
    US_DATE_LAYOUTS + _separated(US_DATE_LAYOUTS, ".") + _separated(US_DATE_LAYOUTS, "-")
)
DAY_MONTH_LAYOUTS: tuple[tuple[str, str], ...] = (
    _COLON_DAY_MONTH + _timed(_COLON_DAY_MONTH, ".") + _timed(_COLON_DAY_MONTH, "h")
)
"""The same layouts with ``/``, ``.`` (``01.12.2010 08:26``) and ``-`` between the numbers, and
``:``, ``.`` (``01.12.2010 08.26``) or ``h`` (``01/12/2010 08h26``) between hours and minutes
(:data:`~retail_lakehouse.sources.formats.TIME_SEPARATORS`), as month-first formats; a
day-first file reads them with day and month swapped (:func:`_day_first`). The slash layouts
with a colon come first: most lines stop at the first guard, and the others cost only the lines
that missed every guard before them."""

_YEAR_FIRST: tuple[tuple[str, str], ...] = (
    (r"^\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}$", "%Y/%m/%d %H:%M"),
    (r"^\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}:\d{2}$", "%Y/%m/%d %H:%M:%S"),
    (r"^\d{4}/\d{1,2}/\d{1,2}$", "%Y/%m/%d"),
)
_COLON_YEAR_FIRST = _YEAR_FIRST + _separated(_YEAR_FIRST, ".")
YEAR_FIRST_LAYOUTS: tuple[tuple[str, str], ...] = (
    _COLON_YEAR_FIRST + _timed(_COLON_YEAR_FIRST, ".") + _timed(_COLON_YEAR_FIRST, "h")
)
"""Year-first dates with ``/`` or ``.`` (``2010/12/01 08:26``, ``2010.12.01 08.26``); ISO's
``-`` is :data:`ISO_DATE`."""

ISO_DATE = r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
"""ISO 8601 as spreadsheets and JSON write it, without a zone: ``2010-12-01 08:26:00``,
``2010-12-01T08:26``, an optional fraction (truncated to the second). A wall clock, taken as
the lake's ``time_zone`` already."""

_ZONE_DESIGNATOR = r"([Zz]|[+-](0\d|1[0-8])(:?[0-5]\d)?)$"
ISO_INSTANT = r"^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?" + _ZONE_DESIGNATOR
"""ISO 8601 / RFC 3339 with a zone designator: ``...T08:26:00Z``, ``+01:00``, ``+0100``,
``-05`` (offsets up to 18 hours, as java.time allows). An instant: converted to the lake's
``time_zone`` (decision 0017, addendum on the lake's time zone)."""

EXCEL_SERIAL = r"^\d{1,7}(\.\d+)?$"
"""An Excel date serial as text (days since 1899-12-30, the time as the fraction)."""

_INT_FAST = r"^-?\d{1,18}$"
_INT_FULL = r"^[+-]?(\d{1,3}(,\d{3})+|\d{1,18})(\.0*)?$"
_DEC_FAST = r"^-?\d{1,12}(\.\d{1,12})?$"
_DEC_FULL = r"^[+-]?((\d{1,3}(,\d{3}){1,3}|\d{1,12})(\.\d{0,12})?|\.\d{1,12})$"
_CURRENCY_AND_SPACES = f"[£$€{WHITESPACE_CLASS}]"


def clean_text(raw: ir.StringValue) -> ir.StringValue:
    """Trim surrounding whitespace (as :mod:`retail_lakehouse.pipeline.text` defines it);
    empty text becomes NULL (a missing value)."""
    trimmed: ir.StringValue = strip_whitespace(raw)
    return trimmed.nullif("")


def parse_quantity(text: ir.StringValue) -> ir.IntegerValue:
    """Whole numbers only: ``3``, ``-3``, ``+3``, ``3.0``, ``1,000`` (``text`` is cleaned).

    ``3.5`` is refused (NULL): a fractional quantity is a data error, not something to round."""
    general = text.re_replace(r"[,+]|\.0*$", "").try_cast("int64")
    result: ir.IntegerValue = ibis.cases(
        (text.re_search(_INT_FAST), text.try_cast("int64")),
        (text.re_search(_INT_FULL), general),
        else_=ibis.null("int64"),
    )
    return result


def decimal_comma_to_point(text: ir.StringValue, comma: ir.BooleanValue | None) -> ir.StringValue:
    """Numbers of a decimal-comma file (``1.234,50``) respelled with a decimal point
    (``1,234.50``) by swapping the two characters, so one parser reads both conventions; a
    value that contradicts its file (``2.55`` in a decimal-comma file becomes ``2,55``) stays
    unparseable instead of being read a hundred times too large. ``comma`` is None when no
    file of the pass uses a decimal comma (nothing to do)."""
    if comma is None:
        return text
    result: ir.StringValue = ibis.ifelse(comma, text.translate(".,", ",."), text)
    return result


def parse_price(text: ir.StringValue) -> ir.DecimalValue:
    """Decimal(18,4) from text with currency symbols (£ $ €), spaces and thousands separators.

    A comma that is not a thousands separator (``2,55``) makes the value unparseable rather than
    silently a hundred times larger."""
    stripped = text.re_replace(_CURRENCY_AND_SPACES, "")
    general = ibis.ifelse(
        stripped.re_search(_DEC_FULL),
        stripped.re_replace(r"[,+]", "").try_cast("decimal(18, 4)"),
        ibis.null("decimal(18, 4)"),
    )
    result: ir.DecimalValue = ibis.ifelse(
        text.re_search(_DEC_FAST), text.try_cast("decimal(18, 4)"), general
    )
    return result


def normalise_customer_id(text: ir.StringValue) -> ir.StringValue:
    """``17850.0`` (a number that went through a spreadsheet) becomes ``17850``."""
    result: ir.StringValue = ibis.ifelse(
        text.contains(".") & text.re_search(r"^\d+\.0+$"), text.re_replace(r"\.0+$", ""), text
    )
    return result


def parse_invoice_ts(
    engine: Engine,
    text: ir.StringValue,
    day_first: ir.BooleanValue | None = None,
    *,
    swapped: bool = False,
    time_zone: str = "UTC",
) -> ir.TimestampValue:
    """Wall-clock timestamp from any supported layout, or NULL (``text`` is cleaned).

    The wall clock is the lake's ``time_zone`` (an IANA name): text without a zone is taken as
    already in it, an ISO instant (``Z``, ``+01:00``) is converted into it
    (:func:`zoned_to_wall_clock`).

    Day and month are read in the order of the line's file: month first, or day first where
    ``day_first`` is TRUE (None: no file of the pass is day first). A value that does not fit
    its file's order (``25/12/2010`` in a month-first file) is NULL, never swapped; with
    ``swapped`` the other order is used, which is how silver tells such a line apart.

    Each layout is tried only when its guard regex matches, so both engines accept exactly the
    same texts; the common layout is tested first, so most lines cost one regex and one parse."""

    def read(fmt: str) -> ir.TimestampValue:
        month_first = engine.try_timestamp(text, fmt)
        other = engine.try_timestamp(text, _day_first(fmt))
        if swapped:
            month_first, other = other, month_first
        if day_first is None:
            return month_first
        result: ir.TimestampValue = ibis.ifelse(day_first, other, month_first)
        return result

    branches: list[tuple[ir.BooleanValue, ir.TimestampValue]] = [
        (text.re_search(guard), read(fmt)) for guard, fmt in DAY_MONTH_LAYOUTS
    ]
    if swapped:
        result: ir.TimestampValue = ibis.cases(*branches, else_=ibis.null("timestamp"))
        return within_years(result)
    branches += [
        (text.re_search(guard), engine.try_timestamp(text, fmt))
        for guard, fmt in YEAR_FIRST_LAYOUTS
    ]
    branches.append((text.re_search(ISO_DATE), _iso_wall_clock(engine, text)))
    branches.append((text.re_search(ISO_INSTANT), zoned_to_wall_clock(engine, text, time_zone)))
    branches.append((text.re_search(EXCEL_SERIAL), excel_serial_to_ts(engine, text)))
    parsed: ir.TimestampValue = ibis.cases(*branches, else_=ibis.null("timestamp"))
    return within_years(parsed)


def _iso_wall_clock(engine: Engine, text: ir.StringValue) -> ir.TimestampValue:
    """An ISO date or date-time without its zone designator, to the second."""
    iso = text.replace("T", " ").substr(0, 19)
    result: ir.TimestampValue = ibis.coalesce(
        engine.try_timestamp(iso, "%Y-%m-%d %H:%M:%S"),
        engine.try_timestamp(iso, "%Y-%m-%d %H:%M"),
        engine.try_timestamp(iso, "%Y-%m-%d"),
    )
    return result


def zoned_to_wall_clock(engine: Engine, text: ir.StringValue, zone: str) -> ir.TimestampValue:
    """An ISO instant (text matching :data:`ISO_INSTANT`) as the wall clock of ``zone``.

    The written clock minus the written offset is UTC (``08:26+01:00`` is ``07:26`` UTC),
    computed in whole seconds so both engines do the same integer arithmetic; the engine then
    converts UTC to ``zone`` with its time-zone database (:meth:`Engine.wall_clock`), skipped
    for UTC. Converting an instant to a wall clock is always defined: around a clock change
    two instants can show the same wall clock (the repeated hour), never none."""
    designator = text.re_extract(_ZONE_DESIGNATOR, 1)
    digits = designator.re_replace(r"[^0-9]", "")  # "" for Z, "01", "0100"
    hours = digits.substr(0, 2).nullif("").cast("int64").fill_null(0)
    minutes = digits.substr(2, 2).nullif("").cast("int64").fill_null(0)
    offset = (hours * 3600 + minutes * 60) * ibis.ifelse(designator.startswith("-"), -1, 1)
    written = _iso_wall_clock(engine, text.re_replace(_ZONE_DESIGNATOR, ""))
    utc = engine.timestamp_from_seconds(written.epoch_seconds().cast("int64") - offset)
    if zone == "UTC":
        return utc
    return engine.wall_clock(utc, zone)


FIRST_YEAR, LAST_YEAR = 1900, 2099
"""Instants outside these years are not read as dates (NULL: quarantined by
``invoice_date_parseable``, the file's text kept in ``raw_invoice_date``). Gold's calendar and
the cohort triangle are dense from the data's first to its last month, so one line dated 0001
and one dated 9999 made ``dim_date`` 3.65 million rows and the triangle 120,000 from three lines
(one customer per month of such a span would ask for billions); the timeliness rules only warn.
Two hundred years bound both (73,000 days, 2,400 months) and hold every real sales history
(Excel's serials start in 1900)."""


def within_years(ts: ir.TimestampValue) -> ir.TimestampValue:
    """``ts`` when its year lies in :data:`FIRST_YEAR`..:data:`LAST_YEAR`, else NULL."""
    year = ts.year()
    kept: ir.TimestampValue = ibis.ifelse(
        (year >= FIRST_YEAR) & (year <= LAST_YEAR), ts, ibis.null("timestamp")
    )
    return kept


def excel_serial_to_ts(engine: Engine, text: ir.StringValue) -> ir.TimestampValue:
    """Excel serial day number (as text) to a timestamp, rounded to the second.

    Only called on text that matched :data:`EXCEL_SERIAL`; serials before 1900-03-01 (day 61)
    are refused because Excel's fictitious 1900-02-29 makes them ambiguous."""
    days = text.try_cast("float64")
    seconds = ((days - EXCEL_EPOCH_UNIX_DAYS) * 86400).round().cast("int64")
    ts = engine.timestamp_from_seconds(seconds)
    result: ir.TimestampValue = ibis.ifelse(
        (days >= 61) & (days < 2958466), ts, ibis.null("timestamp")
    )
    return result

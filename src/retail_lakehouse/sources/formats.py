"""How a file writes its dates and numbers: detected from the whole column, or declared.

Real exports write ``1/12/2010 8:26`` meaning 1 December (day first), European shops write
``01.12.2010 08:26`` and ``1.234,50``. Reading such a file with the wrong convention is silently
wrong (every line lands in January) or useless (every price unparseable), so the convention is
decided **per file** (per workbook: all sheets together) from its values, before silver parses a
single line, and recorded in ``bronze.files`` with where it came from:

- ``inferred``: at least one value can only be read one way (``13/12/2010`` is day first,
  ``2,55`` and ``1.234,50`` have a decimal comma) and the other reading has no value at all, or
  so few that they are errors (at most ``max_contradicting_share`` of the deciding values):
  those lines are quarantined by silver, never swapped (fewer than :data:`MIN_MIXED_LINES`
  such values are always taken as line errors);
- ``declared``: the user said so (``retail ingest --date-order dmy --decimal ,`` or a
  ``[[formats.sources]]`` rule in ``retail.toml``);
- ``assumed``: nothing decides (every date reads both ways, e.g. only days 1 to 12) and nothing
  was declared: the configured default (``mdy``, the UCI convention; ``.`` for decimals) is used
  and the user is told how to declare the order.

Detection is vectorised: :class:`FormatEvidence` runs a few Polars regular expressions over each
chunk the reader produces (every line of the file, not a sample that could miss the one deciding
value) and keeps only counts and two example lines per kind; :func:`decide` turns the counts into
:class:`Formats` or refuses the file (:class:`~retail_lakehouse.sources.errors.FileRefused`, exit
2) naming the evidence: a column that mixes both orders, a decimal separator that changes
halfway, or a declaration most values contradict.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from retail_lakehouse.sources.errors import FileRefused

DateOrder = Literal["mdy", "dmy", "ymd"]
Decimal = Literal[".", ","]
Source = Literal["declared", "inferred", "assumed"]
DATE_ORDERS: tuple[DateOrder, ...] = ("mdy", "dmy", "ymd")
DECIMALS: tuple[Decimal, ...] = (".", ",")

DEFAULT_DATE_ORDER: DateOrder = "mdy"
DEFAULT_MAX_CONTRADICTING_SHARE = 0.05
MIN_MIXED_LINES = 10
"""Fewer values than this against the majority are line errors (quarantined by silver), not a
file that mixes conventions, however small the file."""

_DATE = (
    r"^(\d{1,4})([./-])(\d{1,2})[./-](\d{1,4})"  # the date: three numbers and a separator
    r"(?:(?:[ T]+)(\d{1,2})(:)\d{2})?"  # optionally the time: hours and minutes
)
_AMBIGUOUS_COMMA = r"^[+-]?[1-9]\d{0,2},\d{3}$"  # 1,234: thousands, or three decimals?
_AMBIGUOUS_POINT = r"^[+-]?[1-9]\d{0,2}\.\d{3}$"
_COMMA_DECIMAL = r"^[+-]?((\d{1,3}(\.\d{3})+|\d+),\d+|\d{1,3}(\.\d{3}){2,})$"
_POINT_DECIMAL = r"^[+-]?((\d{1,3}(,\d{3})+|\d+)\.\d+|\d{1,3}(,\d{3}){2,})$"
_NOISE = r"[£$€\s]"
_EXAMPLES = 2


@dataclass(frozen=True)
class Declared:
    """What a user said about a file (``None``: not said). ``origin`` names where, for
    messages: ``--date-order``, or the ``retail.toml`` rule."""

    date_order: DateOrder | None = None
    decimal: Decimal | None = None
    encoding: str | None = None
    delimiter: str | None = None
    origin: str = ""

    def over(self, other: Declared) -> Declared:
        """This declaration with ``other``'s values where this one says nothing."""
        return Declared(
            self.date_order or other.date_order,
            self.decimal or other.decimal,
            self.encoding or other.encoding,
            self.delimiter or other.delimiter,
            " and ".join(o for o in (self.origin, other.origin) if o),
        )


@dataclass(frozen=True)
class SourceRule:
    """``[[formats.sources]]`` in ``retail.toml``: files whose name matches ``pattern`` (a glob
    on the file name, or on the whole path when it has a ``/``) are read this way."""

    pattern: str
    declared: Declared

    def matches(self, path: Path) -> bool:
        target = path.as_posix() if "/" in self.pattern else path.name
        return fnmatch.fnmatch(target, self.pattern) or fnmatch.fnmatch(
            path.as_posix(), f"*/{self.pattern}"
        )


def declared_for(path: Path, given: Declared, rules: list[SourceRule]) -> Declared:
    """The command line's declaration over the first matching ``retail.toml`` rule."""
    for rule in rules:
        if rule.matches(path):
            return given.over(rule.declared)
    return given


@dataclass(frozen=True)
class FormatOptions:
    """Everything ingest needs to decide a file's formats: the command line's declaration, the
    ``retail.toml`` rules, the default order and the contradiction share (``[formats]``)."""

    given: Declared = Declared()
    rules: tuple[SourceRule, ...] = ()
    default_order: DateOrder = DEFAULT_DATE_ORDER
    max_share: float = DEFAULT_MAX_CONTRADICTING_SHARE

    def declared(self, path: Path) -> Declared:
        return declared_for(path, self.given, list(self.rules))

    @classmethod
    def from_settings(cls, settings: Any, given: Declared | None = None) -> FormatOptions:
        """From ``Settings.formats`` (a :class:`~retail_lakehouse.config.FormatsSettings`)."""
        rules = tuple(
            SourceRule(
                rule.pattern,
                Declared(
                    rule.date_order,
                    rule.decimal,
                    rule.encoding,
                    rule.delimiter,
                    f"retail.toml [[formats.sources]] pattern {rule.pattern!r}",
                ),
            )
            for rule in settings.sources
        )
        return cls(
            given or Declared(),
            rules,
            settings.default_date_order,
            settings.max_contradicting_share,
        )


@dataclass
class Example:
    line: int
    text: str
    part: str | None = None  # the sheet of a workbook

    def __str__(self) -> str:
        where = f"sheet {self.part!r} " if self.part else ""
        return f"{where}line {self.line}: {self.text!r}"


@dataclass
class FormatEvidence:
    """Counts over every line read so far (one :meth:`add` per chunk, vectorised)."""

    dates: Counter[str] = field(default_factory=Counter)
    date_examples: dict[str, list[Example]] = field(default_factory=dict)
    date_separators: Counter[str] = field(default_factory=Counter)
    year_digits: Counter[int] = field(default_factory=Counter)
    with_time: int = 0
    decimals: Counter[str] = field(default_factory=Counter)
    decimal_examples: dict[str, list[Example]] = field(default_factory=dict)
    thousands: Counter[str] = field(default_factory=Counter)

    def add(self, rows: pl.DataFrame, part: str | None = None) -> None:
        """Count the chunk's date and price spellings (``rows`` as the readers produce them:
        text columns and ``_row_number``; ``part``: the sheet of a workbook, for examples)."""
        if rows.height == 0:
            return
        if "invoice_date" in rows.columns:
            self._add_dates(rows, part)
        if "unit_price" in rows.columns:
            self._add_prices(rows, part)

    def _add_dates(self, rows: pl.DataFrame, part: str | None) -> None:
        parts = (
            _distinct(rows, "invoice_date")
            .with_columns(pl.col("text").str.strip_chars().str.extract_groups(_DATE).alias("g"))
            .unnest("g")
        )
        parts.columns = ["text", "n", "lines", "line", "a", "sep", "b", "c", "hour", "colon"]
        a, b = (pl.col(x).cast(pl.Int32, strict=False) for x in ("a", "b"))
        a_len, c_len = pl.col("a").str.len_chars(), pl.col("c").str.len_chars()
        day_first = a.is_between(1, 31) & b.is_between(1, 12)
        month_first = a.is_between(1, 12) & b.is_between(1, 31)
        numeric = (a_len <= 2) & c_len.is_in([2, 4])
        kind = (
            pl.when(a_len == 4)
            .then(pl.lit("ymd"))
            .when(numeric & day_first & month_first)
            .then(pl.lit("ambiguous"))
            .when(numeric & day_first)
            .then(pl.lit("dmy"))
            .when(numeric & month_first)
            .then(pl.lit("mdy"))
        )
        dated = parts.with_columns(kind.alias("kind"), c_len.alias("year_len")).filter(
            pl.col("kind").is_not_null()
        )
        if dated.height == 0:
            return
        _count(self.dates, dated, "kind")
        _keep_examples(self.date_examples, dated, "kind", part)
        _count(self.date_separators, dated, "sep")
        _count(self.year_digits, dated.filter(pl.col("kind") != "ymd"), "year_len")
        self.with_time += int(dated.filter(pl.col("colon").is_not_null())["n"].sum())

    def _add_prices(self, rows: pl.DataFrame, part: str | None) -> None:
        text = pl.col("text").str.replace_all(_NOISE, "")
        kind = (
            pl.when(text.str.contains(_AMBIGUOUS_COMMA) | text.str.contains(_AMBIGUOUS_POINT))
            .then(pl.lit("ambiguous"))
            .when(text.str.contains(_COMMA_DECIMAL))
            .then(pl.lit(","))
            .when(text.str.contains(_POINT_DECIMAL))
            .then(pl.lit("."))
        )
        priced = (
            _distinct(rows, "unit_price")
            .with_columns(
                kind.alias("kind"),
                text.str.contains(r"\d\.\d{3}(,|$)").alias("dot_groups"),
                text.str.contains(r"\d,\d{3}(\.|$)").alias("comma_groups"),
            )
            .filter(pl.col("kind").is_not_null())
        )
        if priced.height == 0:
            return
        _count(self.decimals, priced, "kind")
        _keep_examples(self.decimal_examples, priced, "kind", part)
        comma = priced.filter((pl.col("kind") == ",") & pl.col("dot_groups"))
        point = priced.filter((pl.col("kind") == ".") & pl.col("comma_groups"))
        self.thousands["."] += int(comma["n"].sum())
        self.thousands[","] += int(point["n"].sum())

    # -- the dominant spelling, for the manifest ------------------------------------------
    def date_pattern(self, order: DateOrder) -> str | None:
        """E.g. ``DD.MM.YYYY HH:MM``: how most of the file's dates are written."""
        if not self.dates:
            return None
        sep = self.date_separators.most_common(1)[0][0] if self.date_separators else "/"
        year = "YY" if self.year_digits and self.year_digits.most_common(1)[0][0] == 2 else "YYYY"
        parts = {"mdy": ("MM", "DD", year), "dmy": ("DD", "MM", year), "ymd": ("YYYY", "MM", "DD")}
        date = sep.join(parts[order])
        total = sum(self.dates.values())
        return date + (" HH:MM" if self.with_time * 2 >= total else "")


def _distinct(rows: pl.DataFrame, column: str) -> pl.DataFrame:
    """Each distinct value of ``column`` with its count ``n`` and first ``line``, in file order.

    A chunk of half a million lines has a few thousand distinct dates and prices (one per
    invoice, one per price point), so the regular expressions run on those only."""
    return (
        rows.group_by(pl.col(column).alias("text"))
        .agg(pl.len().alias("n"), pl.col("_row_number").head(_EXAMPLES).alias("lines"))
        .drop_nulls("text")
        .with_columns(pl.col("lines").list.first().alias("line"))
        .sort("line")
    )


def _count(counter: Counter[Any], frame: pl.DataFrame, by: str) -> None:
    """Add the line counts ``n`` of ``frame`` per value of ``by`` to ``counter``."""
    for key, n in frame.group_by(by).agg(pl.col("n").sum()).iter_rows():
        counter[key] += int(n)


def _keep_examples(
    store: dict[str, list[Example]], frame: pl.DataFrame, by: str, part: str | None
) -> None:
    """The first two lines of each kind (the chunks arrive in file order; ``frame`` holds the
    distinct values in order of their first line, each with its first two lines)."""
    firsts = (
        frame.group_by(by, maintain_order=True)
        .head(_EXAMPLES)
        .explode("lines")
        .sort("lines")
        .group_by(by, maintain_order=True)
        .head(_EXAMPLES)
    )
    for kind, line, text in firsts.select(by, "lines", "text").iter_rows():
        kept = store.setdefault(kind, [])
        if len(kept) < _EXAMPLES:
            kept.append(Example(int(line), str(text), part))


@dataclass(frozen=True)
class Formats:
    """The conventions a file's lines are parsed with (columns of ``bronze.files``)."""

    date_order: DateOrder
    date_order_source: Source
    decimal_separator: Decimal
    decimal_separator_source: Source
    date_pattern: str | None = None
    thousands_separator: str | None = None
    notes: tuple[str, ...] = ()

    def manifest_columns(self) -> dict[str, str | None]:
        return {
            "date_order": self.date_order,
            "date_order_source": self.date_order_source,
            "date_pattern": self.date_pattern,
            "decimal_separator": self.decimal_separator,
            "decimal_separator_source": self.decimal_separator_source,
            "thousands_separator": self.thousands_separator,
        }


_ORDER_WORDS = {"mdy": "month first", "dmy": "day first", "ymd": "year first"}


def assumed_note(path: str | Path, order: str) -> str:
    """What a user is told when a file's date order was assumed (ingest output, status)."""
    other = "dmy" if order != "dmy" else "mdy"
    return (
        f"{path}: every date reads both ways (day and month both 12 or less), so they were "
        f"read {_ORDER_WORDS.get(order, order)} ({order}, the default). If the file is written "
        f"otherwise, declare it: retail ingest --date-order {other} {path} (a file already "
        "ingested: retail retract it first), or a [[formats.sources]] rule in retail.toml"
    )


def decide(
    path: Path,
    evidence: FormatEvidence,
    declared: Declared,
    *,
    default_order: DateOrder = DEFAULT_DATE_ORDER,
    max_share: float = DEFAULT_MAX_CONTRADICTING_SHARE,
) -> Formats:
    """The file's conventions from its evidence and what was declared; FileRefused when the
    values cannot be read one consistent way (see the module docstring)."""
    order, order_source, order_note = _decide_order(
        path, evidence, declared, default_order, max_share
    )
    decimal, decimal_source = _decide_decimal(path, evidence, declared, max_share)
    thousands = ("," if decimal == "." else ".") if evidence.thousands.total() else None
    return Formats(
        date_order=order,
        date_order_source=order_source,
        decimal_separator=decimal,
        decimal_separator_source=decimal_source,
        date_pattern=evidence.date_pattern(order),
        thousands_separator=thousands,
        notes=(order_note,) if order_note else (),
    )


def _evidence_text(counts: Counter[str], examples: dict[str, list[Example]], kind: str) -> str:
    shown = "; ".join(str(e) for e in examples.get(kind, []))
    return f"{counts[kind]:,} line(s) ({shown})"


def _decide_order(
    path: Path,
    evidence: FormatEvidence,
    declared: Declared,
    default_order: DateOrder,
    max_share: float,
) -> tuple[DateOrder, Source, str]:
    counts = evidence.dates
    examples = evidence.date_examples
    dated = counts.total()
    if declared.date_order is not None:
        order = declared.date_order
        against = [k for k in ("mdy", "dmy") if k != order and counts[k]]
        if order == "ymd":
            against = [k for k in ("mdy", "dmy", "ambiguous") if counts[k]]
        contradicted = sum(counts[k] for k in against)
        if dated and contradicted > max_share * dated:
            shown = "; ".join(
                f"{_ORDER_WORDS.get(k, 'day/month')}: " + _evidence_text(counts, examples, k)
                for k in against
            )
            raise FileRefused(
                path,
                f"the declared date order {order} ({declared.origin or 'declared'}) is "
                f"contradicted by {contradicted:,} of {dated:,} dated lines "
                f"(more than {max_share:.0%}): {shown}. Declare the order the file is written "
                "in, or fix the file",
            )
        return order, "declared", ""
    mdy, dmy = counts["mdy"], counts["dmy"]
    if mdy and dmy:
        major: DateOrder = "mdy" if mdy >= dmy else "dmy"
        minor = "dmy" if major == "mdy" else "mdy"
        if counts[minor] >= MIN_MIXED_LINES and counts[minor] > max_share * (mdy + dmy):
            raise FileRefused(
                path,
                "the dates mix month-first and day-first spellings: month first only: "
                f"{_evidence_text(counts, examples, 'mdy')}; day first only: "
                f"{_evidence_text(counts, examples, 'dmy')}. Fix the file, or declare its order "
                "(--date-order) to quarantine the lines that contradict it",
            )
        return major, "inferred", ""
    if mdy or dmy:
        return ("mdy" if mdy else "dmy"), "inferred", ""
    if counts["ymd"] and not counts["ambiguous"]:
        return "ymd", "inferred", ""
    note = assumed_note(path, default_order) if counts["ambiguous"] else ""
    return default_order, "assumed", note


def _decide_decimal(
    path: Path, evidence: FormatEvidence, declared: Declared, max_share: float
) -> tuple[Decimal, Source]:
    counts = evidence.decimals
    examples = evidence.decimal_examples
    comma, point = counts[","], counts["."]
    if declared.decimal is not None:
        other = "," if declared.decimal == "." else "."
        priced = counts.total()
        if priced and counts[other] > max_share * priced:
            raise FileRefused(
                path,
                f"the declared decimal separator {declared.decimal!r} "
                f"({declared.origin or 'declared'}) is contradicted by {counts[other]:,} of "
                f"{priced:,} prices written with {other!r} as the decimal separator: "
                f"{_evidence_text(counts, examples, other)}",
            )
        return declared.decimal, "declared"
    if comma and point:
        major: Decimal = "." if point >= comma else ","
        minor = "," if major == "." else "."
        if counts[minor] >= MIN_MIXED_LINES and counts[minor] > max_share * (comma + point):
            raise FileRefused(
                path,
                "the decimal separator changes within the file: a decimal point in "
                f"{_evidence_text(counts, examples, '.')}; a decimal comma in "
                f"{_evidence_text(counts, examples, ',')}. Fix the file, or declare its "
                "separator (--decimal) to quarantine the prices that contradict it",
            )
        return major, "inferred"
    if comma or point:
        return ("," if comma else "."), "inferred"
    return ".", "assumed"

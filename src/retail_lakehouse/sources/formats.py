"""How a file writes its dates and numbers: detected from the whole column, or declared.

Real exports write ``1/12/2010 8:26`` meaning 1 December (day first), European shops write
``01.12.2010 08.26`` and ``1.234,50``. Reading such a file with the wrong convention is silently
wrong (every line lands in January) or useless (every price unparseable), so the convention is
decided **per file, and per sheet of a workbook**, from its values, before silver parses a single
line, and recorded in ``bronze.files`` with where it came from:

- ``inferred``: at least one value can only be read one way (``13/12/2010`` is day first,
  ``2,55`` and ``1.234,50`` have a decimal comma, a quantity ``1.234`` groups thousands with a
  dot) and the other reading has no value at all, or so few that they are errors (at most
  ``max_contradicting_share`` of the deciding values): those lines are quarantined by silver,
  never swapped (fewer than :data:`MIN_MIXED_LINES` such values are always taken as line
  errors);
- ``declared``: the user said so (``retail ingest --date-order dmy --decimal ,`` or a
  ``[[formats.sources]]`` rule in ``retail.toml``; a rule whose pattern names a sheet,
  ``book.xlsx#Early``, declares that sheet only);
- ``assumed``: nothing decides (every date reads both ways, e.g. only days 1 to 12) and nothing
  was declared: the configured default (``mdy``, the UCI convention; ``.`` for decimals) is used
  and the user is told how to declare the order.

Three questions are asked of every file, each of one column and decided the same way
(:func:`_settle`): the date order (``invoice_date``), the decimal separator of the prices
(``unit_price``) and the one of the quantities (``quantity``, whole numbers, so ``1.234`` there
is a thousands dot, whatever the prices do). A column whose values decide nothing follows the
rest of the file (quantities follow the prices; a sheet follows the other sheets of its
workbook), then the default. The time separator (``08:26``, ``08.26``, ``08h26``) is recorded in
``date_pattern``; silver reads every one of them.

Detection is vectorised: :class:`FormatEvidence` runs a few Polars regular expressions over each
chunk the reader produces (every line of the file, on its distinct values, not a sample that
could miss the one deciding value) and keeps only counts and two example lines per kind;
:func:`decide_file` turns the counts into :class:`Formats` or refuses the file
(:class:`~retail_lakehouse.sources.errors.FileRefused`, exit 2) naming the evidence: a column
that mixes both orders, a decimal separator that changes halfway, or a declaration most values
contradict.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from retail_lakehouse.lake.contracts.bronze import FORMAT_COLUMNS, PER_SHEET
from retail_lakehouse.sources.compressed import split_suffix
from retail_lakehouse.sources.errors import FileRefused

if TYPE_CHECKING:  # imported where used: the ingest's parent process never counts (decision 0011)
    import polars as pl

DateOrder = Literal["mdy", "dmy", "ymd"]
Decimal = Literal[".", ","]
Source = Literal["declared", "inferred", "assumed"]
DATE_ORDERS: tuple[DateOrder, ...] = ("mdy", "dmy", "ymd")
DECIMALS: tuple[Decimal, ...] = (".", ",")
TIME_SEPARATORS = (":", ".", "h")
"""Between hours and minutes: ``08:26``, ``08.26`` (German, Danish), ``08h26`` (French)."""

DEFAULT_DATE_ORDER: DateOrder = "mdy"
DEFAULT_MAX_CONTRADICTING_SHARE = 0.05
MIN_MIXED_LINES = 10
"""Fewer values than this against the majority are line errors (quarantined by silver), not a
file that mixes conventions, however small the file."""

_DATE = (
    r"^(\d{1,4})([./-])(\d{1,2})[./-](\d{1,4})"  # the date: three numbers and a separator
    r"(?:(?:[ T]+)(\d{1,2})([:.h])\d{2})?"  # optionally the time: hours, separator, minutes
)
_AMBIGUOUS_COMMA = r"^[+-]?[1-9]\d{0,2},\d{3}$"  # 1,234: thousands, or three decimals?
_AMBIGUOUS_POINT = r"^[+-]?[1-9]\d{0,2}\.\d{3}$"
_COMMA_DECIMAL = r"^[+-]?((\d{1,3}(\.\d{3})+|\d+),\d+|\d{1,3}(\.\d{3}){2,})$"
_POINT_DECIMAL = r"^[+-]?((\d{1,3}(,\d{3})+|\d+)\.\d+|\d{1,3}(,\d{3}){2,})$"
# Quantities are whole numbers: a group of three digits after a separator is thousands
# (``1.234`` is 1234, a fraction would be a data error), except a group of zeros (``1.000``:
# 1000, or 1 written with three decimals?); one, two or four digits are decimals (``3,0``).
_QUANTITY_AMBIGUOUS = r"^[+-]?\d{1,3}[.,]000$"
_QUANTITY_COMMA = r"^[+-]?([1-9]\d{0,2}(\.\d{3})+(,\d+)?|\d+,(\d{1,2}|\d{4,}))$"
_QUANTITY_POINT = r"^[+-]?([1-9]\d{0,2}(,\d{3})+(\.\d+)?|\d+\.(\d{1,2}|\d{4,}))$"
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
    on the file name, or on the whole path when it has a ``/``) are read this way. A pattern
    with ``#`` names sheets of workbooks (``book.xlsx#Early``, ``*.xlsx#2011*``). A compressed
    file matches by its name as given or without its compression suffix: ``"shop_*.csv"``
    covers ``shop_1.csv.gz`` (its content is that CSV)."""

    pattern: str
    declared: Declared

    @property
    def sheets(self) -> bool:
        return "#" in self.pattern

    def matches(self, path: Path) -> bool:
        names = [path] if split_suffix(path)[1] is None else [path, path.with_suffix("")]
        return any(self._matches(name) for name in names)

    def _matches(self, path: Path) -> bool:
        target = path.as_posix() if "/" in self.pattern else path.name
        return fnmatch.fnmatch(target, self.pattern) or fnmatch.fnmatch(
            path.as_posix(), f"*/{self.pattern}"
        )


def declared_for(
    path: Path, given: Declared, rules: list[SourceRule], sheet: str | None = None
) -> Declared:
    """The command line's declaration over the first matching ``retail.toml`` rule; for a
    sheet, over the first rule naming that sheet, then the first naming its file."""
    declared = given
    if sheet is not None:
        named = Path(f"{path}#{sheet}")
        for rule in rules:
            if rule.sheets and rule.matches(named):
                declared = declared.over(rule.declared)
                break
    for rule in rules:
        if not rule.sheets and rule.matches(path):
            return declared.over(rule.declared)
    return declared


@dataclass(frozen=True)
class FormatOptions:
    """Everything ingest needs to decide a file's formats: the command line's declaration, the
    ``retail.toml`` rules, the default order and the contradiction share (``[formats]``)."""

    given: Declared = Declared()
    rules: tuple[SourceRule, ...] = ()
    default_order: DateOrder = DEFAULT_DATE_ORDER
    max_share: float = DEFAULT_MAX_CONTRADICTING_SHARE

    def declared(self, path: Path, sheet: str | None = None) -> Declared:
        return declared_for(path, self.given, list(self.rules), sheet)

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
class Tally:
    """How many lines of a column were written each way, with the first two of each kind."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[Example]] = field(default_factory=dict)
    thousands: int = 0  # lines whose number groups thousands

    def add(self, frame: pl.DataFrame, part: str | None) -> None:
        """``frame``: distinct values with ``kind``, line count ``n``, first ``lines``."""
        _count(self.counts, frame, "kind")
        _keep_examples(self.examples, frame, "kind", part)

    def absorb(self, other: Tally) -> None:
        self.counts.update(other.counts)
        for kind, found in other.examples.items():
            kept = self.examples.setdefault(kind, [])
            kept.extend(found[: _EXAMPLES - len(kept)])
        self.thousands += other.thousands

    def evidence(self, kind: str) -> str:
        shown = "; ".join(str(e) for e in self.examples.get(kind, []))
        return f"{self.counts[kind]:,} line(s) ({shown})"


@dataclass
class FormatEvidence:
    """Counts over every line of one file or sheet read so far (one :meth:`add` per chunk,
    vectorised)."""

    dates: Tally = field(default_factory=Tally)
    date_separators: Counter[str] = field(default_factory=Counter)
    time_separators: Counter[str] = field(default_factory=Counter)
    year_digits: Counter[int] = field(default_factory=Counter)
    prices: Tally = field(default_factory=Tally)
    quantities: Tally = field(default_factory=Tally)
    undated: int = 0
    """Lines whose date is no date in either order (``13/45/2011``), or not a date at all:
    they decide nothing, and the note of an assumed order must not count them as both ways."""
    undated_example: Example | None = None

    def add(self, rows: pl.DataFrame, part: str | None = None) -> None:
        """Count the chunk's date, price and quantity spellings (``rows`` as the readers produce
        them: text columns and ``_row_number``; ``part``: the sheet of a workbook, for
        examples)."""
        if rows.height == 0:
            return
        if "invoice_date" in rows.columns:
            self._add_dates(rows, part)
        if "unit_price" in rows.columns:
            self._add_numbers(self.prices, rows, "unit_price", part, _price_kind())
        if "quantity" in rows.columns:
            self._add_numbers(self.quantities, rows, "quantity", part, _quantity_kind())

    def absorb(self, other: FormatEvidence) -> None:
        """Add ``other``'s counts (another sheet of the same workbook)."""
        self.dates.absorb(other.dates)
        self.prices.absorb(other.prices)
        self.quantities.absorb(other.quantities)
        self.date_separators.update(other.date_separators)
        self.time_separators.update(other.time_separators)
        self.year_digits.update(other.year_digits)
        self.undated += other.undated
        if self.undated_example is None:
            self.undated_example = other.undated_example

    def _add_dates(self, rows: pl.DataFrame, part: str | None) -> None:
        import polars as pl

        parts = (
            _distinct(rows, "invoice_date")
            .with_columns(pl.col("text").str.strip_chars().str.extract_groups(_DATE).alias("g"))
            .unnest("g")
        )
        parts.columns = ["text", "n", "lines", "line", "a", "sep", "b", "c", "hour", "tsep"]
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
        kinds = parts.with_columns(kind.alias("kind"), c_len.alias("year_len"))
        undated = kinds.filter(pl.col("kind").is_null())
        if undated.height:
            self.undated += int(undated["n"].sum())
            if self.undated_example is None:
                first = undated.row(0, named=True)  # distinct values in file order
                self.undated_example = Example(int(first["line"]), str(first["text"]), part)
        dated = kinds.filter(pl.col("kind").is_not_null())
        if dated.height == 0:
            return
        self.dates.add(dated, part)
        _count(self.date_separators, dated, "sep")
        _count(self.year_digits, dated.filter(pl.col("kind") != "ymd"), "year_len")
        _count(self.time_separators, dated.filter(pl.col("tsep").is_not_null()), "tsep")

    @staticmethod
    def _add_numbers(
        tally: Tally,
        rows: pl.DataFrame,
        column: str,
        part: str | None,
        kind: pl.Expr,
    ) -> None:
        import polars as pl

        text = pl.col("text").str.replace_all(_NOISE, "")
        counted = (
            _distinct(rows, column)
            .with_columns(kind.alias("kind"))
            .filter(pl.col("kind").is_not_null())
        )
        if counted.height == 0:
            return
        tally.add(counted, part)
        # thousands grouped with the other separator than the decimal one
        grouped = counted.filter(
            ((pl.col("kind") == ",") & text.str.contains(r"\d\.\d{3}(,|$)"))
            | ((pl.col("kind") == ".") & text.str.contains(r"\d,\d{3}(\.|$)"))
        )
        tally.thousands += int(grouped["n"].sum())

    # -- the dominant spelling, for the manifest ------------------------------------------
    def date_pattern(self, order: str) -> str | None:
        """E.g. ``DD.MM.YYYY HH.MM``: how most of the file's dates are written."""
        if not self.dates.counts or order not in DATE_ORDERS:
            return None
        sep = self.date_separators.most_common(1)[0][0] if self.date_separators else "/"
        year = "YY" if self.year_digits and self.year_digits.most_common(1)[0][0] == 2 else "YYYY"
        parts = {"mdy": ("MM", "DD", year), "dmy": ("DD", "MM", year), "ymd": ("YYYY", "MM", "DD")}
        date = sep.join(parts[order])
        timed = self.time_separators.total()
        if timed * 2 < self.dates.counts.total():
            return date
        return f"{date} HH{self.time_separators.most_common(1)[0][0]}MM"


def _price_kind() -> pl.Expr:
    import polars as pl

    text = pl.col("text").str.replace_all(_NOISE, "")
    return (
        pl.when(text.str.contains(_AMBIGUOUS_COMMA) | text.str.contains(_AMBIGUOUS_POINT))
        .then(pl.lit("ambiguous"))
        .when(text.str.contains(_COMMA_DECIMAL))
        .then(pl.lit(","))
        .when(text.str.contains(_POINT_DECIMAL))
        .then(pl.lit("."))
    )


def _quantity_kind() -> pl.Expr:
    import polars as pl

    text = pl.col("text").str.replace_all(_NOISE, "")
    return (
        pl.when(text.str.contains(_QUANTITY_AMBIGUOUS))
        .then(pl.lit("ambiguous"))
        .when(text.str.contains(_QUANTITY_COMMA))
        .then(pl.lit(","))
        .when(text.str.contains(_QUANTITY_POINT))
        .then(pl.lit("."))
    )


@dataclass
class FileEvidence:
    """:class:`FormatEvidence` per sheet of a workbook (``None``: a file without sheets)."""

    parts: dict[str | None, FormatEvidence] = field(default_factory=dict)

    def add(self, rows: pl.DataFrame, part: str | None = None) -> None:
        self.parts.setdefault(part, FormatEvidence()).add(rows, part)

    def whole(self) -> FormatEvidence:
        merged = FormatEvidence()
        for found in self.parts.values():
            merged.absorb(found)
        return merged

    @property
    def sheets(self) -> list[str]:
        return [p for p in self.parts if p is not None]


def _distinct(rows: pl.DataFrame, column: str) -> pl.DataFrame:
    """Each distinct value of ``column`` with its count ``n`` and first ``line``, in file order.

    A chunk of half a million lines has a few thousand distinct dates and prices (one per
    invoice, one per price point), so the regular expressions run on those only."""
    import polars as pl

    return (
        rows.group_by(pl.col(column).alias("text"))
        .agg(pl.len().alias("n"), pl.col("_row_number").head(_EXAMPLES).alias("lines"))
        .drop_nulls("text")
        .with_columns(pl.col("lines").list.first().alias("line"))
        .sort("line")
    )


def _count(counter: Counter[Any], frame: pl.DataFrame, by: str) -> None:
    """Add the line counts ``n`` of ``frame`` per value of ``by`` to ``counter``."""
    import polars as pl

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
    """The conventions a file's (or a sheet's) lines are parsed with (columns of
    ``bronze.files``). A workbook whose sheets differ holds :data:`PER_SHEET` where they do,
    and each sheet's own in ``sheets``."""

    date_order: str
    date_order_source: str
    decimal_separator: str
    decimal_separator_source: str
    date_pattern: str | None = None
    thousands_separator: str | None = None
    quantity_decimal_separator: str | None = None
    quantity_decimal_separator_source: str | None = None
    quantity_thousands_separator: str | None = None
    notes: tuple[str, ...] = ()
    sheets: tuple[tuple[str, Formats], ...] = ()
    undated_lines: int = 0
    undated_example: str | None = None

    def columns(self) -> dict[str, str | None]:
        """The manifest's format columns of this file or sheet."""
        return {name: getattr(self, name) for name in FORMAT_COLUMNS}

    def manifest_columns(self) -> dict[str, Any]:
        sheets = [{"sheet": name, **formats._recorded()} for name, formats in self.sheets]
        return {**self._recorded(), "sheet_formats": sheets or None}

    def _recorded(self) -> dict[str, Any]:
        """The format columns and the undated lines, which ``retail status`` rebuilds the
        assumed-order note from (:func:`assumed_note`)."""
        undated = {"undated_lines": self.undated_lines, "undated_example": self.undated_example}
        return {**self.columns(), **undated}


_ORDER_WORDS = {"mdy": "month first", "dmy": "day first", "ymd": "year first"}


def assumed_note(
    path: str | Path,
    order: str,
    sheet: str | None = None,
    undated: int = 0,
    example: Example | str | None = None,
) -> str:
    """What a user is told when a file's (or a sheet's) date order was assumed (ingest output,
    status). ``undated``: lines whose date reads in neither order, said first, so that "every
    other date reads both ways" stays true of a file holding ``13/45/2011``."""
    other = "dmy" if order != "dmy" else "mdy"
    every = "every"
    if undated:
        shown = f" ({example})" if example is not None else ""
        every = f"{undated:,} line(s) have a date that reads neither way{shown}; every other"
    if sheet is not None:
        name = Path(str(path)).name
        return (
            f"{path} sheet {sheet!r}: {every} date of the sheet reads both ways (day and month "
            f"both 12 or less), so they were read {_ORDER_WORDS.get(order, order)} ({order}, "
            f"the default). If the sheet is written otherwise, declare it: a [[formats.sources]] "
            f'rule in retail.toml with pattern = "{name}#{sheet}" and date_order = "{other}", '
            f"or retail ingest --date-order {other} {path} when every sheet is written so (a "
            "file already ingested: retail retract it first)"
        )
    return (
        f"{path}: {every} date reads both ways (day and month both 12 or less), so they were "
        f"read {_ORDER_WORDS.get(order, order)} ({order}, the default). If the file is written "
        f"otherwise, declare it: retail ingest --date-order {other} {path} (a file already "
        "ingested: retail retract it first), or a [[formats.sources]] rule in retail.toml"
    )


# -- deciding ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Question:
    """One convention asked of one column, with the words its messages use."""

    what: str  # "date order"
    option: str  # "--date-order"
    rivals: tuple[str, str]  # the two readings that exclude each other
    words: dict[str, str]  # a kind of value, in words
    mixed: str  # the refusal of a file that writes both
    sides: dict[str, str]  # each side of that refusal, in words
    counted: str  # "dated lines"
    lines: str  # "lines", "prices"
    unquoted: bool = False

    def against(self, declared: str) -> tuple[str, ...]:
        """The kinds of value that contradict a declaration."""
        if declared == "ymd":
            return ("mdy", "dmy", "ambiguous")
        return tuple(k for k in self.rivals if k != declared)

    def show(self, value: str) -> str:
        return value if self.unquoted else repr(value)


_DATE_ORDER = _Question(
    "date order",
    "--date-order",
    ("mdy", "dmy"),
    {"mdy": "month first", "dmy": "day first", "ambiguous": "day/month"},
    "the dates mix month-first and day-first spellings",
    {"mdy": "month first only:", "dmy": "day first only:"},
    "dated lines",
    "lines",
    unquoted=True,
)
_DECIMAL = _Question(
    "decimal separator",
    "--decimal",
    (".", ","),
    {".": "a decimal point", ",": "a decimal comma"},
    "the decimal separator changes within the file",
    {".": "a decimal point in", ",": "a decimal comma in"},
    "prices",
    "prices",
)
_QUANTITY = _Question(
    "decimal separator",
    "--decimal",
    (".", ","),
    {".": "a decimal point or comma thousands", ",": "a decimal comma or dot thousands"},
    "the quantities' separators change within the file",
    {".": "a decimal point or comma thousands in", ",": "a decimal comma or dot thousands in"},
    "quantities",
    "quantities",
)


def _settle(
    question: _Question,
    path: Path,
    tally: Tally,
    declared: str | None,
    origin: str,
    max_share: float,
    where: str,
) -> tuple[str, Source] | None:
    """The one way a column decides: a declaration (refused when more than ``max_share`` of
    the deciding values contradict it), else the only reading some value allows (refused when
    the other reading has at least :data:`MIN_MIXED_LINES` values and more than the share),
    else None (the caller's fallback)."""
    counts = tally.counts
    if declared is not None:
        against = [k for k in question.against(declared) if counts[k]]
        contradicted = sum(counts[k] for k in against)
        total = counts.total()
        if total and contradicted > max_share * total:
            shown = "; ".join(f"{question.words[k]}: {tally.evidence(k)}" for k in against)
            raise FileRefused(
                path,
                f"{where}the declared {question.what} {question.show(declared)} "
                f"({origin or 'declared'}) is contradicted by {contradicted:,} of {total:,} "
                f"{question.counted} (more than {max_share:.0%}): {shown}. Declare the "
                f"{question.what} the file is written with, or fix the file",
            )
        return declared, "declared"
    first, second = question.rivals
    if counts[first] and counts[second]:
        major = first if counts[first] >= counts[second] else second
        minor = second if major == first else first
        if counts[minor] >= MIN_MIXED_LINES and counts[minor] > max_share * (
            counts[first] + counts[second]
        ):
            raise FileRefused(
                path,
                f"{where}{question.mixed}: {question.sides[first]} "
                f"{tally.evidence(first)}; {question.sides[second]} "
                f"{tally.evidence(second)}. Fix the file, or declare its {question.what} "
                f"({question.option}) to quarantine the {question.lines} that contradict it",
            )
        return major, "inferred"
    for kind in question.rivals:
        if counts[kind]:
            return kind, "inferred"
    return None


def decide(
    path: Path,
    evidence: FormatEvidence,
    declared: Declared,
    *,
    default_order: DateOrder = DEFAULT_DATE_ORDER,
    max_share: float = DEFAULT_MAX_CONTRADICTING_SHARE,
    sheet: str | None = None,
    workbook: Formats | None = None,
) -> Formats:
    """The conventions of one file, or one ``sheet`` of a workbook, from its evidence and what
    was declared; FileRefused when the values cannot be read one consistent way (see the module
    docstring). A sheet whose values decide nothing follows what ``workbook`` (the decision
    over all its sheets) inferred."""
    where = f"sheet {sheet!r}: " if sheet else ""
    origin = declared.origin
    settled = _settle(
        _DATE_ORDER, path, evidence.dates, declared.date_order, origin, max_share, where
    )
    note = ""
    counts = evidence.dates.counts
    order: tuple[str, Source]
    if settled is not None:
        order = settled
    elif counts["ymd"] and not counts["ambiguous"]:
        order = ("ymd", "inferred")
    elif workbook is not None and workbook.date_order_source == "inferred":
        order = (workbook.date_order, "inferred")
    else:
        order = (default_order, "assumed")
        note = (
            assumed_note(path, default_order, sheet, evidence.undated, evidence.undated_example)
            if counts["ambiguous"]
            else ""
        )
    settled = _settle(_DECIMAL, path, evidence.prices, declared.decimal, origin, max_share, where)
    decimal: tuple[str, Source]
    if settled is not None:
        decimal = settled
    elif workbook is not None and workbook.decimal_separator_source == "inferred":
        decimal = (workbook.decimal_separator, "inferred")
    else:
        decimal = (".", "assumed")
    # Plain whole numbers decide nothing: the quantities are read with the prices' separator.
    quantity = (
        _settle(_QUANTITY, path, evidence.quantities, declared.decimal, origin, max_share, where)
        or decimal
    )
    return Formats(
        date_order=order[0],
        date_order_source=order[1],
        decimal_separator=decimal[0],
        decimal_separator_source=decimal[1],
        date_pattern=evidence.date_pattern(order[0]),
        thousands_separator=_thousands(evidence.prices, decimal[0]),
        quantity_decimal_separator=quantity[0],
        quantity_decimal_separator_source=quantity[1],
        quantity_thousands_separator=_thousands(evidence.quantities, quantity[0]),
        notes=(note,) if note else (),
        undated_lines=evidence.undated,
        undated_example=None if evidence.undated_example is None else str(evidence.undated_example),
    )


def _thousands(tally: Tally, decimal: str) -> str | None:
    return ("," if decimal == "." else ".") if tally.thousands else None


def decide_file(
    path: Path,
    evidence: FileEvidence,
    options: FormatOptions,
) -> Formats:
    """The conventions of a file; for a workbook, of each sheet (decided on its own values,
    then on the workbook's when its own decide nothing), summarised for the file: the common
    value where the sheets agree, :data:`PER_SHEET` where they differ."""
    default, share = options.default_order, options.max_share
    sheets = evidence.sheets
    if not sheets:
        found = evidence.parts.get(None, FormatEvidence())
        return decide(path, found, options.declared(path), default_order=default, max_share=share)
    try:
        workbook: Formats | None = decide(
            path, evidence.whole(), options.declared(path), default_order=default, max_share=share
        )
    except FileRefused:
        workbook = None  # the sheets disagree: each sheet decides on its own
    decided = [
        (
            sheet,
            decide(
                path,
                evidence.parts[sheet],
                options.declared(path, sheet),
                default_order=default,
                max_share=share,
                sheet=sheet,
                workbook=workbook,
            ),
        )
        for sheet in sheets
    ]
    summary: dict[str, Any] = {}
    for name in FORMAT_COLUMNS:
        values = {getattr(formats, name) for _, formats in decided}
        summary[name] = values.pop() if len(values) == 1 else PER_SHEET
    if workbook is not None and all(
        formats.columns() == workbook.columns() for _, formats in decided
    ):
        notes = workbook.notes  # one decision for the whole workbook: told once, by file
    else:
        notes = tuple(note for _, formats in decided for note in formats.notes)
    examples = [f.undated_example for _, f in decided if f.undated_example is not None]
    return Formats(
        **summary,
        notes=notes,
        sheets=tuple(decided),
        undated_lines=sum(f.undated_lines for _, f in decided),
        undated_example=examples[0] if examples else None,
    )

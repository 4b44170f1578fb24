"""Realistic look-alike data for the UCI *Online Retail* exports, at any size.

Why this exists: the real file has 541,909 lines, which is too small to show how the
lakehouse scales and too big to commit. :func:`generate` writes files that follow the
published profile of the real data (see ``/work/shared/data/README.md``) scaled to any row
count, with the same quirks a pipeline has to survive: guest invoices without a customer,
``C`` cancellations with negative quantities, lines without a description and priced 0,
exact duplicate lines, two ``A`` "Adjust bad debt" invoices, non-product stock codes (POST,
DOT, M, ...), the raw country spellings (EIRE, RSA, USA, Unspecified, ...), descriptions
with trailing spaces, commas and quotes, lower-case stock codes, customers who move to
another country once (for SCD2), seasonality, trading hours and no Saturdays.

Design, in short:

* **Streaming.** Rows are produced chunk by chunk (``chunk_rows``) and appended to the
  output with an incremental writer, so memory does not grow with ``rows``: 100 million
  rows work. Everything inside a chunk is vectorised with numpy and polars; the only Python
  loop is over chunks (and, for ``xlsx`` only, over rows, because xlsxwriter writes cells).
* **Time follows the row position.** The year is described by an intensity per minute
  (monthly volume of the real data, weekday pattern, trading hours, Christmas closure, UK
  bank holidays, no Saturdays). An invoice starting at global row ``r`` gets the minute
  where the cumulative intensity reaches ``r / rows``, so timestamps and invoice numbers
  increase through the file and every chunk knows its time window without look-ahead.
* **Exact shares through stratified streams.** Invoice types, the customer of each
  invoice and the country of guest invoices are drawn from *stratified* uniforms: stratum
  ``k`` is visited at a pseudo-random position given by a keyed Feistel permutation of the
  invoice counter. Counts therefore match the targets almost exactly (every customer and
  every one of the 38 countries shows up) while their order in time is random, and the
  permutation needs no memory.
* **Deterministic.** All randomness comes from ``numpy.random.default_rng`` seeded from
  ``(seed, chunk index)``, so the same arguments give a byte-identical file. The output
  does depend on ``chunk_rows`` (an invoice never spans two chunks), which is why it is
  part of "the same arguments".

Formats: ``csv`` (minimal quoting like the real export, LF line ends), ``json`` (NDJSON),
``parquet`` (all columns strings holding exactly the CSV text; empty CSV fields are
nulls), ``xlsx`` (real Excel datetimes and numbers like the UCI workbook, split into
sheets of at most 1,000,000 rows). ``xlsx`` is slow: xlsxwriter writes cell by cell from
Python, about 10-25k rows per second (a 541,909-row workbook takes roughly half a minute),
so it is meant for small files and format tests; the other formats run at roughly a
million rows per second or more.

Scale: products and customers grow with ``rows`` (below the real size the catalog shrinks
only with the square root, as a slice of a real year would), so a 100-million-row file
has ~750k products and ~800k customers; that catalog, not the chunks, is what makes peak
memory grow slightly with very large files.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xlsxwriter

from retail_lakehouse.reference import bank_holidays

__all__ = ["COUNTRIES", "HEADERS", "GenerateResult", "generate"]

Layout = Literal["uci", "uci2"]
Format = Literal["csv", "xlsx", "json", "parquet"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Column names of the two UCI layouts, in file order.
HEADERS: Final[dict[str, tuple[str, ...]]] = {
    "uci": (
        "InvoiceNo", "StockCode", "Description", "Quantity",
        "InvoiceDate", "UnitPrice", "CustomerID", "Country",
    ),
    "uci2": (
        "Invoice", "StockCode", "Description", "Quantity",
        "InvoiceDate", "Price", "Customer ID", "Country",
    ),
}  # fmt: skip

_DATE_FORMATS: Final = {"uci": "%-m/%-d/%Y %-H:%M", "uci2": "%Y-%m-%d %H:%M:%S"}


@dataclass(frozen=True)
class Spelling:
    """How dates and numbers are written (``retail generate --date-order --decimal
    --delimiter``): the same data, as a day-first or European export would write it.

    A decimal comma writes European numbers throughout: ``;`` is the usual delimiter then,
    dates are dotted and zero-padded (``01.12.2010 08:26``) and prices from 1,000 up carry
    thousands dots (``1.234,5``)."""

    date_order: Literal["mdy", "dmy", "ymd"] | None = None  # None: the layout's own
    decimal: Literal[".", ","] = "."
    delimiter: str = ","

    def date_format(self, layout: Layout) -> str:
        if self.date_order is None:
            return _DATE_FORMATS[layout]
        if self.date_order == "ymd":
            return "%Y-%m-%d %H:%M:%S"
        if self.decimal == ",":
            return "%d.%m.%Y %H:%M" if self.date_order == "dmy" else "%m.%d.%Y %H:%M"
        return "%-d/%-m/%Y %-H:%M" if self.date_order == "dmy" else "%-m/%-d/%Y %-H:%M"

    @property
    def default(self) -> bool:
        return self == Spelling()


_US: Final = Spelling()
_XLSX_DATE_FORMATS: Final = {"uci": "m/d/yyyy h:mm", "uci2": "yyyy-mm-dd hh:mm:ss"}
_XLSX_SHEETS: Final = {"uci": "Online Retail", "uci2": "Year 2010-2011"}
_XLSX_MAX_ROWS: Final = 1_000_000

#: Size of the real Online Retail file; every count of the profile is scaled by
#: ``rows / REAL_ROWS``.
REAL_ROWS: Final = 541_909

# --------------------------------------------------------------------------- countries
#: (raw spelling, customers, lines, lines without customer) in the real Online Retail
#: file. Lines drive the share of invoices per country, customers the size of each
#: country's customer base; Hong Kong only ever appears on guest invoices.
COUNTRY_PROFILE: Final[tuple[tuple[str, int, int, int], ...]] = (
    ("United Kingdom", 3950, 495_478, 133_600),
    ("Germany", 95, 9495, 0),
    ("France", 87, 8557, 66),
    ("EIRE", 3, 8196, 711),
    ("Spain", 31, 2533, 0),
    ("Netherlands", 9, 2371, 0),
    ("Belgium", 25, 2069, 0),
    ("Switzerland", 21, 2002, 125),
    ("Portugal", 19, 1519, 39),
    ("Australia", 9, 1259, 0),
    ("Norway", 10, 1086, 0),
    ("Italy", 15, 803, 0),
    ("Channel Islands", 9, 758, 0),
    ("Finland", 12, 695, 0),
    ("Cyprus", 8, 622, 0),
    ("Sweden", 8, 462, 0),
    ("Unspecified", 4, 446, 202),
    ("Austria", 11, 401, 0),
    ("Denmark", 9, 389, 0),
    ("Japan", 8, 358, 0),
    ("Poland", 6, 341, 0),
    ("Israel", 4, 297, 47),
    ("USA", 4, 291, 0),
    ("Hong Kong", 0, 288, 288),
    ("Singapore", 1, 229, 0),
    ("Iceland", 1, 182, 0),
    ("Canada", 4, 151, 0),
    ("Greece", 4, 146, 0),
    ("Malta", 2, 127, 0),
    ("United Arab Emirates", 2, 68, 0),
    ("European Community", 1, 61, 0),
    ("RSA", 1, 58, 0),
    ("Lebanon", 1, 45, 0),
    ("Lithuania", 1, 35, 0),
    ("Brazil", 1, 32, 0),
    ("Czech Republic", 1, 30, 0),
    ("Bahrain", 2, 19, 2),
    ("Saudi Arabia", 1, 10, 0),
)
#: The 38 raw country spellings the generator can emit.
COUNTRIES: Final[tuple[str, ...]] = tuple(row[0] for row in COUNTRY_PROFILE)
_UK: Final = 0

# ------------------------------------------------------------------------ invoice types
_SALE, _GUEST, _CANCEL, _ADJUST, _BADDEBT = 0, 1, 2, 3, 4
#: Share of *lines* and mean lines per invoice of each invoice type, tuned so that the
#: totals land on the real profile: 24.9% guest lines (guest sales + stock adjustments),
#: ~9,300/541,909 cancellation lines in ~3,800 small ``C`` invoices, one-line stock
#: adjustments carrying the lines without description, ~20.9 lines per invoice overall.
_LINE_SHARE: Final = {_SALE: 0.73388, _GUEST: 0.24450, _CANCEL: 0.01715, _ADJUST: 0.00447}
_MEAN_LINES: Final = {_SALE: 21.8, _GUEST: 95.0, _CANCEL: 2.42, _ADJUST: 1.0}
_SIGMA_LINES: Final = {_SALE: 1.0, _GUEST: 0.6}
_MAX_LINES: Final = {_SALE: 700, _GUEST: 1100}
_CANCEL_GUEST_SHARE: Final = 0.01  # cancellations are nearly always by known customers
_MISSING_DESCRIPTION_SHARE: Final = 0.6  # of stock-adjustment lines; the rest get a note
_FREE_LINE_SHARE: Final = 0.0002  # sale lines given away at price 0
_DUPLICATE_SHARE: Final = 0.0099  # lines repeated identically (plus accidental ones)
_HUGE_QTY_SHARE: Final = 1.2e-5

_FIRST_INVOICE: Final = 536_365
_INVOICE_GAP_P: Final = 0.5734  # numbers are shared with other systems: mean step ~1.74
_BAD_DEBT_PRICE: Final = -11_062_060  # milli-pounds, as in the real A563186/A563187
_BAD_DEBT_AT: Final = dt.datetime(2011, 8, 12, 14, 50)
_BAD_DEBT_MIN_ROWS: Final = 10_000

_START: Final = dt.datetime(2010, 12, 1, 8, 26)
_END: Final = dt.datetime(2011, 12, 9, 12, 50)
_DAY0: Final = np.datetime64("2010-12-01", "D")
_N_DAYS: Final = 374
_CLOSED_XMAS: Final = (dt.date(2010, 12, 24), dt.date(2011, 1, 3))

#: Lines per month in the real file (Dec 2010 ... Dec 2011, the last one ends on the 9th).
_MONTH_LINES: Final = np.array(
    [42_481, 35_147, 27_707, 36_748, 29_916, 37_030, 36_874,
     39_518, 35_284, 50_226, 60_742, 84_711, 25_525],
    dtype=np.float64,
)  # fmt: skip
#: Lines per hour of day (07:00-20:59) in the real file, Monday to Thursday.
_HOURS_WEEKDAY: Final = np.zeros(24)
_HOURS_WEEKDAY[7:21] = [383, 8909, 34_332, 49_037, 57_674, 78_709, 72_259,
                        67_471, 77_519, 54_516, 28_509, 7974, 3705, 871]  # fmt: skip
_HOURS_FRIDAY: Final = _HOURS_WEEKDAY * np.where(np.arange(24) >= 16, 0.45, 1.0)
_HOURS_SUNDAY: Final = np.zeros(24)
_HOURS_SUNDAY[9:17] = [0.15, 1.0, 1.3, 1.5, 1.4, 1.2, 0.8, 0.25]

# ------------------------------------------------------------------------- products
#: Usual price points in milli-pounds (prices are kept as integers to format them exactly).
_PRICE_POINTS: Final = (
    np.array(
        [0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16, 0.19, 0.21, 0.25, 0.29, 0.32, 0.36,
         0.39, 0.42, 0.48, 0.55, 0.59, 0.65, 0.72, 0.79, 0.83, 0.85, 0.95, 1.06, 1.25,
         1.45, 1.49, 1.65, 1.69, 1.85, 1.95, 2.08, 2.10, 2.46, 2.55, 2.95, 3.25, 3.39,
         3.75, 4.15, 4.25, 4.65, 4.95, 5.45, 5.95, 6.35, 6.75, 7.65, 7.95, 8.25, 8.50,
         9.95, 10.95, 12.75, 14.95, 16.95, 18.95, 24.95, 29.95, 34.95, 39.95, 49.95,
         65.00, 125.00, 165.00, 295.00]
    )
    * 1000
).round().astype(np.int64)  # fmt: skip

_COLOURS: Final = (
    "RED", "PINK", "BLUE", "GREEN", "IVORY", "WHITE", "BLACK", "CREAM", "YELLOW",
    "ORANGE", "PURPLE", "SILVER", "GOLD", "TURQUOISE", "LILAC", "ROSE", "CHOCOLATE",
    "NAVY", "MINT", "AQUA", "GREY", "ANTIQUE WHITE", "PASTEL", "RAINBOW", "ZINC",
    "COPPER", "SKY BLUE", "LIGHT PINK", "DARK GREEN", "BURGUNDY",
)  # fmt: skip
_THEMES: Final = (
    "RETROSPOT", "POLKADOT", "SPOTTY", "VINTAGE", "REGENCY", "PAISLEY", "UNION JACK",
    "PARIS FASHION", "SKULL", "DOLLY GIRL", "SPACEBOY", "WOODLAND", "STRAWBERRY", "LOVE",
    "HEART", "BIRD", "OWL", "ENGLISH ROSE", "CHRISTMAS", "JAM MAKING", "BAROQUE",
    "FAIRY CAKE", "CIRCUS PARADE", "LOVEBIRD", "SWEETHEART", "DOILEY", "APOTHECARY",
    "KITCHEN", "GARDEN", "SCANDINAVIAN", "MOROCCAN", "ALPHABET", "BICYCLE", "BUTTERFLY",
    "FLORAL", "GINGHAM", "HANGING HEART", "TEA TIME", "PICNIC", "RABBIT",
)  # fmt: skip
_MATERIALS: Final = (
    "HANGING", "KNITTED", "GLASS", "METAL", "WOODEN", "CERAMIC", "ENAMEL", "FELTCRAFT",
    "ASSORTED", "JUMBO", "MINI", "LARGE", "SMALL", "ANTIQUE", "RUSTIC", "FRENCH",
    "EDWARDIAN", "ZINC", "WICKER", "PAPER", "FROSTED", "GLITTER", "BEADED", "CHUNKY",
    "HAND PAINTED", "SET 3", "PACK OF 12", "TRADITIONAL",
)  # fmt: skip
_NOUNS: Final = (
    "T-LIGHT HOLDER", "LANTERN", "COAT HANGER", "HOT WATER BOTTLE", "NESTING BOXES",
    "CAKE STAND", "LUNCH BAG", "SHOPPER BAG", "DOORMAT", "ALARM CLOCK", "MUG",
    "TEACUP AND SAUCER", "PAPER NAPKINS", "BUNTING", "CANDLE", "PHOTO FRAME", "NOTEBOOK",
    "WALL CLOCK", "JEWELLERY BOX", "CUSHION COVER", "CHARM", "TRINKET BOX", "PLATE",
    "BOWL", "STORAGE JAR", "WATER BOTTLE", "UMBRELLA", "PURSE", "GIFT TAPE", "WRAP",
    "TISSUES", "METAL SIGN", "CAKE CASES", "BAKING SET", "PARTY BAG", "GARLAND",
    "DOOR STOP", "CHOPPING BOARD", "TEA TOWEL", "APRON", "OVEN GLOVE", "MIRROR",
    "PICTURE FRAME", "FRIDGE MAGNETS", "WASHBAG", "HAND WARMER", "SNOW GLOBE",
    "PENCIL CASE", "STICKERS", "BIRTHDAY CARD", "GIFT BAG", "MILK JUG", "TEAPOT",
    "EGG CUP", "SPOON", "LAMP", "NIGHT LIGHT", "DRAWER KNOB", "HOOK", "COAT RACK",
    "SHELF", "BOX", "BASKET", "BUCKET", "WATERING CAN", "PLANT POT", "CHALKBOARD",
    "PLAYHOUSE", "JIGSAW", "DOLL", "SKIPPING ROPE", "SPINNING TOP", "HAIR SLIDE",
    "NECKLACE", "EARRINGS", "BRACELET", "KEY RING", "DOOR HANGER", "WREATH", "STAR",
)  # fmt: skip
_SET_SIZES: Final = ("2", "3", "4", "6", "10", "12", "20", "24", "60", "72")
#: Notes the warehouse typed instead of a description on price-0 stock adjustments.
_ADJUSTMENT_NOTES: Final = (
    "?", "check", "damaged", "damages", "Damaged", "found", "wet damaged",
    "thrown away", "sold as set on dotcom", "amazon", "mixed up", "counted",
    "missing", "smashed", "lost", "wrongly marked", "dotcom", "adjustment",
)  # fmt: skip
#: Hand-written products exercising CSV quoting, lower-case codes and non-ASCII text.
_SPECIAL_PRODUCTS: Final = (
    ("22041", 'RECORD FRAME 7" SINGLE SIZE ', 2100),
    ("21506", "FANCY FONT BIRTHDAY CARD, ", 420),
    ("22760", "TRAY, BREAKFAST IN BED", 12_750),
    ("84832", 'PHOTO FRAME 3" X 5" ', 1650),
    ("gift_0001_10", "Dotcomgiftshop Gift Voucher £10.00", 8500),
    ("gift_0001_20", "Dotcomgiftshop Gift Voucher £20.00", 17_020),
    ("dcgssboy", "BOYS PARTY BAG", 3290),
    ("dcgssgirl", "GIRLS PARTY BAG", 3290),
)
#: Non-product stock codes and their fixed descriptions, shares of lines in the real
#: file (``B`` is reserved for the two bad-debt invoices).
_NON_PRODUCTS: Final[tuple[tuple[str, str], ...]] = (
    ("POST", "POSTAGE"),
    ("DOT", "DOTCOM POSTAGE"),
    ("M", "Manual"),
    ("C2", "CARRIAGE"),
    ("D", "Discount"),
    ("CRUK", "CRUK Commission"),
    ("BANK CHARGES", "Bank Charges"),
    ("AMAZONFEE", "AMAZON FEE"),
    ("S", "SAMPLES"),
    ("PADS", "PADS TO MATCH ALL CUSHIONS"),
    ("B", "Adjust bad debt"),
)
_NP: Final = {code: i for i, (code, _) in enumerate(_NON_PRODUCTS)}
_POST_FOREIGN_SHARE: Final = 0.6  # first line of a foreign sale is usually postage
_POST_UK_SHARE: Final = 0.0012
_DOT_SHARE: Final = 0.5  # last line of a guest (dotcom) order
#: Per-line probabilities of the rarer codes, on sale (s) or cancellation (c) lines.
_RARE_SALE: Final = {"M": 0.0011, "C2": 0.00037, "BANK CHARGES": 0.00009, "PADS": 0.0000075}
_RARE_CANCEL: Final = {"M": 0.012, "D": 0.0083, "CRUK": 0.0017, "AMAZONFEE": 0.0035, "S": 0.007}

# ----------------------------------------------------------------------- quantities
_QTY_SALE: Final = np.array(
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 18, 20, 24, 25, 30, 32, 36, 40, 48,
     50, 60, 64, 72, 80, 96, 100, 120, 144, 192, 200, 240, 288, 300, 384, 400, 480, 500,
     576, 600, 720, 960, 1000, 1200, 1440, 2880]
)  # fmt: skip
_QTY_SALE_W: Final = np.array(
    [0.20, 0.16, 0.07, 0.08, 0.01, 0.10, 0.002, 0.04, 0.002, 0.05, 0.002, 0.15, 0.002,
     0.002, 0.01, 0.003, 0.015, 0.05, 0.01, 0.002, 0.004, 0.006, 0.002, 0.012, 0.002,
     0.001, 0.001, 0.003, 0.001, 0.004, 0.003, 0.001, 0.003, 0.0005, 0.001, 0.0005,
     0.0005, 0.0002, 0.0002, 0.0002, 0.0003, 0.0001, 0.0001, 0.0001, 0.0001, 0.00005,
     0.00005, 0.00005, 0.00003, 0.00002]
)  # fmt: skip
_QTY_GUEST: Final = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12, 24])
_QTY_GUEST_W: Final = np.array([0.62, 0.2, 0.06, 0.04, 0.02, 0.02, 0.01, 0.01, 0.015, 0.005])
_QTY_CANCEL: Final = np.array([1, 2, 3, 4, 5, 6, 10, 12, 24, 48, 100])
_QTY_CANCEL_W: Final = np.array([0.35, 0.15, 0.06, 0.06, 0.02, 0.08, 0.04, 0.15, 0.06, 0.02, 0.01])


@dataclass(frozen=True)
class GenerateResult:
    """What :func:`generate` wrote: the file, its data line count and the elapsed time."""

    path: Path
    rows: int  # data lines written (excluding header)
    seconds: float


# ============================================================================ helpers


def _cdf(weights: npt.ArrayLike) -> FloatArray:
    """Normalised cumulative distribution, last value exactly 1, for ``searchsorted``."""
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def _pick(cdf: FloatArray, u: FloatArray) -> IntArray:
    """Inverse-CDF lookup of uniforms ``u`` in ``[0, 1)``."""
    idx = np.searchsorted(cdf, u, side="right").astype(np.int64)
    return np.minimum(idx, len(cdf) - 1)


def _lognormal_mu(mean: float, sigma: float) -> float:
    """``mu`` such that ``ceil(lognormal(mu, sigma))`` has about the given mean."""
    return math.log(mean - 0.5) - sigma * sigma / 2


_M1: Final = np.uint64(0xBF58476D1CE4E5B9)
_M2: Final = np.uint64(0x94D049BB133111EB)


class _Stratified:
    """Uniforms that hit every stratum of ``[0, 1)`` once, in pseudo-random order.

    Element ``k`` of the stream is the midpoint of stratum ``pi(k)`` where ``pi`` is a keyed
    Feistel permutation of ``0..n-1`` (cycle-walking keeps it inside the domain). Any
    interval of width ``>= 1/n`` therefore receives at least one draw once the stream is
    consumed, which is how every customer and every small country is guaranteed to appear,
    while the order (hence the time of each purchase) stays random. It is stateless:
    element ``k`` can be computed in any chunk. Beyond ``n`` the stream falls back to
    plain uniforms.
    """

    def __init__(self, n: int, key: int) -> None:
        self.n = max(1, n)
        bits = max(2, (self.n - 1).bit_length())
        bits += bits & 1
        self._half = np.uint64(bits // 2)
        self._mask = np.uint64((1 << (bits // 2)) - 1)
        keys = np.random.SeedSequence(key).generate_state(4, dtype=np.uint64)
        self._keys = [np.uint64(k) for k in keys]

    def _round(self, x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        left = x >> self._half
        right = x & self._mask
        for key in self._keys:
            f = (right ^ key) * _M1
            f ^= f >> np.uint64(31)
            f *= _M2
            f ^= f >> np.uint64(29)
            left, right = right, left ^ (f & self._mask)
        out: npt.NDArray[np.uint64] = (left << self._half) | right
        return out

    def permute(self, k: IntArray) -> IntArray:
        """The permutation itself, for ``0 <= k < n``."""
        y = self._round(k.astype(np.uint64))
        bad = y >= self.n
        while bad.any():
            y[bad] = self._round(y[bad])
            bad = y >= self.n
        return y.astype(np.int64)

    def uniforms(self, k: IntArray, rng: np.random.Generator) -> FloatArray:
        """Stream elements ``k`` (global indices); ``rng`` serves the overflow beyond ``n``."""
        out = rng.random(len(k))
        inside = k < self.n
        out[inside] = (self.permute(k[inside]) + 0.5) / self.n
        return out


# ============================================================================ catalog


@dataclass(frozen=True)
class _Catalog:
    """Everything that is fixed for one file: calendar, products, customers, streams."""

    rows: int
    minute_cdf: FloatArray
    type_cdf: FloatArray
    type_stream: _Stratified
    cust_stream: _Stratified
    guest_stream: _Stratified
    guest_country_cdf: FloatArray
    # products: regular ones first, then the non-products (index ``n_regular + _NP[code]``)
    n_regular: int
    product_cdf: FloatArray
    product_price: IntArray
    price_index: IntArray
    codes: pl.Series  # 2 * n_products: upper-case codes, then the lower-case variants
    descriptions: pl.Series  # n_products, then adjustment notes, then one null
    dirty_code: BoolArray  # product sometimes written with a lower-case stock code
    # customers
    customer_cdf: FloatArray
    customer_id: IntArray
    home_country: IntArray
    moved_country: IntArray  # -1 for customers who never move
    moved_at: FloatArray  # position in the file (0..1) from which ``moved_country`` holds
    bad_debt_row: int  # global row of the first "A" invoice, -1 if none


def _timeline(rng: np.random.Generator) -> FloatArray:
    """Cumulative purchase intensity per minute from 2010-12-01 00:00 to 2011-12-09 23:59.

    Monthly volumes come from the real data (autumn ramp, November peak); inside a month
    Sundays are quieter and shorter, Friday afternoons quieter, Saturdays, UK bank holidays
    and the Christmas break (24 Dec - 3 Jan) closed, and days get a little random
    variation. Hours follow the real hour-of-day profile (07:00-20:59).
    """
    days = np.arange(_N_DAYS)
    dates = _DAY0 + days
    weekday = (days + 2) % 7  # 2010-12-01 was a Wednesday; Monday = 0
    month = (dates.astype("datetime64[M]") - np.datetime64("2010-12", "M")).astype(np.int64)

    holidays = bank_holidays().column("date").to_numpy().astype("datetime64[D]")
    closed = (weekday == 5) | np.isin(dates, holidays)
    closed |= (dates >= np.datetime64(_CLOSED_XMAS[0])) & (dates <= np.datetime64(_CLOSED_XMAS[1]))
    factor = np.where(weekday == 6, 0.55, np.where(weekday == 4, 0.85, 1.0))
    factor = factor * rng.lognormal(0.0, 0.18, _N_DAYS)
    factor[closed] = 0.0
    month_total = np.bincount(month, weights=factor, minlength=len(_MONTH_LINES))
    day_weight = _MONTH_LINES[month] * factor / month_total[month]

    profiles = np.stack([_HOURS_WEEKDAY, _HOURS_FRIDAY, _HOURS_SUNDAY])
    profiles /= profiles.sum(axis=1, keepdims=True)
    kind = np.where(weekday == 4, 1, np.where(weekday == 6, 2, 0))
    hourly = day_weight[:, None] * profiles[kind]  # (days, 24)
    minutes = np.repeat(hourly / 60.0, 60, axis=1)  # (days, 1440)
    start = _START.hour * 60 + _START.minute
    end = _END.hour * 60 + _END.minute
    minutes[0, :start] = 0.0
    minutes[-1, end + 1 :] = 0.0
    return _cdf(minutes.ravel())


def _descriptions(rng: np.random.Generator, n: int) -> pl.Series:
    """``n`` product descriptions in the UCI style (upper case, some dirty).

    About 7% end in a space and 2% contain a comma, as in the real export, so readers and
    the silver trimming rules get exercised.
    """
    colour = pl.Series(_COLOURS).gather(rng.integers(0, len(_COLOURS), n))
    theme = pl.Series(_THEMES).gather(rng.integers(0, len(_THEMES), n))
    material = pl.Series(_MATERIALS).gather(rng.integers(0, len(_MATERIALS), n))
    noun = pl.Series(_NOUNS).gather(rng.integers(0, len(_NOUNS), n))
    size = pl.Series(_SET_SIZES).gather(rng.integers(0, len(_SET_SIZES), n))
    pattern = _pick(_cdf([0.26, 0.2, 0.1, 0.2, 0.22, 0.02]), rng.random(n))
    trailing = rng.random(n) < 0.07
    frame = pl.DataFrame(
        {"c": colour, "t": theme, "m": material, "n": noun, "s": size,
         "p": pattern, "tr": trailing}
    )  # fmt: skip
    c, t, m, nn, s = (pl.col(x) for x in ("c", "t", "m", "n", "s"))
    p = pl.col("p")
    text = (
        pl.when(p == 0).then(pl.concat_str([c, t, nn], separator=" "))
        .when(p == 1).then(pl.concat_str([m, c, nn], separator=" "))
        .when(p == 2).then(pl.concat_str([pl.lit("SET OF"), s, t, nn], separator=" "))
        .when(p == 3).then(pl.concat_str([t, nn], separator=" "))
        .when(p == 4).then(pl.concat_str([m, t, nn], separator=" "))
        .otherwise(pl.concat_str([nn, pl.lit(", "), c, pl.lit(" "), t]))
    )  # fmt: skip
    text = pl.when(pl.col("tr")).then(text + pl.lit(" ")).otherwise(text)
    out: pl.Series = frame.select(text.alias("d")).to_series()
    return out


def _stock_codes(rng: np.random.Generator, n: int) -> npt.NDArray[np.str_]:
    """``n`` distinct UCI-style stock codes: five digits, a fifth with a letter suffix.

    Small catalogs use the suffixes A-G like the real data; very large ones need the whole
    alphabet to stay unique. Numbers of the hand-written special products are avoided.
    """
    reserved = [int(code) for code, _, _ in _SPECIAL_PRODUCTS if code.isdigit()]
    numbers = np.setdiff1d(np.arange(10_002, 95_000), reserved)
    n_plain = min(int(n * 0.8), len(numbers))
    plain = rng.choice(numbers, size=n_plain, replace=False)
    n_letters = 7 if n <= 100_000 else 26
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))[:n_letters]
    n_suffixed = n - n_plain
    picks = rng.choice(len(numbers) * n_letters, size=n_suffixed, replace=False)
    # Fixed-width string dtypes: a plain ``astype(str)`` of int64 makes 21-character cells,
    # which costs hundreds of MB for the catalogs of very large files.
    suffixed = np.char.add(numbers[picks // n_letters].astype("U5"), letters[picks % n_letters])
    codes = np.concatenate([plain.astype("U5"), suffixed])
    return np.asarray(rng.permutation(codes))


def _products(
    rng: np.random.Generator, n_regular: int
) -> tuple[pl.Series, pl.Series, IntArray, IntArray, FloatArray, BoolArray]:
    """Catalog of regular products plus the non-product codes.

    Popularity is Zipf-like (``1 / (rank + 40)``) so a few hundred best sellers carry much
    of the volume while nearly every product still sells; each product has one typical
    price point and one stable description.
    """
    n_special = len(_SPECIAL_PRODUCTS) if n_regular >= 1000 else 0
    n_random = n_regular - n_special
    codes = _stock_codes(rng, n_random)
    # In blocks: polars evaluates every branch of the pattern expression for every row,
    # which for the 750k products of a 100M-row file would cost a few hundred MB at once.
    block = 100_000
    descriptions = pl.concat(
        [_descriptions(rng, min(block, n_random - i)) for i in range(0, n_random, block)]
        or [pl.Series([], dtype=pl.String)]
    )
    mids = (_PRICE_POINTS[1:] + _PRICE_POINTS[:-1]) / 2
    price_index = np.searchsorted(mids, rng.lognormal(math.log(2500), 0.85, n_random))
    price_index = price_index.astype(np.int64)
    if n_special:
        codes = np.concatenate([codes, [c for c, _, _ in _SPECIAL_PRODUCTS]])
        descriptions = pl.concat([descriptions, pl.Series([d for _, d, _ in _SPECIAL_PRODUCTS])])
        special_prices = np.array([p for _, _, p in _SPECIAL_PRODUCTS])
        price_index = np.concatenate(
            [price_index, np.searchsorted(mids, special_prices).astype(np.int64)]
        )
    price = _PRICE_POINTS[price_index]
    codes = np.concatenate([codes, [c for c, _ in _NON_PRODUCTS]])
    descriptions = pl.concat([descriptions, pl.Series([d for _, d in _NON_PRODUCTS])])
    price = np.concatenate([price, np.zeros(len(_NON_PRODUCTS), dtype=np.int64)])
    price_index = np.concatenate([price_index, np.zeros(len(_NON_PRODUCTS), dtype=np.int64)])

    rank = rng.permutation(n_regular)
    weights = 1.0 / (rank + 40.0)
    if n_special:
        weights[n_random:] = weights.min()
    cdf = _cdf(weights)

    # A handful of suffixed products are sometimes keyed in lower case (15056bl-style).
    suffixed = np.char.isalpha(np.char.lstrip(codes[:n_regular], "0123456789"))
    has_letter = suffixed & (np.char.str_len(codes[:n_regular]) == 6)
    dirty = np.zeros(len(codes), dtype=np.bool_)
    candidates = np.flatnonzero(has_letter)
    if len(candidates):
        count = max(1, len(candidates) // 150)
        dirty[rng.choice(candidates, size=min(count, len(candidates)), replace=False)] = True
    upper = pl.Series(codes, dtype=pl.String)
    all_codes = pl.concat([upper, upper.str.to_lowercase()])
    notes = pl.Series(list(_ADJUSTMENT_NOTES), dtype=pl.String)
    all_descriptions = pl.concat([descriptions, notes, pl.Series([None], dtype=pl.String)])
    return all_codes, all_descriptions, price, price_index, cdf, dirty


def _with_floor(shares: FloatArray, n_draws: float) -> FloatArray:
    """Give every positive share at least two expected draws when that costs little.

    Small countries (Saudi Arabia has 10 of 541,909 lines) would otherwise vanish from
    files of a few hundred thousand rows; for tiny files the floor is skipped because it
    would distort the shares too much.
    """
    shares = shares / shares.sum()
    positive = shares > 0
    floor = 2.0 / max(n_draws, 1.0)
    if floor * positive.sum() > 0.05:
        return shares
    floored: FloatArray = np.where(positive, np.maximum(shares, floor), 0.0)
    result: FloatArray = floored / floored.sum()
    return result


def _catalog(rows: int, seed: int) -> _Catalog:
    """Draw the fixed part of a file: calendar, products, customers and stream sizes."""
    rng = np.random.default_rng([seed, 0xCA7A])
    scale = rows / REAL_ROWS

    types = (_SALE, _GUEST, _CANCEL, _ADJUST)
    inv_weights = np.array([_LINE_SHARE[t] / _MEAN_LINES[t] for t in types])
    inv_share = inv_weights / inv_weights.sum()
    n_invoices = rows * inv_weights.sum()  # expected invoices = rows / mean lines
    n_cust_inv = n_invoices * (inv_share[_SALE] + inv_share[_CANCEL] * (1 - _CANCEL_GUEST_SHARE))
    n_guest_inv = n_invoices * inv_share[_GUEST]

    def stream(n: float, name: int) -> _Stratified:
        # Sized a little below expectation so that all strata do get used.
        return _Stratified(int(n * 0.985), key=seed * 1_000_003 + name)

    profile = np.array([row[1:] for row in COUNTRY_PROFILE], dtype=np.float64)
    real_customers, lines, guest_lines = profile[:, 0], profile[:, 1], profile[:, 2]

    # ---- customers: per-country base, popularity, ids, movers
    per_country = np.where(real_customers > 0, np.maximum(1, np.round(real_customers * scale)), 0)
    per_country = per_country.astype(np.int64)
    country_share = _with_floor(np.where(real_customers > 0, lines - guest_lines, 0.0), n_cust_inv)
    order = np.r_[1 : len(COUNTRIES), 0]  # foreign customers get the low ids, as in the data
    home = np.repeat(order, per_country[order])
    n_customers = len(home)
    popularity = rng.lognormal(0.0, 1.2, n_customers)
    expected = np.empty(n_customers)
    bounds = np.r_[0, np.cumsum(per_country[order])]
    for i, country in enumerate(order):  # 38 countries: a loop over countries, not rows
        lo, hi = bounds[i], bounds[i + 1]
        if hi == lo:
            continue
        total = country_share[country] * n_cust_inv
        count = hi - lo
        if total >= count:  # everyone buys at least once, the rest by popularity
            pop = popularity[lo:hi]
            expected[lo:hi] = 1.0 + (total - count) * pop / pop.sum()
        else:
            expected[lo:hi] = total / count
    span = max(n_customers, round(n_customers * 1.36))
    customer_id = 12_346 + np.sort(rng.choice(span, size=n_customers, replace=False))
    shuffle = np.r_[
        rng.permutation(np.flatnonzero(home != _UK)), rng.permutation(np.flatnonzero(home == _UK))
    ]
    home = home[shuffle]
    expected = expected[shuffle]
    customer_cdf = _cdf(expected)

    moved_country = np.full(n_customers, -1, dtype=np.int64)
    moved_at = np.full(n_customers, 2.0)
    n_movers = round(0.004 * n_customers)
    if rows >= _BAD_DEBT_MIN_ROWS:
        n_movers = max(3, n_movers)
    # Movers are regular but not top customers, so they do not shift country shares.
    candidates = np.flatnonzero((expected >= 8) & (expected <= 40))
    n_movers = min(n_movers, len(candidates))
    if n_movers:
        movers = rng.choice(candidates, size=n_movers, replace=False)
        target_w = np.where(real_customers > 0, real_customers, 0.0)
        target_w[_UK] = target_w[1:].sum() * 0.5  # one mover in three moves to the UK
        targets = _pick(_cdf(target_w), rng.random(n_movers))
        clash = targets == home[movers]
        targets[clash] = np.where(home[movers][clash] == _UK, 1, _UK)  # Germany or UK
        moved_country[movers] = targets
        moved_at[movers] = rng.uniform(0.35, 0.65, n_movers)

    # ---- guests: nearly all UK, a few EIRE/Hong Kong/... dotcom orders
    guest_share = _with_floor(guest_lines.copy(), n_guest_inv)

    # ---- products
    # Below the real size the catalog shrinks with the square root of the scale: a small
    # slice of a real year still shows most of the range (and a tiny catalog would force
    # the same product twice into the large dotcom invoices).
    n_regular = max(40, round((4070 - len(_NON_PRODUCTS)) * (scale if scale >= 1 else scale**0.5)))
    codes, descriptions, price, price_index, product_cdf, dirty = _products(rng, n_regular)

    minute_cdf = _timeline(rng)
    bad_debt_row = -1
    if rows >= _BAD_DEBT_MIN_ROWS:
        minute = (_BAD_DEBT_AT - dt.datetime(2010, 12, 1)) // dt.timedelta(minutes=1)
        bad_debt_row = min(int(minute_cdf[minute] * rows), rows - 2)

    return _Catalog(
        rows=rows,
        minute_cdf=minute_cdf,
        type_cdf=_cdf(inv_share),
        type_stream=stream(n_invoices, 1),
        cust_stream=stream(n_cust_inv, 2),
        guest_stream=stream(n_guest_inv, 3),
        guest_country_cdf=_cdf(guest_share),
        n_regular=n_regular,
        product_cdf=product_cdf,
        product_price=price,
        price_index=price_index,
        codes=codes,
        descriptions=descriptions,
        dirty_code=dirty,
        customer_cdf=customer_cdf,
        customer_id=customer_id.astype(np.int64),
        home_country=home.astype(np.int64),
        moved_country=moved_country,
        moved_at=moved_at,
        bad_debt_row=bad_debt_row,
    )


# ============================================================================== chunks


@dataclass
class _Cursor:
    """State carried from one chunk to the next."""

    row: int = 0  # global rows written
    invoice: int = 0  # index in the invoice-type stream
    customer: int = 0  # index in the customer stream
    guest: int = 0  # index in the guest-country stream
    number: int = _FIRST_INVOICE - 1  # last invoice number used


@dataclass(frozen=True)
class _Chunk:
    """One chunk: the text frame (CSV/JSON/Parquet) plus typed columns for Excel."""

    frame: pl.DataFrame
    prefix: npt.NDArray[np.int8]  # 0 none, 1 "C", 2 "A" (per line)
    number: IntArray
    timestamp: npt.NDArray[np.datetime64]
    quantity: IntArray
    price: IntArray  # milli-pounds
    customer: IntArray  # -1 for guests


def _line_counts(rng: np.random.Generator, types: IntArray) -> IntArray:
    """Lines per invoice by type (log-normal for sales, geometric for cancellations)."""
    n = np.ones(len(types), dtype=np.int64)
    for kind in (_SALE, _GUEST):
        mask = types == kind
        mu = _lognormal_mu(_MEAN_LINES[kind], _SIGMA_LINES[kind])
        draws = np.ceil(rng.lognormal(mu, _SIGMA_LINES[kind], int(mask.sum())))
        n[mask] = np.clip(draws, 1, _MAX_LINES[kind]).astype(np.int64)
    mask = types == _CANCEL
    n[mask] = rng.geometric(1.0 / _MEAN_LINES[_CANCEL], int(mask.sum()))
    return n


def _plan(
    cat: _Catalog, rng: np.random.Generator, cur: _Cursor, n_rows: int
) -> tuple[IntArray, IntArray]:
    """Invoice types and line counts filling exactly ``n_rows`` lines of this chunk.

    The last invoice is cut at the chunk end. The two bad-debt invoices are inserted at
    the row matching 2011-08-12 14:50 if it falls in this chunk.
    """
    types = np.empty(0, dtype=np.int64)
    lines = np.empty(0, dtype=np.int64)
    used = 0
    mean = 1.0 / sum(_LINE_SHARE[t] / _MEAN_LINES[t] for t in _LINE_SHARE)

    def fill() -> None:
        nonlocal types, lines, used
        while int(lines.sum()) < n_rows:  # almost always a single pass
            m = int((n_rows - int(lines.sum())) / mean * 1.25) + 16
            k = np.arange(cur.invoice + used, cur.invoice + used + m, dtype=np.int64)
            more = _pick(cat.type_cdf, cat.type_stream.uniforms(k, rng))
            if k[0] == 0:  # the file opens with a sale, like the real one
                more[0] = _SALE
            types = np.concatenate([types, more])
            lines = np.concatenate([lines, _line_counts(rng, more)])
            used += m

    fill()
    local = cat.bad_debt_row - cur.row
    if 0 <= local < n_rows:
        local = min(local, n_rows - 2)  # both one-line invoices must fit in this chunk
        starts = np.cumsum(lines) - lines
        at = int(np.searchsorted(starts, local, side="left"))
        if at > 0:  # shorten the previous invoice so the A invoices start on ``local``
            lines[at - 1] = local - starts[at - 1]
        types = np.insert(types, at, [_BADDEBT, _BADDEBT])
        lines = np.insert(lines, at, [1, 1])
        fill()

    ends = np.cumsum(lines)
    keep = int(np.searchsorted(ends, n_rows, side="left")) + 1
    types, lines = types[:keep], lines[:keep]
    lines[-1] -= int(ends[keep - 1]) - n_rows
    cur.invoice += int((types != _BADDEBT).sum())
    return types, lines


def _distinct_products(
    cat: _Catalog, rng: np.random.Generator, inv: IntArray, product: IntArray
) -> IntArray:
    """Redraw products repeated inside an invoice, so duplicates are only the planted ones.

    With Zipf popularity a 100-line invoice would otherwise often contain a best seller
    twice with the same quantity, doubling the exact-duplicate count of the real data.
    A few vectorised redraw rounds leave only a negligible number of repeats.
    """
    n_products = len(cat.product_price)
    for _ in range(8):
        key = inv * n_products + product
        order = np.argsort(key, kind="stable")
        repeated = np.zeros(len(key), dtype=np.bool_)
        repeated[order[1:]] = key[order[1:]] == key[order[:-1]]
        if not repeated.any():
            break
        product[repeated] = _pick(cat.product_cdf, rng.random(int(repeated.sum())))
    return product


def _chunk(
    cat: _Catalog,
    rng: np.random.Generator,
    cur: _Cursor,
    n_rows: int,
    layout: Layout,
    spelling: Spelling = _US,
) -> _Chunk:
    """Generate ``n_rows`` lines continuing from ``cur`` (which is advanced)."""
    types, n_lines = _plan(cat, rng, cur, n_rows)
    m = len(types)
    starts = np.cumsum(n_lines) - n_lines

    # ------------------------------------------------------------- invoice level
    steps = rng.geometric(_INVOICE_GAP_P, m)  # 1 + a geometric gap, mean ~1.74
    if cur.row == 0:
        steps[0] = 1
    numbers = cur.number + np.cumsum(steps)
    cur.number = int(numbers[-1])

    position = (cur.row + starts) / cat.rows
    minute = _pick(cat.minute_cdf, position)
    stamp = _DAY0.astype("datetime64[m]") + minute.astype("timedelta64[m]")

    has_customer = (types == _SALE) | (types == _CANCEL)
    has_customer &= ~((types == _CANCEL) & (rng.random(m) < _CANCEL_GUEST_SHARE))
    customer = np.full(m, -1, dtype=np.int64)
    n_cust = int(has_customer.sum())
    k = np.arange(cur.customer, cur.customer + n_cust, dtype=np.int64)
    customer[has_customer] = _pick(cat.customer_cdf, cat.cust_stream.uniforms(k, rng))
    cur.customer += n_cust

    country = np.full(m, _UK, dtype=np.int64)
    who = customer[has_customer]
    moved = position[has_customer] >= cat.moved_at[who]
    country[has_customer] = np.where(moved, cat.moved_country[who], cat.home_country[who])
    guest = types == _GUEST
    n_guest = int(guest.sum())
    k = np.arange(cur.guest, cur.guest + n_guest, dtype=np.int64)
    country[guest] = _pick(cat.guest_country_cdf, cat.guest_stream.uniforms(k, rng))
    cur.guest += n_guest

    prefix = np.select([types == _CANCEL, types == _BADDEBT], [1, 2], 0).astype(np.int8)

    # ---------------------------------------------------------------- line level
    inv = np.repeat(np.arange(m), n_lines)
    pos = np.arange(n_rows) - starts[inv]
    kind = types[inv]
    last = pos == n_lines[inv] - 1
    foreign = country[inv] != _UK
    u = rng.random((6, n_rows))  # independent uniforms for the per-line decisions

    product = _distinct_products(cat, rng, inv, _pick(cat.product_cdf, u[0]))
    price = cat.product_price[product].copy()
    quantity = np.empty(n_rows, dtype=np.int64)
    sale, guest_l, cancel = kind == _SALE, kind == _GUEST, kind == _CANCEL
    adjust, bad = kind == _ADJUST, kind == _BADDEBT

    quantity[sale] = _QTY_SALE[_pick(_cdf(_QTY_SALE_W), u[1][sale])]
    huge = sale & (u[2] < _HUGE_QTY_SHARE)
    big = rng.lognormal(math.log(4000), 1.3, int(huge.sum()))
    quantity[huge] = np.clip(big, 1000, 80_995).astype(np.int64)
    quantity[guest_l] = _QTY_GUEST[_pick(_cdf(_QTY_GUEST_W), u[1][guest_l])]
    quantity[cancel] = -_QTY_CANCEL[_pick(_cdf(_QTY_CANCEL_W), u[1][cancel])]
    magnitude = np.clip(np.ceil(rng.lognormal(math.log(30), 1.2, int(adjust.sum()))), 1, 5000)
    quantity[adjust] = np.where(u[2][adjust] < 0.45, -1, 1) * magnitude.astype(np.int64)

    # bulk buyers get the next lower price point; dotcom guests pay retail (~1.95x)
    bulk = sale & (quantity >= 12) & (u[3] < 0.25)
    price[bulk] = _PRICE_POINTS[np.maximum(cat.price_index[product[bulk]] - 1, 0)]
    price[guest_l] = np.round(price[guest_l] * 1.95, -1).astype(np.int64)
    price[sale & (u[4] < _FREE_LINE_SHARE)] = 0
    price[adjust] = 0

    # description index: the product's own, an adjustment note, or the final null entry
    n_products = len(cat.product_price)
    n_notes = len(_ADJUSTMENT_NOTES)
    description = product.copy()
    missing = adjust & (u[3] < _MISSING_DESCRIPTION_SHARE)
    noted = adjust & ~missing
    description[missing] = n_products + n_notes
    description[noted] = n_products + (u[4][noted] * n_notes).astype(np.int64)

    # non-product codes
    base = cat.n_regular

    def override(mask: BoolArray, code: str) -> None:
        product[mask] = base + _NP[code]
        description[mask] = base + _NP[code]

    post = sale & (pos == 0) & (u[5] < np.where(foreign, _POST_FOREIGN_SHARE, _POST_UK_SHARE))
    override(post, "POST")
    quantity[post] = _pick(_cdf([0.55, 0.2, 0.1, 0.06, 0.05, 0.04]), u[1][post]) + 1
    price[post] = np.array([18_000, 15_000, 40_000, 28_000, 5_000])[
        _pick(_cdf([0.6, 0.2, 0.08, 0.07, 0.05]), u[2][post])
    ]
    dot = guest_l & last & (pos > 0) & (u[5] < _DOT_SHARE)
    override(dot, "DOT")
    quantity[dot] = 1
    price[dot] = np.round(rng.lognormal(math.log(120_000), 0.9, int(dot.sum())), -1).astype(
        np.int64
    )

    threshold = np.zeros(n_rows)
    rare_codes = sorted(set(_RARE_SALE) | set(_RARE_CANCEL))
    rare_pick = np.full(n_rows, -1, dtype=np.int64)
    for i, code in enumerate(rare_codes):  # a loop over a handful of codes, not rows
        p = np.where(sale & (pos > 0), _RARE_SALE.get(code, 0.0), 0.0)
        p = np.where(cancel, _RARE_CANCEL.get(code, 0.0), p)
        hit = (u[5] >= threshold) & (u[5] < threshold + p) & ~post & ~dot
        rare_pick[hit] = i
        threshold = threshold + p
    for i, code in enumerate(rare_codes):
        mask = rare_pick == i
        if not mask.any():
            continue
        override(mask, code)
        count = int(mask.sum())
        sign = np.where(cancel[mask], -1, 1)
        if code == "M":
            quantity[mask] = sign
            manual = np.minimum(rng.lognormal(math.log(3000), 1.5, count), 38_970_000)
            price[mask] = np.round(manual, -1).astype(np.int64)
        elif code == "C2":
            quantity[mask] = 1
            price[mask] = np.where(u[1][mask] < 0.8, 50_000, 40_000)
        elif code == "BANK CHARGES":
            quantity[mask] = 1
            price[mask] = 15_000
        elif code == "PADS":
            quantity[mask] = 1
            price[mask] = 1
        else:  # D, CRUK, AMAZONFEE, S: credits in cancellation invoices
            quantity[mask] = -1
            centre = {"D": 30_000, "CRUK": 300_000, "AMAZONFEE": 4_000_000, "S": 30_000}[code]
            credit = np.minimum(rng.lognormal(math.log(centre), 0.9, count), 17_836_460)
            price[mask] = np.round(credit, -1).astype(np.int64)

    override(bad, "B")
    quantity[bad] = 1
    price[bad] = _BAD_DEBT_PRICE

    lower = cat.dirty_code[product] & (u[2] < 0.3)
    lower |= (product == base + _NP["M"]) & (u[3] < 0.02)

    # exact duplicates: a line repeated identically right after itself in its invoice
    dup = (pos > 0) & (sale | guest_l | cancel) & (rng.random(n_rows) < _DUPLICATE_SHARE)
    src = np.maximum.accumulate(np.where(dup, 0, np.arange(n_rows)))
    product, description, quantity, price, lower = (
        product[src], description[src], quantity[src], price[src], lower[src]
    )  # fmt: skip

    frame = _format(cat, layout, inv, prefix, numbers, stamp, customer, country,
                    product, lower, description, quantity, price, spelling)  # fmt: skip
    cur.row += n_rows
    return _Chunk(
        frame=frame,
        prefix=prefix[inv],
        number=numbers[inv],
        timestamp=stamp[inv],
        quantity=quantity,
        price=price,
        customer=np.where(customer >= 0, cat.customer_id[np.maximum(customer, 0)], -1)[inv],
    )


def _european(text: pl.Expr) -> pl.Expr:
    """``1234.5`` as ``1.234,5`` (thousands dots, decimal comma); the sign is kept."""
    whole = text.str.extract(r"^-?(\d+)", 1)
    sign = pl.when(text.str.starts_with("-")).then(pl.lit("-")).otherwise(pl.lit(""))
    rest = text.str.extract(r"\.(\d+)$", 1)
    digits = whole.str.len_chars()
    grouped = (
        pl.when(digits > 6)
        .then(
            pl.concat_str(
                [whole.str.head(digits - 6), whole.str.slice(-6, 3), whole.str.tail(3)],
                separator=".",
            )
        )
        .when(digits > 3)
        .then(pl.concat_str([whole.str.head(digits - 3), whole.str.tail(3)], separator="."))
        .otherwise(whole)
    )
    return pl.concat_str(
        [sign, grouped, pl.when(rest.is_not_null()).then(pl.lit(",") + rest).otherwise(pl.lit(""))]
    )


def _price_text(col: str) -> pl.Expr:
    """Milli-pounds as the shortest decimal text: 2550 -> ``2.55``, 2100 -> ``2.1``, 0 -> ``0``.

    This is how the real export writes prices (and 0.001 for the PADS line); floats would
    round-trip as ``2.5500000000000003`` or ``0.0``.
    """
    value = pl.col(col)
    absolute = value.abs()
    whole = (absolute // 1000).cast(pl.String)
    frac = absolute % 1000
    dot = pl.lit(".")
    frac_text = (
        pl.when(frac == 0).then(pl.lit(""))
        .when(frac % 100 == 0).then(dot + (frac // 100).cast(pl.String))
        .when(frac % 10 == 0).then(dot + (frac // 10).cast(pl.String).str.zfill(2))
        .otherwise(dot + frac.cast(pl.String).str.zfill(3))
    )  # fmt: skip
    sign = pl.when(value < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str([sign, whole, frac_text])


def _format(
    cat: _Catalog,
    layout: Layout,
    inv: IntArray,
    prefix: npt.NDArray[np.int8],
    numbers: IntArray,
    stamp: npt.NDArray[np.datetime64],
    customer: IntArray,
    country: IntArray,
    product: IntArray,
    lower: BoolArray,
    description: IntArray,
    quantity: IntArray,
    price: IntArray,
    spelling: Spelling = _US,
) -> pl.DataFrame:
    """Render one chunk as strings, exactly as the CSV text (nulls for empty fields)."""
    names = HEADERS[layout]
    cust_id = np.where(customer >= 0, cat.customer_id[np.maximum(customer, 0)], 0)
    invoices = pl.DataFrame(
        {
            "prefix": prefix,
            "number": numbers,
            "stamp": stamp.astype("datetime64[us]"),
            "customer": cust_id,
            "has_customer": customer >= 0,
            "country": pl.Series(COUNTRIES).gather(country),
        }
    ).select(
        pl.concat_str(
            [
                pl.col("prefix").replace_strict([0, 1, 2], ["", "C", "A"], return_dtype=pl.String),
                pl.col("number").cast(pl.String),
            ]
        ).alias(names[0]),
        pl.col("stamp").dt.strftime(spelling.date_format(layout)).alias(names[4]),
        pl.when(pl.col("has_customer")).then(pl.col("customer").cast(pl.String)).alias(names[6]),
        pl.col("country").alias(names[7]),
    )
    lines = pl.DataFrame(
        {
            names[1]: cat.codes.gather(product + lower * (len(cat.codes) // 2)),
            names[2]: cat.descriptions.gather(description),
            "q": quantity,
        }
    ).select(
        pl.col(names[1]),
        pl.col(names[2]),
        pl.col("q").cast(pl.String).alias(names[3]),
    )
    # A chunk has only a few thousand distinct prices: format those, then gather (10x faster
    # than running the string expression over every line).
    distinct, which = np.unique(price, return_inverse=True)
    price_text = pl.DataFrame({"p": distinct}).select(_price_text("p")).to_series()
    if spelling.decimal == ",":
        price_text = price_text.to_frame("p").select(_european(pl.col("p"))).to_series()
    lines = lines.with_columns(price_text.gather(which.ravel()).alias(names[5]))
    both = pl.concat([invoices[inv], lines], how="horizontal")
    return both.select(names)


# ============================================================================= writers


class _Writer(Protocol):
    """Incremental writer: one ``write`` per chunk, then ``close``; memory stays flat."""

    def write(self, chunk: _Chunk) -> None: ...

    def close(self) -> None: ...


class _CsvWriter:
    """Minimal quoting like the real export (only fields with a comma or quote)."""

    def __init__(self, path: Path, layout: Layout, delimiter: str = ",") -> None:
        self._fh: IO[bytes] = path.open("wb")
        self._fh.write((delimiter.join(HEADERS[layout]) + "\n").encode())
        self._delimiter = delimiter

    def write(self, chunk: _Chunk) -> None:
        chunk.frame.write_csv(self._fh, include_header=False, separator=self._delimiter)

    def close(self) -> None:
        self._fh.close()


class _JsonWriter:
    """NDJSON, one object per line with the CSV text as string values."""

    def __init__(self, path: Path) -> None:
        self._fh: IO[bytes] = path.open("wb")

    def write(self, chunk: _Chunk) -> None:
        chunk.frame.write_ndjson(self._fh)

    def close(self) -> None:
        self._fh.close()


class _ParquetWriter:
    """All-string Parquet, one row group per chunk."""

    def __init__(self, path: Path, layout: Layout) -> None:
        self._schema = pa.schema([pa.field(name, pa.string()) for name in HEADERS[layout]])
        self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")

    def write(self, chunk: _Chunk) -> None:
        self._writer.write_table(chunk.frame.to_arrow().cast(self._schema))

    def close(self) -> None:
        self._writer.close()


class _XlsxWriter:
    """Excel workbook like the UCI original: typed cells, sheets of <= 1,000,000 rows.

    Invoice numbers and stock codes are numbers when they are all digits and text
    otherwise (mixed-type columns, exactly what makes the real workbook awkward),
    InvoiceDate is a real Excel datetime, prices and customer ids are numbers. xlsxwriter
    runs in ``constant_memory`` mode, so memory stays flat, but it writes cell by cell and
    is therefore slow.
    """

    def __init__(self, path: Path, layout: Layout, sheet_rows: int = _XLSX_MAX_ROWS) -> None:
        self._book = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "default_date_format": _XLSX_DATE_FORMATS[layout],
            },
        )
        self._layout = layout
        self._sheet_rows = sheet_rows
        self._sheets = 0
        self._row = sheet_rows  # forces a first sheet
        self._sheet: Any = None

    def _next_sheet(self) -> None:
        self._sheets += 1
        base = _XLSX_SHEETS[self._layout]
        name = base if self._sheets == 1 else f"{base} ({self._sheets})"
        self._sheet = self._book.add_worksheet(name)
        self._sheet.write_row(0, 0, HEADERS[self._layout])
        self._row = 0

    def write(self, chunk: _Chunk) -> None:
        frame = chunk.frame
        names = frame.columns
        invoice_text = frame.get_column(names[0]).to_list()
        code_text = frame.get_column(names[1]).to_list()
        description = frame.get_column(names[2]).to_list()
        country = frame.get_column(names[7]).to_list()
        code_numeric = frame.get_column(names[1]).str.contains(r"^\d+$").to_list()
        number = chunk.number.tolist()
        plain = (chunk.prefix == 0).tolist()
        stamps = chunk.timestamp.astype("datetime64[us]").tolist()
        quantity = chunk.quantity.tolist()
        price = (chunk.price / 1000).tolist()
        customer = chunk.customer.tolist()
        for i in range(len(frame)):
            if self._row >= self._sheet_rows:
                self._next_sheet()
            self._row += 1
            self._sheet.write_row(
                self._row,
                0,
                (
                    number[i] if plain[i] else invoice_text[i],
                    int(code_text[i]) if code_numeric[i] else code_text[i],
                    description[i],
                    quantity[i],
                    stamps[i],
                    price[i],
                    customer[i] if customer[i] >= 0 else None,
                    country[i],
                ),
            )

    def close(self) -> None:
        if self._sheet is None:
            self._next_sheet()
        self._book.close()


def _open_writer(
    fmt: Format, path: Path, layout: Layout, sheet_rows: int, spelling: Spelling = _US
) -> _Writer:
    if fmt == "csv":
        return _CsvWriter(path, layout, spelling.delimiter)
    if fmt == "json":
        return _JsonWriter(path)
    if fmt == "parquet":
        return _ParquetWriter(path, layout)
    if fmt == "xlsx":
        return _XlsxWriter(path, layout, sheet_rows)
    raise ValueError(f"unknown format {fmt!r}; expected csv, xlsx, json or parquet")


# ================================================================================= API


def generate(
    rows: int,
    out: Path,
    *,
    seed: int = 42,
    layout: Literal["uci", "uci2"] = "uci",
    fmt: Literal["csv", "xlsx", "json", "parquet"] = "csv",
    chunk_rows: int = 250_000,
    progress: Callable[[int], None] | None = None,
    spelling: Spelling = _US,
) -> GenerateResult:
    """Write ``rows`` lines of realistic Online Retail data to ``out``.

    The profile of the real file (541,909 lines) is scaled to ``rows``: invoices,
    customers and products grow proportionally, shares (guest lines, cancellations,
    duplicates, countries, ...) stay the same. Memory is bounded by ``chunk_rows``;
    ``progress`` is called after every chunk with the number of rows written so far.
    ``spelling`` writes the same data with another date order, decimal separator and
    delimiter (text formats only: an Excel workbook has typed cells).
    The file is written under a temporary name and renamed at the end, so a watcher
    never sees half a file. Same arguments, same bytes.
    """
    return _generate(
        rows,
        out,
        seed=seed,
        layout=layout,
        fmt=fmt,
        chunk_rows=chunk_rows,
        progress=progress,
        spelling=spelling,
    )


def _generate(
    rows: int,
    out: Path,
    *,
    seed: int,
    layout: Layout,
    fmt: Format,
    chunk_rows: int,
    progress: Callable[[int], None] | None,
    sheet_rows: int = _XLSX_MAX_ROWS,
    spelling: Spelling = _US,
) -> GenerateResult:
    """:func:`generate` with the Excel sheet size exposed, so tests can split sheets cheaply."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if chunk_rows < 1000:
        raise ValueError(f"chunk_rows must be >= 1000, got {chunk_rows}")
    if layout not in HEADERS:
        raise ValueError(f"unknown layout {layout!r}; expected 'uci' or 'uci2'")
    if fmt == "xlsx" and not spelling.default:
        raise ValueError("an Excel workbook has typed dates and numbers: no spelling to choose")
    if spelling.delimiter != "," and fmt != "csv":
        raise ValueError(f"a delimiter is for csv files, not {fmt}")
    started = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    writer = _open_writer(fmt, partial, layout, sheet_rows, spelling)
    try:
        try:
            if rows:
                cat = _catalog(rows, seed)
                cur = _Cursor()
                for index, begin in enumerate(range(0, rows, chunk_rows)):
                    rng = np.random.default_rng([seed, index, 0x5EED])
                    size = min(chunk_rows, rows - begin)
                    writer.write(_chunk(cat, rng, cur, size, layout, spelling))
                    if progress is not None:
                        progress(cur.row)
        finally:
            writer.close()
    except BaseException:  # including Ctrl-C: never leave a half-written file behind
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    return GenerateResult(path=out, rows=rows, seconds=time.perf_counter() - started)

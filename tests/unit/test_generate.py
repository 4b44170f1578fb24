"""Tests of the look-alike data generator against the published profile of the real data.

Everything runs on real files written by :func:`retail_lakehouse.generate.generate` and read
back with independent readers (polars, pyarrow, openpyxl). The statistical checks use one
200,000-row file; tolerances are wide enough for any seed (the streams are stratified, so
the remaining noise is mostly the size of the large guest invoices) but tight enough to
catch a broken share.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import operator
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import polars as pl
import pyarrow.parquet as pq
import pytest

from retail_lakehouse.generate import (
    COUNTRIES,
    HEADERS,
    REAL_ROWS,
    GenerateResult,
    _catalog,
    _generate,
    generate,
)

ROWS = 200_000
SCALE = ROWS / REAL_ROWS
REAL_DIR = Path("/work/shared/data/real")
NON_PRODUCT_CODES = {
    "POST", "DOT", "M", "C2", "D", "CRUK", "BANK CHARGES", "AMAZONFEE", "S", "PADS", "B",
}  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_text_csv(path: Path) -> pl.DataFrame:
    """All columns as text, empty fields as nulls: what bronze sees."""
    return pl.read_csv(path, infer_schema=False)


def share(count: int | float) -> float:
    """A count of the real 541,909-line profile as a share of lines."""
    return count / REAL_ROWS


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerateResult, pl.DataFrame]:
    out = tmp_path_factory.mktemp("gen") / "online_retail.csv"
    seen: list[int] = []
    result = generate(ROWS, out, chunk_rows=60_000, progress=seen.append)
    assert seen == [60_000, 120_000, 180_000, 200_000]
    return result, read_text_csv(out)


@pytest.fixture(scope="module")
def df(big: tuple[GenerateResult, pl.DataFrame]) -> pl.DataFrame:
    return big[1]


@pytest.fixture(scope="module")
def timestamps(df: pl.DataFrame) -> pl.Series:
    return df["InvoiceDate"].str.strptime(pl.Datetime, "%m/%d/%Y %H:%M")


# ----------------------------------------------------------------------------- basics


def test_result_and_row_count(big: tuple[GenerateResult, pl.DataFrame]) -> None:
    result, frame = big
    assert result.rows == ROWS == frame.height
    assert result.path.exists()
    assert not result.path.with_name(result.path.name + ".partial").exists()
    assert result.seconds > 0
    # data lines + header, LF line ends
    assert result.path.read_bytes().count(b"\n") == ROWS + 1


@pytest.mark.parametrize("layout", ["uci", "uci2"])
def test_headers(tmp_path: Path, layout: str) -> None:
    out = tmp_path / "x.csv"
    generate(100, out, layout=layout)  # type: ignore[arg-type]
    first = out.read_text(encoding="utf-8").splitlines()[0]
    assert first == ",".join(HEADERS[layout])
    expected = {
        "uci": "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
        "uci2": "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country",
    }[layout]
    assert first == expected


@pytest.mark.skipif(not REAL_DIR.exists(), reason="real UCI samples not available")
def test_headers_match_the_real_files() -> None:
    real_uci = (REAL_DIR / "online_retail_head_1071.csv").read_text("utf-8").splitlines()[0]
    real_uci2 = (REAL_DIR / "online_retail_ii_head_99_bom.csv").read_text("utf-8-sig")
    assert real_uci == ",".join(HEADERS["uci"])
    assert real_uci2.splitlines()[0] == ",".join(HEADERS["uci2"])


PRICE = r"^-?\d+(\.\d{0,2}[1-9])?$"  # shortest decimal text: 2.55, 2.1, 0, 0.001
CUSTOMER = r"^\d{5,7}$"
UCI_DATE = r"^([1-9]|1[0-2])/([1-9]|[12]\d|3[01])/20\d\d ([0-9]|1\d|2[0-3]):[0-5]\d$"
UCI2_DATE = r"^20\d\d-\d\d-\d\d \d\d:\d\d:00$"


def test_value_formats_like_the_real_export(df: pl.DataFrame) -> None:
    assert df["UnitPrice"].str.contains(PRICE).all()
    assert df["CustomerID"].drop_nulls().str.contains(CUSTOMER).all()
    assert df["InvoiceDate"].str.contains(UCI_DATE).all()
    assert df["Quantity"].str.contains(r"^-?\d+$").all()
    assert df["InvoiceNo"].str.contains(r"^[CA]?\d{6,}$").all()
    assert set(df["Country"].unique()) <= set(COUNTRIES)


@pytest.mark.skipif(not REAL_DIR.exists(), reason="real UCI samples not available")
def test_real_sample_values_follow_the_same_formats() -> None:
    """The regexes above are not invented: the real file satisfies them too."""
    real = read_text_csv(REAL_DIR / "online_retail_head_1071.csv")
    assert real["UnitPrice"].str.contains(PRICE).all()
    assert real["CustomerID"].drop_nulls().str.contains(CUSTOMER).all()
    assert real["InvoiceDate"].str.contains(UCI_DATE).all()


def test_uci2_dates(tmp_path: Path) -> None:
    out = tmp_path / "ii.csv"
    generate(5000, out, layout="uci2")
    frame = read_text_csv(out)
    assert frame.columns == list(HEADERS["uci2"])
    assert frame["InvoiceDate"].str.contains(UCI2_DATE).all()
    assert frame["InvoiceDate"][0] == "2010-12-01 08:26:00"


# ---------------------------------------------------------------------- the profile


def test_missing_customers(df: pl.DataFrame) -> None:
    assert df["CustomerID"].null_count() / ROWS == pytest.approx(share(135_080), abs=0.02)


def test_missing_descriptions_are_price_zero_guest_lines(df: pl.DataFrame) -> None:
    missing = df.filter(pl.col("Description").is_null())
    assert missing.height / ROWS == pytest.approx(share(1454), rel=0.25)
    assert (missing["UnitPrice"] == "0").mean() > 0.9
    assert missing["CustomerID"].null_count() == missing.height


def test_exact_duplicates_counted_independently(df: pl.DataFrame) -> None:
    duplicates = df.height - df.unique().height
    assert duplicates / ROWS == pytest.approx(share(5268), rel=0.25)
    # planted duplicates repeat the previous line of the same invoice
    same_as_previous = functools.reduce(
        operator.and_, (df[c].eq_missing(df[c].shift(1)) for c in df.columns)
    )
    assert same_as_previous.sum() >= 0.8 * duplicates


def test_cancellations(df: pl.DataFrame) -> None:
    cancel = df.filter(pl.col("InvoiceNo").str.starts_with("C"))
    assert cancel.height / ROWS == pytest.approx(share(9300), rel=0.2)
    assert (cancel["Quantity"].cast(pl.Int64) < 0).all()
    assert cancel["CustomerID"].null_count() / cancel.height < 0.05
    # small invoices, ~2.4 lines each
    assert 1.5 < cancel.height / cancel["InvoiceNo"].n_unique() < 4


def test_zero_prices(df: pl.DataFrame) -> None:
    assert (df["UnitPrice"] == "0").sum() / ROWS == pytest.approx(share(2515), rel=0.2)


def test_countries(df: pl.DataFrame) -> None:
    assert df["Country"].n_unique() == 38
    assert set(df["Country"].unique()) == set(COUNTRIES)
    uk = (df["Country"] == "United Kingdom").mean()
    assert uk == pytest.approx(0.914, abs=0.02)
    top = df["Country"].value_counts(sort=True)["Country"].to_list()[:4]
    assert top[0] == "United Kingdom"
    assert set(top[1:]) == {"Germany", "France", "EIRE"}


def test_scaled_counts(df: pl.DataFrame) -> None:
    invoices = df["InvoiceNo"].n_unique()
    assert invoices == pytest.approx(25_900 * SCALE, rel=0.1)
    assert ROWS / invoices == pytest.approx(20.9, rel=0.1)
    assert df["CustomerID"].n_unique() - 1 == pytest.approx(4372 * SCALE, rel=0.1)
    # the catalog shrinks with the square root below the real size
    assert df["StockCode"].n_unique() == pytest.approx(4070 * SCALE**0.5, rel=0.1)


def test_real_size_lands_on_the_real_counts(tmp_path: Path) -> None:
    out = tmp_path / "real_size.csv"
    result = generate(REAL_ROWS, out)
    frame = read_text_csv(out)
    assert frame.height == REAL_ROWS
    assert frame["InvoiceNo"].n_unique() == pytest.approx(25_900, rel=0.05)
    assert frame["StockCode"].n_unique() == pytest.approx(4070, rel=0.05)
    assert frame["CustomerID"].drop_nulls().n_unique() == pytest.approx(4372, rel=0.05)
    assert frame["CustomerID"].null_count() == pytest.approx(135_080, rel=0.05)
    assert frame.height - frame.unique().height == pytest.approx(5268, rel=0.15)
    assert result.seconds < 30  # "a few seconds"; generous for busy CI machines


def test_bad_debt_invoices(df: pl.DataFrame) -> None:
    adjust = df.filter(pl.col("InvoiceNo").str.starts_with("A"))
    assert adjust.height == 2
    assert adjust["InvoiceNo"].n_unique() == 2
    assert adjust["StockCode"].to_list() == ["B", "B"]
    assert adjust["Description"].to_list() == ["Adjust bad debt"] * 2
    assert adjust["Quantity"].to_list() == ["1", "1"]
    assert (adjust["UnitPrice"].cast(pl.Float64) < 0).all()
    assert adjust["InvoiceDate"].str.starts_with("8/12/2011").all()


def test_bad_debt_invoices_at_a_chunk_boundary(tmp_path: Path) -> None:
    """Both one-line A invoices survive when their row is the last of a chunk."""
    row = _catalog(20_000, 42).bad_debt_row
    out = tmp_path / "edge.csv"
    generate(20_000, out, chunk_rows=row + 1)
    invoices = read_text_csv(out)["InvoiceNo"]
    assert invoices.str.starts_with("A").sum() == 2


def test_no_bad_debt_below_10000_rows(tmp_path: Path) -> None:
    out = tmp_path / "small.csv"
    generate(9_999, out)
    assert not read_text_csv(out)["InvoiceNo"].str.starts_with("A").any()


def test_non_product_codes(df: pl.DataFrame) -> None:
    counts = dict(df["StockCode"].value_counts().iter_rows())
    assert counts["POST"] / ROWS == pytest.approx(share(1256), rel=0.3)
    assert counts["DOT"] / ROWS == pytest.approx(share(710), rel=0.3)
    assert counts["M"] / ROWS == pytest.approx(share(572), rel=0.35)
    assert {"C2", "D", "S", "AMAZONFEE", "B"} <= counts.keys()
    rare = sum(v for k, v in counts.items() if k in NON_PRODUCT_CODES - {"POST", "DOT", "M"})
    assert rare / ROWS < 0.002
    assert set(df.filter(pl.col("StockCode") == "POST")["Description"]) == {"POSTAGE"}


def test_dirty_values(df: pl.DataFrame) -> None:
    desc = df["Description"].drop_nulls()
    assert desc.str.ends_with(" ").any()
    assert desc.str.contains(",").any()  # exercises CSV quoting on the way back
    assert desc.str.contains('"').any()
    assert df["StockCode"].str.contains("[a-z]").any()


def test_invoice_structure(df: pl.DataFrame) -> None:
    """One customer, country and timestamp per invoice; lines of an invoice adjacent."""
    per_invoice = df.group_by("InvoiceNo").agg(
        pl.col("CustomerID").n_unique().alias("customers"),
        pl.col("Country").n_unique().alias("countries"),
        pl.col("InvoiceDate").n_unique().alias("stamps"),
    )
    assert per_invoice["customers"].max() == 1
    assert per_invoice["countries"].max() == 1
    assert per_invoice["stamps"].max() == 1
    runs = df["InvoiceNo"].ne_missing(df["InvoiceNo"].shift(1)).sum()
    assert runs == df["InvoiceNo"].n_unique()


def test_invoice_numbers_increase_with_time(df: pl.DataFrame, timestamps: pl.Series) -> None:
    numbers = df["InvoiceNo"].str.strip_chars_start("CA").cast(pl.Int64)
    assert df["InvoiceNo"][0] == "536365"  # opens with a sale, like the real file
    assert numbers.diff().drop_nulls().min() == 0  # same invoice, then strictly up
    assert timestamps.diff().drop_nulls().min() >= dt.timedelta(0)


def test_calendar(timestamps: pl.Series) -> None:
    assert timestamps.min() == dt.datetime(2010, 12, 1, 8, 26)
    assert timestamps.max() <= dt.datetime(2011, 12, 9, 12, 50)
    assert timestamps.max() >= dt.datetime(2011, 12, 9)
    assert 6 not in set(timestamps.dt.weekday())  # polars: Monday=1 ... Saturday=6
    hours = timestamps.dt.hour()
    assert hours.min() >= 7
    assert hours.max() <= 20
    days = set(timestamps.dt.date())
    assert dt.date(2010, 12, 25) not in days
    assert dt.date(2011, 1, 1) not in days
    assert dt.date(2011, 4, 29) not in days  # Royal Wedding bank holiday


def test_seasonality(timestamps: pl.Series) -> None:
    months = dict(timestamps.dt.month().value_counts().iter_rows())
    assert months[11] > 1.5 * months[2]  # November peak
    assert months[11] == max(months.values())
    assert months[10] > months[8]  # autumn ramp
    weekdays = dict(timestamps.dt.weekday().value_counts().iter_rows())
    assert 0 < weekdays[7] < weekdays[4]  # Sundays trade, but less


def test_quantities(df: pl.DataFrame) -> None:
    quantity = df["Quantity"].cast(pl.Int64)
    sales = quantity.filter(~df["InvoiceNo"].str.starts_with("C"))
    assert 1 <= sales.median() <= 6  # type: ignore[operator]
    assert (sales > 0).mean() > 0.99
    assert sales.max() >= 1000  # heavy tail


def test_descriptions_are_stable_per_product(df: pl.DataFrame) -> None:
    """Apart from the price-0 stock adjustments (notes), a code has one description."""
    priced = df.filter(pl.col("UnitPrice") != "0")
    per_code = priced.group_by("StockCode").agg(pl.col("Description").n_unique().alias("n"))
    assert per_code["n"].max() == 1


def test_some_customers_change_country(df: pl.DataFrame) -> None:
    movers = (
        df.drop_nulls("CustomerID")
        .group_by("CustomerID")
        .agg(pl.col("Country").n_unique().alias("n"))
        .filter(pl.col("n") > 1)
    )
    assert 2 <= movers.height <= 0.02 * df["CustomerID"].n_unique()
    assert movers["n"].max() == 2  # they move once


# ---------------------------------------------------------------------- determinism


def test_deterministic_by_seed(tmp_path: Path) -> None:
    a, b, c = (tmp_path / name for name in ("a.csv", "b.csv", "c.csv"))
    generate(30_000, a, seed=7, chunk_rows=8_000)
    generate(30_000, b, seed=7, chunk_rows=8_000)
    generate(30_000, c, seed=8, chunk_rows=8_000)
    assert sha256(a) == sha256(b)
    assert sha256(a) != sha256(c)


# -------------------------------------------------------------------------- formats


@pytest.fixture(scope="module")
def text_formats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("formats")
    paths = {}
    for fmt in ("csv", "json", "parquet"):
        paths[fmt] = generate(
            25_000,
            base / f"retail.{fmt}",
            layout="uci2",
            fmt=fmt,
            chunk_rows=7_000,
        ).path
    return paths


def test_json_and_parquet_hold_the_csv_text(text_formats: dict[str, Path]) -> None:
    csv = read_text_csv(text_formats["csv"])
    schema = dict.fromkeys(csv.columns, pl.String)
    ndjson = pl.read_ndjson(text_formats["json"], schema=schema)
    parquet = pl.from_arrow(pq.read_table(text_formats["parquet"]))
    assert isinstance(parquet, pl.DataFrame)
    assert csv.height == ndjson.height == parquet.height == 25_000
    assert csv.equals(ndjson)
    assert csv.equals(parquet)
    assert pq.read_schema(text_formats["parquet"]).names == list(HEADERS["uci2"])
    first = json.loads(text_formats["json"].read_text("utf-8").splitlines()[0])
    assert all(isinstance(v, str) for v in first.values())


def test_xlsx_typed_cells_and_sheet_split(tmp_path: Path) -> None:
    out = tmp_path / "retail.xlsx"
    result = _generate(
        5_000,
        out,
        seed=42,
        layout="uci",
        fmt="xlsx",
        chunk_rows=1_500,
        progress=None,
        sheet_rows=2_000,
    )
    assert result.rows == 5_000
    book = openpyxl.load_workbook(out, read_only=True)
    assert book.sheetnames == ["Online Retail", "Online Retail (2)", "Online Retail (3)"]
    rows = [row for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)]
    headers = [row for row in rows if row[0] == "InvoiceNo"]
    data = [row for row in rows if row[0] != "InvoiceNo"]
    assert len(headers) == 3
    assert headers[0] == HEADERS["uci"]
    assert len(data) == 5_000
    assert all(isinstance(row[4], dt.datetime) for row in data)
    assert all(isinstance(row[3], int) for row in data)
    assert all(isinstance(row[5], int | float) for row in data)
    assert data[0][0] == 536_365
    assert data[0][4] == dt.datetime(2010, 12, 1, 8, 26)
    # Same values as the CSV of the same arguments
    csv = tmp_path / "retail.csv"
    generate(5_000, csv, chunk_rows=1_500)
    text = read_text_csv(csv)
    assert [str(row[0]) for row in data] == text["InvoiceNo"].to_list()
    assert [row[2] for row in data] == text["Description"].to_list()


def test_xlsx_default_single_sheet(tmp_path: Path) -> None:
    out = tmp_path / "ii.xlsx"
    generate(800, out, layout="uci2", fmt="xlsx")
    book = openpyxl.load_workbook(out, read_only=True)
    assert book.sheetnames == ["Year 2010-2011"]
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0] == HEADERS["uci2"]
    assert len(rows) == 801


# ----------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": -1}, "rows"),
        ({"chunk_rows": 10}, "chunk_rows"),
        ({"seed": -3}, "seed"),
        ({"fmt": "xml"}, "format"),
        ({"layout": "sap"}, "layout"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"rows": 10, "out": tmp_path / "x.csv"} | kwargs
    with pytest.raises(ValueError, match=message):
        generate(**args)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_zero_rows_writes_only_the_header(tmp_path: Path) -> None:
    out = tmp_path / "empty.csv"
    assert generate(0, out).rows == 0
    assert out.read_text() == ",".join(HEADERS["uci"]) + "\n"


def test_progress_failure_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"

    def boom(_: int) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        generate(3_000, out, chunk_rows=1_000, progress=boom)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- memory


@pytest.mark.slow
def test_memory_stays_flat_for_millions_of_rows(tmp_path: Path) -> None:
    """3 million rows in a subprocess: peak RSS must stay far below the data size.

    The peak is read from ``VmHWM`` in ``/proc/self/status`` where available: on Linux
    ``getrusage(...).ru_maxrss`` survives fork/exec, so a child started from a big pytest
    process would report the parent's peak instead of its own.
    """
    out = tmp_path / "big.csv"
    code = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from retail_lakehouse.generate import generate
        result = generate(3_000_000, Path({str(out)!r}))
        status = Path("/proc/self/status")
        if status.exists():
            line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
            peak_kib = int(line.split()[1])
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak_kib = peak // 1024 if sys.platform == "darwin" else peak
        print(result.rows, peak_kib)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    rows, peak_kib = (int(x) for x in done.stdout.split())
    assert rows == 3_000_000
    assert peak_kib / 1024 < 600, f"peak RSS {peak_kib / 1024:.0f} MB"
    assert out.stat().st_size > 150 * 2**20  # the file itself is larger than that budget
    with out.open("rb") as fh:
        header, first = fh.readline(), fh.readline()
        assert sum(1 for _ in fh) == 3_000_000 - 1
    assert header.decode().rstrip("\n") == ",".join(HEADERS["uci"])
    assert first.startswith(b"536365,")

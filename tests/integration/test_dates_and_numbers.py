"""Dates and numbers as the world writes them, from the user's side (issue 19).

The same generated data written month first, day first and European (``;``, dotted day-first
dates, decimal commas, thousands dots) must give the same gold to the cent; a file whose dates
all read both ways is right when declared and recorded ``assumed`` (and the user told) when not;
a line against its file's order is quarantined with a rule that says so; bad input is refused
naming the file, the counts and two example lines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from retail_lakehouse.lake.contracts import contracts
from tests.conftest import CliResult, RetailCli

ROWS = "10000"
SEED = "19"
GOLD_TABLES = [c.qualified for c in contracts() if c.layer == "gold"]
FORMAT_COLUMNS = (
    "date_order, date_order_source, date_pattern, decimal_separator, "
    "decimal_separator_source, thousands_separator, quantity_decimal_separator, "
    "quantity_decimal_separator_source, quantity_thousands_separator"
)


def ok(retail: RetailCli, *args: str | Path, lake: Path | None = None) -> CliResult:
    done = retail(*args, lake=lake)
    assert done.code == 0, f"retail {args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def refused(retail: RetailCli, *args: str | Path, lake: Path | None = None) -> str:
    done = retail(*args, lake=lake)
    assert done.code == 2, f"expected exit 2 from retail {args}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stdout + done.stderr
    return " ".join((done.stdout + done.stderr).split())  # unwrapped for matching


def query(retail: RetailCli, lake: Path, sql: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(retail, "sql", sql, "-f", "json", lake=lake).json()
    return rows


def manifest(retail: RetailCli, lake: Path) -> list[dict[str, Any]]:
    return query(retail, lake, f"SELECT _source_file, {FORMAT_COLUMNS} FROM bronze.files")


def gold_content(retail: RetailCli, lake: Path) -> dict[str, Any]:
    """Every gold table's rows (in one order) without the column that names the run, in one
    query: each table as a list of its rows."""
    parts = []
    for table in GOLD_TABLES:
        drop = " EXCLUDE (_run_id)" if table == "gold.fact_sales" else ""
        parts.append(
            f'(SELECT list(t ORDER BY t) FROM (SELECT *{drop} FROM {table}) t) AS "{table}"'
        )
    [content] = query(retail, lake, "SELECT " + ", ".join(parts))
    return content


@pytest.fixture(scope="module")
def spellings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One generated data set in three spellings."""
    from tests.conftest import run_retail

    folder = tmp_path_factory.mktemp("spellings")
    options = {
        "us": (),
        "dayfirst": ("--date-order", "dmy"),
        "european": ("--date-order", "dmy", "--decimal", ",", "--delimiter", ";"),
    }
    paths = {}
    for name, extra in options.items():
        path = folder / f"{name}.csv"
        done = run_retail("generate", "-n", ROWS, "--seed", SEED, "-o", path, *extra)
        assert done.code == 0, done.stderr
        paths[name] = path
    # Day first with dotted times (``1/12/2010 8.26``), prices with a decimal point, and three
    # more lines whose quantities have a thousands dot (``1.234``): each column decides its own.
    dotted = pl.read_csv(paths["dayfirst"], infer_schema_length=0)
    extra = dotted.head(3).with_columns(
        pl.Series("InvoiceNo", ["999990", "999991", "999992"]),
        pl.Series("Quantity", ["1.234", "2.500", "3.000"]),
    )
    dotted = pl.concat([dotted, extra]).with_columns(
        pl.col("InvoiceDate").str.replace(":", ".", literal=True)
    )
    paths["dotted"] = folder / "dotted.csv"
    dotted.write_csv(paths["dotted"])
    return paths


def test_generate_writes_the_same_data_in_three_spellings(spellings: dict[str, Path]) -> None:
    us, day, eu = (spellings[n].read_text().splitlines() for n in ("us", "dayfirst", "european"))
    assert len(us) == len(day) == len(eu) == int(ROWS) + 1
    assert us[1].split(",")[4] == "12/1/2010 8:26"
    assert day[1].split(",")[4] == "1/12/2010 8:26"
    assert eu[0].startswith("InvoiceNo;StockCode;")
    assert eu[1].split(";")[4] == "01.12.2010 08:26"
    us_prices = [line.split(",")[-3] for line in us[1:] if '"' not in line]
    assert any("." in p for p in us_prices)
    assert any(re.search(r"\d,\d", line.split(";")[5]) for line in eu[1:])
    assert any(re.search(r"^-?\d{1,3}\.\d{3},", line.split(";")[5]) for line in eu[1:])


@pytest.fixture(scope="module")
def spelled_lakes(
    spellings: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Each spelling ingested and run into its own lake."""
    from tests.conftest import run_retail

    folder = tmp_path_factory.mktemp("lakes")
    lakes = {}
    for name, path in spellings.items():
        if name == "dotted":
            continue  # its own test
        lakes[name] = folder / name
        ok(run_retail, "ingest", path, lake=lakes[name])
        ok(run_retail, "run", lake=lakes[name])
    return lakes


def test_three_spellings_give_the_same_gold_to_the_cent(
    retail: RetailCli, spelled_lakes: dict[str, Path]
) -> None:
    gold = {}
    for name, lake in spelled_lakes.items():
        [row] = manifest(retail, lake)
        assert row["date_order_source"] == "inferred", row
        assert row["decimal_separator_source"] == "inferred", row
        assert row["date_order"] == ("mdy" if name == "us" else "dmy")
        assert row["decimal_separator"] == ("," if name == "european" else ".")
        if name == "european":
            assert (row["date_pattern"], row["thousands_separator"]) == ("DD.MM.YYYY HH:MM", ".")
        assert query(retail, lake, "SELECT count(*) AS n FROM silver.quarantine") == [{"n": 0}]
        gold[name] = gold_content(retail, lake)
    assert gold["us"]["gold.fact_sales"], "the fact must not be empty"
    for table in GOLD_TABLES:
        assert gold["dayfirst"][table] == gold["us"][table], table
        assert gold["european"][table] == gold["us"][table], table
    # sql --format json: integers are JSON numbers, decimals exact JSON numbers
    [sums] = query(
        retail,
        spelled_lakes["european"],
        "SELECT sum(quantity) AS q, sum(line_amount) AS a, count(*) AS n FROM gold.fact_sales",
    )
    assert isinstance(sums["q"], int) and isinstance(sums["n"], int)
    text = ok(
        retail,
        "sql",
        "SELECT sum(line_amount) AS a FROM gold.fact_sales",
        "-f",
        "json",
        lake=spelled_lakes["european"],
    ).stdout
    assert re.fullmatch(r'\[\{"a": -?\d+\.\d{4}\}\]\s*', text), text


@pytest.fixture(scope="module")
def ambiguous_day_first(
    spellings: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The day-first data split in two files: the lines dated on days 13-31 (their order is
    evident) and those dated on days 1-12 (every date reads both ways)."""
    folder = tmp_path_factory.mktemp("ambiguous")
    frame = pl.read_csv(spellings["dayfirst"], infer_schema_length=0)
    day = frame["InvoiceDate"].str.extract(r"^(\d+)/", 1).cast(pl.Int32)
    known, ambiguous = folder / "known.csv", folder / "days 1-12.csv"
    frame.filter(day > 12).write_csv(known)
    frame.filter(day <= 12).write_csv(ambiguous)
    assert frame.filter(day <= 12).height > 500
    return {"known": known, "ambiguous": ambiguous}


def test_an_all_ambiguous_day_first_file_is_assumed_told_flagged_and_corrected(
    retail: RetailCli,
    spelled_lakes: dict[str, Path],
    ambiguous_day_first: dict[str, Path],
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    known, ambiguous = ambiguous_day_first["known"], ambiguous_day_first["ambiguous"]
    ok(retail, "ingest", known, lake=lake)
    said = " ".join(ok(retail, "ingest", ambiguous, lake=lake).stdout.split())
    assert f"{ambiguous}: every date reads both ways" in said
    assert f"retail ingest --date-order dmy {ambiguous}" in said
    rows = {Path(r["_source_file"]).name: r for r in manifest(retail, lake)}
    assert rows[known.name]["date_order_source"] == "inferred"
    assert (rows[ambiguous.name]["date_order"], rows[ambiguous.name]["date_order_source"]) == (
        "mdy",
        "assumed",
    )
    # the lake-wide check: invoices numbered among December's but dated in other months
    run = " ".join(ok(retail, "run", lake=lake).stdout.split())
    assert f"{ambiguous} (batch 2): likely day/month swap" in run
    status = " ".join(ok(retail, "status", lake=lake).stdout.split())
    assert "likely day/month swap" in status and f"{ambiguous}: every date reads both" in status
    flagged = ok(retail, "status", "--json", lake=lake).json()["date_orders"]
    assert len(flagged["likely_swaps"]) == 1 and len(flagged["assumed"]) == 1

    # the documented correction: retract, declare, run
    ok(retail, "retract", ambiguous, lake=lake)
    declared = ok(retail, "ingest", "--date-order", "dmy", ambiguous, lake=lake).stdout
    assert "every date reads both ways" not in declared
    rows = {Path(r["_source_file"]).name: r for r in manifest(retail, lake)}
    assert rows[ambiguous.name]["date_order_source"] == "declared"
    run = ok(retail, "run", lake=lake).stdout
    assert "swap" not in run
    assert ok(retail, "status", "--json", lake=lake).json()["date_orders"] == {
        "assumed": [],
        "assumed_count": 0,
        "likely_swaps": [],
    }
    reference = spelled_lakes["us"]  # the same data, month first
    dates = "SELECT invoice_no, stock_code, invoice_ts FROM silver.sales_lines ORDER BY ALL"
    assert query(retail, lake, dates) == query(retail, reference, dates)
    amounts = "SELECT sum(line_amount) AS a, count(*) AS n FROM gold.fact_sales"
    assert query(retail, lake, amounts) == query(retail, reference, amounts)


def _write(path: Path, header: str, lines: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return path


HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _line(invoice: int, date: str, price: str = "2.55") -> str:
    return f"{invoice},85123A,WHITE HEART,6,{date},{price},17850,United Kingdom"


def test_a_date_against_its_files_order_is_quarantined_never_swapped(
    retail: RetailCli, tmp_path: Path
) -> None:
    lines = [_line(536365 + i, f"12/{13 + i % 15}/2010 8:26") for i in range(40)]
    lines.append(_line(536999, "25/12/2010 10:00"))
    source = _write(tmp_path / "month first.csv", HEADER, lines)
    lake = tmp_path / "lake"
    ok(retail, "ingest", source, lake=lake)
    assert manifest(retail, lake)[0]["date_order_source"] == "inferred"
    ok(retail, "run", lake=lake)
    [bad] = query(
        retail, lake, "SELECT raw_invoice_date, invoice_ts, quality_flags FROM silver.quarantine"
    )
    assert bad["raw_invoice_date"] == "25/12/2010 10:00" and bad["invoice_ts"] is None
    assert "invoice_date_in_file_order" in bad["quality_flags"]
    assert "invoice_date_parseable" not in bad["quality_flags"]
    assert query(retail, lake, "SELECT count(*) AS n FROM silver.sales_lines") == [{"n": 40}]


def test_bad_spellings_are_refused_naming_the_file_counts_and_two_lines(
    retail: RetailCli, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    mixed = _write(
        tmp_path / "mixed.csv",
        HEADER,
        [_line(536365 + i, f"12/{13 + i}/2010 8:26") for i in range(12)]
        + [_line(536400 + i, f"{13 + i}/12/2010 8:26") for i in range(12)],
    )
    said = refused(retail, "ingest", mixed, lake=lake)
    assert f"{mixed}: the dates mix month-first and day-first spellings" in said
    assert "month first only: 12 line(s) (line 2: '12/13/2010 8:26'; line 3: '12/14/2010" in said
    assert "day first only: 12 line(s) (line 14: '13/12/2010 8:26'; line 15:" in said

    halfway = _write(
        tmp_path / "halfway.csv",
        HEADER,
        [_line(536365 + i, "12/13/2010 8:26", "2.55") for i in range(15)]
        + [_line(536400 + i, "12/13/2010 8:26", '"3,39"') for i in range(15)],
    )
    said = refused(retail, "ingest", halfway, lake=lake)
    assert f"{halfway}: the decimal separator changes within the file" in said
    assert "a decimal comma in 15 line(s) (line 17: '3,39'; line 18: '3,39')" in said

    day_first = _write(
        tmp_path / "day first.csv",
        HEADER,
        [_line(536365 + i, f"{13 + i % 15}/12/2010 8:26") for i in range(30)],
    )
    said = refused(retail, "ingest", "--date-order", "mdy", day_first, lake=lake)
    assert f"{day_first}: the declared date order mdy (--date-order mdy) is contradicted" in said
    assert "30 dated lines" in said and "line 2: '13/12/2010 8:26'" in said
    assert not lake.exists()  # every file refused: the new lake's folder is not left behind

    # the share is a setting: allowed, the contradicting lines are quarantined, never swapped
    (tmp_path / "retail.toml").write_text(
        f'lake = "{lake}"\n[formats]\nmax_contradicting_share = 1.0\n'
    )
    done = _in(tmp_path, retail, "ingest", "--date-order", "mdy", day_first)
    assert done.code == 0, done.stderr
    _in(tmp_path, retail, "run")
    assert query(retail, lake, "SELECT count(*) AS n FROM silver.quarantine") == [{"n": 30}]


def _in(folder: Path, retail: RetailCli, *args: str | Path) -> CliResult:
    """``retail`` run from ``folder``, so it reads that folder's retail.toml."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        return retail(*args)


def test_retail_toml_declares_formats_per_file_name(
    retail: RetailCli,
    spellings: dict[str, Path],
    ambiguous_day_first: dict[str, Path],
    tmp_path: Path,
) -> None:
    """A [[formats.sources]] rule: file-name glob -> date order, decimal, delimiter, encoding."""
    frame = pl.read_csv(ambiguous_day_first["ambiguous"], infer_schema_length=0)
    source = tmp_path / "landing" / "shop_de_2010.txt"
    source.parent.mkdir()
    european = frame.with_columns(
        pl.col("InvoiceDate").str.replace_all("/", "."),
        pl.col("UnitPrice").str.replace(".", ",", literal=True),
    )
    european.write_csv(source, separator="|")
    source.write_bytes(source.read_text().encode("cp1252"))
    (tmp_path / "retail.toml").write_text(
        'lake = "lake"\n'
        "[[formats.sources]]\n"
        'pattern = "shop_de_*"\n'
        'date_order = "dmy"\n'
        'decimal = ","\n'
        'delimiter = "|"\n'
        'encoding = "cp1252"\n'
    )
    ok_run = _in(tmp_path, retail, "ingest", source)
    assert ok_run.code == 0, ok_run.stdout + ok_run.stderr
    assert "every date reads both ways" not in ok_run.stdout
    [row] = manifest(retail, tmp_path / "lake")
    assert (row["date_order"], row["date_order_source"]) == ("dmy", "declared")
    assert (row["decimal_separator"], row["decimal_separator_source"]) == (",", "declared")
    files = query(retail, tmp_path / "lake", "SELECT encoding, delimiter FROM bronze.files")
    assert files == [{"encoding": "cp1252", "delimiter": "|"}]
    assert _in(tmp_path, retail, "run").code == 0
    total = query(
        retail,
        tmp_path / "lake",
        "SELECT count(*) AS n, min(invoice_ts) AS t FROM silver.sales_lines",
    )
    assert total[0]["n"] > 0 and total[0]["t"].startswith("2010-12-01")
    assert query(retail, tmp_path / "lake", "SELECT count(*) AS n FROM silver.quarantine") == [
        {"n": 0}
    ]


def test_generate_refuses_a_spelling_for_a_workbook(retail: RetailCli, tmp_path: Path) -> None:
    said = refused(retail, "generate", "-n", "10", "-o", tmp_path / "x.xlsx", "--decimal", ",")
    assert "an Excel workbook has typed dates and numbers" in said
    assert not (tmp_path / "x.xlsx").exists()


def _workbook(path: Path, sheets: dict[str, list[str]]) -> Path:
    """A workbook whose sheets hold dates as text, the way some tills export them (invoice
    numbers rise across the sheets, so no line repeats another)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    invoice = 536365
    for name, dates in sheets.items():
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, HEADER.split(","))
        for row, date in enumerate(dates, start=1):
            invoice += 1
            sheet.write_row(row, 0, _line(invoice, date).split(","))
    book.close()
    return path


def test_a_sheet_whose_dates_decide_nothing_follows_its_workbook(
    retail: RetailCli, tmp_path: Path
) -> None:
    """One sheet's ``13/12/2010`` decides the other sheet's ``1/12/2010``."""
    lake = tmp_path / "lake"
    book = _workbook(
        tmp_path / "book.xlsx",
        {"December": ["13/12/2010 8:26"] * 3, "Early": ["1/12/2010 8:26", "2/12/2010 9:00"]},
    )
    ok(retail, "ingest", book, lake=lake)
    [row] = manifest(retail, lake)
    assert (row["date_order"], row["date_order_source"]) == ("dmy", "inferred")
    ok(retail, "run", lake=lake)
    dates = query(retail, lake, "SELECT DISTINCT invoice_ts FROM silver.sales_lines ORDER BY 1")
    assert [d["invoice_ts"] for d in dates] == [
        "2010-12-01 08:26:00",
        "2010-12-02 09:00:00",
        "2010-12-13 08:26:00",
    ]


def test_each_sheet_of_a_workbook_is_decided_on_its_own(retail: RetailCli, tmp_path: Path) -> None:
    """A month-first sheet and a day-first sheet in one workbook are both read right, each
    recorded in ``sheet_formats``; a sheet whose dates decide nothing (and whose workbook
    cannot decide for it) is assumed, the user told which sheet and how to declare it, and a
    ``retail.toml`` rule naming the sheet declares it."""
    lake = tmp_path / "lake"
    book = _workbook(
        tmp_path / "book.xlsx",
        {
            "US": ["12/13/2010 8:26"] * 12 + ["12/1/2010 9:00"],
            "EU": ["13/12/2010 8:26"] * 12 + ["1/12/2010 9:00"],
            "Odd": ["2/12/2010 10:00"],
        },
    )
    said = " ".join(ok(retail, "ingest", book, lake=lake).stdout.split())
    assert f"{book} sheet 'Odd': every date of the sheet reads both ways" in said
    assert 'pattern = "book.xlsx#Odd" and date_order = "dmy"' in said
    [row] = manifest(retail, lake)
    assert (row["date_order"], row["date_order_source"]) == ("per-sheet", "per-sheet")
    assert row["decimal_separator"] == "."
    sheets = query(
        retail,
        lake,
        "SELECT s.sheet, s.date_order, s.date_order_source, s.date_pattern "
        "FROM (SELECT unnest(sheet_formats) AS s FROM bronze.files) ORDER BY 1",
    )
    assert sheets == [
        {"sheet": "EU", "date_order": "dmy", "date_order_source": "inferred",
         "date_pattern": "DD/MM/YYYY HH:MM"},
        {"sheet": "Odd", "date_order": "mdy", "date_order_source": "assumed",
         "date_pattern": "MM/DD/YYYY HH:MM"},
        {"sheet": "US", "date_order": "mdy", "date_order_source": "inferred",
         "date_pattern": "MM/DD/YYYY HH:MM"},
    ]  # fmt: skip
    ok(retail, "run", lake=lake)
    per_sheet = (
        "SELECT _source_file[strpos(_source_file, '#') + 1:] AS sheet, "
        "list_sort(list(DISTINCT strftime(invoice_ts, '%Y-%m-%d %H:%M'))) AS ts "
        "FROM silver.sales_lines GROUP BY 1 ORDER BY 1"
    )
    both = ["2010-12-01 09:00", "2010-12-13 08:26"]
    assert query(retail, lake, per_sheet) == [
        {"sheet": "EU", "ts": both},
        {"sheet": "Odd", "ts": ["2010-02-12 10:00"]},
        {"sheet": "US", "ts": both},
    ]
    assert query(retail, lake, "SELECT count(*) AS n FROM silver.quarantine") == [{"n": 0}]
    assumed = ok(retail, "status", "--json", lake=lake).json()["date_orders"]["assumed"]
    assert len(assumed) == 1 and "sheet 'Odd'" in assumed[0]

    # the documented correction: a rule naming the sheet, retract, ingest, run
    ok(retail, "retract", book, lake=lake)
    (tmp_path / "retail.toml").write_text(
        f'lake = "{lake}"\n[[formats.sources]]\npattern = "book.xlsx#Odd"\ndate_order = "dmy"\n'
    )
    again = _in(tmp_path, retail, "ingest", book)
    assert again.code == 0 and "every date" not in again.stdout, again.stdout + again.stderr
    assert _in(tmp_path, retail, "run").code == 0
    assert query(retail, lake, per_sheet)[1] == {"sheet": "Odd", "ts": ["2010-12-02 10:00"]}
    assert ok(retail, "status", "--json", lake=lake).json()["date_orders"]["assumed"] == []


def test_dotted_times_and_quantity_thousands_are_detected_per_column(
    retail: RetailCli,
    spellings: dict[str, Path],
    spelled_lakes: dict[str, Path],
    tmp_path: Path,
) -> None:
    """``1/12/2010 8.26`` (a dotted time), prices with a decimal point, quantities with a
    thousands dot (``1.234``): each column decided on its own values; every line equal to the
    month-first spelling's."""
    lake = tmp_path / "lake"
    ok(retail, "ingest", spellings["dotted"], lake=lake)
    [row] = manifest(retail, lake)
    assert (row["date_order"], row["date_order_source"]) == ("dmy", "inferred")
    assert row["date_pattern"] == "DD/MM/YYYY HH.MM"
    assert (row["decimal_separator"], row["decimal_separator_source"]) == (".", "inferred")
    assert row["thousands_separator"] is None
    assert (
        row["quantity_decimal_separator"],
        row["quantity_decimal_separator_source"],
        row["quantity_thousands_separator"],
    ) == (",", "inferred", ".")
    ok(retail, "run", lake=lake)
    lines = (
        "SELECT invoice_no, stock_code, quantity, unit_price, invoice_ts FROM silver.sales_lines "
        "WHERE invoice_no NOT LIKE '99999_' ORDER BY ALL"
    )
    assert query(retail, lake, lines) == query(retail, spelled_lakes["us"], lines)
    extra = (  # kept or quarantined (an outlier rule may hold them), never unparseable
        "SELECT quantity FROM silver.sales_lines WHERE invoice_no LIKE '99999_' UNION ALL "
        "SELECT quantity FROM silver.quarantine WHERE invoice_no LIKE '99999_' ORDER BY 1"
    )
    assert query(retail, lake, extra) == [{"quantity": q} for q in (1234, 2500, 3000)]
    other = "SELECT count(*) AS n FROM silver.quarantine WHERE invoice_no NOT LIKE '99999_'"
    assert query(retail, lake, other) == [{"n": 0}]


def test_a_workbook_whose_sheets_contradict_themselves_is_refused(
    retail: RetailCli, tmp_path: Path
) -> None:
    """Within one sheet, both orders: refused naming the sheet and lines."""
    clash = _workbook(
        tmp_path / "clash.xlsx",
        {
            "Fine": ["12/13/2010 8:26"] * 3,
            "Both": ["12/13/2010 8:26"] * 12 + ["13/12/2010 8:26"] * 12,
        },
    )
    said = refused(retail, "ingest", clash, lake=tmp_path / "lake")
    assert "sheet 'Both': the dates mix month-first and day-first spellings" in said
    assert "month first only: 12 line(s) (sheet 'Both' line 2: '12/13/2010 8:26'" in said
    assert "day first only: 12 line(s) (sheet 'Both' line 14: '13/12/2010 8:26'" in said


def _stored_groups(lake: Path) -> set[str]:
    return {p.name for p in (lake / "_swap_invoices").glob("*.pq")}


def _silver_files(lake: Path) -> int:
    from deltalake import DeltaTable

    return len(DeltaTable(str(lake / "silver" / "sales_lines")).file_uris())


def test_the_swap_check_groups_each_silver_file_once_and_follows_the_live_files(
    retail: RetailCli, ambiguous_day_first: dict[str, Path], tmp_path: Path
) -> None:
    """The run's check takes each silver file's invoices from groups stored beside the lake
    (decision 0020, twelfth round): a later run groups its new file only, flags what the
    whole check (``retail status``) flags, survives a damaged entry and drops the entries of
    files no longer live."""
    lake = tmp_path / "lake"
    ok(retail, "ingest", ambiguous_day_first["known"], lake=lake)
    ok(retail, "run", lake=lake)  # no assumed file yet: the file's invoices are kept anyway
    assert len(_stored_groups(lake)) == _silver_files(lake) == 1
    frame = pl.read_csv(ambiguous_day_first["ambiguous"], infer_schema_length=0)
    invoices = frame["InvoiceNo"].unique().sort()
    half = invoices[len(invoices) // 2]
    first, second = tmp_path / "first half.csv", tmp_path / "second half.csv"
    frame.filter(pl.col("InvoiceNo") < half).write_csv(first)
    frame.filter(pl.col("InvoiceNo") >= half).write_csv(second)
    ok(retail, "ingest", first, lake=lake)
    run = " ".join(ok(retail, "run", lake=lake).stdout.split())
    assert f"{first} (batch 2): likely day/month swap" in run
    stored = _stored_groups(lake)
    assert len(stored) == _silver_files(lake) >= 1

    # the second half is flagged only if the run groups the new silver file
    ok(retail, "ingest", second, lake=lake)
    run = " ".join(ok(retail, "run", lake=lake).stdout.split())
    assert f"{first} (batch 2): likely day/month swap" in run
    assert f"{second} (batch 3): likely day/month swap" in run
    assert stored < _stored_groups(lake)  # the earlier files' groups kept, the new one added
    whole = ok(retail, "status", "--json", lake=lake).json()["date_orders"]["likely_swaps"]
    assert next(m for m in whole if "batch 3" in m) in run.replace("warning: ", "")

    # a damaged entry: the check groups every line again, and stores fresh entries
    for entry in (lake / "_swap_invoices").glob("*.pq"):
        entry.write_bytes(b"not parquet")
    ok(retail, "retract", second, lake=lake)
    ok(retail, "ingest", "--date-order", "dmy", second, lake=lake)  # the documented correction
    run = " ".join(ok(retail, "run", lake=lake).stdout.split())
    assert f"{first} (batch 2): likely day/month swap" in run and str(second) not in run
    fresh = _stored_groups(lake)
    assert len(fresh) == _silver_files(lake)
    assert all(e.read_bytes()[:4] == b"PAR1" for e in (lake / "_swap_invoices").glob("*.pq"))

    # no assumed file left: the stored groups still follow silver's live files, ready for
    # the next assumed file
    ok(retail, "retract", first, lake=lake)
    ok(retail, "ingest", "--date-order", "dmy", first, lake=lake)
    assert "swap" not in ok(retail, "run", lake=lake).stdout
    assert len(_stored_groups(lake)) == _silver_files(lake)
    assert fresh - _stored_groups(lake)  # the retracted batch's file is gone


def test_a_run_killed_while_storing_a_files_invoices_is_completed_by_the_next(
    retail: RetailCli, ambiguous_day_first: dict[str, Path], tmp_path: Path
) -> None:
    """Killed between writing a file's grouped invoices and renaming them into place: the
    next run flags what the whole check flags, and the folder holds exactly the live files'
    groups (the scratch file removed, nothing half-written used)."""
    import os
    import subprocess

    from tests.conftest import RETAIL

    lake = tmp_path / "lake"
    known = pl.read_csv(ambiguous_day_first["known"], infer_schema_length=0)
    early, late = tmp_path / "known early.csv", tmp_path / "known late.csv"
    known.head(known.height - 200).write_csv(early)
    known.tail(200).write_csv(late)
    ok(retail, "ingest", early, lake=lake)
    ok(retail, "run", lake=lake)
    ok(retail, "ingest", ambiguous_day_first["ambiguous"], lake=lake)
    env = {**os.environ, "RETAIL_FAULT": "swap_invoices.stored:kill"}
    killed = subprocess.run(
        [RETAIL, "--lake", str(lake), "run"], capture_output=True, env=env, check=False
    )
    assert killed.returncode == -9, killed.stderr
    assert list((lake / "_swap_invoices").glob(".*.tmp"))  # the kill left a scratch file
    # completes gold; silver has nothing new, and the check the killed run did not finish is
    # made by the recovery (decision 0007, thirteenth round)
    run = " ".join(ok(retail, "run", lake=lake).stdout.split())
    whole = ok(retail, "status", "--json", lake=lake).json()["date_orders"]["likely_swaps"]
    assert len(whole) == 1 and whole[0] in run.replace("warning: ", "")

    ok(retail, "ingest", late, lake=lake)  # the next check: from the stored groups
    run = " ".join(ok(retail, "run", lake=lake).stdout.split())
    whole = ok(retail, "status", "--json", lake=lake).json()["date_orders"]["likely_swaps"]
    assert len(whole) == 1 and whole[0] in run.replace("warning: ", "")
    assert not list((lake / "_swap_invoices").glob(".*"))
    assert len(_stored_groups(lake)) == _silver_files(lake) == 3


@pytest.mark.parametrize("fault", ["after:meta.watermarks:kill", "silver.swaps_checked:kill"])
def test_a_run_killed_before_its_swap_check_is_reported_by_the_next_command(
    retail: RetailCli, ambiguous_day_first: dict[str, Path], tmp_path: Path, fault: str
) -> None:
    """Killed after silver committed the batches and advanced its watermark, before the
    day/month swap check said anything (or after it, before the intent recorded it): the next
    command has no new batch, and still reports the likely swap, once; the run after it is
    quiet. Unattended (the watcher), nobody else would ever see it."""
    import os
    import subprocess

    from tests.conftest import RETAIL

    lake = tmp_path / "lake"
    ok(retail, "ingest", ambiguous_day_first["known"], lake=lake)
    ok(retail, "run", lake=lake)
    ok(retail, "ingest", ambiguous_day_first["ambiguous"], lake=lake)
    env = {**os.environ, "RETAIL_FAULT": fault}
    killed = subprocess.run(
        [RETAIL, "--lake", str(lake), "run"], capture_output=True, env=env, check=False
    )
    assert killed.returncode == -9, killed.stderr
    run = " ".join(ok(retail, "run", lake=lake).stdout.split())
    whole = ok(retail, "status", "--json", lake=lake).json()["date_orders"]["likely_swaps"]
    assert len(whole) == 1 and whole[0] in run.replace("warning: ", ""), run
    assert run.count("likely day/month swap") == 1
    assert "swap" not in ok(retail, "run", lake=lake).stdout


def test_a_folder_named_like_a_swap_cache_entry_is_left_alone_and_costs_one_file(
    retail: RetailCli, ambiguous_day_first: dict[str, Path], tmp_path: Path
) -> None:
    """A folder in ``_swap_invoices`` under an entry's name (a person's, another program's)
    is not the cache's to replace or remove: the run groups that one silver file directly,
    keeps every other file's entry, says no warning, and flags what the whole check flags."""
    lake = tmp_path / "lake"
    ok(retail, "ingest", ambiguous_day_first["known"], lake=lake)
    ok(retail, "run", lake=lake)
    (entry,) = _stored_groups(lake)
    blocker = lake / "_swap_invoices" / entry
    blocker.unlink()
    blocker.mkdir()
    (blocker / "inside.txt").write_text("not the cache's")
    ok(retail, "ingest", ambiguous_day_first["ambiguous"], lake=lake)
    done = ok(retail, "run", lake=lake)
    said = " ".join(done.stdout.split())
    assert f"{ambiguous_day_first['ambiguous']} (batch 2): likely day/month swap" in said
    assert "not kept" not in done.stdout + done.stderr, done.stderr
    assert (blocker / "inside.txt").read_text() == "not the cache's"
    assert len(_stored_groups(lake) - {entry}) == _silver_files(lake) - 1  # the others kept
    whole = ok(retail, "status", "--json", lake=lake).json()["date_orders"]["likely_swaps"]
    assert len(whole) == 1 and whole[0] in said.replace("warning: ", "")


def test_the_swap_checks_folder_touches_only_its_own_entries_and_never_follows_a_link(
    retail: RetailCli, ambiguous_day_first: dict[str, Path], tmp_path: Path
) -> None:
    """The kept groups' folder is the lake's own cache: a run removes only the entries it
    would write there (not a user's file put beside them), and when ``_swap_invoices`` is a
    link to a folder elsewhere it writes and deletes nothing through it (every line grouped
    instead): a lake's cache never damages files outside it. The run's warnings are the
    whole check's either way."""
    lake = tmp_path / "lake"
    ok(retail, "ingest", ambiguous_day_first["known"], lake=lake)
    ok(retail, "run", lake=lake)
    folder = lake / "_swap_invoices"
    notes = folder / "notes.txt"
    notes.write_text("kept by a person")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("not the lake's")
    moved = tmp_path / "moved"
    folder.rename(moved)
    folder.symlink_to(elsewhere, target_is_directory=True)
    ok(retail, "ingest", ambiguous_day_first["ambiguous"], lake=lake)
    run = " ".join(ok(retail, "run", lake=lake).stdout.split())
    assert f"{ambiguous_day_first['ambiguous']} (batch 2): likely day/month swap" in run
    assert sorted(p.name for p in elsewhere.iterdir()) == ["precious.txt"]

    folder.unlink()
    moved.rename(folder)
    run = " ".join(ok(retail, "run", "--full-refresh", lake=lake).stdout.split())  # new files
    assert f"{ambiguous_day_first['ambiguous']} (batch 2): likely day/month swap" in run
    assert notes.read_text() == "kept by a person"
    assert len(_stored_groups(lake)) == _silver_files(lake)


def test_the_assumed_order_note_counts_dates_that_read_neither_way(
    retail: RetailCli, tmp_path: Path
) -> None:
    """``12/1/2011``, ``13/45/2011``, ``12/1/2011``: the note said "every date reads both ways"
    although one date is invalid in either order; it now says so first."""
    source = tmp_path / "odd dates.csv"
    head = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
    lines = [
        f"53636{n},85123A,WHITE HANGING HEART,6,{date} 08:26,2.55,17850,United Kingdom\n"
        for n, date in enumerate(("12/1/2011", "13/45/2011", "12/1/2011"))
    ]
    source.write_text(head + "".join(lines), encoding="utf-8")
    said = " ".join(ok(retail, "ingest", source, lake=tmp_path / "lake").stdout.split())
    assert (
        f"{source}: 1 line(s) have a date that reads neither way (line 3: '13/45/2011 08:26'); "
        "every other date reads both ways" in said
    ), said
    assert "every date reads both ways" not in said


def test_status_says_the_ingests_note_for_dates_that_read_neither_way(
    retail: RetailCli, tmp_path: Path
) -> None:
    """``retail status`` rebuilt the note from ``bronze.files``, which did not keep the count of
    dates that read neither way: it said "every date reads both ways" of a file holding
    ``13/45/2011``. The manifest keeps the count and the first such line; a lake from before
    them (the columns absent) is still read, its note as it was, and its next ingest adds them."""
    import deltalake

    head = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"

    def export(name: str, dates: tuple[str, ...], first: int) -> Path:
        source = tmp_path / name
        lines = [
            f"{first + n},85123A,WHITE HANGING HEART,6,{date} 08:26,2.55,17850,United Kingdom\n"
            for n, date in enumerate(dates)
        ]
        source.write_text(head + "".join(lines), encoding="utf-8")
        return source

    lake = tmp_path / "lake"
    older = export("older.csv", ("12/1/2011", "13/45/2011"), 536360)
    ok(retail, "ingest", older, lake=lake)
    # the lake as an earlier version left it: bronze.files without the new columns
    manifest = deltalake.DeltaTable(str(lake / "bronze" / "files"))
    table = manifest.to_pyarrow_table()
    kept = [n for n in table.column_names if n not in ("undated_lines", "undated_example")]
    deltalake.write_deltalake(
        manifest, table.select(kept), mode="overwrite", schema_mode="overwrite"
    )
    said = " ".join(ok(retail, "status", lake=lake).stdout.split())
    assert f"{older}: every date reads both ways" in said, said  # what it knows: no count

    source = export("odd dates.csv", ("12/1/2011", "13/45/2011", "12/1/2011"), 536370)
    ingested = " ".join(ok(retail, "ingest", source, lake=lake).stdout.split())
    note = (
        f"{source}: 1 line(s) have a date that reads neither way (line 3: '13/45/2011 08:26'); "
        "every other date reads both ways"
    )
    assert note in ingested, ingested
    said = " ".join(ok(retail, "status", lake=lake).stdout.split())
    assert note in said, said
    assert f"{source}: every date reads both ways" not in said, said
    notes = ok(retail, "status", "--json", lake=lake).json()["date_orders"]["assumed"]
    assert any(n.startswith(note) for n in notes), notes
    assert any(n.startswith(f"{older}: every date reads both ways") for n in notes), notes

    # a workbook's sheet: the note names the sheet and its line, in status as at the ingest
    book = _workbook(
        tmp_path / "book.xlsx",
        {
            "US": ["12/13/2010 8:26"] * 12,
            "EU": ["13/12/2010 8:26"] * 12,  # the workbook decides nothing for "Odd"
            "Odd": ["2/12/2010 10:00", "13/45/2010 10:00"],
        },
    )
    ingested = " ".join(ok(retail, "ingest", book, lake=lake).stdout.split())
    sheet_note = (
        f"{book} sheet 'Odd': 1 line(s) have a date that reads neither way (sheet 'Odd' line 3: "
        "'13/45/2010 10:00'); every other date of the sheet reads both ways"
    )
    assert sheet_note in ingested, ingested
    notes = ok(retail, "status", "--json", lake=lake).json()["date_orders"]["assumed"]
    assert any(n.startswith(sheet_note) for n in notes), notes


def test_status_names_the_latest_assumed_files_and_counts_the_rest(
    retail: RetailCli, tmp_path: Path
) -> None:
    """A long-lived lake may hold thousands of files whose date order was assumed: status names
    the latest few and says how many (naming a million took minutes and printed a million
    lines)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    for n in range(25):  # each file's one date reads both ways: its order is assumed
        line = f"5{n:05d},85123A,HOLDER,6,{n % 12 + 1}/3/2010 08:26,2.55,17850,United Kingdom\n"
        (folder / f"day{n:02d}.csv").write_text(header + line)
    lake = tmp_path / "lake"
    ok(retail, "ingest", folder, lake=lake)
    dates = ok(retail, "status", "--json", lake=lake).json()["date_orders"]
    assert dates["assumed_count"] == 25
    named = [re.search(r"day\d\d\.csv", note).group(0) for note in dates["assumed"]]  # type: ignore[union-attr]
    assert named == [f"day{n:02d}.csv" for n in range(5, 25)]  # the latest 20, in batch order
    said = " ".join(ok(retail, "status", lake=lake).stdout.split())
    assert "date order assumed for 25 files or sheets; the latest 20:" in said
    assert "day04.csv" not in said and "day24.csv" in said

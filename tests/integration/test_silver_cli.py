"""Silver through the real ``retail`` command: the real sample files, accounting, duplicates
against an independent count, and gates that stop ``retail run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.reference import countries
from tests.conftest import REAL_DATA, REAL_FILES, run_retail

FILE_1071 = REAL_DATA / "online_retail_head_1071.csv"


def ok(*args: str | Path, lake: Path) -> str:
    done = run_retail(*args, lake=lake)
    assert done.code == 0, done.stderr + done.stdout
    return done.stdout


def rows(lake: Path, table: str) -> list[dict[str, Any]]:
    found = Lake(lake).delta(table)
    return [] if found is None else found.to_pyarrow_table().to_pylist()


@pytest.fixture(scope="module")
def real_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("silver-real") / "lake"
    for name in REAL_FILES:
        ok("ingest", REAL_DATA / name, lake=lake)
    ok("run", lake=lake)
    return lake


def test_the_three_real_files_balance(real_lake: Path) -> None:
    status = run_retail("status", "--json", lake=real_lake).json()
    accounting = status["accounting"]
    assert accounting["bronze"] == sum(REAL_FILES.values())
    assert accounting["bronze"] == (
        accounting["silver"] + accounting["quarantine"] + accounting["duplicates"]
    )
    assert accounting["pending"] == 0 and accounting["balanced"]


def test_every_date_of_the_real_files_is_parsed(real_lake: Path) -> None:
    lines = rows(real_lake, "silver.sales_lines") + rows(real_lake, "silver.quarantine")
    assert lines and all(line["invoice_ts"] is not None for line in lines)
    assert rows(real_lake, "silver.quarantine") == []


@pytest.mark.parametrize("name", list(REAL_FILES))
def test_each_real_file_alone_parses_completely(tmp_path: Path, name: str) -> None:
    lake = tmp_path / "lake"
    ok("ingest", REAL_DATA / name, lake=lake)
    ok("run", lake=lake)
    silver = rows(lake, "silver.sales_lines")
    duplicates = rows(lake, "silver.duplicates")
    assert len(silver) + len(duplicates) == REAL_FILES[name]
    assert all(line["invoice_ts"] is not None for line in silver)
    assert min(line["invoice_ts"] for line in silver).isoformat() == "2010-12-01T08:26:00"
    assert all(
        line["country_code"] == "GB" for line in silver if line["country"] == "United Kingdom"
    )


def test_the_other_layouts_are_duplicates_of_the_first_file(real_lake: Path) -> None:
    """The three files are cuts of the same export: the short-date and Online Retail II copies
    of a sale are the same sale once dates and spellings are standardised."""
    duplicates = rows(real_lake, "silver.duplicates")
    by_batch: dict[int, int] = {}
    for line in duplicates:
        by_batch[line["_batch_seq"]] = by_batch.get(line["_batch_seq"], 0) + 1
    seqs = sorted(by_batch)
    assert by_batch[seqs[-1]] == 99 and by_batch[seqs[-2]] == 999


def test_flags_on_known_real_lines(real_lake: Path) -> None:
    silver = rows(real_lake, "silver.sales_lines")
    cancellations = [line for line in silver if line["invoice_no"].startswith("C")]
    assert cancellations and all(
        line["is_cancellation"] and line["is_return"] for line in cancellations
    )
    discount = next(line for line in cancellations if line["invoice_no"] == "C536379")
    assert discount["stock_code"] == "D" and discount["is_non_product"]
    blank = next(
        line
        for line in silver
        if line["_source_file"].endswith("online_retail_head_1071.csv")
        and line["_row_number"] == 624
    )
    assert (blank["invoice_no"], blank["stock_code"], blank["quantity"]) == ("536414", "22139", 56)
    assert blank["description"] is None and blank["unit_price"] == 0 and blank["is_guest"]
    assert {"description_present", "price_not_zero", "customer_present"} <= set(
        blank["quality_flags"]
    )
    assert blank["quality_score"] == 100 - 5 - 5 - 5
    clean = [line for line in silver if not line["quality_flags"]]
    assert clean and all(line["quality_score"] == 100 for line in clean)


def test_a_violated_fail_rule_stops_the_run_and_changes_nothing(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    ok("ingest", FILE_1071, lake=lake)
    ok("run", lake=lake)
    late = tmp_path / "late.csv"
    late.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "581587,22613,PACK OF 20 SPACEBOY NAPKINS,12,12/9/2011 12:50,0.85,12680,France\n"
        "581588,23084,RABBIT NIGHT LIGHT,6,12/9/2011 12:51,2.08,,United Kingdom\n",
        encoding="utf-8",
    )
    ok("ingest", late, lake=lake)
    before = {
        k: v for k, v in Lake(lake).versions().items() if k.split(".")[0] in ("silver", "gold")
    }
    rules = tmp_path / "strict.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: no_guests_allowed\n"
        "    dimension: completeness\n"
        "    expression: customer_id IS NOT NULL\n"
        "    weight: 5\n"
        "    action: fail\n",
        encoding="utf-8",
    )
    done = run_retail("run", "--rules", rules, lake=lake)
    assert done.code == 1, done.stdout
    message = done.stderr + done.stdout
    assert "no_guests_allowed" in message and "1 of 2 lines" in message
    assert "late.csv line 3" in message
    assert "nothing was committed" in message
    after = {
        k: v for k, v in Lake(lake).versions().items() if k.split(".")[0] in ("silver", "gold")
    }
    assert after == before
    for table in ("silver.sales_lines", "silver.quarantine", "silver.duplicates"):
        # the files the engine staged for the refused run were deleted, not left behind
        referenced = {Path(uri).name for uri in Lake(lake).snapshot_files(table)}
        on_disk = {f.name for f in Lake(lake).path(table).glob("*.parquet")}
        assert on_disk == referenced, table


def test_a_threshold_lets_a_few_failures_through(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    ok("ingest", FILE_1071, lake=lake)
    rules = tmp_path / "tolerant.yaml"
    rules.write_text(
        "rules:\n  - name: customer_present\n    action: fail\n    threshold: 0.01\n",
        encoding="utf-8",
    )
    ok("run", "--rules", rules, lake=lake)
    assert rows(lake, "silver.sales_lines")


def test_a_bad_rules_file_is_a_usage_error(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    ok("ingest", FILE_1071, lake=lake)
    rules = tmp_path / "bad.yaml"
    rules.write_text(
        "rules:\n  - name: x\n    dimension: beauty\n    expression: quantity > 0\n"
        "    weight: 1\n    action: warn\n",
        encoding="utf-8",
    )
    done = run_retail("run", "--rules", rules, lake=lake)
    assert done.code == 2
    error = " ".join(done.stderr.split())
    assert "bad.yaml" in error and "dimension must be one of" in error
    assert not Lake(lake).exists("silver.sales_lines")


def independent_duplicates(path: Path) -> int:
    """Exact duplicate lines of a generated CSV, counted with polars after the same
    standardisation silver applies (trim, upper-case codes, parsed numbers and dates,
    customer ids without ``.0``, canonical country names)."""
    raw = pl.read_csv(path, infer_schema=False)
    raw.columns = [
        "invoice_no", "stock_code", "description", "quantity",
        "invoice_date", "unit_price", "customer_id", "country",
    ]  # fmt: skip
    names = pl.from_arrow(countries().select(["raw_name", "name"]))
    assert isinstance(names, pl.DataFrame)
    lookup = names.with_columns(pl.col("raw_name").str.to_lowercase()).unique("raw_name")
    text = {c: pl.col(c).str.strip_chars().replace("", None) for c in raw.columns}
    clean = (
        raw.select(
            text["invoice_no"].str.to_uppercase(),
            text["stock_code"].str.to_uppercase(),
            text["description"],
            text["quantity"].cast(pl.Float64).cast(pl.Int64),
            (text["unit_price"].cast(pl.Float64) * 10_000).round().cast(pl.Int64).alias("price"),
            text["invoice_date"].str.to_datetime("%m/%d/%Y %H:%M", strict=False).alias("ts"),
            text["customer_id"].str.replace(r"\.0+$", ""),
            text["country"].str.to_lowercase().alias("raw_name"),
        )
        .join(lookup, on="raw_name", how="left")
        .drop("raw_name")
    )
    return clean.height - clean.unique().height


@pytest.mark.parametrize("lines", [20_000, pytest.param(541_909, marks=pytest.mark.slow)])
def test_duplicates_match_an_independent_count(tmp_path: Path, lines: int) -> None:
    data = tmp_path / "generated.csv"
    ok("generate", "--rows", str(lines), "--out", data, lake=tmp_path / "unused")
    lake = tmp_path / "lake"
    ok("ingest", data, lake=lake)
    ok("run", lake=lake)
    accounting = run_retail("status", "--json", lake=lake).json()["accounting"]
    assert accounting["bronze"] == lines and accounting["balanced"]
    assert accounting["duplicates"] == independent_duplicates(data)
    assert accounting["duplicates"] > 0


@pytest.mark.parametrize(
    ("fmt", "layout"), [("xlsx", "uci2"), ("json", "uci"), ("parquet", "uci2")]
)
def test_every_date_parses_from_every_format(tmp_path: Path, fmt: str, layout: str) -> None:
    """xlsx dates reach bronze as ISO text or Excel serial numbers; json and parquet as text."""
    data = tmp_path / f"generated.{fmt}"
    args = ("generate", "--rows", "1500", "--out", data, "--format", fmt, "--layout", layout)
    ok(*args, lake=tmp_path / "unused")
    lake = tmp_path / "lake"
    ok("ingest", data, lake=lake)
    ok("run", lake=lake)
    lines = rows(lake, "silver.sales_lines") + rows(lake, "silver.quarantine")
    assert len(lines) + len(rows(lake, "silver.duplicates")) == 1500
    assert all(line["invoice_ts"] is not None for line in lines)
    assert not [
        q
        for q in rows(lake, "silver.quarantine")
        if "invoice_date_parseable" in q["quarantine_reasons"]
    ]


def _two_sheet_book(folder: Path) -> Path:
    """A workbook whose sheets Early and Late hold the same line at the same row (and one line
    of their own each)."""
    import xlsxwriter

    book = folder / "book.xlsx"
    workbook = xlsxwriter.Workbook(str(book))
    header = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice"]
    for name, other in (("Early", "581001"), ("Late", "581002")):
        sheet = workbook.add_worksheet(name)
        sheet.write_row(0, 0, [*header, "CustomerID", "Country"])
        sheet.write_row(
            1, 0, ["581000", "30000", "SAME", "4", "12/1/2011 9:00", "1.25", "15000", "France"]
        )
        sheet.write_row(
            2, 0, [other, "30001", "OTHER", "4", "12/1/2011 9:00", "1.25", "15000", "France"]
        )
    workbook.close()
    return book


def test_a_line_repeated_at_the_same_row_of_two_sheets_is_one_duplicate(tmp_path: Path) -> None:
    """A workbook's sheets share a batch and number their rows each from 1, so the same line at
    the same row of two sheets had one identity: removing the duplicate removed the kept line
    too, and `retail run` failed with the accounting identity broken (bronze 4 != silver 2 +
    duplicates 1). Found by the engine-parity data (:mod:`tests.engine_breakers`)."""
    book = _two_sheet_book(tmp_path)
    lake = tmp_path / "lake"
    ok("ingest", book, lake=lake)
    ok("run", lake=lake)
    lines = rows(lake, "silver.sales_lines")
    kept = sorted((r["invoice_no"], Path(r["_source_file"]).name) for r in lines)
    assert kept == [
        ("581000", "book.xlsx#Early"),  # the first sheet's line is kept, on every engine
        ("581001", "book.xlsx#Early"),
        ("581002", "book.xlsx#Late"),
    ]
    assert len(rows(lake, "silver.duplicates")) == 1


def _duplicate_records(lake: Path) -> list[tuple[str, int, str | None, int]]:
    return sorted(
        (
            Path(d["_source_file"]).name,
            d["_row_number"],
            d["kept_source_file"] and Path(d["kept_source_file"]).name,
            d["kept_row_number"],
        )
        for d in rows(lake, "silver.duplicates")
    )


def _duplicates_row(lake: Path) -> str:
    out = ok("quality", "report", "--examples", "5", lake=lake)
    return out[out.index("no_exact_duplicates") :].split("├")[0]


def test_a_removed_duplicate_names_its_sheet_and_the_kept_lines_sheet(tmp_path: Path) -> None:
    """silver.duplicates recorded the removed line's batch and row and the kept line's batch
    and row: for a workbook that did not say which sheet either came from (both sheets are one
    batch and number their rows from 1), and the report took the file's name from the batch."""
    lake = tmp_path / "lake"
    ok("ingest", _two_sheet_book(tmp_path), lake=lake)
    ok("run", lake=lake)
    assert _duplicate_records(lake) == [("book.xlsx#Late", 2, "book.xlsx#Early", 2)]
    shown = _duplicates_row(lake)
    assert "book.xlsx#Late:2" in shown and "copy_of=book.xlsx#Early:2" in shown
    assert shown.count("SAME") == 1  # the kept line's values, once (not one per sheet)
    # a later file repeating the line: the kept line is the earlier run's, named with its sheet
    later = _later_repeat_of_the_book(tmp_path)
    ok("ingest", later, lake=lake)
    ok("run", lake=lake)
    assert _duplicate_records(lake) == [
        ("book.xlsx#Late", 2, "book.xlsx#Early", 2),
        ("later.csv", 2, "book.xlsx#Early", 2),
    ]


def _later_repeat_of_the_book(folder: Path) -> Path:
    """A later CSV repeating the workbook's duplicated line (the earlier run's kept line)."""
    later = folder / "later.csv"
    later.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "581000,30000,SAME,4,12/1/2011 9:00,1.25,15000,France\n",
        encoding="utf-8",
    )
    return later


def _as_before_the_source_file_columns(lake: Path) -> None:
    """Rewrite silver.duplicates as a lake from before its source-file columns had it."""
    from deltalake import DeltaTable, write_deltalake

    path = Lake(lake).path("silver.duplicates")
    data = DeltaTable(str(path)).to_pyarrow_table().drop(["_source_file", "kept_source_file"])
    write_deltalake(str(path), data, mode="overwrite", schema_mode="overwrite")


def test_a_lake_from_before_the_source_file_columns_gets_them_on_its_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing lake's silver.duplicates gains the two columns on the next run that writes
    it (their own metadata commit, then the rows); its earlier rows keep NULL there and the
    report names their files from the batch, as before. A run killed right after the columns'
    commit is completed by the next one."""
    lake = tmp_path / "lake"
    ok("ingest", _two_sheet_book(tmp_path), lake=lake)
    ok("run", lake=lake)
    _as_before_the_source_file_columns(lake)
    assert "book.xlsx:2 copy_of=book.xlsx:2" in _duplicates_row(lake)
    later = _later_repeat_of_the_book(tmp_path)
    ok("ingest", later, lake=lake)
    monkeypatch.setenv("RETAIL_FAULT", "after:silver.duplicates.schema:kill")
    killed = run_retail("run", lake=lake)
    monkeypatch.delenv("RETAIL_FAULT")
    assert killed.code == -9, killed.stderr
    ok("run", lake=lake)
    records = sorted(
        (d["_row_number"], Path(d["_source_file"] or "-").name)
        for d in rows(lake, "silver.duplicates")
    )
    assert records == [(2, "-"), (2, "later.csv")]  # the earlier row: NULL
    later_record = [d for d in rows(lake, "silver.duplicates") if d["_source_file"]]
    assert Path(later_record[0]["kept_source_file"]).name == "book.xlsx#Early"
    shown = _duplicates_row(lake)
    assert "book.xlsx:2 copy_of=book.xlsx:2" in shown
    assert "later.csv:2 copy_of=book.xlsx#Early:2" in shown

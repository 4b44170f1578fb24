"""Downgrades: a lake records its format, and releases that would damage it do not write to it.

A release from before ``gold.product_prices`` ran ``retail run`` on a lake that has the table,
moved gold's watermark past batches the table never got, and the next run of this release took
``dim_product``'s medians from the table with those batches missing. Now every writing command
records the lake's format (``_journal/lake-format.json``) and refuses a newer one (exit 2); the
releases with the intents journal stop on that record before writing (measured by running one,
below); and a gold run counts the prices again when the table's last commit was not made by the
run that wrote gold's watermark (what an older release leaves, whatever its age).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.lake import Lake
from tests.conftest import REPO, run_retail
from tests.integration.gold_rows import gold_rows

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
OLD_RELEASE = "72d5acb^"
"""The last commit before ``gold.product_prices``: a release that does not keep the table."""
OLD_MAIN = "import sys; sys.argv[0] = 'retail'; from retail_lakehouse.cli.app import main; main()"


def write_csv(path: Path, lines: list[tuple[str, str, str]]) -> Path:
    """Sales lines of one product, ``(invoice, date, price)`` each."""
    rows = [f"{inv},A1,ITEM ONE,1,{day} 10:00,{price},12345,France\n" for inv, day, price in lines]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def ok(*args: str | Path, lake: Path) -> str:
    done = run_retail(*args, lake=lake)
    assert done.code == 0, done.stderr[-3000:] + done.stdout[-3000:]
    return done.stdout


def typical_price(lake: Path) -> Any:
    out = ok("sql", "SELECT typical_price FROM gold.dim_product WHERE stock_code = 'A1'", lake=lake)
    return out


def versions(lake: Path) -> dict[str, int | None]:
    return Lake(lake).versions()


def test_prices_left_behind_by_an_older_release_are_counted_again(tmp_path: Path) -> None:
    """The first batch charges 1.00, the second 5.00 twice, the third 5.00 once. A run of a
    release that does not know ``gold.product_prices`` processes the second batch and leaves the
    table as the first run made it (modelled byte for byte: the table's folder put back as it
    was, since that release never opens it). The third run's median must be 5.00, as a full
    rebuild's, not 1.00 (the median of the first and third batches alone)."""
    first = write_csv(tmp_path / "b1.csv", [("100001", "12/1/2010", "1.00")])
    second = write_csv(
        tmp_path / "b2.csv", [("100002", "12/2/2010", "5.00"), ("100003", "12/2/2010", "5.00")]
    )
    third = write_csv(tmp_path / "b3.csv", [("100004", "12/3/2010", "5.00")])
    lake, kept = tmp_path / "lake", tmp_path / "prices after run 1"
    ok("ingest", first, lake=lake)
    ok("run", lake=lake)
    shutil.copytree(lake / "gold" / "product_prices", kept)
    ok("ingest", second, lake=lake)
    ok("run", lake=lake)
    shutil.rmtree(lake / "gold" / "product_prices")
    shutil.copytree(kept, lake / "gold" / "product_prices")  # what the older release leaves

    ok("ingest", third, lake=lake)
    ok("run", lake=lake)
    copy = tmp_path / "rebuilt"
    shutil.copytree(lake, copy)
    ok("run", "--full-refresh", lake=copy)
    assert "5.0000" in typical_price(lake), typical_price(lake)
    assert gold_rows(Lake(lake)) == gold_rows(Lake(copy))


def test_an_append_keeps_the_earlier_price_rows(tmp_path: Path) -> None:
    """The check above does not make every append count the prices again: the second run
    replaces only the new batch's rows, the first run's files stay."""
    first = write_csv(tmp_path / "b1.csv", [("100001", "12/1/2010", "1.00")])
    second = write_csv(tmp_path / "b2.csv", [("100002", "12/2/2010", "5.00")])
    lake = tmp_path / "lake"
    ok("ingest", first, lake=lake)
    ok("run", lake=lake)
    before = set(Lake(lake).snapshot_files("gold.product_prices"))
    ok("ingest", second, lake=lake)
    ok("run", lake=lake)
    after = set(Lake(lake).snapshot_files("gold.product_prices"))
    assert before and before < after


def test_every_writing_command_records_the_format_and_it_is_no_interrupted_command(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    ok("ingest", write_csv(tmp_path / "b1.csv", [("100001", "12/1/2010", "1.00")]), lake=lake)
    record = json.loads((lake / "_journal" / "lake-format.json").read_text(encoding="utf-8"))
    assert record["notes"]["format"] == 3
    status = json.loads(ok("status", "--json", lake=lake))
    assert status["interrupted"] == []
    ok("run", lake=lake)  # the record is not "recovered" as a command


@pytest.mark.parametrize("command", [("run",), ("optimize",), ("ingest", "b2.csv")])
def test_a_lake_in_a_newer_format_is_refused_before_anything_is_written(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    lake = tmp_path / "lake"
    ok("ingest", write_csv(tmp_path / "b1.csv", [("100001", "12/1/2010", "1.00")]), lake=lake)
    write_csv(tmp_path / "b2.csv", [("100002", "12/2/2010", "5.00")])
    record_path = lake / "_journal" / "lake-format.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record["notes"]["format"] = 4
    record_path.write_text(json.dumps(record), encoding="utf-8")
    before = versions(lake)
    args = [str(tmp_path / a) if a.endswith(".csv") else a for a in command]
    done = run_retail(*args, lake=lake)
    assert done.code == 2, done.stderr[-3000:]
    assert "internal error" not in done.stderr
    assert "format 4" in done.stderr and "Upgrade retail-lakehouse" in done.stderr, done.stderr
    assert versions(lake) == before
    assert json.loads(record_path.read_text(encoding="utf-8"))["notes"]["format"] == 4
    assert run_retail("status", lake=lake).code == 0  # reading still works
    assert run_retail("sql", "SELECT count(*) FROM bronze.sales_lines", lake=lake).code == 0


def test_an_unreadable_format_record_is_refused(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    ok("ingest", write_csv(tmp_path / "b1.csv", [("100001", "12/1/2010", "1.00")]), lake=lake)
    (lake / "_journal" / "lake-format.json").write_text('{"notes": {}}', encoding="utf-8")
    done = run_retail("run", lake=lake)
    assert done.code == 2 and "internal error" not in done.stderr, done.stderr
    assert "lake-format.json" in done.stderr and "Upgrade retail-lakehouse" in done.stderr


def old_release(tmp_path: Path, commit: str = OLD_RELEASE) -> Path:
    """The source of :data:`OLD_RELEASE`, from this repository's history (skip without it)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("no git history here")
    found = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.skip(f"{commit} is not in this clone's history")
    folder = tmp_path / "old release"
    folder.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", found.stdout.strip(), "src"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder / "src"


def test_a_release_from_before_the_price_table_refuses_a_lake_that_has_it(
    tmp_path: Path,
) -> None:
    """The real thing: the commit before ``gold.product_prices`` run on a lake this release
    wrote. It reads the format record as an interrupted command and stops, before writing,
    on its recovery function (the record's message): exit 1, "internal error" (its own
    wording), every table as it was."""
    source = old_release(tmp_path)
    lake = tmp_path / "lake"
    ok("ingest", write_csv(tmp_path / "b1.csv", [("100001", "12/1/2010", "1.00")]), lake=lake)
    ok("run", lake=lake)
    ok("ingest", write_csv(tmp_path / "b2.csv", [("100002", "12/2/2010", "5.00")]), lake=lake)
    before = versions(lake)
    for command in (["run"], ["ingest", str(tmp_path / "b1.csv")]):
        done = subprocess.run(
            [sys.executable, "-c", OLD_MAIN, "--lake", str(lake), *command],
            capture_output=True,
            text=True,
            timeout=600,
            env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
            check=False,
        )
        assert done.returncode == 1, (command, done.stdout[-2000:], done.stderr[-2000:])
        assert "this lake has format 3" in done.stderr and "Upgrade" in done.stderr
        assert versions(lake) == before


def test_status_shows_the_lakes_format_in_text_and_json(tmp_path: Path) -> None:
    """``retail status`` says which format the lake records and which this release writes;
    a newer format and an unreadable record are shown (status only reads, exit 0)."""
    lake = tmp_path / "lake"
    ok("ingest", write_csv(tmp_path / "b1.csv", [("100001", "12/1/2010", "1.00")]), lake=lake)
    shown = json.loads(ok("status", "--json", lake=lake))["format"]
    assert shown == {"recorded": 3, "this_release": 3, "problem": None}
    assert "lake format: 3 (this release writes 3)" in ok("status", lake=lake)
    record_path = lake / "_journal" / "lake-format.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record["notes"]["format"] = 4
    record_path.write_text(json.dumps(record), encoding="utf-8")
    assert json.loads(ok("status", "--json", lake=lake))["format"]["recorded"] == 4
    text = ok("status", lake=lake)
    assert "lake format: 4 (this release writes 3)" in text and "newer release" in text, text
    record_path.write_text('{"notes": {}}', encoding="utf-8")
    broken = json.loads(ok("status", "--json", lake=lake))["format"]
    assert broken["recorded"] is None and "Upgrade retail-lakehouse" in broken["problem"]
    assert "lake format: unreadable" in ok("status", lake=lake)


BEFORE_CONTENT_HASHES = "8cd27ff^"
"""The last commit before ``bronze.files.content_sha256``: its lake knows a ``.gz`` file by the
hash of its compressed bytes only."""


def test_a_plain_file_whose_content_an_older_release_took_compressed_is_skipped(
    tmp_path: Path,
) -> None:
    """A lake from before content hashes took ``g.csv.gz``; the same content plain, ``g.csv``,
    was ingested again by this release (its lines then counted as duplicates in silver). The
    compressed file's content hash is now computed on first need (the file still at its path,
    decompressed by the reader worker): ``g.csv`` is skipped, bronze holds the export once."""
    import gzip

    source = old_release(tmp_path, BEFORE_CONTENT_HASHES)
    lake = tmp_path / "lake"
    plain = write_csv(tmp_path / "g.csv", [("100001", "12/13/2010", "1.00")] * 3)
    packed = tmp_path / "landing" / "g.csv.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    done = subprocess.run(
        [sys.executable, "-c", OLD_MAIN, "--lake", str(lake), "ingest", str(packed)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "content_sha256" not in Lake(lake).read("bronze.files").column_names

    again = run_retail("ingest", plain, lake=lake)

    assert again.code == 0, again.stdout + again.stderr
    said = " ".join(again.stdout.split())
    assert "skipped" in said and "same content already in batch 1" in said, said
    assert Lake(lake).read("bronze.files").num_rows == 1
    assert Lake(lake).read("bronze.sales_lines").num_rows == 3

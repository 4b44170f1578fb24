"""Incremental runs on hand-made batches equal a full rebuild; an idle run commits nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.lake import Lake, faults
from retail_lakehouse.lake.consumers import GOLD_CONSUMER
from retail_lakehouse.lake.contracts.gold import GOLD_SUMMARIES, GOLD_TABLES
from retail_lakehouse.lake.watermarks import read_watermark
from tests.unit.gold.silver_rows import UNRESOLVED_KEYS_SQL, line, rows, run_gold, write_batch

UK, FR, DE = "United Kingdom", "France", "Germany"
BATCH_1 = [
    line("1", "A1", 2, "1.50", "2011-01-03 10:00", "c1", UK, "RED BAG"),
    line("1", "A2", 1, "4.00", "2011-01-03 10:00", "c1", UK, "TEA CUP"),
    line("2", "A1", 5, "1.40", "2011-01-04 09:00", "c2", FR, "RED BAG"),
    line("3", "A2", 1, "4.00", "2011-01-10 15:00", None, UK, "TEA CUP"),
    line("C4", "A1", -1, "1.50", "2011-01-11 12:00", "c1", UK, "RED BAG"),
    line("5", "A3", 3, "2.00", "2011-02-01 11:00", "c3", DE, "CANDLE"),  # invoice 5 continues
]
BATCH_2 = [
    line("5", "A1", 1, "1.50", "2011-02-01 11:00", "c3", DE, "RED BAG"),
    line("6", "A1", 1, "1.60", "2011-02-02 11:00", "c1", FR, "RED BAG, NEW"),  # c1 moves
    line("7", "POST", 1, "18.00", "2011-02-02 11:30", "c2", FR, "POSTAGE"),
    line("8", "A3", 2, "2.00", "2011-03-07 08:00", "c4", "Narnia", None),  # unmapped country
]


def snapshot(lake: Lake) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for table in (*GOLD_TABLES, *GOLD_SUMMARIES):
        data = rows(lake, f"SELECT * FROM {table.qualified}")
        for row in data:
            row.pop("_run_id", None)
        out[table.qualified] = sorted(data, key=repr)
    return out


def test_incremental_equals_full_rebuild(lake: Lake) -> None:
    write_batch(lake, 1, BATCH_1)
    first = run_gold(lake)
    assert first.full_refresh and not first.nothing_to_do
    write_batch(lake, 2, BATCH_2)
    second = run_gold(lake)
    assert not second.full_refresh and second.lines_in == len(BATCH_2)
    assert second.tables["gold.fact_sales"] == len(BATCH_2)
    assert "gold.dim_time" in second.unchanged
    incremental = snapshot(lake)
    run_gold(lake, full_refresh=True)
    assert snapshot(lake) == incremental
    invoice_5 = rows(lake, "SELECT line_count FROM gold.dim_invoice WHERE invoice_no = '5'")
    assert invoice_5 == [{"line_count": 2}]
    product = rows(lake, "SELECT description FROM gold.dim_product WHERE stock_code = 'A1'")
    assert product == [{"description": "RED BAG, NEW"}]
    narnia = rows(lake, "SELECT iso3 FROM gold.dim_country WHERE country = 'Narnia'")
    assert narnia == [{"iso3": None}]


def test_idle_run_changes_no_table_version(lake: Lake) -> None:
    write_batch(lake, 1, BATCH_1)
    run_gold(lake)
    before = lake.versions()
    report = run_gold(lake)
    assert report.nothing_to_do
    assert lake.versions() == before
    assert read_watermark(lake, GOLD_CONSUMER) == 1


def test_every_fact_key_resolves(lake: Lake) -> None:
    write_batch(lake, 1, BATCH_1)
    write_batch(lake, 2, BATCH_2)
    run_gold(lake)
    missing = rows(lake, UNRESOLVED_KEYS_SQL)
    assert missing == [dict.fromkeys(missing[0], 0)]


def test_a_later_batch_moves_a_customer_without_a_pass_over_the_fact(lake: Lake) -> None:
    """New lines all later than the fact's: new SCD2 versions start after every old line, so
    no earlier batch is re-keyed (decided from the fact files' statistics), and the result
    still equals a rebuild."""
    write_batch(lake, 1, BATCH_1)
    write_batch(lake, 2, BATCH_2)
    run_gold(lake)
    later = [
        line("9", "A1", 2, "1.50", "2011-04-01 10:00", "c2", DE, "RED BAG, NEW"),  # c2 moves
        line("10", "A2", 1, "4.00", "2011-04-02 10:00", "c1", FR, "TEA CUP"),
    ]
    write_batch(lake, 3, later)
    report = run_gold(lake)
    assert not report.full_refresh and report.rekeyed_batches == []
    versions = rows(lake, "SELECT country FROM gold.dim_customer WHERE customer_id = 'c2'")
    assert sorted(v["country"] for v in versions) == sorted([DE, FR])
    incremental = snapshot(lake)
    run_gold(lake, full_refresh=True)
    assert snapshot(lake) == incremental


def test_new_invoices_are_added_to_dim_invoice_and_late_ones_still_rekey(lake: Lake) -> None:
    """An append whose invoices are all new adds their rows to ``dim_invoice`` as a file of
    their own (the previous rows are not rewritten); a late line among them still re-keys the
    earlier batch, whose fact rows keep their (older) invoices' keys."""
    write_batch(lake, 1, BATCH_1)
    run_gold(lake)
    files_before = len(lake.delta("gold.dim_invoice").file_uris())  # type: ignore[union-attr]
    late = [line("9", "A2", 1, "4.00", "2011-01-05 10:00", "c1", FR, "TEA CUP")]  # c1 moves
    write_batch(lake, 2, late)
    report = run_gold(lake)
    assert report.rekeyed_batches == [1] and report.tables["gold.dim_invoice"] == 1
    assert len(lake.delta("gold.dim_invoice").file_uris()) == files_before + 1  # type: ignore[union-attr]
    missing = rows(lake, UNRESOLVED_KEYS_SQL)
    assert missing == [dict.fromkeys(missing[0], 0)]
    incremental = snapshot(lake)
    run_gold(lake, full_refresh=True)
    assert snapshot(lake) == incremental


def test_a_redo_after_dim_customer_was_committed_equals_a_rebuild(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Later lines continue ``dim_customer`` from its current versions; a run that failed
    right after committing the dimension must not continue the versions it already added
    (the dimension's own last ``valid_from`` sends the redo back to the customers' lines)."""
    write_batch(lake, 1, BATCH_1)
    write_batch(lake, 2, BATCH_2)
    run_gold(lake)
    later = [
        line("9", "A1", 2, "1.50", "2011-04-01 10:00", "c2", DE, "RED BAG, NEW"),  # c2 moves
        line("10", "A2", 1, "4.00", "2011-04-03 10:00", "c2", FR, "TEA CUP"),  # and back
        line("11", "A2", 1, "4.00", "2011-04-04 10:00", "c1", FR, "TEA CUP"),
    ]
    write_batch(lake, 3, later)
    monkeypatch.setattr(faults, "_ARMED", ("after:gold.dim_customer", 1, "enospc"))
    with pytest.raises(OSError):
        run_gold(lake)
    monkeypatch.setattr(faults, "_ARMED", None)
    run_gold(lake)
    versions = rows(lake, "SELECT version FROM gold.dim_customer WHERE customer_id = 'c2'")
    assert sorted(v["version"] for v in versions) == [1, 2, 3]
    incremental = snapshot(lake)
    run_gold(lake, full_refresh=True)
    assert snapshot(lake) == incremental


def test_new_invoices_in_a_month_with_sales_add_to_its_product_sums(lake: Lake) -> None:
    """Later lines on new invoices in the lake's last month: their sums (orders included) are
    added to the month's previous rows, without reading the month's earlier fact rows; the
    products' rows combine the previous ones with the new lines (a new description wins, a
    line without one keeps the old, the first sale stays, the median needs every price)."""
    write_batch(lake, 1, BATCH_1)
    write_batch(lake, 2, BATCH_2)
    run_gold(lake)
    march = [
        line("12", "A3", 4, "2.00", "2011-03-20 10:00", "c4", UK, "CANDLE"),  # A3 sold in March
        line("13", "A3", 1, "2.50", "2011-03-21 10:00", None, UK, "CANDLE"),
        line("C14", "A3", -1, "2.00", "2011-03-22 10:00", "c4", UK, "CANDLE"),
        line("15", "A2", 1, "4.00", "2011-03-22 11:00", "c1", FR, "TEA CUP, BLUE"),
        line("16", "A1", 1, "9.00", "2011-03-23 11:00", "c1", FR, None),  # no description
    ]
    write_batch(lake, 3, march)
    run_gold(lake)
    a3 = rows(
        lake,
        "SELECT units, orders, returned_units FROM gold.mart_product_performance "
        "WHERE stock_code = 'A3' AND month = DATE '2011-03-01'",
    )
    assert a3 == [{"units": 7, "orders": 3, "returned_units": 1}]
    products = rows(
        lake,
        "SELECT stock_code, description, typical_price, first_sold, last_sold "
        "FROM gold.dim_product WHERE stock_code IN ('A1', 'A2') ORDER BY stock_code",
    )
    assert [(p["description"], str(p["typical_price"])) for p in products] == [
        ("RED BAG, NEW", "1.5000"),
        ("TEA CUP, BLUE", "4.0000"),
    ]
    assert str(products[0]["first_sold"]) == "2011-01-03"
    assert str(products[0]["last_sold"]) == "2011-03-23"
    incremental = snapshot(lake)
    run_gold(lake, full_refresh=True)
    assert snapshot(lake) == incremental


def test_later_appends_across_a_month_end_replace_whole_month_files_and_count_cohorts(
    lake: Lake, tmp_path: Path
) -> None:
    """Appends of later lines (the benchmark's kind): the first crosses a month's end, the
    next starts in that second month. The product mart's rows of the two months are separate
    files, so the second append replaces whole files (no predicate rewrite of a file holding
    both months), and the cohort mart, added to from the new month pairs, equals a rebuild
    after each append (a new customer, an old one back, one in its own cohort month again)."""
    write_batch(lake, 1, BATCH_1)
    run_gold(lake)
    crossing = [
        line("11", "A1", 2, "1.50", "2011-03-31 10:00", "c1", UK, "RED BAG"),
        line("12", "A2", 1, "4.00", "2011-04-01 09:00", "c5", FR, "TEA CUP"),  # a new customer
        line("13", "A3", 1, "2.00", "2011-04-01 10:00", "c1", UK, "CANDLE"),
    ]
    later = [
        line("14", "A1", 1, "1.50", "2011-04-05 10:00", "c5", FR, "RED BAG"),  # its cohort month
        line("15", "A2", 2, "4.00", "2011-04-06 10:00", "c2", FR, "TEA CUP"),
        line("16", "A3", 1, "2.00", "2011-05-02 10:00", "c6", DE, "CANDLE"),
    ]
    for batch, lines in ((2, crossing), (3, later)):
        write_batch(lake, batch, lines)
        report = run_gold(lake)
        assert not report.full_refresh
        table = lake.delta("gold.mart_product_performance")
        assert table is not None
        assert "predicate" not in (table.history(limit=1)[0].get("operationParameters") or {})
        incremental = snapshot(lake)
        assert incremental["gold.mart_cohort_retention"]
        copy = Lake(tmp_path / f"rebuilt-{batch}")
        shutil.copytree(lake.root, copy.root)
        run_gold(copy, full_refresh=True)
        assert snapshot(copy) == incremental, batch
    months = rows(lake, "SELECT DISTINCT month FROM gold.mart_product_performance ORDER BY 1")
    assert len(months) == 5


def test_an_append_recategorises_renamed_products_and_keeps_the_others(lake: Lake) -> None:
    """Under the same mapping an append keeps the key and category of a recomputed product
    whose description did not change, and matches the keywords again for one whose did (and
    for a new one): the dimension equals a rebuild's (decision 0020, eleventh round)."""
    write_batch(lake, 1, BATCH_1)
    write_batch(lake, 2, BATCH_2)
    run_gold(lake)
    before = rows(lake, "SELECT stock_code, category FROM gold.dim_product ORDER BY 1")
    later = [
        line("9", "A1", 2, "1.50", "2011-04-01 10:00", "c2", DE, "CHRISTMAS BAUBLE"),  # renamed
        line("10", "A2", 1, "4.00", "2011-04-02 10:00", "c1", FR, "TEA CUP"),  # as before
        line("11", "A3", 1, "2.00", "2011-04-02 11:00", "c1", FR, None),  # no description
        line("12", "B9", 1, "3.00", "2011-04-03 10:00", "c1", FR, "PARTY BUNTING"),  # new
    ]
    write_batch(lake, 3, later)
    report = run_gold(lake)
    assert not report.full_refresh and report.rekeyed_batches == []
    after = {
        r["stock_code"]: r["category"]
        for r in rows(lake, "SELECT stock_code, category FROM gold.dim_product")
    }
    assert (
        after["A1"] == "Christmas" != dict((r["stock_code"], r["category"]) for r in before)["A1"]
    )
    assert after["B9"] == "Party"
    incremental = snapshot(lake)
    run_gold(lake, full_refresh=True)
    assert snapshot(lake) == incremental

"""process() at the edges: empty silver, batches with no surviving line, missing tables,
a user category file, and the summary the demo prints."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from retail_lakehouse.config import Settings
from retail_lakehouse.engines import open_engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.consumers import GOLD_CONSUMER
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.lake.watermarks import read_watermark
from retail_lakehouse.pipeline import gold
from tests.unit.gold.silver_rows import line, rows, run_gold, write_batch

LINES = [
    line("1", "A1", 2, "1.50", "2011-01-03 10:00", "c1", description="JUMBO BAG RED"),
    line("2", "A2", 1, "4.00", "2011-02-04 09:00", "c2", "France", "ALARM CLOCK"),
]


def render(renderable: object) -> str:
    console = Console(width=120, record=True)
    console.print(renderable)
    return console.export_text()


def test_no_silver_at_all_is_nothing_to_do(lake: Lake) -> None:
    report = run_gold(lake)
    assert report.nothing_to_do and "nothing to do" in render(report.render())
    assert lake.tables() == []


def test_empty_silver_builds_empty_gold(lake: Lake) -> None:
    write_batch(lake, 1, [])
    report = run_gold(lake)
    assert not report.nothing_to_do and report.tables["gold.fact_sales"] == 0
    assert rows(lake, "SELECT count(*) AS n FROM gold.dim_customer") == [{"n": 1}]  # unknown
    assert read_watermark(lake, GOLD_CONSUMER) == 1


def test_a_batch_without_lines_only_moves_the_watermark(lake: Lake) -> None:
    write_batch(lake, 1, LINES)
    run_gold(lake)
    before = {t: v for t, v in lake.versions().items() if t.startswith("gold.")}
    write_batch(lake, 2, [])  # e.g. every line of the file was quarantined
    report = run_gold(lake)
    assert report.lines_in == 0 and not report.tables
    assert {t: v for t, v in lake.versions().items() if t.startswith("gold.")} == before
    assert read_watermark(lake, GOLD_CONSUMER) == 2


def test_a_missing_gold_table_triggers_a_rebuild(lake: Lake) -> None:
    write_batch(lake, 1, LINES)
    run_gold(lake)
    expected = rows(lake, "SELECT * FROM gold.mart_customer_rfm ORDER BY customer_id")
    import shutil

    shutil.rmtree(lake.path("gold.mart_customer_rfm"))
    report = run_gold(lake)
    assert report.full_refresh
    assert rows(lake, "SELECT * FROM gold.mart_customer_rfm ORDER BY customer_id") == expected


def test_user_category_file_from_settings(lake: Lake, tmp_path: Path) -> None:
    mapping = tmp_path / "categories.csv"
    mapping.write_text("keyword,category\nalarm,Alarms\n")
    write_batch(lake, 1, LINES)
    with recorded_run(lake, "gold-test") as run, open_engine(lake, "duckdb") as engine:
        gold.process(lake, engine, run, settings=Settings(product_categories=mapping))
    got = rows(lake, "SELECT stock_code, category FROM gold.dim_product ORDER BY stock_code")
    assert got[:2] == [
        {"stock_code": "A1", "category": "Bags & Storage"},
        {"stock_code": "A2", "category": "Alarms"},
    ]


def test_summary_and_report_render(lake: Lake) -> None:
    write_batch(lake, 1, LINES)
    report = run_gold(lake)
    text = render(report.render())
    assert "gold.fact_sales" in text and "full rebuild" in text
    parts = [render(part) for part in gold.summary(lake)]
    assert len(parts) == 3
    assert "United Kingdom" in parts[0] and "France" in parts[0]
    assert "2011-01" in parts[1]
    assert "customers" in parts[2]


def test_a_changed_category_file_reaches_products_an_append_does_not_touch(
    lake: Lake, tmp_path: Path
) -> None:
    """An append derives categories only for the products it recomputes while the mapping is
    the one the previous commit used; a new mapping re-derives every row (decision 0020)."""

    def append(batch: int, settings: Settings) -> list[dict[str, object]]:
        bag = line(str(batch + 10), "A1", 1, "1.50", f"2011-0{batch + 2}-01 10:00", "c1")
        write_batch(lake, batch, [{**bag, "description": "JUMBO BAG RED"}])
        with recorded_run(lake, "gold-test") as run, open_engine(lake, "duckdb") as engine:
            gold.process(lake, engine, run, settings=settings)
        return rows(lake, "SELECT stock_code, category FROM gold.dim_product ORDER BY 1")

    write_batch(lake, 1, LINES)
    run_gold(lake)
    assert rows(lake, "SELECT category FROM gold.dim_product WHERE stock_code = 'A2'") != [
        {"category": "Alarms"}
    ]
    mapping = tmp_path / "categories.csv"
    mapping.write_text("keyword,category\nalarm,Alarms\n")
    changed = append(2, Settings(product_categories=mapping))
    assert changed[:2] == [
        {"stock_code": "A1", "category": "Bags & Storage"},
        {"stock_code": "A2", "category": "Alarms"},  # not in the append: re-derived
    ]
    assert append(3, Settings(product_categories=mapping)) == changed  # same mapping: kept

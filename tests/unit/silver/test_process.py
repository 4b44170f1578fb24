"""``silver.process`` over real Delta tables: dedup, accounting, idempotency, crash safety,
gates and the quality history it writes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline import silver
from retail_lakehouse.pipeline.errors import GateFailed, RulesError
from retail_lakehouse.pipeline.silver.commit import commit_pass
from retail_lakehouse.pipeline.silver.summary import SilverReport
from retail_lakehouse.pipeline.silver.transform import build_pass, pending_batches, watermark
from retail_lakehouse.pipeline.status import lake_status
from retail_lakehouse.quality.rules import load_rules
from tests.unit.silver.support import raw, write_batch

VOLATILE = {"_run_id", "_processed_at"}
SILVER_TABLES = ("silver.sales_lines", "silver.quarantine", "silver.duplicates")


def process(lake: Lake, engine: Engine, *rules: Path, full_refresh: bool = False) -> SilverReport:
    with recorded_run(lake, "test") as run:
        return silver.process(lake, engine, run, extra_rules=list(rules), full_refresh=full_refresh)


def content(lake: Lake, table: str) -> list[dict[str, Any]]:
    if not lake.exists(table):
        return []
    data: pa.Table = lake.delta(table).to_pyarrow_table()  # type: ignore[union-attr]
    rows = [{k: v for k, v in r.items() if k not in VOLATILE} for r in data.to_pylist()]
    return sorted(rows, key=lambda r: (r["_batch_seq"], r["_row_number"]))


def snapshot(lake: Lake) -> dict[str, list[dict[str, Any]]]:
    return {table: content(lake, table) for table in SILVER_TABLES}


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


FIRST = [
    raw(),
    raw(stock_code="71053", description="WHITE METAL LANTERN", unit_price="3.39"),
    raw(),  # exact duplicate of the first line, in the same batch
    raw(quantity="abc"),  # unparseable quantity: quarantined
    raw(
        invoice_no="C536379",
        stock_code="D",
        description="Discount",
        quantity="-1",
        unit_price="27.50",
        customer_id="14527",
    ),
]


def test_nothing_pending_writes_nothing(lake: Lake, engine: Engine) -> None:
    report = process(lake, engine)
    assert not report.did_work and report.bronze_lines == 0
    assert lake.tables() == []


def test_lines_add_up_and_go_to_the_right_table(lake: Lake, engine: Engine) -> None:
    write_batch(lake, FIRST, seq=1)
    report = process(lake, engine)
    assert (report.bronze_lines, report.silver_lines, report.quarantined, report.duplicates) == (
        5,
        3,
        1,
        1,
    )
    assert report.balanced and report.batches == [1]
    quarantine = content(lake, "silver.quarantine")
    assert [q["_row_number"] for q in quarantine] == [5]
    assert quarantine[0]["raw_quantity"] == "abc"
    assert quarantine[0]["quarantine_reasons"] == ["quantity_parseable"]
    assert "quantity_parseable" in quarantine[0]["quality_flags"]
    duplicates = content(lake, "silver.duplicates")
    assert [(d["_row_number"], d["kept_batch_seq"], d["kept_row_number"]) for d in duplicates] == [
        (4, 1, 2)
    ]
    accounting = lake_status(lake)["accounting"]
    assert accounting["balanced"] and accounting["bronze"] == 5 and accounting["pending"] == 0
    assert watermark(lake) == 1 and pending_batches(lake) == []


def test_the_same_sale_in_another_layout_is_a_duplicate_across_runs(
    lake: Lake, engine: Engine
) -> None:
    write_batch(lake, FIRST, seq=1)
    process(lake, engine)
    again = [
        raw(invoice_date="2010-12-01 08:26:00", customer_id="17850.0", unit_price="£2.55"),
        raw(invoice_date="12/1/10 8:26", country=" united kingdom "),
        raw(quantity="abc", invoice_date="2010-12-01T08:26"),  # same garbage: same line
        raw(quantity="xyz"),  # different garbage: a different line
        raw(customer_id="17851"),  # a different customer: a different sale
    ]
    write_batch(lake, again, seq=2)
    report = process(lake, engine)
    assert (report.bronze_lines, report.silver_lines, report.quarantined, report.duplicates) == (
        5,
        1,
        1,
        3,
    )
    kept = {
        (d["_batch_seq"], d["_row_number"]): (d["kept_batch_seq"], d["kept_row_number"])
        for d in content(lake, "silver.duplicates")
    }
    assert kept[(2, 2)] == (1, 2) and kept[(2, 3)] == (1, 2) and kept[(2, 4)] == (1, 5)
    assert lake_status(lake)["accounting"]["balanced"]


def test_duplicates_across_runs_are_found_at_both_ends_of_the_new_lines_dates(
    lake: Lake, engine: Engine
) -> None:
    """Earlier lines are narrowed to the new lines' instants (decision 0020, third addendum):
    repeats of the first and of the last new instant, and of a line whose date did not parse,
    are still found; a line a second past an earlier one is not its duplicate."""
    write_batch(
        lake,
        [
            raw(invoice_date="12/1/2010 8:26"),
            raw(invoice_date="6/30/2011 17:59"),
            raw(invoice_date="not a date"),
            raw(invoice_date="3/1/2011 10:00"),
        ],
        seq=1,
    )
    process(lake, engine)
    write_batch(
        lake,
        [
            raw(invoice_date="12/1/2010 8:26"),  # the earliest new instant, a repeat
            raw(invoice_date="6/30/2011 17:59"),  # the latest new instant, a repeat
            raw(invoice_date="not a date"),  # the same unparsed text, a repeat
            raw(invoice_date="2011-03-01 10:00:01"),  # a second later: another sale
        ],
        seq=2,
    )
    report = process(lake, engine)
    kept = {
        d["_row_number"]: (d["kept_batch_seq"], d["kept_row_number"])
        for d in content(lake, "silver.duplicates")
        if d["_batch_seq"] == 2
    }
    assert kept == {2: (1, 2), 3: (1, 3), 4: (1, 4)}
    assert report.duplicates == 3 and report.balanced


def test_a_second_run_with_nothing_new_changes_no_table(lake: Lake, engine: Engine) -> None:
    write_batch(lake, FIRST, seq=1)
    process(lake, engine)
    before = lake.versions()
    report = process(lake, engine)
    assert not report.did_work
    assert lake.versions() == before


def test_a_crash_before_the_watermark_is_repaired_by_the_next_run(
    lake: Lake, engine: Engine
) -> None:
    write_batch(lake, FIRST, seq=1)
    process(lake, engine)
    write_batch(lake, [raw(customer_id="1"), raw(customer_id="2"), raw()], seq=2)
    # Commit batch 2 but "crash" before the results and the watermark are written.
    with recorded_run(lake, "crashed") as run:
        crashed = build_pass(engine, load_rules(), batches=[2], existing=True, now=datetime.now())
        commit_pass(lake, crashed, run.run_id, full_refresh=False)
    assert watermark(lake) == 1 and pending_batches(lake) == [2]
    half_done = snapshot(lake)
    report = process(lake, engine)
    assert report.batches == [2] and report.duplicates == 1
    assert snapshot(lake) == half_done  # same content, nothing doubled
    assert lake_status(lake)["accounting"]["balanced"]


def test_full_refresh_rebuilds_the_same_content(lake: Lake, engine: Engine) -> None:
    write_batch(lake, FIRST, seq=1)
    process(lake, engine)
    write_batch(lake, [raw(invoice_date="2010-12-01 08:26:00"), raw(customer_id="9")], seq=2)
    process(lake, engine)
    incremental = snapshot(lake)
    report = process(lake, engine, full_refresh=True)
    assert report.batches == [1, 2] and report.full_refresh
    assert snapshot(lake) == incremental


def test_quality_history_is_written_every_run(lake: Lake, engine: Engine) -> None:
    write_batch(lake, FIRST, seq=1)
    report = process(lake, engine)
    results = lake.read("meta.quality_results").to_pylist()
    by_rule = {r["rule"]: r for r in results}
    assert by_rule["quantity_parseable"]["lines_failed"] == 1
    assert by_rule["quantity_parseable"]["lines_checked"] == 4
    assert by_rule["no_exact_duplicates"]["lines_checked"] == 5
    assert by_rule["no_exact_duplicates"]["lines_failed"] == 1
    scores = {(s["scope"], s["name"]): s for s in lake.read("meta.quality_scores").to_pylist()}
    overall = scores[("overall", "overall")]
    assert overall["score"] == report.overall_score and overall["grade"] == report.grade
    assert ("dimension", "validity") in scores and ("dimension", "uniqueness") in scores
    lines = content(lake, "silver.sales_lines") + content(lake, "silver.quarantine")
    assert report.overall_score == pytest.approx(sum(r["quality_score"] for r in lines) / 4)


def test_a_failed_gate_commits_nothing_and_names_the_rule(
    lake: Lake, engine: Engine, tmp_path: Path
) -> None:
    write_batch(lake, FIRST, seq=1, name="sales.csv")
    gate = rules_file(
        tmp_path,
        "rules:\n  - name: no_discounts\n    dimension: validity\n    weight: 5\n"
        "    action: fail\n    expression: stock_code <> 'D'\n",
    )
    before = lake.versions()
    with pytest.raises(GateFailed) as failed:
        process(lake, engine, gate)
    message = str(failed.value)
    assert "no_discounts" in message and "1 of 4 lines" in message
    assert "sales.csv line 6" in message
    after = {k: v for k, v in lake.versions().items() if k != "meta.runs"}
    assert after == before  # no silver table was even created
    assert not lake.exists("silver.sales_lines") and watermark(lake) is None


def test_a_gate_within_its_threshold_lets_the_run_through(
    lake: Lake, engine: Engine, tmp_path: Path
) -> None:
    write_batch(lake, FIRST, seq=1)
    gate = rules_file(
        tmp_path,
        "rules:\n  - name: no_discounts\n    dimension: validity\n    weight: 5\n"
        "    action: fail\n    threshold: 0.25\n    expression: stock_code <> 'D'\n",
    )
    report = process(lake, engine, gate)  # 1 of 4 = 25%, not over 25%
    assert report.silver_lines == 3
    assert any("no_discounts" in w for w in report.warnings)


def test_a_gate_on_a_second_batch_keeps_the_first(
    lake: Lake, engine: Engine, tmp_path: Path
) -> None:
    write_batch(lake, FIRST, seq=1)
    process(lake, engine)
    before = snapshot(lake)
    versions = lake.versions()
    write_batch(lake, [raw(customer_id="")], seq=2)
    gate = rules_file(
        tmp_path,
        "rules:\n  - name: customer_present\n    action: fail\n",  # override by name
    )
    with pytest.raises(GateFailed, match="customer_present"):
        process(lake, engine, gate)
    assert snapshot(lake) == before
    assert {k: v for k, v in lake.versions().items() if not k.startswith("meta.runs")} == {
        k: v for k, v in versions.items() if not k.startswith("meta.runs")
    } | {
        "bronze.sales_lines": versions["bronze.sales_lines"] + 1,
        "bronze.files": versions["bronze.files"] + 1,
    }


def test_a_bad_rules_file_is_refused_before_any_work(
    lake: Lake, engine: Engine, tmp_path: Path
) -> None:
    write_batch(lake, FIRST, seq=1)
    bad = rules_file(tmp_path, "rules:\n  - name: x\n    dimension: nope\n")
    with pytest.raises(RulesError, match=r"rules\.yaml"):
        process(lake, engine, bad)
    assert not lake.exists("silver.sales_lines")


def test_a_pass_with_nothing_to_quarantine_replaces_the_old_quarantine_with_nothing(
    lake: Lake, engine: Engine, tmp_path: Path
) -> None:
    write_batch(lake, FIRST, seq=1)
    assert process(lake, engine).quarantined == 1
    lenient = rules_file(
        tmp_path,
        """
rules:
  - name: quantity_parseable
    dimension: validity
    expression: quantity IS NOT NULL OR is_blank(raw_quantity)
    weight: 30
    action: warn
""",
    )
    report = process(lake, engine, lenient, full_refresh=True)
    assert (report.silver_lines, report.quarantined, report.duplicates) == (4, 0, 1)
    assert report.balanced
    assert content(lake, "silver.quarantine") == []
    unparsed = [r for r in content(lake, "silver.sales_lines") if r["quantity"] is None]
    assert [r["quality_flags"] for r in unparsed] == [["quantity_parseable"]]
    assert lake.snapshot_files("silver.quarantine") == []
    # on disk: only the first run's file (removed from the log); the empty staged one is gone
    assert len(list(lake.path("silver.quarantine").glob("*.parquet"))) == 1


def test_wide_lines_as_a_scratch_file_or_a_temporary_table_give_the_same_silver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB keeps a big pass's standardised lines in a Parquet scratch file and a small one's
    in a temporary table (``DuckDBEngine.materialize_wide``): both must commit the same rows."""
    from retail_lakehouse.engines import duckdb as duckdb_engine
    from retail_lakehouse.engines import open_engine

    second = [raw(invoice_date="2010-12-01 08:26:00"), raw(customer_id="9"), raw(quantity="x")]
    snapshots = []
    for wide_rows in (0, 10**12):  # every pass as a file, then every pass as a table
        monkeypatch.setattr(duckdb_engine, "WIDE_ROWS", wide_rows)
        lake = Lake(tmp_path / f"lake-{wide_rows}")
        write_batch(lake, FIRST, seq=1)
        write_batch(lake, second, seq=2)
        with open_engine(lake, "duckdb") as engine:
            used: list[str] = []
            original = engine.materialize

            def spy(expr: Any, name: str, original: Any = original, used: list[str] = used) -> Any:
                used.append(name)
                return original(expr, name)

            monkeypatch.setattr(engine, "materialize", spy)
            process(lake, engine)
            rows_known = any(name.startswith("silver_lines_") for name in used)
        snapshots.append((snapshot(lake), rows_known))
    (as_file, file_used_table), (as_table, table_used_table) = snapshots
    assert not file_used_table and table_used_table  # each path was taken once
    assert as_file == as_table and as_file["silver.sales_lines"]

"""Silver on PySpark equals silver on DuckDB: every column of every silver, quarantine and duplicate
line, and every rule count.

Both lakes get the same bronze batches through the real ``retail ingest``, including the hostile
text of :mod:`tests.adversarial` (escape letters at the ends of values, every kind of whitespace,
unicode, empty values, extreme numbers) and the lines of :mod:`tests.engine_breakers` (look-alike
Unicode, two-digit years, decimal edges, a workbook repeating a line per sheet); silver then runs on
DuckDB in one lake and on PySpark local mode in the other, after each group of batches, so the first
run and the incremental path (dedup against earlier batches) are both compared. The transformation
and the rules are defined once in Ibis; a difference would come from an engine semantic (regular
expressions, date parsing, decimal rounding, hashing, window ties).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from retail_lakehouse.config import Settings
from retail_lakehouse.engines import open_engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline import silver
from retail_lakehouse.pipeline.silver.parse import parse_invoice_ts
from tests.adversarial import write_adversarial
from tests.conftest import REAL_DATA, run_retail
from tests.conftest import ingest_with_cli as ingest
from tests.engine_breakers import write_breakers

pytestmark = pytest.mark.spark

EDGE_CASES = """\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123a, WHITE HANGING HEART ,6,12/1/2010 8:26,2.55,17850.0,United Kingdom
536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,£2.55,17850,united kingdom
536366,22633,HAND WARMER,3.0,2010-12-01T08:28:00,"1,234.50",,EIRE
536366,22632,HAND WARMER RED,3.5,12/1/10 8:28,1.85,17850,RSA
536367,84879,BIRD ORNAMENT, 32 ,40513.35138888889,$1.69,13047,USA
536367,22745,POPPY'S PLAYHOUSE,1,12/1/2010 25:00,"2,55",13047,Atlantis
536368,22960,JAM MAKING SET,0,12/1/2010 08:34,4.25,13047,
C536369,22961,JAM JAR,-6,12/01/2010 08:35:10,0.85,13047,Channel Islands
A563185,B,Adjust bad debt,1,8/12/2011 14:50,-11062.06,,United Kingdom
536370,POST,POSTAGE,1,2010-12-01,18,12583,France
536371,,NO CODE,1,12/1/2010 9:00,1,12583,France
536372,22728,ALARM CLOCK,abc,yesterday,x,12583,France
536373,22727,ALARM CLOCK RED,1,2010-12-01T09:01:00.000Z,3.75,12583,European Community
536373,22727,ALARM CLOCK RED,1,2010-12-01T09:01:00.000Z,3.75,12583,European Community
536374,21730,GLASS STAR,1000000,12/1/2010 9:02,4.25,17850,Unspecified
536375,21731,"TAB\tDESCRIPTION\t",+2,12/1/2010 9:03,€ 1.10,17851,Germany
"""
VOLATILE = {"_run_id", "_processed_at"}
SILVER_TABLES = ("silver.sales_lines", "silver.quarantine", "silver.duplicates")


ZONE = "Europe/London"
"""The lakes' ``time_zone``: every instant (the breakers' ``Z`` and offset texts, the typed
London Parquet file) goes through each engine's time-zone database, around London's 2011
clock changes and New Year's Eve."""


def run_silver(lake: Path, engine_name: str) -> silver.SilverReport:
    target = Lake(lake)
    settings = Settings.model_construct(time_zone=ZONE)
    with recorded_run(target, "parity") as run, open_engine(target, engine_name) as engine:
        return silver.process(target, engine, run, extra_rules=[], settings=settings)


def content(lake: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for table in SILVER_TABLES:
        delta = Lake(lake).delta(table)
        assert delta is not None, table
        rows = [
            {k: v for k, v in r.items() if k not in VOLATILE}
            for r in delta.to_pyarrow_table().to_pylist()
        ]
        # A workbook's sheets share a batch and number their rows each from 1: the sheet
        # (``_source_file`` is ``book.xlsx#Sheet``) orders them.
        out[table] = sorted(
            rows, key=lambda r: (r["_batch_seq"], r.get("_source_file") or "", r["_row_number"])
        )
    results = Lake(lake).read("meta.quality_results").to_pylist()
    out["meta.quality_results"] = sorted(
        ({k: r[k] for k in ("rule", "lines_checked", "lines_failed", "score")} for r in results),
        key=lambda r: (r["rule"], r["lines_checked"], r["lines_failed"]),
    )
    return out


def differences(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[str]:
    found = [f"{len(left)} vs {len(right)} rows"] if len(left) != len(right) else []
    for a, b in zip(left, right, strict=False):
        changed = {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}
        if changed:
            found.append(f"{a.get('_batch_seq')}/{a.get('_row_number')}: {changed}")
    return found[:10]


def test_silver_is_identical_on_duckdb_and_spark(spark_session: None, tmp_path: Path) -> None:
    edge = tmp_path / "edge_cases.csv"
    edge.write_text(EDGE_CASES, encoding="utf-8")
    generated = tmp_path / "generated.csv"
    done = run_retail("generate", "--rows", "6000", "--out", generated, "--seed", "7")
    assert done.code == 0, done.stderr
    lakes = {"duckdb": tmp_path / "duck", "spark": tmp_path / "spark"}
    breakers, later, _ = write_breakers(tmp_path / "breakers")
    groups = [
        [
            edge,
            *write_adversarial(tmp_path / "adversarial"),
            *breakers,
            REAL_DATA / "online_retail_head_1071.csv",
        ],
        [generated, *later, REAL_DATA / "online_retail_head_999_short_dates.csv"],
    ]
    for group in groups:
        reports = {}
        for name, lake in lakes.items():
            for source in group:
                ingest(lake, source)
            reports[name] = run_silver(lake, name)
        duck, spark = reports["duckdb"], reports["spark"]
        assert (duck.bronze_lines, duck.silver_lines, duck.quarantined, duck.duplicates) == (
            spark.bronze_lines,
            spark.silver_lines,
            spark.quarantined,
            spark.duplicates,
        )
        assert duck.overall_score == spark.overall_score
        left, right = content(lakes["duckdb"]), content(lakes["spark"])
        for table in left:
            assert not differences(left[table], right[table]), (
                table,
                differences(left[table], right[table]),
            )
    final = content(lakes["duckdb"])
    assert final["silver.quarantine"] and final["silver.duplicates"]
    assert any(line["_batch_seq"] > 2 for line in final["silver.duplicates"])


INSTANTS = (
    "2011-03-27T00:30:00Z",  # Berlin's and London's spring gaps: 01:30 CET is 03:30 CEST next
    "2011-03-27T01:30:00Z",
    "2011-10-30T00:30:00Z",  # the repeated hour (Berlin 02:30 twice, London 01:30 twice)
    "2011-10-30T01:30:00+00:00",
    "2011-10-02T15:30:00Z",  # Lord Howe's spring change: half an hour forward
    "2011-04-02T14:30:00Z",  # and its autumn one: half an hour back, repeated
    "2011-12-31T18:30:00Z",  # New Year in Kolkata (+05:30), still 2011 in UTC
    "2011-12-31T23:30:00-01:00",  # New Year in UTC and Europe, 2011 as written
    "2011-11-06T06:30:00Z",  # New York's repeated 01:30 (EDT, then EST)
    "2011-11-06T05:30:00+0000",
    "2011-12-05T09:00:00+12:45",  # Chatham's offset
    "2011-12-05T09:00:00-03",
    "2011-12-05 09:00z",
)
ZONES = ("Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe", "America/New_York")


def test_instants_become_the_same_wall_clocks_on_both_engines(
    spark_session: None, tmp_path: Path
) -> None:
    """Silver's one conversion, on each engine's own time-zone database (ICU, java.time), in
    zones with daylight saving, a half-hour zone and one whose clock moves by half an hour."""
    got = {}
    for name in ("duckdb", "spark"):
        with open_engine(Lake(tmp_path / name), name) as engine:
            texts = engine.arrow_table(pa.table({"text": list(INSTANTS)}), f"instants_{name}")
            zoned = {z: parse_invoice_ts(engine, texts.text, time_zone=z) for z in ZONES}
            table = engine.to_arrow(texts.select(texts.text, **{f"z{i}": zoned[z] for i, z in
                                                                enumerate(ZONES)}))  # fmt: skip
            got[name] = table.sort_by("text").to_pylist()
    assert got["duckdb"] == got["spark"]
    berlin = {row["text"]: row["z0"] for row in got["duckdb"]}
    assert berlin["2011-10-30T00:30:00Z"] == berlin["2011-10-30T01:30:00+00:00"]
    assert berlin["2011-03-27T01:30:00Z"] == dt.datetime(2011, 3, 27, 3, 30)
    kolkata = {row["text"]: row["z1"] for row in got["duckdb"]}
    assert kolkata["2011-12-31T18:30:00Z"] == dt.datetime(2012, 1, 1, 0, 0)
    lord_howe = {row["text"]: row["z2"] for row in got["duckdb"]}
    assert lord_howe["2011-10-02T15:30:00Z"] == dt.datetime(2011, 10, 3, 2, 30)  # +11:00


GLOB_AND_COLON = "sales {2026} #1? café's @ home */x=1/50% off/a:b"
"""Glob characters above a segment with a colon: Spark read the files of a lake under it as a
glob pattern, and Hadoop's glob took ``a:b`` for a URI ("Relative path in absolute URI: a:b",
an internal error of ``retail run --engine spark``; decision 0016, addendum on folder names)."""


def test_spark_reads_a_table_under_glob_characters_and_a_colon_as_delta_lake_has_it(
    spark_session: None, tmp_path: Path
) -> None:
    """The guard of ``make test`` (the module's JVM; the whole pipeline in such a folder is
    ``test_lake_folder_names.py``, soak): the bronze table read through ``SparkEngine.table``
    holds the rows DuckDB reads (``Lake.read``), each file once, no column added."""
    source = tmp_path / "edge_cases.csv"
    source.write_text(EDGE_CASES, encoding="utf-8")
    lake = tmp_path / GLOB_AND_COLON / "lake"
    for file in (source, *sorted(REAL_DATA.glob("online_retail_head_*.csv"))[:2]):
        ingest(lake, file)  # three files: unioned in pairs, one left over
    expected = Lake(lake).read("bronze.sales_lines")
    with open_engine(Lake(lake), "spark") as engine:
        read = engine.to_arrow(engine.table("bronze.sales_lines"))
    assert read.num_rows == expected.num_rows > 1000  # each file read once
    order = [("_batch_seq", "ascending"), ("_row_number", "ascending")]
    read = read.select(expected.column_names).cast(expected.schema).sort_by(order)
    assert read.equals(expected.sort_by(order))

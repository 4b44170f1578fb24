"""The lake's time zone, from the user's side (decision 0017, addendum on the lake's time zone).

One shop exports the same sales three ways: CSV in the shop's wall clock, Parquet with
timestamps zoned Europe/Berlin, NDJSON with ISO 8601 text carrying an offset or ``Z``. With
``time_zone = "Europe/Berlin"`` silver and gold give the three the same invoice dates, around
both clock changes and across New Year; with the default (UTC) the zoned instants land in UTC,
as before, while the CSV keeps its wall clock. A lake built in one zone refuses an incremental
run in another until ``retail run --full-refresh`` rebuilds it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import RetailCli

BERLIN = dt.timezone(dt.timedelta(hours=1)), dt.timezone(dt.timedelta(hours=2))

SALES: list[tuple[str, str, str, str]] = [
    # (CSV wall clock, the instant in UTC, the same instant as ISO text with an offset, why)
    ("1/15/2011 10:00", "2011-01-15 09:00:00", "2011-01-15T10:00:00+01:00", "winter"),
    ("7/1/2011 10:00", "2011-07-01 08:00:00", "2011-07-01T08:00:00Z", "summer"),
    ("3/27/2011 3:30", "2011-03-27 01:30:00", "2011-03-27T07:00:00+05:30", "after spring gap"),
    ("10/30/2011 2:30", "2011-10-30 00:30:00", "2011-10-30T02:30:00+02:00", "02:30 CEST"),
    ("10/30/2011 2:30", "2011-10-30 01:30:00", "2011-10-30T02:30+0100", "02:30 CET"),
    ("1/1/2012 0:30", "2011-12-31 23:30:00", "2011-12-31T18:30:00-05:00", "new year"),
]
HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice"]
HEADER += ["CustomerID", "Country"]


def _line(family: int, number: int, country: str) -> dict[str, str]:
    """Sale ``number`` as file ``family`` writes it: its own invoice number, the same goods."""
    return {
        "InvoiceNo": str(family * 100_000 + number),
        "StockCode": "85123A",
        "Description": "WHITE HANGING HEART",
        "Quantity": "6",
        "UnitPrice": "2.55",
        "CustomerID": "17850",
        "Country": country,
    }


def _exports(folder: Path) -> list[Path]:
    """The three exports of the same six sales (invoices 1xxxxx CSV, 2xxxxx Parquet, 3xxxxx
    NDJSON; countries tell them apart in the daily mart)."""
    folder.mkdir()
    wall = folder / "shop.csv"
    with wall.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, HEADER)
        writer.writeheader()
        for n, (text, *_) in enumerate(SALES):
            writer.writerow({**_line(1, n, "Germany"), "InvoiceDate": text})
    zoned = folder / "shop.parquet"
    instants = [dt.datetime.fromisoformat(utc).replace(tzinfo=dt.UTC) for _, utc, _, _ in SALES]
    rows = pa.Table.from_pylist([_line(2, n, "Austria") for n in range(len(SALES))])
    column = pa.array(instants, pa.timestamp("us", tz="UTC")).cast(
        pa.timestamp("us", tz="Europe/Berlin")
    )
    pq.write_table(rows.append_column("InvoiceDate", column), zoned)
    iso = folder / "shop.ndjson"
    iso.write_text(
        "".join(
            json.dumps({**_line(3, n, "Switzerland"), "InvoiceDate": text}) + "\n"
            for n, (_, _, text, _) in enumerate(SALES)
        )
    )
    return [wall, zoned, iso]


def _sql(retail: RetailCli, project: Path, query: str) -> list[dict[str, object]]:
    done = retail("sql", query, "-f", "json", cwd=project)
    assert done.code == 0, done.stderr
    rows: list[dict[str, object]] = done.json()
    return rows


def _dates(retail: RetailCli, project: Path) -> dict[int, list[tuple[object, ...]]]:
    """Per export (1 CSV, 2 Parquet, 3 NDJSON): each sale's silver ``invoice_ts`` and gold
    ``date_key``, ``time_key``, ``invoice_ts``, in sale order."""
    rows = _sql(
        retail,
        project,
        "SELECT s.invoice_no, CAST(s.invoice_ts AS VARCHAR) AS silver_ts, f.date_key, "
        "f.time_key, CAST(f.invoice_ts AS VARCHAR) AS gold_ts FROM silver.sales_lines s "
        "JOIN gold.fact_sales f ON f.line_key = s._line_key WHERE s.invoice_no < '9' "
        "ORDER BY s.invoice_no",
    )
    found: dict[int, list[tuple[object, ...]]] = {1: [], 2: [], 3: []}
    for row in rows:
        invoice = int(str(row["invoice_no"]))
        found[invoice // 100_000].append(
            (row["silver_ts"], row["date_key"], row["time_key"], row["gold_ts"])
        )
    return found


def test_the_same_sales_exported_three_ways_get_the_same_dates_in_the_shops_zone(
    retail: RetailCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "retail.toml").write_text('lake = "lake"\n')
    files = _exports(tmp_path / "exports")
    assert retail("ingest", *files, cwd=project).code == 0
    done = retail("run", cwd=project)
    assert done.code == 0, done.stderr

    # The default, UTC: the CSV keeps its wall clock, the instants land in UTC (as before);
    # an offset is converted, no longer quarantined.
    found = _dates(retail, project)
    walls = [str(dt.datetime.strptime(text, "%m/%d/%Y %H:%M")) for text, *_ in SALES]
    utc = [instant for _, instant, _, _ in SALES]
    assert [row[0] for row in found[1]] == walls
    assert [row[0] for row in found[2]] == utc
    assert [row[0] for row in found[3]] == utc
    assert _sql(retail, project, "SELECT count(*) AS n FROM silver.quarantine") == [{"n": 0}]

    # The shop's zone set: a run in it would mix two wall clocks in one lake, so it is refused
    # (nothing changes), until --full-refresh rebuilds silver and gold from bronze.
    (project / "retail.toml").write_text('lake = "lake"\ntime_zone = "Europe/Berlin"\n')
    later = tmp_path / "later.csv"
    later.write_text(
        ",".join(HEADER) + "\n" + "900001,22423,CAKESTAND,1,2/1/2011 9:00,12.75,13047,Germany\n"
    )
    assert retail("ingest", later, cwd=project).code == 0
    refused = retail("run", cwd=project)
    assert refused.code == 2, refused.stderr
    assert "built in time zone UTC" in refused.stderr
    assert "retail run --full-refresh" in refused.stderr
    assert _sql(retail, project, "SELECT count(*) AS n FROM silver.sales_lines") == [{"n": 18}]

    done = retail("run", "--full-refresh", cwd=project)
    assert done.code == 0, done.stderr
    found = _dates(retail, project)
    assert [row[0] for row in found[1]] == walls
    assert found[2] == found[1]  # silver and gold alike: invoice_ts, date_key, time_key
    assert found[3] == found[1]
    assert [row[1] for row in found[1]][-1] == 20120101  # New Year's Eve in UTC, 2012 here
    daily = _sql(
        retail,
        project,
        "SELECT country, list(CAST(sale_date AS VARCHAR) || ' ' || CAST(gross_revenue AS "
        "VARCHAR) ORDER BY sale_date) AS days FROM gold.mart_daily_sales "
        "WHERE country <> 'Germany' OR sale_date <> DATE '2011-02-01' GROUP BY country "
        "ORDER BY country",
    )
    assert len({json.dumps(row["days"]) for row in daily}) == 1, daily  # three countries alike
    again = retail("run", cwd=project)  # the lake now records Berlin: a plain run is fine
    assert again.code == 0, again.stderr


def test_an_unknown_time_zone_is_refused_before_any_work(
    retail: RetailCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "retail.toml").write_text('time_zone = "Europe/Berlln"\n')
    done = retail("run", cwd=project)
    assert done.code == 2
    assert "Europe/Berlln" in done.stderr and "unknown time zone" in done.stderr
    assert "retail.toml:1" in done.stderr
    monkeypatch.setenv("RETAIL_TIME_ZONE", "+01:00")
    done = retail("ingest", tmp_path, cwd=project)
    assert done.code == 2
    assert "RETAIL_TIME_ZONE" in done.stderr and "unknown time zone" in done.stderr
    assert not (project / "lake").exists()


@pytest.mark.parametrize("point", ["after:silver.sales_lines:kill", "after:meta.watermarks:kill"])
def test_a_killed_rebuild_into_another_zone_leaves_no_lake_of_two_zones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    """``retail run --full-refresh`` into Berlin killed after silver's lines (its watermark still
    UTC's), or after silver's watermark (the zone recorded, gold not rebuilt yet): the next run
    in Berlin finishes the rebuild, and silver and gold are wholly in Berlin."""
    from tests.integration.faults import ok, retail

    lake = tmp_path / "lake"
    ok("ingest", *_exports(tmp_path / "exports"), lake=lake)
    ok("run", lake=lake)
    monkeypatch.setenv("RETAIL_TIME_ZONE", "Europe/Berlin")
    killed = retail("run", "--full-refresh", lake=lake, fault=point)
    assert killed.code != 0
    ok("run", lake=lake)
    rows = ok(
        "sql",
        "SELECT s.invoice_no, CAST(s.invoice_ts AS VARCHAR) AS s, CAST(f.invoice_ts AS VARCHAR) "
        "AS f, w.zones FROM silver.sales_lines s JOIN gold.fact_sales f ON f.line_key = "
        "s._line_key, (SELECT list(time_zone ORDER BY consumer) AS zones FROM meta.watermarks "
        "WHERE consumer IN ('silver', 'gold')) w ORDER BY s.invoice_no",
        "-f",
        "json",
        lake=lake,
    ).json()
    walls = [str(dt.datetime.strptime(text, "%m/%d/%Y %H:%M")) for text, *_ in SALES]
    assert [row["s"] for row in rows] == walls * 3
    assert [row["f"] for row in rows] == walls * 3
    assert {tuple(row["zones"]) for row in rows} == {("Europe/Berlin", "Europe/Berlin")}


def test_status_shows_the_lakes_time_zone_and_says_when_the_setting_differs(
    retail: RetailCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``retail status`` showed nothing of the zone the lake was built in, so a changed
    ``time_zone`` was first heard of as the next run's refusal (exit 2)."""
    lake = tmp_path / "lake"
    monkeypatch.delenv("RETAIL_TIME_ZONE", raising=False)
    monkeypatch.setenv("RETAIL_CONFIG", str(tmp_path / "absent.toml"))
    assert retail("ingest", *_exports(tmp_path / "exports"), lake=lake).code == 0

    def status() -> tuple[str, dict[str, object]]:
        text = retail("status", lake=lake)
        as_json = retail("status", "--json", lake=lake)
        assert text.code == 0 and as_json.code == 0, text.stderr + as_json.stderr
        return " ".join(text.stdout.split()), json.loads(as_json.stdout)["time_zone"]

    said, zone = status()  # nothing built yet: the next run builds in the setting's zone
    assert zone == {"lake": None, "configured": "UTC", "differs": False}, zone
    assert "time zone: UTC (silver and gold not built yet)" in said, said

    assert retail("run", lake=lake).code == 0
    said, zone = status()
    assert zone == {"lake": "UTC", "configured": "UTC", "differs": False}, zone
    assert "time zone: UTC" in said and "differs" not in said, said

    monkeypatch.setenv("RETAIL_TIME_ZONE", "Europe/Berlin")
    said, zone = status()
    assert zone == {"lake": "UTC", "configured": "Europe/Berlin", "differs": True}, zone
    assert (
        "time zone: UTC (silver and gold were built in it); time_zone is now Europe/Berlin: "
        "a `retail run` with new lines is refused until `retail run --full-refresh` rebuilds "
        "them in Europe/Berlin, or time_zone is set back to UTC" in said
    ), said
    later = tmp_path / "later.csv"
    later.write_text(
        ",".join(HEADER) + "\n" + "900001,22423,CAKESTAND,1,2/1/2011 9:00,12.75,13047,Germany\n"
    )
    assert retail("ingest", later, lake=lake).code == 0
    refused = retail("run", lake=lake)  # what status foretold
    assert refused.code == 2 and "built in time zone UTC" in refused.stderr, refused.stderr
    assert retail("run", "--full-refresh", lake=lake).code == 0
    said, zone = status()
    assert zone == {"lake": "Europe/Berlin", "configured": "Europe/Berlin", "differs": False}
    assert "time zone: Europe/Berlin" in said, said

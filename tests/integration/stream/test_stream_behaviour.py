"""``retail stream`` with a real NATS server: hostile events, SIGTERM, broker restarts, refusals,
and gold following the stream (``--run-every``) or a later ``retail run``/``retail watch``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.benchmark.broker import Broker, publish
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import RETAIL, run_retail

SUBJECT = "sales.lines"


def sale(n: int, **extra: Any) -> dict[str, Any]:
    """A canonical-name event for line ``n`` of invoice 5800<n // 10>."""
    return {
        "invoice_no": f"5800{n // 10:02d}",
        "stock_code": f"{85000 + n % 7}A",
        "description": f"ITEM {n % 7}",
        "quantity": 1 + n % 5,
        "invoice_date": f"2011-03-0{1 + n % 5} 10:{n % 60:02d}",
        "unit_price": 1.25 + n % 3,
        "customer_id": str(17000 + n % 11),
        "country": "United Kingdom",
        **extra,
    }


def uci(n: int) -> dict[str, Any]:
    """The same kind of line in the Online Retail II layout's keys (strings, as in the CSV)."""
    e = sale(n)
    return {
        "Invoice": e["invoice_no"],
        "StockCode": e["stock_code"],
        "Description": e["description"],
        "Quantity": str(e["quantity"]),
        "InvoiceDate": e["invoice_date"],
        "Price": str(e["unit_price"]),
        "Customer ID": e["customer_id"],
        "Country": "EIRE",
    }


def query(lake: Path, sql: str) -> list[dict[str, Any]]:
    with LakeSQL(Lake(lake)) as con:
        return con.arrow(sql).to_pylist()


def start(lake: Path, broker: Broker, *extra: str) -> subprocess.Popen[str]:
    command = [RETAIL, "--lake", str(lake), "stream", "--source", broker.url]
    return subprocess.Popen(
        [*command, "--subject", SUBJECT, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def read_until(process: subprocess.Popen[str], needle: str, seen: list[str]) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"ended before {needle!r}:\n" + "".join(seen))
        seen.append(line)
        if needle in line:
            return
    raise AssertionError(f"no {needle!r} in time:\n" + "".join(seen))


def test_bad_events_are_rejected_with_their_offsets_and_sigterm_stops_after_the_commit(
    broker: Broker, tmp_path: Path
) -> None:
    good = [sale(n, shop="north" if n % 2 else None) for n in range(1, 121)]
    mixed = [uci(n) for n in range(121, 141)]
    deep = json.dumps(sale(0))[:-1].encode() + b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    wide = json.dumps({**sale(0), **{f"k{i}": i for i in range(40)}}).encode()
    bad = [b"{not json", b"[1, 2]", b"\xff\xfe", json.dumps({"invoice_no": "1"}).encode()]
    bad += [deep, wide]  # a crash of the JSON parser, and bronze widened for good: refused
    publish(broker.url, SUBJECT, [*good, *bad, *mixed])  # offsets 1-120, 121-126, 127-146
    lake = tmp_path / "lake"
    process = start(lake, broker, "--run-every", "0", "--batch-seconds", "0.3")
    seen: list[str] = []
    try:
        read_until(process, "pipeline run", seen)
        os.kill(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "SIGTERM: stopping after the current commit" in out
    lines = query(lake, "SELECT count(*) AS n, count(x_shop) AS shops FROM bronze.sales_lines")
    assert lines == [{"n": 140, "shops": 60}]
    rejects = query(lake, "SELECT line_number, reason FROM bronze.rejects ORDER BY line_number")
    assert [r["line_number"] for r in rejects] == [121, 122, 123, 124, 125, 126]
    assert [r["reason"] for r in rejects[:3]] == [
        "invalid JSON",
        "not a JSON object",
        "not UTF-8 text",
    ]
    assert rejects[3]["reason"].startswith("missing key(s): stock_code, description")
    assert "limits.max_json_depth" in rejects[4]["reason"]
    assert "limits.max_extra_columns" in rejects[5]["reason"]
    # the canonical and the UCI II layout land in the same columns; gold followed the stream
    eire = query(lake, "SELECT count(*) AS n FROM bronze.sales_lines WHERE country = 'EIRE'")
    assert eire == [{"n": 20}]
    assert query(lake, "SELECT count(*) AS n FROM gold.fact_sales") == [{"n": 140}]
    # the accounting identity holds with stream batches (what `retail status` checks)
    status = run_retail("status", "--json", lake=lake)
    assert status.code == 0, status.stderr
    assert status.json()["accounting"]["balanced"] is True


@pytest.mark.soak
def test_a_broker_restart_is_retried_and_nothing_is_lost_or_doubled(
    broker: Broker, tmp_path: Path
) -> None:
    publish(broker.url, SUBJECT, [sale(n) for n in range(1, 301)])
    lake = tmp_path / "lake"
    process = start(lake, broker, "--until-idle", "15", "--max-batch", "100")
    seen: list[str] = []
    try:
        read_until(process, "batch 1:", seen)
        broker.restart(pause=1.0)  # same port and storage: the stream's records survive
        publish(broker.url, SUBJECT, [sale(n) for n in range(301, 501)])
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "source unavailable" in "".join(seen) + out
    counts = query(
        lake,
        "SELECT count(*) AS n, count(DISTINCT _row_number) AS offsets, max(_row_number) AS top "
        "FROM bronze.sales_lines",
    )
    assert counts == [{"n": 500, "offsets": 500, "top": 500}]
    # `retail watch` runs the pipeline over stream batches like over file batches
    watched = subprocess.run(
        [RETAIL, "--lake", str(lake), "watch", "--once"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert watched.returncode == 0, watched.stderr
    assert query(lake, "SELECT count(*) AS n FROM gold.fact_sales") == [{"n": 500}]


def test_refusals_are_clear_and_exit_2(broker: Broker, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    bad_url = run_retail("stream", "--source", "http://x", "--subject", "a", lake=lake)
    assert bad_url.code == 2
    assert "nats://HOST:PORT" in bad_url.stderr
    publish(broker.url, SUBJECT, [sale(1)])
    no_stream = run_retail(
        "stream", "--source", broker.url, "--subject", "other.subject", lake=lake
    )
    assert no_stream.code == 2
    assert "no JetStream stream" in no_stream.stderr
    assert "other.subject" in no_stream.stderr
    bad_durable = run_retail(
        "stream", "--source", broker.url, "--subject", SUBJECT, "--durable", "a.b", lake=lake
    )
    assert bad_durable.code == 2


def test_an_event_with_a_nul_in_a_value_is_rejected(broker: Broker, tmp_path: Path) -> None:
    """``"\\u0000"`` is valid JSON, and a NUL in gold made every later ``retail publish`` fail
    (PostgreSQL's text cannot hold it): the event is a reject with its offset, as a CSV line
    with a NUL is; other control characters are kept."""
    events = [sale(1), sale(2, description="nul\u0000byte"), sale(3, country="\u0000"), sale(4)]
    events.append(sale(5, description="bell\u0007"))
    publish(broker.url, SUBJECT, events)
    lake = tmp_path / "lake"
    done = subprocess.run(
        [RETAIL, "--lake", str(lake), "stream", "--source", broker.url, "--subject", SUBJECT]
        + ["--until-idle", "1", "--batch-seconds", "0.5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    kept = query(lake, "SELECT _row_number AS n FROM bronze.sales_lines ORDER BY 1")
    assert kept == [{"n": 1}, {"n": 4}, {"n": 5}]
    rejects = query(lake, "SELECT line_number AS n, reason FROM bronze.rejects ORDER BY 1")
    reason = "a NUL character in a value (binary data?)"
    assert rejects == [{"n": 2, "reason": reason}, {"n": 3, "reason": reason}]
    status = run_retail("status", "--json", lake=lake)
    assert status.json()["accounting"]["balanced"] is True

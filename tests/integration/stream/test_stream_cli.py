"""``retail stream`` from the user's side: a real NATS JetStream server, the real command.

The headline case (``make soak``; ``make test`` runs a 1,200-line one, ``test_stream_faults``):
a 20,000-line file published as events, ``retail stream`` killed with SIGKILL in the middle,
started again with ``--until-idle``: bronze plus rejects hold exactly the file's lines (each
offset once), and after ``retail run`` gold equals the same file ingested as a file.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.benchmark.broker import Broker, publish
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.gold import GOLD_TABLES
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import RETAIL, run_retail
from tests.integration.stream.conftest import file_events

SUBJECT = "sales.lines"
ROWS = 20_000
BATCH_DEPENDENT = {"_run_id", "_batch_seq"}  # lineage: which batch and run wrote a row
PER_BATCH_SCORE = "quality_score"
"""The fact's copy of silver's score: the default ``warn`` rules ``quantity_typical`` and
``price_typical`` compare a line with the other lines *of its batch* (a file, or here a
micro-batch of up to 1,500 events), so a line may score 97 in one and 100 in the other. Money,
keys, flags and every mart are compared exactly."""


def retail(*args: str | Path, lake: Path, timeout: float = 600) -> str:
    done = run_retail(*args, lake=lake, timeout=timeout)
    assert done.code == 0, done.stderr + done.stdout
    return done.stdout


def stream_args(broker: Broker, *extra: str) -> list[str]:
    return ["stream", "--source", broker.url, "--subject", SUBJECT, *extra]


def query(lake: Path, sql: str, tables: list[str] | None = None) -> list[dict[str, Any]]:
    with LakeSQL(Lake(lake), tables=tables) as con:
        return con.arrow(sql).to_pylist()


def gold_content(lake: Path) -> dict[str, list[tuple[Any, ...]]]:
    content = {}
    with LakeSQL(Lake(lake)) as con:
        for table in GOLD_TABLES:
            data = con.arrow(f"SELECT * FROM {table.qualified}")
            dropped = BATCH_DEPENDENT | ({PER_BATCH_SCORE} if table.name == "fact_sales" else set())
            data = data.drop_columns([c for c in data.column_names if c in dropped])
            content[table.qualified] = sorted(
                zip(*(c.to_pylist() for c in data.columns), strict=True), key=repr
            )
    return content


def start_stream(lake: Path, broker: Broker, *extra: str) -> subprocess.Popen[str]:
    command = [RETAIL, "--lake", str(lake), *stream_args(broker, *extra)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )


def wait_for_batches(process: subprocess.Popen[str], count: int) -> list[str]:
    """Read the command's output until it reports ``count`` committed batches."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if sum(" batch " in s and "offsets" in s for s in seen) >= count:
            return seen
    raise AssertionError("the stream did not commit in time:\n" + "".join(seen))


@pytest.mark.soak
def test_sigkill_midway_then_restart_holds_every_line_once_and_gold_equals_the_file(
    broker: Broker, tmp_path: Path
) -> None:
    rows, batch = ROWS, 1500
    source = tmp_path / "sales.csv"
    retail("generate", "--rows", str(rows), "--out", source, lake=tmp_path / "unused")
    events = file_events(source)
    assert len(events) == rows
    publish(broker.url, SUBJECT, events)
    lake = tmp_path / "streamed"

    process = start_stream(lake, broker, "--max-batch", str(batch), "--batch-seconds", "0.2")
    try:
        wait_for_batches(process, 3)
        time.sleep(random.uniform(0.0, 0.5))  # land anywhere in the next batch's work
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    before = query(lake, "SELECT count(*) AS n FROM bronze.files")[0]["n"]
    assert 3 <= before < rows // batch + 1, "killed midway, not at the end"

    out = retail(*stream_args(broker, "--until-idle", "2", "--max-batch", "5000"), lake=lake)
    assert "stopped (idle)" in out

    counts = query(
        lake,
        "SELECT (SELECT count(*) FROM bronze.sales_lines) AS lines, "
        "(SELECT count(*) FROM bronze.rejects) AS rejects, "
        "(SELECT count(DISTINCT _row_number) FROM bronze.sales_lines) AS offsets, "
        "(SELECT min(_row_number) FROM bronze.sales_lines) AS low, "
        "(SELECT max(_row_number) FROM bronze.sales_lines) AS high",
    )[0]
    assert counts == {"lines": rows, "rejects": 0, "offsets": rows, "low": 1, "high": rows}
    files = query(lake, "SELECT _source_file, rows_ingested FROM bronze.files ORDER BY _batch_seq")
    assert sum(f["rows_ingested"] for f in files) == rows
    assert all(f["_source_file"].startswith(f"{broker.url}/SALES/{SUBJECT}#") for f in files)

    retail("run", lake=lake)
    as_file = tmp_path / "as_file"
    retail("ingest", source, lake=as_file)
    retail("run", lake=as_file)
    revenue = "SELECT sum(line_amount) AS total, count(*) AS n FROM gold.fact_sales"
    assert query(lake, revenue) == query(as_file, revenue)
    assert gold_content(lake) == gold_content(as_file)

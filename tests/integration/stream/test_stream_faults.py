"""Exactly once under faults at the stream's own boundaries and under repeated random kills.

``stream.fetched`` (events in hand, nothing committed) and ``stream.committed`` (the batch and
its position committed, not yet acknowledged) are fault points of ``retail stream``; with issue
13's registry (``RETAIL_FAULT=<point>[@n]:kill``) every Delta commit inside is one too. After a
kill at any of them, a restart with ``--until-idle`` must leave every event in bronze exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from retail_lakehouse.benchmark.broker import Broker, publish
from retail_lakehouse.generate import generate
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import RETAIL, run_retail
from tests.integration.stream.conftest import file_events
from tests.integration.stream.test_stream_behaviour import sale
from tests.integration.stream.test_stream_cli import gold_content

SUBJECT = "sales.lines"


def stream(lake: Path, broker: Broker, *extra: str, env: dict[str, str] | None = None) -> int:
    done = subprocess.run(
        [RETAIL, "--lake", str(lake), "stream", "--source", broker.url, "--subject", SUBJECT]
        + list(extra),
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return done.returncode


def exactly_once(lake: Path, events: int) -> None:
    with LakeSQL(Lake(lake)) as sql:
        found = sql.arrow(
            "SELECT count(*) AS n, count(DISTINCT _row_number) AS offsets, "
            "min(_row_number) AS low, max(_row_number) AS high FROM bronze.sales_lines"
        ).to_pylist()
    assert found == [{"n": events, "offsets": events, "low": 1, "high": events}]


def test_a_kill_between_the_lines_and_the_manifest_is_undone_and_gold_equals_the_file(
    broker: Broker, tmp_path: Path
) -> None:
    """A generated file's 1,200 lines published as events; ``retail stream`` killed with its
    third batch's lines committed and the manifest row not. The next command, whatever it is
    (here ``retail run``), undoes that batch first (lines removed, number retired) and builds
    gold from the first two; the stream, restarted, reads the events again; after an
    incremental ``retail run`` every event is in bronze once and gold equals the same file
    ingested as a file (``make soak`` does 20,000 lines with a random SIGKILL)."""
    source = tmp_path / "sales.csv"
    generate(1200, source, seed=22)
    events = file_events(source)
    publish(broker.url, SUBJECT, events)
    lake = tmp_path / "lake"
    fault = {"RETAIL_FAULT": "after:bronze.sales_lines@3:kill"}
    assert stream(lake, broker, "--max-batch", "200", env=fault) == -signal.SIGKILL
    ran = run_retail("run", lake=lake)
    assert ran.code == 0, ran.stderr
    assert "recovered interrupted stream" in ran.stdout
    assert "batch 3 undone" in ran.stdout
    assert stream(lake, broker, "--until-idle", "2", "--max-batch", "500") == 0
    exactly_once(lake, len(events))
    with LakeSQL(Lake(lake)) as sql:
        seqs = sql.arrow("SELECT _batch_seq FROM bronze.files ORDER BY 1").column(0).to_pylist()
    assert seqs[:2] == [1, 2] and 3 not in seqs  # an undone batch's number is never reused
    assert run_retail("run", lake=lake).code == 0

    as_file = tmp_path / "as_file"
    assert run_retail("ingest", source, lake=as_file).code == 0
    assert run_retail("run", lake=as_file).code == 0
    assert gold_content(lake) == gold_content(as_file)


def boundaries(lake: Path, broker: Broker) -> list[str]:
    """Every fault point a fault-free ``retail stream`` passes (commits and its own two)."""
    trace = lake.parent / "trace"
    assert stream(lake, broker, "--until-idle", "1", "--max-batch", "100",
                  env={"RETAIL_FAULT_TRACE": str(trace)}) == 0  # fmt: skip
    return list(dict.fromkeys(trace.read_text().split()))


@pytest.mark.soak
def test_a_kill_at_every_commit_boundary_of_a_micro_batch_loses_and_doubles_nothing(
    broker: Broker, tmp_path: Path
) -> None:
    publish(broker.url, SUBJECT, [sale(n) for n in range(1, 401)])
    points = [p for p in boundaries(tmp_path / "traced", broker) if p.endswith("@2")]
    assert {"stream.fetched@2", "stream.committed@2", "after:bronze.files@2"} <= set(points)
    for i, point in enumerate(points):
        lake = tmp_path / f"lake{i}"
        killed = stream(lake, broker, "--max-batch", "100", env={"RETAIL_FAULT": f"{point}:kill"})
        assert killed == -signal.SIGKILL, point
        assert stream(lake, broker, "--until-idle", "2", "--max-batch", "100") == 0, point
        exactly_once(lake, 400)


@pytest.mark.soak
def test_repeated_random_kills_lose_and_double_nothing(broker: Broker, tmp_path: Path) -> None:
    events = 6_000
    publish(broker.url, SUBJECT, [sale(n) for n in range(1, events + 1)])
    lake = tmp_path / "lake"
    rng = random.Random(22)
    command = [RETAIL, "--lake", str(lake), "stream", "--source", broker.url, "--subject"]
    for _ in range(8):
        process = subprocess.Popen(
            [*command, SUBJECT, "--max-batch", "300", "--batch-seconds", "0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(2.5, 6.0))  # start-up takes ~2 s; then anywhere in a batch
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert stream(lake, broker, "--until-idle", "2") == 0
    exactly_once(lake, events)

"""Exactly once under faults at the stream's own boundaries and under repeated random kills.

``stream.fetched`` (events in hand, nothing committed) and ``stream.committed`` (the batch and
its position committed, not yet acknowledged) are fault points of ``retail stream``; with issue
13's registry (``RETAIL_FAULT=<point>[@n]:kill``) every Delta commit inside is one too. After a
kill at any of them, a restart with ``--until-idle`` must leave every event in bronze exactly once.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from retail_lakehouse.benchmark.broker import Broker, publish
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import RETAIL
from tests.integration.stream.test_stream_behaviour import sale

SUBJECT = "sales.lines"
HAS_REGISTRY = importlib.util.find_spec("retail_lakehouse.lake.faults") is not None


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


@pytest.mark.skipif(not HAS_REGISTRY, reason="needs the fault registry of issue 13 (lake/faults)")
@pytest.mark.parametrize(
    "point", ["stream.fetched@2", "stream.committed@2", "after:bronze.files@2"]
)
def test_a_kill_at_a_stream_boundary_loses_and_doubles_nothing(
    broker: Broker, tmp_path: Path, point: str
) -> None:
    publish(broker.url, SUBJECT, [sale(n) for n in range(1, 401)])
    lake = tmp_path / "lake"
    killed = stream(lake, broker, "--max-batch", "100", env={"RETAIL_FAULT": f"{point}:kill"})
    assert killed == -signal.SIGKILL
    assert stream(lake, broker, "--until-idle", "2", "--max-batch", "100") == 0
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

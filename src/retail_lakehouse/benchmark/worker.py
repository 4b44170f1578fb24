"""One benchmark size, in its own process: generate, then time ingest, silver and gold.

Memory is sampled by a background thread (RSS of this process, which includes DuckDB's native
memory, plus its child processes: the ingest's reader process) so each stage reports its own
peak; the overall peak is the highest of those and this process's ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import threading
import time
from pathlib import Path

import psutil


class PeakSampler:
    """Samples this process's RSS every few milliseconds; ``mark()`` starts a new stage."""

    def __init__(self, interval: float = 0.01) -> None:
        self._process = psutil.Process()
        self._interval = interval
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        """This process and its children (the reader process of an ingest) together."""
        total = self._process.memory_info().rss
        for child in self._process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._rss())
            time.sleep(self._interval)

    def mark(self) -> float:
        """Peak RSS in MB since the previous mark."""
        peak = max(self._peak, self._rss())
        self._peak = 0
        return peak / 2**20

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _warm_up() -> None:
    """Load the engine libraries before the clock starts (a service pays this once)."""
    import ibis
    import pandas  # noqa: F401 - DuckDB imports it on first Arrow hand-over

    ibis.duckdb.connect().disconnect()


def main() -> None:
    started = time.perf_counter()
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--engine", default="duckdb")
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()

    from retail_lakehouse.cli.context import freeze_loaded_objects
    from retail_lakehouse.config import Settings
    from retail_lakehouse.generate import generate
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.runs import recorded_run
    from retail_lakehouse.pipeline.bronze import ingest_file
    from retail_lakehouse.pipeline.runner import run_pipeline
    from retail_lakehouse.sources.sandbox import Sandbox

    _warm_up()
    sandbox = Sandbox()
    sandbox.start()  # the reader process, started once per command (decision 0008)
    freeze_loaded_objects()  # as ``retail ingest`` and ``retail run`` do
    source = args.workdir / f"bench_{args.rows}.csv"
    clock = time.perf_counter()
    generate(args.rows, source, seed=args.seed)
    generate_seconds = time.perf_counter() - clock
    lake = Lake(args.workdir / "lake")
    sampler = PeakSampler()
    sampler.mark()

    clock = time.perf_counter()
    with recorded_run(lake, "ingest") as run:
        report = ingest_file(lake, source, run, sandbox=sandbox)
    ingest_seconds = time.perf_counter() - clock
    sandbox.close()
    stages = [
        {
            "stage": "ingest (file -> bronze)",
            "seconds": ingest_seconds,
            "rows": report.rows_ingested,
            "peak_rss_mb": sampler.mark(),
        }
    ]
    peaks: dict[str, float] = {}
    pipeline = run_pipeline(
        lake,
        Settings(lake=lake.root, landing=args.workdir),
        engine_name=args.engine,
        on_layer_done=lambda layer: peaks.__setitem__(layer, sampler.mark()),
    )
    silver = pipeline.layers["silver"]
    stages.append(
        {
            "stage": "silver (bronze -> silver, rules)",
            "seconds": pipeline.layer_seconds["silver"],
            "rows": report.rows_ingested,
            "peak_rss_mb": peaks["silver"],
        }
    )
    stages.append(
        {
            "stage": "gold (silver -> star schema, marts)",
            "seconds": pipeline.layer_seconds["gold"],
            "rows": int(getattr(silver, "silver_lines", 0)),
            "peak_rss_mb": peaks["gold"],
        }
    )
    sampler.stop()
    # The process's own peak, or the stages' (which add the ingest's reader process) if higher.
    peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        *(float(str(s["peak_rss_mb"])) for s in stages),
    )
    sys.stdout.write(
        json.dumps(
            {
                "rows": args.rows,
                "stages": stages,
                "peak_rss_mb": peak,
                "process_seconds": time.perf_counter() - started,
                "generate_seconds": generate_seconds,
                "file_to_gold_seconds": ingest_seconds + pipeline.seconds,
            }
        )
        + "\n"
    )


if __name__ == "__main__":
    main()

"""``retail benchmark``: file -> bronze -> silver -> gold on generated data, measured.

Each size runs in a fresh worker process on a fresh lake, so peak memory belongs to that size
alone. Layer times are wall-clock inside the worker after its imports (a long-running service or
Dagster worker pays those once); the worker's total wall time, imports included, is reported too.

A shared or virtual machine's speed drifts from one minute to the next (on the 2-core machine
these figures come from, the same single-threaded loop took 0.7 to 1.2 s within twenty seconds),
so ``--repeat`` runs each size several times and reports the median of every figure with its
range, instead of one draw.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StageResult:
    """One layer of one benchmark size."""

    stage: str
    seconds: float
    rows: int
    peak_rss_mb: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class SizeResult:
    """Every layer of one benchmark size."""

    rows: int
    engine: str
    stages: list[StageResult] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    process_seconds: float = 0.0
    generate_seconds: float = 0.0
    file_to_gold_seconds: float = 0.0
    """Wall time of the ingest plus the whole run (the layers, and the run's bookkeeping: its
    ``meta.runs`` rows, the orphan check, opening and closing the engine)."""
    runs: list[SizeResult] = field(default_factory=list)
    """With ``--repeat``: every run; the fields above are then their medians (peaks: the
    highest)."""

    def as_dict(self) -> dict[str, Any]:
        document = self._figures()
        if self.runs:
            document["repeat"] = len(self.runs)
            document["range"] = {
                "file_to_gold_seconds": _range([r.file_to_gold_seconds for r in self.runs]),
                **{
                    stage.stage: _range([r.stages[i].seconds for r in self.runs])
                    for i, stage in enumerate(self.stages)
                },
            }
            document["runs"] = [run._figures() for run in self.runs]
        return document

    def _figures(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "engine": self.engine,
            "file_to_gold_seconds": round(self.file_to_gold_seconds, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "process_seconds": round(self.process_seconds, 3),
            "generate_seconds": round(self.generate_seconds, 3),
            "stages": [
                {
                    "stage": s.stage,
                    "seconds": round(s.seconds, 3),
                    "rows": s.rows,
                    "rows_per_second": round(s.rows_per_second),
                    "peak_rss_mb": round(s.peak_rss_mb, 1),
                }
                for s in self.stages
            ],
        }


def _range(values: list[float]) -> list[float]:
    return [round(min(values), 3), round(max(values), 3)]


def run_repeated(
    rows: int,
    repeat: int,
    *,
    seed: int = 42,
    engine: str = "duckdb",
    workdir: Path | None = None,
) -> SizeResult:
    """Benchmark one size ``repeat`` times (each in a fresh worker on a fresh lake): the median
    of each time, the highest of each peak, and every run kept in ``runs``."""
    runs = [run_size(rows, seed=seed, engine=engine, workdir=workdir) for _ in range(repeat)]
    if repeat == 1:
        return runs[0]
    first = runs[0]
    summary = SizeResult(
        rows=first.rows,
        engine=engine,
        peak_rss_mb=max(r.peak_rss_mb for r in runs),
        process_seconds=statistics.median(r.process_seconds for r in runs),
        generate_seconds=statistics.median(r.generate_seconds for r in runs),
        file_to_gold_seconds=statistics.median(r.file_to_gold_seconds for r in runs),
        runs=runs,
    )
    summary.stages = [
        StageResult(
            stage=stage.stage,
            seconds=statistics.median(r.stages[i].seconds for r in runs),
            rows=stage.rows,
            peak_rss_mb=max(r.stages[i].peak_rss_mb for r in runs),
        )
        for i, stage in enumerate(first.stages)
    ]
    return summary


def run_size(
    rows: int, *, seed: int = 42, engine: str = "duckdb", workdir: Path | None = None
) -> SizeResult:
    """Benchmark one size in a fresh worker process and return its measurements."""
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="retail-bench-", dir=workdir) as folder:
        command = [
            sys.executable,
            "-m",
            "retail_lakehouse.benchmark.worker",
            "--rows",
            str(rows),
            "--seed",
            str(seed),
            "--engine",
            engine,
            "--workdir",
            folder,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"benchmark worker failed for {rows:,} rows:\n{done.stderr[-3000:]}")
        payload = json.loads(done.stdout.strip().splitlines()[-1])
    result = SizeResult(
        rows=payload["rows"],
        engine=engine,
        peak_rss_mb=payload["peak_rss_mb"],
        process_seconds=payload["process_seconds"],
        generate_seconds=payload["generate_seconds"],
        file_to_gold_seconds=payload["file_to_gold_seconds"],
    )
    result.stages = [StageResult(**stage) for stage in payload["stages"]]
    return result

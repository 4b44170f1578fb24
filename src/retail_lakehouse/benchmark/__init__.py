"""``retail benchmark``: file -> bronze -> silver -> gold on generated data, measured.

Each size runs in a fresh worker process on a fresh lake, so peak memory belongs to that size
alone. Layer times are wall-clock inside the worker after its imports (a long-running service or
Dagster worker pays those once); the worker's total wall time, imports included, is reported too.
"""

from __future__ import annotations

import json
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

    def as_dict(self) -> dict[str, Any]:
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

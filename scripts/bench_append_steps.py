"""Per-step seconds of an append's run on a copy of a lake (docs/benchmarks.md, fourth round).

    python scripts/bench_append_steps.py LAKE APPEND.csv [ROUNDS]

Each round copies LAKE, runs ``retail ingest APPEND.csv`` on the copy as a process, then the
run in this process, and prints one JSON line: imports (first round only), silver and gold
seconds and gold's per-step seconds (its report). Run it with ``PYTHONPATH=<a copy of src>``
to time other code on the same lake. The lake is never changed (only copies).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_round(lake: Path, append: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="append-steps-") as folder:
        copy = Path(folder) / "lake"
        shutil.copytree(lake, copy)
        main = "from retail_lakehouse.cli.app import main; main()"
        ingest = [sys.executable, "-c", main, "--lake", str(copy), "ingest", str(append)]
        subprocess.run(ingest, check=True, stdout=subprocess.DEVNULL)
        started = time.perf_counter()
        from retail_lakehouse.config import load_settings
        from retail_lakehouse.lake.store import Lake
        from retail_lakehouse.pipeline.runner import run_pipeline

        settings = load_settings(lake=copy)
        imported = time.perf_counter()
        report = run_pipeline(Lake(settings.lake), settings)
        done = time.perf_counter()
        gold = report.layers["gold"]
        return {
            "imports": round(imported - started, 3),
            "run": round(done - imported, 3),
            "layers": {name: round(s, 3) for name, s in report.layer_seconds.items()},
            "gold_steps": gold.steps,
            "rekeyed": gold.rekeyed_batches,
        }


if __name__ == "__main__":
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    for _ in range(rounds):
        print(json.dumps(one_round(Path(sys.argv[1]), Path(sys.argv[2]))), flush=True)

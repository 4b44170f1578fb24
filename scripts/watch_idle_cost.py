"""Measure what an idle ``retail watch`` costs: CPU seconds and memory over a quiet minute.

    .venv/bin/python scripts/watch_idle_cost.py [--files 2000] [--seconds 60]

Makes a project with ``retail init`` in a temporary folder, fills ``landing/`` with files the
watcher must list but never take (``*.tmp``), starts ``retail watch``, waits for its heartbeat,
then samples the process with psutil. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

RETAIL = str(Path(sys.executable).with_name("retail"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        subprocess.run([RETAIL, "init", str(project)], check=True, capture_output=True)
        for i in range(args.files):
            (project / "landing" / f"export_{i}.tmp").write_text("still being written\n")
        watcher = subprocess.Popen(
            [RETAIL, "watch"], cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            heartbeat = project / "lake" / "_watch" / "heartbeat.json"
            while not heartbeat.exists():
                time.sleep(0.2)
            time.sleep(5)  # past start-up
            process = psutil.Process(watcher.pid)
            before, started = process.cpu_times(), time.monotonic()
            time.sleep(args.seconds)
            after, elapsed = process.cpu_times(), time.monotonic() - started
            cpu = after.user + after.system - before.user - before.system
            result = {
                "files_in_landing": args.files,
                "idle_seconds": round(elapsed, 1),
                "cpu_seconds": round(cpu, 3),
                "cpu_percent": round(100 * cpu / elapsed, 3),
                "rss_mb": round(process.memory_info().rss / 1e6, 1),
            }
        finally:
            watcher.terminate()
            watcher.wait(timeout=120)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Driver peak memory and wall time of ``retail run --engine spark``: local mode against a
standalone cluster (a master and one worker started here from pyspark's scripts).

The driver is two processes: the ``retail`` Python process and, for a master (not Connect),
the JVM it launches (``java``). Their RSS is sampled every 0.2 s, each on its own and summed
(``python_peak_mb``, ``jvm_peak_mb``, ``driver_peak_mb``). A JVM's RSS follows its heap
*setting* more than its needs (the heap grows lazily towards ``-Xmx`` and is rarely given back),
so the JVM also writes a GC log and ``jvm_live_heap_mb`` is the largest heap left after a
collection: what the driver really had to keep. In local mode the executors live in that same
JVM, so its figures include their memory; on the cluster they are the worker's processes and
are not counted. Usage::

    .venv/bin/python scripts/bench_spark_driver.py --lines 1000000 3000000 --modes cluster local

Results go to stdout as one JSON line per run (docs/benchmarks.md quotes them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

RETAIL = str(Path(sys.executable).with_name("retail"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def start_cluster(root: Path, memory: str) -> tuple[str, list[subprocess.Popen[bytes]]]:
    env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1"}
    spark_class = str(spark_home() / "bin" / "spark-class")
    port, ui = free_port(), free_port()
    procs = []
    with (root / "master.log").open("wb") as log:
        procs.append(
            subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(port), "--webui-port", str(ui)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        )  # fmt: skip
    url = f"spark://127.0.0.1:{port}"
    with (root / "worker.log").open("wb") as log:
        procs.append(
            subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                 "--cores", "2", "--memory", memory, "--webui-port", str(free_port()),
                 "--work-dir", str(root / "work")],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5) as page:
                if json.load(page).get("aliveworkers", 0) >= 1:
                    return url, procs
        except OSError:
            pass
        time.sleep(1)
    stop(procs)
    raise SystemExit("the worker never registered")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        proc.terminate()
    for proc in reversed(procs):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def measured(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Exit code, wall seconds and peak RSS (MB) of the Python process, of the JVMs it started
    and of both together, for ``command``."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    peaks = {"python": 0, "jvm": 0, "driver": 0}
    while proc.poll() is None:
        python = jvm = 0
        try:
            for member in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    rss = member.memory_info().rss
                    if member.name() == "java":
                        jvm += rss
                    else:
                        python += rss
        except psutil.Error:
            pass
        peaks = {
            "python": max(peaks["python"], python),
            "jvm": max(peaks["jvm"], jvm),
            "driver": max(peaks["driver"], python + jvm),
        }
        time.sleep(0.2)
    _, err = proc.communicate()
    if proc.returncode:
        sys.stderr.write(err.decode()[-3000:])
    result = {f"{name}_peak_mb": round(value / 2**20) for name, value in peaks.items()}
    return {"exit": proc.returncode, "seconds": round(time.perf_counter() - started, 1), **result}


def live_heap_mb(gc_log: Path) -> tuple[int | None, int | None]:
    """The largest heap after a collection and the largest committed heap, from a JVM's
    ``-Xlog:gc`` lines (``... Pause Young (Normal) ... 310M->92M(1024M) 4.1ms``)."""
    after = committed = None
    if gc_log.exists():
        for match in re.finditer(r"(\d+)M->(\d+)M\((\d+)M\)", gc_log.read_text()):
            after = max(after or 0, int(match.group(2)))
            committed = max(committed or 0, int(match.group(3)))
    return after, committed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, nargs="+", default=[500_000, 2_000_000])
    parser.add_argument("--modes", nargs="+", default=["cluster", "local"])
    parser.add_argument("--worker-memory", default="3g")
    parser.add_argument(
        "--driver-memory", default="1g", help="the cluster driver JVM's -Xmx (Spark's default: 1g)"
    )
    parser.add_argument(
        "--local-memory",
        default="2g",
        help="local mode's JVM -Xmx (driver and executors in one JVM)",
    )
    parser.add_argument(
        "--shuffle-partitions",
        default="8",
        help="spark.sql.shuffle.partitions (Spark's 200 means ~100 tasks per stage even for "
        "a few thousand lines: minutes of task overhead on a loaded 2-core machine)",
    )
    args = parser.parse_args()
    # a SIGTERM (timeout, kill) still stops the cluster through the finally below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    (root / "work").mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = ""
        if "cluster" in args.modes:
            url, procs = start_cluster(root, args.worker_memory)
        for lines in args.lines:
            source = root / f"sales_{lines}.csv"
            subprocess.run([RETAIL, "generate", "-n", str(lines), "-o", str(source)], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            bronze = root / f"bronze_{lines}"
            subprocess.run([RETAIL, "--lake", str(bronze), "ingest", str(source)], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            for mode in args.modes:
                lake = root / f"{mode}_{lines}"
                shutil.copytree(bronze, lake)
                gc_log = root / f"gc_{mode}_{lines}.log"
                conf = {
                    "spark.driver.extraJavaOptions": f"-Xlog:gc:file={gc_log}",
                    "spark.sql.shuffle.partitions": args.shuffle_partitions,
                }
                env = dict(os.environ)
                if mode == "cluster":
                    env["RETAIL_SPARK_MASTER"] = url
                    conf["spark.executor.memory"] = "2g"
                    conf["spark.driver.memory"] = xmx = args.driver_memory
                else:
                    env["RETAIL_SPARK_MASTER"] = "local[2]"
                    conf["spark.driver.memory"] = xmx = args.local_memory
                env["RETAIL_SPARK_CONF"] = json.dumps(conf)
                result = measured([RETAIL, "--lake", str(lake), "run", "--engine", "spark"], env)
                live, committed = live_heap_mb(gc_log)
                print(json.dumps({"mode": mode, "lines": lines, **result,
                                  "driver_xmx": xmx, "jvm_live_heap_mb": live,
                                  "jvm_committed_heap_mb": committed}),
                      flush=True)  # fmt: skip
                shutil.rmtree(lake, ignore_errors=True)
            shutil.rmtree(bronze, ignore_errors=True)
            source.unlink(missing_ok=True)
    finally:
        stop(procs)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

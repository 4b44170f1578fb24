"""A fixed reference workload: how fast is this machine right now?

The reference machine is a shared 2-core VM whose speed drifts by a third during the day, so a
benchmark figure means little without the machine's speed next to it. Run this before and after
``retail benchmark``: the same work every time, one DuckDB query on both cores and one
single-threaded Python loop.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import duckdb


def _seconds(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _python_loop() -> int:
    total = 0
    for i in range(10_000_000):
        total += i
    return total


def main() -> None:
    con = duckdb.connect()
    query = "SELECT sum(hash(i)) FROM range(200000000) t(i)"
    duck = _seconds(lambda: con.execute(query).fetchall(), 5)
    python = _seconds(_python_loop, 3)
    print(
        f"{time.strftime('%H:%M:%S')} duckdb 2-thread {duck:.3f} s, python 1-thread {python:.3f} s"
    )


if __name__ == "__main__":
    main()

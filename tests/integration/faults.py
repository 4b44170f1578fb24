"""Helpers for the fault-injection tests: the real ``retail`` with a fault armed, lake contents.

A fault is armed through ``RETAIL_FAULT=<point>[@n]:<kill|enospc>`` (see
``retail_lakehouse.lake.faults``); the points a command passes are listed by running it once with
``RETAIL_FAULT_TRACE``, so the tests fault exactly the commits the command really makes.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

from retail_lakehouse.lake.intents import FORMAT_FILE
from tests.conftest import RETAIL, CliResult

VOLATILE = {"run_id", "_batch_id", "seconds", "error", "rows", "detail"}
"""Columns that differ between two correct lakes: run ids, wall-clock times (``*_at``), and the
batch id (it embeds the batch number; numbers are compared by rank, see ``contents``)."""
SKIPPED_TABLES = {"meta.runs"}  # an interrupted lake has more runs, by design


def retail(
    *args: str | Path, lake: Path, fault: str | None = None, trace: Path | None = None
) -> CliResult:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RETAIL_FAULT", None)
    if fault:
        env["RETAIL_FAULT"] = fault
    if trace:
        env["RETAIL_FAULT_TRACE"] = str(trace)
    done = subprocess.run(
        [RETAIL, "--lake", str(lake), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def ok(*args: str | Path, lake: Path) -> CliResult:
    done = retail(*args, lake=lake)
    assert done.code == 0, f"retail {args}: {done.stdout}\n{done.stderr}"
    return done


def traced_points(args: tuple[str | Path, ...], lake: Path, trace: Path) -> list[str]:
    """Run the command without fault, on ``lake``, and list every point it passed, in order."""
    trace.unlink(missing_ok=True)
    done = retail(*args, lake=lake, trace=trace)
    assert done.code == 0, done.stderr
    return trace.read_text().split()


def killed_at_random(args: tuple[str | Path, ...], lake: Path, within: float, seed: int) -> float:
    """Start the command and SIGKILL it at a random instant of its first ``within`` seconds."""
    delay = random.Random(seed).uniform(0.2, within)
    env = {**os.environ}
    env.pop("RETAIL_FAULT", None)
    process = subprocess.Popen(
        [RETAIL, "--lake", str(lake), *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    return delay


def copy_lake(source: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    return target


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal | float):
        return str(value)
    if isinstance(value, list):
        return tuple(_cell(v) for v in value)
    return value


def contents(lake: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted, without volatile columns, batch numbers replaced by their
    rank among the committed batches (an undone batch's number is never reused, by design)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    ranks: dict[int, int] = {}
    files = lake / "bronze" / "files"
    if (files / "_delta_log").is_dir():
        seqs = _read(files).column("_batch_seq").to_pylist()
        ranks = {seq: rank for rank, seq in enumerate(sorted(seqs), start=1)}
    for layer in sorted(p for p in lake.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for folder in sorted(layer.iterdir()):
            name = f"{layer.name}.{folder.name}"
            if not (folder / "_delta_log").is_dir() or name in SKIPPED_TABLES:
                continue
            table = _read(folder)
            keep = [
                c
                for c in table.column_names
                if c not in VOLATILE and not c.endswith(("_at", "run_id"))
            ]
            columns = {c: table.column(c).to_pylist() for c in keep}
            for batch_column in ("_batch_seq", "batch_seq", "kept_batch_seq"):
                if batch_column in columns:
                    columns[batch_column] = [ranks.get(v, v) for v in columns[batch_column]]
            rows = [tuple(_cell(v) for v in row) for row in zip(*columns.values(), strict=True)]
            tables[name] = sorted(rows, key=repr)
    return tables


def _read(folder: Path) -> pa.Table:
    uris = DeltaTable(str(folder)).file_uris()
    if not uris:
        return pa.table({})
    with duckdb.connect() as con:
        return con.execute(
            "SELECT * FROM read_parquet(?, union_by_name = true)", [list(uris)]
        ).to_arrow_table()


def differences(expected: Path, actual: Path) -> list[str]:
    """Tables whose contents differ (with row counts), empty when the lakes are equal."""
    want, got = contents(expected), contents(actual)
    problems = []
    for name in sorted(set(want) | set(got)):
        a, b = want.get(name), got.get(name)
        if a != b:
            problems.append(
                f"{name}: expected {len(a or [])} rows, got {len(b or [])}"
                + (f" (extra e.g. {sorted(set(b) - set(a))[:1]})" if a and b else "")
            )
    return problems


def no_journal_left(lake: Path) -> bool:
    """No intent in ``_journal`` (the lake's format record, kept there, is not one)."""
    journal = lake / "_journal"
    return not journal.is_dir() or not intent_files(journal)


def intent_files(journal: Path) -> list[Path]:
    """The intents in a journal folder: its ``*.json`` but the lake's format record."""
    return [p for p in journal.glob("*.json") if p.name != FORMAT_FILE]


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)

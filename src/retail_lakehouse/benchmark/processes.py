"""``retail benchmark --cli``: the real commands as a user runs them, timed as whole processes.

The in-process benchmark (:mod:`retail_lakehouse.benchmark`) times the layers inside one worker
after its imports. A user waits for more: the interpreter, the imports, opening the lake, the
teardown. This series runs the installed ``retail`` command in fresh processes and times each
from ``fork`` to exit (wall clock, CPU seconds and peak RSS from ``wait4``):

- in every round, in turn: a bare DuckDB ``COPY (SELECT * FROM read_csv(F, all_varchar=true))
  TO 'x.parquet'`` of the same file, also a fresh Python process (the yardstick), then
  ``retail ingest F`` and ``retail run`` on a fresh lake (file to gold), then on that lake an
  idle ``retail run``, ``retail status`` and ``retail --help``, then ``retail ingest A`` and
  ``retail run`` for an append of 1% new lines with later dates;
- optionally (``big_rows``) the same append on a lake of ``big_rows`` lines, built once, so the
  cost of an append can be compared across lake sizes.

Each figure is the median over the rounds, with its range; the machine's speed drifts, so only
figures of the same interleaved series compare.

**Bytecode.** An installed package runs from cached bytecode (``pip`` compiles it at install,
and Python writes ``__pycache__`` on first import). With ``PYTHONDONTWRITEBYTECODE`` set (as
in some sandboxes and CI images) and no cache, every command compiles ~1,400 modules from
source first: measured on this project, ``retail --help`` 0.75 -> 0.47 CPU-s and ``retail
status`` 1.36 -> 0.84 CPU-s once cached (decision 0011). The series therefore runs its
commands without that variable, after one untimed warm-up (an ingest and a run of the append
file on a throwaway lake, then a later append ingested and run on it, a status, a ``--help``)
that writes the cache, and records both in its output. The same warm-up fills the cache of
compiled SQL (``engines/sql_cache.py``: the user's cache folder or ``$RETAIL_SQL_CACHE``) with a
fresh run's and an append's statements, as a lake that has run before finds them; a shape it
did not see (the big lake's first append renames products) is compiled in the first round.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BARE_COPY = "COPY (SELECT * FROM read_csv({src}, all_varchar = true)) TO {dst} (FORMAT parquet)"

APPEND_SQL = """
COPY (
    SELECT lines.* REPLACE (
        CASE WHEN starts_with(InvoiceNo, 'C') THEN 'C' ELSE '' END
            || CAST(CAST(ltrim(InvoiceNo, 'C') AS BIGINT) + {invoice_offset} AS VARCHAR)
            AS InvoiceNo,
        strftime(strptime(InvoiceDate, '%m/%d/%Y %H:%M') + to_days(span.days + {days}),
                 '%-m/%-d/%Y %-H:%M') AS InvoiceDate
    )
    FROM read_csv({src}, all_varchar = true) AS lines,
        (SELECT CAST(date_diff('day', min(ts), max(ts)) AS INTEGER) AS days
         FROM (SELECT strptime(InvoiceDate, '%m/%d/%Y %H:%M') AS ts
               FROM read_csv({src}, all_varchar = true))) AS span
    LIMIT {lines}
) TO {dst} (HEADER, DELIMITER ',')
"""
"""An append: the first ``lines`` lines of the file, as new invoices dated the file's span plus
``days`` later, so every new line is later than every line of a lake built from a file of the
same span (a real append; lines inside the lake's dates would be late history, which can re-key
earlier fact rows: a correction, timed apart in ``docs/benchmarks.md``)."""


@dataclass
class Timed:
    """One process: wall seconds, CPU seconds (user + system), peak RSS, exit code."""

    wall: float
    cpu: float
    peak_mb: float
    code: int


@dataclass
class Series:
    """Every timed process of a series, by figure name, in round order."""

    rows: int
    append_lines: int
    figures: dict[str, list[Timed]] = field(default_factory=dict)
    big_rows: int | None = None
    big_build: Timed | None = None
    bytecode: str = "cached by an untimed warm-up (PYTHONDONTWRITEBYTECODE unset)"

    def add(self, name: str, timed: Timed) -> None:
        self.figures.setdefault(name, []).append(timed)

    def as_dict(self) -> dict[str, Any]:
        summary = {name: _summary(values) for name, values in self.figures.items()}
        document: dict[str, Any] = {
            "rows": self.rows,
            "append_lines": self.append_lines,
            "rounds": len(self.figures.get("bare_copy", [])),
            "bytecode": self.bytecode,
            "figures": summary,
            "ratios": self.ratios(),
        }
        if self.big_rows:
            document["big_rows"] = self.big_rows
            if self.big_build:
                document["big_build_seconds"] = round(self.big_build.wall, 3)
        return document

    def ratios(self) -> dict[str, float]:
        """The issue's targets as ratios of medians."""

        def median(name: str) -> float | None:
            values = self.figures.get(name)
            return statistics.median(t.wall for t in values) if values else None

        found: dict[str, float] = {}
        bare, full = median("bare_copy"), median("file_to_gold")
        if bare and full:
            found["file_to_gold / bare_copy"] = round(full / bare, 2)
        append = median("append_to_gold")
        if append and full:
            found["append_to_gold / file_to_gold"] = round(append / full, 3)
        big = median("big_append_to_gold")
        if big and append:
            found["big_append_to_gold / append_to_gold"] = round(big / append, 2)
        return found


def _summary(values: list[Timed]) -> dict[str, Any]:
    walls = [t.wall for t in values]
    return {
        "median_seconds": round(statistics.median(walls), 3),
        "range_seconds": [round(min(walls), 3), round(max(walls), 3)],
        "median_cpu_seconds": round(statistics.median(t.cpu for t in values), 3),
        "peak_rss_mb": round(max(t.peak_mb for t in values), 1),
        "seconds": [round(w, 3) for w in walls],
    }


def retail_command() -> list[str]:
    """The installed console script beside this interpreter (what users run)."""
    script = Path(sys.executable).with_name("retail")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from retail_lakehouse.cli.app import main; main()"]


def _environment() -> dict[str, str]:
    """The caller's environment minus ``PYTHONDONTWRITEBYTECODE`` (see the module docstring)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], *, check: bool = True) -> Timed:
    """Run ``command`` to its end; its wall time from start to exit, CPU and peak from wait4."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_environment()
    )
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if check and process.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {process.returncode}:\n{errors.decode()[-2000:]}"
        )
    return Timed(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_mb=usage.ru_maxrss / 1024,
        code=process.returncode,
    )


def _sql_literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _duckdb(sql: str) -> list[str]:
    """A fresh Python process running one DuckDB statement (our text, paths quoted)."""
    return [sys.executable, "-c", f"import duckdb; duckdb.connect().execute({sql!r})"]


def make_append(source: Path, target: Path, lines: int, round_no: int) -> None:
    """``lines`` new lines for ``source``'s lake: new invoice numbers, dates the file's span
    plus ``round_no`` + 1 weeks later (each round's append is later than the lake and than the
    earlier rounds' appends)."""
    sql = APPEND_SQL.format(
        src=_sql_literal(source),
        dst=_sql_literal(target),
        lines=int(lines),
        days=7 * (int(round_no) + 1),
        invoice_offset=1_000_000 * (int(round_no) + 1),
    )
    timed(_duckdb(sql))


def run_series(
    rows: int,
    rounds: int,
    *,
    workdir: Path | None = None,
    append_share: float = 0.01,
    big_rows: int | None = None,
    seed: int = 42,
    progress: Any = None,
) -> Series:
    """Generate the file(s), then ``rounds`` interleaved rounds (see the module docstring)."""
    retail = retail_command()
    say = progress or (lambda _message: None)
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="retail-cli-bench-", dir=workdir) as folder:
        root = Path(folder)
        source = root / "sales.csv"
        timed([*retail, "generate", "--rows", str(rows), "--out", str(source), "--seed", str(seed)])
        append_lines = max(1, round(rows * append_share))
        series = Series(rows=rows, append_lines=append_lines, big_rows=big_rows)
        appended = root / "append.csv"
        make_append(source, appended, append_lines, 0)
        say("warming the bytecode and compiled-SQL caches (untimed) ...")
        warm = root / "warm-lake"
        warm_append = root / "warm-append.csv"
        make_append(source, warm_append, append_lines, rounds + 1)
        for command in (
            ["ingest", str(appended)],
            ["run"],
            ["ingest", str(warm_append)],
            ["run"],
            ["status"],
        ):
            timed([*retail, "--lake", str(warm), *command])
        warm_append.unlink()
        timed([*retail, "--help"])
        shutil.rmtree(warm)
        big_lake = root / "big-lake"
        if big_rows:
            say(f"building a {big_rows:,}-line lake for the append comparison ...")
            big_source = root / "big.csv"
            timed(
                [*retail, "generate", "--rows", str(big_rows), "--out", str(big_source),
                 "--seed", str(seed + 1)]
            )  # fmt: skip
            ingest = timed([*retail, "--lake", str(big_lake), "ingest", str(big_source)])
            build = timed([*retail, "--lake", str(big_lake), "run"])
            series.big_build = Timed(
                ingest.wall + build.wall, ingest.cpu + build.cpu,
                max(ingest.peak_mb, build.peak_mb), 0,
            )  # fmt: skip
            big_source.unlink()
        for number in range(1, rounds + 1):
            say(f"round {number} of {rounds} ...")
            lake = root / f"lake-{number}"
            copy = root / "copy.parquet"
            series.add(
                "bare_copy",
                timed(_duckdb(BARE_COPY.format(src=_sql_literal(source), dst=_sql_literal(copy)))),
            )
            copy.unlink()
            ingest = timed([*retail, "--lake", str(lake), "ingest", str(source)])
            run = timed([*retail, "--lake", str(lake), "run"])
            series.add("ingest", ingest)
            series.add("run", run)
            series.add("file_to_gold", _sum(ingest, run))
            series.add("idle_run", timed([*retail, "--lake", str(lake), "run"]))
            series.add("status", timed([*retail, "--lake", str(lake), "status"]))
            series.add("help", timed([*retail, "--help"]))
            series.add("version", timed([*retail, "--version"]))
            append_ingest = timed([*retail, "--lake", str(lake), "ingest", str(appended)])
            append_run = timed([*retail, "--lake", str(lake), "run"])
            series.add("append_ingest", append_ingest)
            series.add("append_run", append_run)
            series.add("append_to_gold", _sum(append_ingest, append_run))
            shutil.rmtree(lake)
            if big_rows:
                extra = root / f"big-append-{number}.csv"
                make_append(source, extra, append_lines, number)
                big_ingest = timed([*retail, "--lake", str(big_lake), "ingest", str(extra)])
                big_run = timed([*retail, "--lake", str(big_lake), "run"])
                series.add("big_append_to_gold", _sum(big_ingest, big_run))
                extra.unlink()
    return series


def _sum(first: Timed, second: Timed) -> Timed:
    """Two commands run one after the other, as ``a && b``."""
    return Timed(
        first.wall + second.wall,
        first.cpu + second.cpu,
        max(first.peak_mb, second.peak_mb),
        first.code or second.code,
    )

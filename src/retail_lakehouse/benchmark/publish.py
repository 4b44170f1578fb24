"""``retail benchmark --publish DSN``: the PostgreSQL publish against PostgreSQL's own ``COPY``.

Setup (not timed): generate ``rows`` lines, cut them at an invoice boundary into the first 99%
and the last 1% (the file is in time order, so the 1% is "the next day's export"); lake A
ingests and runs the 99%; lake B is a copy of lake A (same identity) that then ingests and runs
the 1%. Each repetition then measures, side by side on the same server:

- ``baseline``: PostgreSQL's own ``COPY ... FROM STDIN`` of lake A's ``fact_sales`` rows from a
  CSV file (written by DuckDB beforehand) into a fresh table of the same shape without keys:
  the floor any loader of those rows pays;
- ``full``: ``publish --full`` of lake A (every gold table, keys, indexes, foreign keys,
  comments, views);
- ``incremental``: publish of lake B over it (the 1% append: new batch, changed dimensions and
  marts);
- ``nothing new``: the same publish again.

The benchmark uses the schemas ``retail_benchmark`` and ``retail_benchmark_copy`` of the target
database and drops both at the end.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SCHEMA = "retail_benchmark"
BASELINE_SCHEMA = "retail_benchmark_copy"


def split_file(source: Path, first: Path, rest: Path, share: float = 0.99) -> None:
    """Cut a generated CSV after ``share`` of its lines, at the next change of invoice."""
    with source.open("rb") as handle:
        lines = handle.readlines()
    header, body = lines[0], lines[1:]
    start = cut = int(len(body) * share)
    invoice = body[cut - 1].split(b",", 1)[0]
    while cut < len(body) and body[cut].split(b",", 1)[0] == invoice:
        cut += 1
    if cut == len(body):  # the last invoice runs to the end: cut before it instead
        cut = start - 1
        while cut > 0 and body[cut - 1].split(b",", 1)[0] == invoice:
            cut -= 1
    first.write_bytes(header + b"".join(body[:cut]))
    rest.write_bytes(header + b"".join(body[cut:]))


def _build(lake_root: Path, source: Path) -> None:
    from retail_lakehouse.config import Settings
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.runs import recorded_run
    from retail_lakehouse.pipeline.bronze import ingest_file
    from retail_lakehouse.pipeline.runner import run_pipeline

    lake = Lake(lake_root)
    with recorded_run(lake, "ingest") as run:
        ingest_file(lake, source, run)
    run_pipeline(lake, Settings(lake=lake.root, landing=source.parent))


def _baseline(dsn: str, lake_root: Path, folder: Path) -> tuple[float, int]:
    """PostgreSQL's own COPY of the fact rows from a CSV file: seconds and rows."""
    import psycopg
    from psycopg import sql

    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.contracts.gold import FACT_SALES
    from retail_lakehouse.lake.query import LakeSQL
    from retail_lakehouse.publish import ddl

    csv = folder / "fact_sales.csv"
    with LakeSQL(Lake(lake_root), tables=[FACT_SALES.qualified]) as lake_sql:
        lake_sql.con.execute(
            f"COPY (SELECT * FROM {FACT_SALES.qualified}) TO '{csv}' (FORMAT csv, HEADER false)"
        )
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(BASELINE_SCHEMA))
        )
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(BASELINE_SCHEMA)))
        cur.execute(ddl.create_table(BASELINE_SCHEMA, FACT_SALES))
        conn.commit()
        clock = time.perf_counter()
        statement = sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(
            ddl.ident(BASELINE_SCHEMA, FACT_SALES.name)
        )
        with cur.copy(statement) as copy, csv.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        seconds = time.perf_counter() - clock
        rows = cur.execute(
            sql.SQL("SELECT count(*) FROM {}").format(ddl.ident(BASELINE_SCHEMA, FACT_SALES.name))
        ).fetchone()
        cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(BASELINE_SCHEMA)))
        conn.commit()
    csv.unlink()
    return seconds, int(rows[0]) if rows else 0


def run_publish_benchmark(
    dsn: str, rows: int, *, repeat: int = 3, seed: int = 42, workdir: Path | None = None
) -> dict[str, Any]:
    """Measure baseline, full, incremental and no-op publishes ``repeat`` times; medians."""
    import psycopg
    from psycopg import sql

    from retail_lakehouse.generate import generate
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.publish.postgres import publish
    from retail_lakehouse.publish.target import Target

    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="retail-bench-publish-", dir=workdir) as tmp:
        folder = Path(tmp)
        source = folder / "generated.csv"
        generate(rows, source, seed=seed)
        first, rest = folder / "first_99.csv", folder / "last_1.csv"
        split_file(source, first, rest)
        lake_a, lake_b = folder / "lake_a", folder / "lake_b"
        _build(lake_a, first)
        shutil.copytree(lake_a, lake_b)
        _build(lake_b, rest)
        target = Target(dsn, SCHEMA)
        runs: list[dict[str, Any]] = []
        try:
            for _ in range(repeat):
                baseline, fact_rows = _baseline(dsn, lake_a, folder)
                full = publish(Lake(lake_a), target, full=True)
                incremental = publish(Lake(lake_b), target)
                idle = publish(Lake(lake_b), target)
                runs.append(
                    {
                        "baseline_copy_seconds": round(baseline, 3),
                        "fact_rows": fact_rows,
                        "full_seconds": round(full.seconds, 3),
                        "full_rows": full.rows_written,
                        "incremental_seconds": round(incremental.seconds, 3),
                        "incremental_rows": incremental.rows_written,
                        "incremental_deleted": sum(
                            t.rows_deleted for t in incremental.tables.values()
                        ),
                        "nothing_new_seconds": round(idle.seconds, 3),
                        "nothing_new_rows": idle.rows_written,
                        "full_steps": full.steps,
                        "incremental_steps": incremental.steps,
                    }
                )
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA))
                )
    keys = [k for k in runs[0] if k.endswith("_seconds")]
    medians = {k: round(statistics.median(r[k] for r in runs), 3) for k in keys}
    return {
        "rows": rows,
        "repeat": repeat,
        "fact_rows": runs[0]["fact_rows"],
        **medians,
        "full_over_baseline": round(medians["full_seconds"] / medians["baseline_copy_seconds"], 2),
        "incremental_over_full": round(medians["incremental_seconds"] / medians["full_seconds"], 3),
        "runs": runs,
    }

"""Helpers for the publish tests: the lake and PostgreSQL seen from the user's side."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa

from retail_lakehouse.lake.contracts.gold import GOLD_TABLES
from tests.conftest import RETAIL, CliResult
from tests.pgcluster import Cluster


def retail_env(
    *args: str | Path, lake: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> CliResult:
    """The real ``retail`` command with extra environment (fault hooks, DSNs, config)."""
    command = [RETAIL, "--lake", str(lake), *map(str, args)]
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    done = subprocess.run(
        command, capture_output=True, text=True, env=full_env, cwd=cwd, timeout=600, check=False
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def ok(result: CliResult) -> str:
    assert result.code == 0, result.stdout + result.stderr
    return result.stdout


def create_database(pg: Cluster, name: str) -> str:
    pg.psql(f"CREATE DATABASE {name}")
    return pg.dsn(dbname=name)


def _metrics(dialect: str, schema: str) -> str:
    """One query: per gold table, row count and a total of every column (sums of numbers,
    counts of true booleans, non-null counts and ranges of the rest)."""
    parts = []
    cast = "VARCHAR" if dialect == "duckdb" else "text"
    for table in GOLD_TABLES:
        source = f"{schema}.{table.name}"
        metrics = [("rows", "count(*)")]
        for field in table.schema:
            col = f'"{field.name}"'
            kind = field.type
            if pa.types.is_floating(kind):
                value = (
                    f"round(sum({col}), 4)"
                    if dialect == "duckdb"
                    else (f"round(sum({col})::numeric, 4)")
                )
                metrics.append((f"sum {field.name}", value))
            elif pa.types.is_integer(kind) or pa.types.is_decimal(kind):
                metrics.append((f"sum {field.name}", f"sum({col})"))
            elif pa.types.is_boolean(kind):
                metrics.append((f"true {field.name}", f"count(*) FILTER (WHERE {col})"))
            else:
                metrics.append((f"count {field.name}", f"count({col})"))
                if pa.types.is_temporal(kind):
                    metrics.append((f"max {field.name}", f"max({col})"))
        for name, expression in metrics:
            parts.append(
                f"SELECT '{table.name}' AS t, '{name}' AS m, CAST({expression} AS {cast}) AS v "
                f"FROM {source}"
            )
    return " UNION ALL ".join(parts)


def _normal(value: str | None) -> object:
    if value is None or value == "":
        return None
    try:
        return Decimal(value).normalize()
    except InvalidOperation:
        return value


def lake_totals(lake: Path) -> dict[tuple[str, str], object]:
    """The totals as ``retail sql`` (the lake) reports them."""
    rows = json.loads(ok(retail_env("sql", _metrics("duckdb", "gold"), "-f", "json", lake=lake)))
    return {(r["t"], r["m"]): _normal(r["v"]) for r in rows}


def pg_totals(pg: Cluster, dbname: str, schema: str = "retail") -> dict[tuple[str, str], object]:
    """The same totals, computed by PostgreSQL through ``psql``."""
    out = pg.psql(_metrics("postgres", schema), dbname=dbname)
    totals: dict[tuple[str, str], object] = {}
    for line in out.splitlines():
        table, metric, value = line.split("|", 2)
        totals[(table, metric)] = _normal(value)
    return totals


def content_digest(pg: Cluster, dbname: str, schema: str = "retail") -> dict[str, str]:
    """Every table of ``schema`` (ours and the state table): row count and an md5 of its rows,
    plus the list of relations: equal digests mean PostgreSQL holds exactly the same."""
    relations = pg.psql(
        "SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{schema}'",
        dbname=dbname,
    )
    digest = {"relations": relations}
    if not relations:
        return digest
    tables = pg.psql(
        f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}' ORDER BY 1", dbname=dbname
    ).split()
    for table in tables:
        digest[table] = pg.psql(
            "SELECT count(*) || ' ' || "
            "coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
            f'FROM "{schema}"."{table}" t',
            dbname=dbname,
        )
    return digest


def write_counters(pg: Cluster, dbname: str, schema: str = "retail") -> str:
    """Rows inserted, updated and deleted in ``schema`` since the server started."""
    return pg.psql(
        "SELECT coalesce(sum(n_tup_ins), 0) || ' ' || coalesce(sum(n_tup_upd), 0) || ' ' || "
        f"coalesce(sum(n_tup_del), 0) FROM pg_stat_user_tables WHERE schemaname = '{schema}'",
        dbname=dbname,
    )


OBSERVATION_FOLDERS = ("_lineage", "_logs", "_metrics")
"""Journals of what commands did (OpenLineage events, logs, metrics state): a refused or killed
publish is reported there, which is no change to the lake's data."""


def lake_files(lake: Path) -> list[tuple[str, int]]:
    """Every data file of the lake with its size (the writer lock, the note a killed writer
    leaves beside it, which names a dead process and means nothing, and the observation
    journals aside)."""
    return sorted(
        (str(p.relative_to(lake)), p.stat().st_size)
        for p in lake.rglob("*")
        if p.is_file()
        and p.name not in (".writer.lock", ".writer.lock.holder")
        and p.relative_to(lake).parts[0] not in OBSERVATION_FOLDERS
    )

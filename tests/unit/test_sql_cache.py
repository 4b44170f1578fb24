"""The cache of compiled SQL: a stored template is reused only for the same expression and
compiler, filled with the constants of the day, and always gives the SQL compiling would."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pytest

from retail_lakehouse.engines import Engine, open_engine
from retail_lakehouse.engines import duckdb as duckdb_engine
from retail_lakehouse.engines.duckdb import _compile_fresh, _literal_sql
from retail_lakehouse.engines.sql_cache import Fingerprint, SQLCache
from retail_lakehouse.lake import Lake
from retail_lakehouse.quality.evaluate import evaluate
from retail_lakehouse.quality.rules import rules_from_text

NOW = datetime(2011, 12, 10, 12, 0)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with open_engine(Lake(tmp_path_factory.mktemp("cache") / "lake"), "duckdb") as opened:
        yield opened


@pytest.fixture(scope="module")
def lines(engine: Engine) -> ir.Table:
    data = pa.table(
        {
            "invoice_no": ["536365", "C536366", "536367"],
            "description": ["WHITE HANGING HEART", "RED MUG", None],
            "quantity": pa.array([6, -2, 300], pa.int64()),
            "unit_price": pa.array([Decimal("2.55"), Decimal("1.00"), None], pa.decimal128(10, 2)),
            "invoice_ts": [datetime(2010, 12, 1, 8, 26), datetime(2011, 1, 5, 9, 0), None],
            "_batch_seq": pa.array([1, 2, 3], pa.int64()),
        }
    )
    return engine.arrow_table(data, "cache_lines")


def cache(folder: Path, salt: str = "compiler 1") -> SQLCache:
    return SQLCache(_compile_fresh, _literal_sql, salt, folder)


def test_constants_of_comparisons_are_filled_into_the_stored_template(
    tmp_path: Path, engine: Engine, lines: ir.Table
) -> None:
    sql = cache(tmp_path)
    for watermark, since in ((1, datetime(2010, 1, 1)), (2, datetime(2011, 1, 1)), (0, NOW)):
        expr = lines.filter((lines._batch_seq > watermark) & (lines.invoice_ts >= since)).select(
            "invoice_no", run=ibis.literal(f"run-{watermark}")
        )
        text = sql.sql(expr)
        assert text == _compile_fresh(expr)
        got = [tuple(row) for row in engine.backend.raw_sql(text).fetchall()]
        want = [(r["invoice_no"], r["run"]) for r in engine.to_arrow(expr).to_pylist()]
        assert sorted(got) == sorted(want)
    assert (sql.misses, sql.hits) == (1, 2)


def test_a_changed_rule_set_never_gets_the_sql_of_another(
    tmp_path: Path, engine: Engine, lines: ir.Table
) -> None:
    """A threshold that changed is a slot (filled with the new value); a changed operator,
    function or column is another expression, hence another key."""
    sql = cache(tmp_path)
    rules = [
        "abs(quantity) < 100",
        "abs(quantity) < 400",  # same shape, another constant: the template, refilled
        "abs(quantity) <= 100",  # another operator
        "length(trim(description)) > 3",  # another function and column
        "length(trim(description)) > 3 AND quantity BETWEEN 1 AND 10",  # a rule added to it
    ]
    results = []
    for rule in rules:
        ruleset = rules_from_text(
            "rules:\n  - name: r\n    dimension: validity\n    weight: 10\n    action: warn\n"
            "    expression: |-\n      " + rule + "\n"
        )
        expr = evaluate(lines, ruleset, now=NOW).table.select("invoice_no", "quality_flags")
        text = sql.sql(expr)
        assert text == _compile_fresh(expr)
        results.append(sorted(tuple(r) for r in engine.backend.raw_sql(text).fetchall()))
    assert (sql.misses, sql.hits) == (4, 1)
    # the first two rules differ on the line with quantity 300 only
    assert results[0] != results[1]


def test_a_constant_also_used_where_compilers_read_it_stays_in_the_key(tmp_path: Path) -> None:
    """A substring's length is read by Ibis' compiler; the same constant in a comparison must
    not become a slot, or a later expression with another comparison value would reuse SQL
    whose length was written with the first value."""
    table = ibis.table({"text": "string", "n": "int64"}, name="t")
    sql = cache(tmp_path)
    for compared in (3, 4, 3):
        expr = table.filter(table.n < compared).select(head=table.text.substr(0, 3))
        assert sql.sql(expr) == _compile_fresh(expr)
    assert (sql.misses, sql.hits) == (2, 1)
    shared = table.filter(table.n < 3).select(head=table.text.substr(0, 3))
    apart = table.filter(table.n < 4).select(head=table.text.substr(0, 3))
    assert Fingerprint(shared.op()).slots == []
    assert len(Fingerprint(apart.op()).slots) == 1


def test_equal_constants_share_a_slot_and_the_pattern_is_part_of_the_key(tmp_path: Path) -> None:
    table = ibis.table({"a": "int64", "b": "int64"}, name="t")
    same = table.filter((table.a > 5) & (table.b > 5))
    other = table.filter((table.a > 5) & (table.b > 6))
    assert Fingerprint(same.op()).text != Fingerprint(other.op()).text
    sql = cache(tmp_path)
    for expr in (same, other, table.filter((table.a > 7) & (table.b > 8))):
        assert sql.sql(expr) == _compile_fresh(expr)
    assert (sql.misses, sql.hits) == (2, 1)


def test_another_compiler_or_a_damaged_file_is_a_miss(tmp_path: Path) -> None:
    table = ibis.table({"a": "int64"}, name="t")
    expr = table.filter(table.a > 5)
    cache(tmp_path).sql(expr)
    other = cache(tmp_path, salt="compiler 2")  # another Ibis, sqlglot or engine source
    assert other.sql(expr) == _compile_fresh(expr)
    assert (other.misses, other.hits) == (1, 0)
    for stored in tmp_path.glob("*/*.sql"):
        stored.write_bytes(stored.read_bytes().replace(b"> ", b"< "))
    damaged = cache(tmp_path)
    assert damaged.sql(expr) == _compile_fresh(expr)
    assert damaged.misses == 1


def test_the_engine_compiles_through_the_cache_folder_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: ir.Table, engine: Engine
) -> None:
    monkeypatch.setenv("RETAIL_SQL_CACHE", str(tmp_path / "sql"))
    monkeypatch.setattr(duckdb_engine, "_CACHES", [])
    expr = lines.filter(lines._batch_seq > 1).drop("description", "unit_price", "quantity")
    first = engine.to_arrow(expr)
    assert list((tmp_path / "sql").glob("*/*.sql"))
    monkeypatch.setattr(duckdb_engine, "_CACHES", [])
    assert engine.to_arrow(expr).equals(first)
    assert duckdb_engine._sql_cache().hits == 1
    monkeypatch.setenv("RETAIL_SQL_CACHE", "off")
    monkeypatch.setattr(duckdb_engine, "_CACHES", [])
    assert engine.to_arrow(expr).equals(first)
    assert duckdb_engine._sql_cache().hits == 0
    monkeypatch.setattr(duckdb_engine, "_CACHES", [])


def test_a_folder_that_cannot_be_made_only_means_compiling(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    table = ibis.table({"a": "int64"}, name="t")
    sql = cache(blocker / "sql")
    for bound in (5, 6):
        expr = table.filter(table.a > bound)
        assert sql.sql(expr) == _compile_fresh(expr)
    assert (sql.misses, sql.hits) == (2, 0)


def test_a_selected_constant_read_as_a_format_elsewhere_stays_in_the_key(tmp_path: Path) -> None:
    """A selected text column is a slot, but a later operation may use that column as a
    format, which Ibis inlines and sqlglot rewrites (``%e`` is written ``%-d``): reusing the
    template of one format for another would keep the other's text as written (DuckDB refuses
    ``%e``: the warm run would fail where compiling succeeds)."""
    table = ibis.table({"ts": "timestamp", "text": "string"}, name="t")
    sql = cache(tmp_path)
    for fmt in ("%d.%m.%Y", "%e.%m.%Y"):
        with_format = table.mutate(fmt=ibis.literal(fmt))
        for expr in (
            with_format.select(text=ibis._.ts.strftime(ibis._.fmt)),
            with_format.select(ts=ibis._.text.as_timestamp(ibis._.fmt)),
        ):
            assert sql.sql(expr) == _compile_fresh(expr)
            assert Fingerprint(expr.op()).slots == []
    run = ibis.literal("run-1")
    stamped = table.mutate(run=run).select("ts", "run")  # passed through: still a slot
    assert Fingerprint(stamped.op()).slots == [run.op()]


def test_a_template_that_cannot_be_made_only_means_compiling(tmp_path: Path) -> None:
    """Ibis accepts a date column compared with a text constant, not with an untyped
    placeholder: the expression is compiled and nothing is stored, never an error."""
    table = ibis.table({"day": "date"}, name="t")
    sql = cache(tmp_path)
    for since in ("2011-01-01", "1960-02-29"):
        expr = table.filter(table.day >= since)
        assert sql.sql(expr) == _compile_fresh(expr)
    assert sql.hits == 0


def test_a_folder_others_may_write_to_is_never_read(tmp_path: Path) -> None:
    """A template is run as SQL (DuckDB's SQL reads and writes files), so a folder that other
    users can write to (``RETAIL_SQL_CACHE=/tmp/shared``) would let them choose what a run
    executes: such a folder is not used at all; the folders the cache creates are private."""
    table = ibis.table({"a": "int64"}, name="t")
    expr = table.filter(table.a > 5)
    private = tmp_path / "private"
    cache(private).sql(expr)
    assert (private.stat().st_mode & 0o077) == 0
    shared = tmp_path / "shared"
    shared.mkdir()
    for stored in private.glob("*/*.sql"):
        planted = shared / stored.parent.name / stored.name
        planted.parent.mkdir()
        body = b"SELECT 'planted'"
        planted.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    os.chmod(shared, 0o777)
    sql = cache(shared)
    assert sql.sql(expr) == _compile_fresh(expr)
    assert (sql.hits, len(list(shared.glob("*/*.sql")))) == (0, 1)


def test_bytes_that_are_not_text_are_a_miss_and_killed_writers_scratch_is_removed(
    tmp_path: Path,
) -> None:
    table = ibis.table({"a": "int64"}, name="t")
    expr = table.filter(table.a > 5)
    cache(tmp_path).sql(expr)
    (stored,) = tmp_path.glob("*/*.sql")
    body = b"SELECT \xff\xfe"  # a valid checksum over bytes no compile wrote
    stored.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    stale = stored.with_name(f".{stored.name}.dead.tmp")  # a writer killed an hour ago
    fresh = stored.with_name(f".{stored.name}.live.tmp")  # a writer still at work
    for scratch in (stale, fresh):
        scratch.write_bytes(b"partial")
    os.utime(stale, (0, 0))
    again = cache(tmp_path)
    assert again.sql(expr) == _compile_fresh(expr)
    assert again.misses == 1
    assert not stale.exists() and fresh.exists()

"""PostgreSQL DDL derived from the contracts, descriptions, and DSN redaction."""

from __future__ import annotations

import pyarrow as pa
import pytest

from retail_lakehouse.config import load_settings
from retail_lakehouse.lake.contracts.gold import FACT_SALES, GOLD_TABLES
from retail_lakehouse.publish import ddl
from retail_lakehouse.publish.target import PublishRefused, Target, resolve_target


@pytest.mark.parametrize(
    ("arrow", "postgres"),
    [
        (pa.decimal128(18, 4), "numeric(18,4)"),
        (pa.timestamp("us"), "timestamp without time zone"),
        (pa.timestamp("us", tz="UTC"), "timestamp with time zone"),
        (pa.string(), "text"),
        (pa.int64(), "bigint"),
        (pa.int32(), "integer"),
        (pa.bool_(), "boolean"),
        (pa.date32(), "date"),
        (pa.float64(), "double precision"),
        (pa.list_(pa.string()), "text[]"),
    ],
)
def test_types_follow_the_contract(arrow: pa.DataType, postgres: str) -> None:
    assert ddl.pg_type(arrow) == postgres


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="no PostgreSQL type"):
        ddl.pg_type(pa.binary())


def test_a_key_type_change_upstream_flows_into_the_ddl() -> None:
    """Gold keys that became int64 (line_key, then the dimension keys) are published as bigint
    with no edit here, and the shape digest changes, so a target published with text keys is
    rebuilt by the next publish."""
    assert ("line_key", "bigint") in ddl.shape(FACT_SALES)
    assert ("product_key", "bigint") in ddl.shape(FACT_SALES)
    assert FACT_SALES.schema.field("product_key").type == pa.int64()
    previous = FACT_SALES.schema.set(
        FACT_SALES.schema.get_field_index("product_key"), pa.field("product_key", pa.string())
    )
    from dataclasses import replace

    contract = replace(FACT_SALES, schema=previous)
    assert ("product_key", "text") in ddl.shape(contract)
    assert ddl.shape_digest([contract]) != ddl.shape_digest([FACT_SALES])


def test_every_gold_table_and_column_is_described_once() -> None:
    for table in GOLD_TABLES:
        assert table.description, table.qualified
        for field in table.schema:
            assert table.column_description(field.name), f"{table.qualified}.{field.name}"
        for column, parent in table.references:
            assert column in table.schema.names
            assert parent in {t.qualified for t in GOLD_TABLES}
        assert set(table.primary_key) <= set(table.schema.names)


def test_passwords_never_show() -> None:
    url = Target("postgresql://ana:t0p-secret@db.example.com:6543/wh", "retail")
    assert url.display() == "postgresql://ana@db.example.com:6543/wh"
    assert "t0p-secret" not in url.redact(f"failed for {url.dsn}: t0p-secret")
    words = Target("host=db user=ana password='a b c' dbname=wh", "retail")
    assert "a b c" not in words.redact(words.dsn) and "a b c" not in words.display()


def test_schema_names_are_checked() -> None:
    with pytest.raises(PublishRefused, match="schema name"):
        Target("postgresql://x@y/z", 'retail"; DROP TABLE x; --')


def test_dsn_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RETAIL_PUBLISH_DSN", raising=False)
    settings = load_settings()
    with pytest.raises(PublishRefused, match="no PostgreSQL target"):
        resolve_target(settings)
    monkeypatch.setenv("RETAIL_PUBLISH_DSN", "postgresql://env@h/d")
    assert resolve_target(settings).dsn == "postgresql://env@h/d"
    assert resolve_target(settings, "postgresql://opt@h/d", "other").schema == "other"

"""The data contracts: every lake table's name and Arrow schema, defined once.

Writers cast every batch to these schemas before committing (an engine may hand back a wider
integer or decimal type than declared, and delta-rs would write it silently wrong), and readers
rely on them for empty tables. Adding a table means adding it here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

STR = pa.string()
TS = pa.timestamp("us", tz="UTC")
LOCAL_TS = pa.timestamp("us")
MONEY = pa.decimal128(18, 4)
PRICE = pa.decimal128(18, 4)


@dataclass(frozen=True)
class TableContract:
    """A lake table: ``layer.name``, its schema, and whether it only ever grows."""

    layer: str
    name: str
    schema: pa.Schema
    append_only: bool = False
    evolves: bool = False  # True when extra columns may be added (schema drift is kept)
    primary_key: tuple[str, ...] = ()
    """Columns that identify a row (unique, never NULL); published as PRIMARY KEY."""
    references: tuple[tuple[str, str], ...] = ()
    """Foreign keys: ``(column, "layer.table")``, the column holding that table's one-column
    primary key (every fact row points at a dimension row, the unknown member if need be)."""
    filter_columns: tuple[str, ...] = ()
    """Columns readers commonly filter or look rows up by, besides the primary key (a b-tree
    index each when published)."""
    ordered_columns: tuple[str, ...] = ()
    """Columns whose values grow with the order rows arrive in (dates, batches): a range filter
    on them is served by a tiny block-range (BRIN) index when published."""
    internal: bool = False
    """A table the pipeline keeps for its own incremental work (gold's per-customer summaries):
    described in the catalog, never published to a warehouse."""

    @property
    def description(self) -> str:
        """What the table holds, in one or two sentences (from :mod:`.descriptions`)."""
        from retail_lakehouse.lake.contracts.descriptions import table_description

        return table_description(self.qualified)

    def column_description(self, column: str) -> str:
        """What a column means (from :mod:`.descriptions`); empty when not described."""
        from retail_lakehouse.lake.contracts.descriptions import column_description

        return column_description(self.qualified, column)

    @property
    def qualified(self) -> str:
        return f"{self.layer}.{self.name}"


_REGISTRY: dict[str, TableContract] = {}


def register(contract: TableContract) -> TableContract:
    """Add a contract to the registry (layers call this at import time)."""
    _REGISTRY[contract.qualified] = contract
    return contract


def contract(qualified: str) -> TableContract:
    """Look up a table contract by ``layer.name``."""
    _load_all()
    try:
        return _REGISTRY[qualified]
    except KeyError:
        raise KeyError(f"unknown table {qualified!r}; known: {sorted(_REGISTRY)}") from None


def contracts() -> list[TableContract]:
    """All registered contracts, in registration order."""
    _load_all()
    return list(_REGISTRY.values())


def _load_all() -> None:
    # Importing the layer modules registers their contracts.
    from retail_lakehouse.lake.contracts import bronze, gold, meta, silver  # noqa: F401

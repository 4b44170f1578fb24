"""Point lookups held in memory per snapshot: one customer's RFM row and SCD2 versions.

A dictionary answers ``/customers/{id}`` in microseconds, where a query would scan two tables
per request; tens of thousands of customers cost a few tens of megabytes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class CustomerIndex:
    rfm: dict[str, dict[str, Any]]
    history: dict[str, list[dict[str, Any]]]

    @classmethod
    def from_arrow(cls, rfm: pa.Table, versions: pa.Table) -> CustomerIndex:
        rfm_rows: list[dict[str, Any]] = rfm.to_pylist()
        version_rows: list[dict[str, Any]] = versions.to_pylist()
        history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in version_rows:
            history[row["customer_id"]].append(row)
        return cls({r["customer_id"]: r for r in rfm_rows}, dict(history))

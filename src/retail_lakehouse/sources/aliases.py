"""Header names of both UCI layouts (and their case/space/BOM variants) -> canonical columns.

One table of aliases for every format: CSV headers, Excel header rows, JSON keys and Parquet
column names all go through :func:`canonical_name`.
"""

from __future__ import annotations

import re

from retail_lakehouse.lake.contracts.bronze import RAW_COLUMNS

_ALIASES: dict[str, str] = {
    # Online Retail (2010-2011)
    "invoiceno": "invoice_no",
    "stockcode": "stock_code",
    "description": "description",
    "quantity": "quantity",
    "invoicedate": "invoice_date",
    "unitprice": "unit_price",
    "customerid": "customer_id",
    "country": "country",
    # Online Retail II (2009-2011)
    "invoice": "invoice_no",
    "price": "unit_price",
    # the canonical names themselves, and a few common export spellings
    "invoicenumber": "invoice_no",
    "productcode": "stock_code",
    "qty": "quantity",
    "customer": "customer_id",
    "customerno": "customer_id",
    "customernumber": "customer_id",
}


def squash(name: str) -> str:
    """Lower-case a header and drop BOMs, spaces, underscores and punctuation."""
    return re.sub(r"[^0-9a-z]", "", name.replace("\ufeff", "").lower())


def canonical_name(name: str) -> str | None:
    """The canonical raw column a header stands for, or None for an extra column."""
    return _ALIASES.get(squash(name))


def extra_column_name(name: str) -> str:
    """A safe snake_case column name for an extra (unknown) source column."""
    cleaned = re.sub(r"[^0-9a-zA-Z]+", "_", name.replace("\ufeff", "").strip()).strip("_").lower()
    return f"x_{cleaned or 'column'}"


def map_header(names: list[str]) -> tuple[dict[int, str], list[str]]:
    """Map source column positions to output names; also return the missing required columns.

    Canonical columns keep their canonical name; extra columns are kept under ``x_<name>`` so
    they can never collide with a canonical or lineage column."""
    mapping: dict[int, str] = {}
    taken: set[str] = set()
    for position, name in enumerate(names):
        target = canonical_name(name)
        if target is None or target in taken:
            target = extra_column_name(name)
            while target in taken:
                target += "_"
        mapping[position] = target
        taken.add(target)
    missing = [c for c in RAW_COLUMNS if c not in taken]
    return mapping, missing

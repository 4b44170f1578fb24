"""Header names of both UCI layouts (and their case/space/BOM variants) -> canonical columns.

One table of aliases for every format: CSV headers, Excel header rows, JSON keys and Parquet
column names all go through :func:`canonical_name`.
"""

from __future__ import annotations

import re
from pathlib import Path

from retail_lakehouse.lake.contracts.bronze import RAW_COLUMNS
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.limits import ReaderLimits

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
    they can never collide with a canonical or lineage column. A repeated extra name gets one
    more trailing underscore per repeat; the count per name is kept, so thousands of duplicate
    names cost linear time (probing one underscore at a time was cubic: 8,000 names, 151 s)."""
    mapping: dict[int, str] = {}
    taken: set[str] = set()
    repeats: dict[str, int] = {}
    for position, name in enumerate(names):
        target = canonical_name(name)
        if target is None or target in taken:
            base = extra_column_name(name)
            target = base + "_" * repeats.get(base, 0)
            while target in taken:  # only when a name already ends in underscores
                target += "_"
            repeats[base] = len(target) - len(base) + 1
        mapping[position] = target
        taken.add(target)
    missing = [c for c in RAW_COLUMNS if c not in taken]
    return mapping, missing


def checked_header(
    path: Path, header: list[str], limits: ReaderLimits, what: str = "column"
) -> list[str]:
    """Output names for a source header, or FileRefused: too many columns or extra columns,
    or a required column missing. Every reader goes through here."""
    if len(header) > limits.max_columns:
        raise FileRefused(
            path,
            f"{len(header):,} {what}s, more than the {limits.max_columns:,} allowed "
            "(limits.max_columns)",
            line=1 if what == "column" else None,
        )
    mapping, missing = map_header([str(h) for h in header])
    names = [mapping[i] for i in range(len(header))]
    if missing:
        shown = ", ".join(header[:40]) + (", ..." if len(header) > 40 else "")
        raise FileRefused(
            path, f"missing required {what}(s) {', '.join(missing)} (header: {shown})"
        )
    extra = [n for n in names if n.startswith("x_")]
    if len(extra) > limits.max_extra_columns:
        raise FileRefused(
            path,
            f"{len(extra):,} extra {what}s beyond the canonical ones, more than the "
            f"{limits.max_extra_columns} allowed (limits.max_extra_columns)",
        )
    return names

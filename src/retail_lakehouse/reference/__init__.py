"""Offline reference data shipped inside the package: countries and UK bank holidays.

The gold layer needs ISO codes, regions, currencies and a holiday calendar to build
``dim_country`` and ``dim_date``. Fetching them at run time would make builds depend on the
network and on third-party sites that change, so small curated CSVs live next to this module
(see ``README.md`` in this folder for sources and the choices made for the non-ISO
"countries" of the UCI data). They are read with :mod:`importlib.resources`, which works the
same from a source checkout, an installed wheel or a zip, and cached because the tables are
immutable and asked for on every pipeline run.
"""

from __future__ import annotations

import functools
from importlib import resources

import pyarrow as pa
import pyarrow.csv as pacsv

__all__ = ["COUNTRY_SCHEMA", "HOLIDAY_SCHEMA", "bank_holidays", "countries"]

#: Column types of :func:`countries`; everything is text except the EU membership flag.
COUNTRY_SCHEMA = pa.schema(
    [
        pa.field("raw_name", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("iso2", pa.string(), nullable=False),
        pa.field("iso3", pa.string(), nullable=False),
        pa.field("region", pa.string(), nullable=False),
        pa.field("continent", pa.string(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("eu_member", pa.bool_(), nullable=False),
    ]
)

#: Column types of :func:`bank_holidays`.
HOLIDAY_SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
    ]
)


def _read(filename: str, schema: pa.Schema) -> pa.Table:
    """Parse one packaged CSV with explicit types, so nothing depends on type inference.

    ``"NA"``-like strings must stay text (there is no such country code today, but a
    null-sniffing reader would silently turn Namibia's ``NA`` into a null), hence no null
    values at all are recognised.
    """
    data = resources.files(__package__).joinpath(filename).read_bytes()
    table = pacsv.read_csv(
        pa.BufferReader(data),
        convert_options=pacsv.ConvertOptions(
            column_types={field.name: field.type for field in schema},
            include_columns=schema.names,
            null_values=[],
            strings_can_be_null=False,
            true_values=["true"],
            false_values=["false"],
        ),
    )
    return table.cast(schema)


@functools.cache
def countries() -> pa.Table:
    """Country reference: one row per raw spelling seen in the UCI Online Retail data sets.

    Columns: ``raw_name`` (unique, exactly as written in the source files, e.g. ``EIRE``),
    ``name`` (canonical common English short name, e.g. ``Ireland``), ``iso2``, ``iso3``,
    ``region`` (UN M49 sub-region), ``continent``, ``currency`` (ISO 4217, as used in
    2011) and ``eu_member`` (membership as of 2011). Canonical names also map to
    themselves, so data that is already clean joins as well.
    """
    return _read("countries.csv", COUNTRY_SCHEMA)


@functools.cache
def bank_holidays() -> pa.Table:
    """England and Wales bank holidays 2009-2030 (``date`` date32, ``name`` string).

    Includes substitute days and the one-off royal and state holidays; the file is produced
    by :mod:`retail_lakehouse.reference._build_bank_holidays`.
    """
    return _read("uk_bank_holidays.csv", HOLIDAY_SCHEMA)

"""``gold.dim_country``: the shipped country reference, plus any country seen only in the data.

Silver has already mapped raw spellings (``EIRE``, ``RSA``) to canonical names, so the dimension
holds one row per canonical name, keyed by the hash of that name. A name silver could not map
still gets a row (with whatever ISO code silver found), so every fact row resolves; a missing
country resolves to the unknown member.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake import arrays
from retail_lakehouse.lake.contracts.gold import DIM_COUNTRY
from retail_lakehouse.lake.store import cast_batch
from retail_lakehouse.pipeline.gold.frames import conform
from retail_lakehouse.pipeline.gold.keys import UNKNOWN_KEY, surrogate_key
from retail_lakehouse.reference import countries


def canonical_countries() -> pa.Table:
    """One reference row per canonical name (the reference has one per raw spelling): the first
    row of each name, in the reference's order."""
    reference = countries()
    names = reference.column("name")
    # index_in finds each distinct name's first row; unique keeps first-appearance order
    first = pc.index_in(pc.unique(names), value_set=names)
    unique = reference.take(first).drop_columns(["raw_name"])
    unique = unique.rename_columns({"name": "country", "eu_member": "is_eu_member"})
    # nullable, as the data's unmapped countries it is united with (no iso3, no region, ...)
    return unique.cast(pa.schema([f.with_nullable(True) for f in unique.schema]))


def build_dim_country(
    engine: Engine, silver: ir.Table, previous: ir.Table | None = None
) -> ir.Table:
    """Reference countries and the data's unmapped ones, keyed, with the unknown member.

    With ``previous`` (the dimension before an append), ``silver`` holds only the new lines:
    the unmapped countries are the previous ones plus the new lines', each with the greatest
    ISO code seen (a maximum adds up), so an append does not re-read all of silver."""
    reference = engine.arrow_table(canonical_countries(), "gold_reference_countries")
    lines = silver.filter(silver.country.notnull()).select("country", iso2=silver.country_code)
    if previous is not None:
        earlier = previous.filter(
            previous.country.notnull() & (previous.country_key != UNKNOWN_KEY)
        ).select("country", "iso2")
        lines = lines.union(earlier)
    seen = lines.group_by("country").agg(iso2=lines.iso2.max())
    extra = seen.anti_join(reference, seen.country == reference.country).select(
        country=seen.country,
        iso2=seen.iso2,
        iso3=ibis.null("string"),
        region=ibis.null("string"),
        continent=ibis.null("string"),
        currency=ibis.null("string"),
        is_eu_member=ibis.null("boolean"),
    )
    rows = reference.select(*extra.columns).union(extra)
    unknown = engine.arrow_table(
        cast_batch(
            arrays.table(
                {"country_key": [UNKNOWN_KEY], "country": ["Unknown"]}, DIM_COUNTRY.schema
            ),
            DIM_COUNTRY,
        ),
        "gold_unknown_country",
    )
    keyed = conform(rows.mutate(country_key=surrogate_key(engine, rows.country)), DIM_COUNTRY)
    return keyed.union(conform(unknown, DIM_COUNTRY))

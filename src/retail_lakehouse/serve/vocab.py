"""Known values that filters are checked against before any query runs.

A country filter accepts the canonical name, any spelling the reference data knows (``EIRE``)
or an ISO code, in any case, and is turned into the canonical name the gold tables use. An
unknown value is refused with a message instead of silently matching nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from retail_lakehouse.reference import countries


@dataclass(frozen=True)
class CountryNames:
    """Lower-cased spelling or code -> canonical country name."""

    lookup: dict[str, str]
    canonical: tuple[str, ...]

    @classmethod
    def from_gold(cls, gold_names: Iterable[str | None]) -> CountryNames:
        reference = countries().to_pylist()
        lookup: dict[str, str] = {}
        for row in reference:
            for spelling in (row["raw_name"], row["name"], row["iso2"], row["iso3"]):
                if spelling:
                    lookup.setdefault(spelling.strip().lower(), row["name"])
        for name in gold_names:
            if name:
                lookup.setdefault(name.strip().lower(), name)
        return cls(lookup, tuple(sorted(set(lookup.values()))))

    def resolve(self, value: str) -> str | None:
        """The canonical name for ``value``, or None when it is not a known country."""
        return self.lookup.get(value.strip().lower())

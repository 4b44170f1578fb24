"""Query filters: declared types and ranges (FastAPI checks those), then known values.

Every filter ends up as a bound parameter or as one of a fixed set of SQL fragments chosen by
an enum (sort orders); no text a user sends is ever placed in SQL. Values that parse but are not
known (a country the lake has never heard of) are refused with the same 422 shape FastAPI uses
for type errors, so clients handle one error format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError

from retail_lakehouse.serve.readers import Snapshot

MAX_PAGE_SIZE = 1000


def invalid(
    field: str, message: str, value: Any = None, where: str = "query"
) -> RequestValidationError:
    """A 422 for one field, in FastAPI's own error format."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, field), "msg": message, "input": value}]
    )


def single_valued_query(request: Request) -> None:
    """Refuse a query parameter given twice (``country=gb&country=fr``): 422.

    Every filter of this API takes one value; keeping the last (what the framework would do)
    silently answers a different question than the one asked, and accepting lists would
    promise "any of" semantics no endpoint implements."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            values = request.query_params.getlist(name)
            raise invalid(
                name,
                f"{name!r} was given {len(values)} times; each filter takes one value",
                values,
            )
        seen.add(name)


@dataclass(frozen=True)
class Period:
    """A date range (inclusive, either end open) and an optional canonical country."""

    start: date | None = None
    end: date | None = None
    country: str | None = None

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "country": self.country}


PERIOD_WHERE = (
    "(CAST($start AS DATE) IS NULL OR {col} >= CAST($start AS DATE)) "
    "AND (CAST($end AS DATE) IS NULL OR {col} <= CAST($end AS DATE)) "
    "AND (CAST($country AS VARCHAR) IS NULL OR country = CAST($country AS VARCHAR))"
)


def period_where(column: str) -> str:
    """The WHERE clause of a :class:`Period` over a date column (a fixed name, never input)."""
    return PERIOD_WHERE.format(col=column)


def period_query(
    start: Annotated[
        date | None,
        Query(alias="from", description="First day included (YYYY-MM-DD)."),
    ] = None,
    end: Annotated[
        date | None, Query(alias="to", description="Last day included (YYYY-MM-DD).")
    ] = None,
    country: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="Country name or ISO code, any case (e.g. `United Kingdom`, `gb`, `EIRE`).",
        ),
    ] = None,
) -> Period:
    """Parse the period filters; ``from`` after ``to`` is refused."""
    if start and end and start > end:
        raise invalid("from", f"'from' ({start}) is after 'to' ({end})", str(start))
    return Period(start, end, country)


def resolve_period(snapshot: Snapshot, period: Period) -> Period:
    """The period with its country in canonical form; unknown countries are a 422."""
    if period.country is None:
        return period
    name = snapshot.countries.resolve(period.country)
    if name is None:
        raise invalid(
            "country",
            f"unknown country {period.country!r}: use a country name or ISO code listed by "
            "GET /api/v1/countries (for example 'United Kingdom' or 'GB')",
            period.country,
        )
    return Period(period.start, period.end, name)


@dataclass(frozen=True)
class Paging:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    def params(self) -> dict[str, Any]:
        return {"limit": self.page_size, "offset": self.offset}


def paging_query(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number.")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Rows per page (max 1000).")
    ] = 100,
) -> Paging:
    return Paging(page, page_size)


class SalesSort(str, Enum):
    """Sort orders of the sales endpoints; a leading ``-`` means descending."""

    date_asc = "date"
    date_desc = "-date"
    country_asc = "country"
    country_desc = "-country"
    revenue_asc = "gross_revenue"
    revenue_desc = "-gross_revenue"
    net_asc = "net_revenue"
    net_desc = "-net_revenue"
    orders_asc = "orders"
    orders_desc = "-orders"

    def order_by(self, date_column: str) -> str:
        """The ORDER BY list: a fixed fragment per member, with a total tie-breaker."""
        name = self.value.lstrip("-")
        direction = "DESC" if self.value.startswith("-") else "ASC"
        column = {"date": date_column}.get(name, name)
        return f"{column} {direction} NULLS LAST, {date_column}, country NULLS FIRST"


class Grouping(str, Enum):
    """``country``: one row per country (the mart's grain); ``total``: summed over countries."""

    country = "country"
    total = "total"

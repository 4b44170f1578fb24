"""Fill a new snapshot's cache with what the dashboard asks for first, before it is served.

Warming happens in the reader's background thread, so after a pipeline run the first dashboard
users (and a load test) hit ready answers instead of all waiting on the same queries. The keys
here must match the routes' keys; ``tests/integration/api`` checks that they do.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from retail_lakehouse.serve.filters import Grouping, Paging, Period, SalesSort
from retail_lakehouse.serve.queries import customers, products, quality, sales
from retail_lakehouse.serve.readers import Snapshot
from retail_lakehouse.serve.respond import Body, encode

DASHBOARD_DAYS = Paging(page=1, page_size=1000)
DASHBOARD_TOP = 10
DASHBOARD_TREND = 100


def dashboard_requests(
    snapshot: Snapshot,
) -> list[tuple[Hashable, Callable[[], Body]]]:
    everything = Period()
    return [
        (("kpis", everything), lambda: sales.kpis(snapshot, everything)),
        (
            ("daily", everything, DASHBOARD_DAYS, SalesSort.date_asc, Grouping.total),
            lambda: sales.daily(
                snapshot, everything, DASHBOARD_DAYS, SalesSort.date_asc, Grouping.total
            ),
        ),
        (("by_country", everything), lambda: sales.by_country(snapshot, everything)),
        (
            ("top", "revenue", None, DASHBOARD_TOP, False),
            lambda: products.top(snapshot, "revenue", None, DASHBOARD_TOP, False),
        ),
        (("segments",), lambda: customers.segments(snapshot)),
        (("trend", DASHBOARD_TREND), lambda: quality.trend(snapshot, DASHBOARD_TREND)),
        (("countries",), lambda: customers.countries(snapshot)),
    ]


def warm_dashboard(snapshot: Snapshot) -> None:
    for key, produce in dashboard_requests(snapshot):
        snapshot.cache.compute(key, lambda produce=produce: encode(produce()))  # type: ignore[misc]

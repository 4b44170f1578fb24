"""``ordered_map`` runs work on threads but hands results back in order, bounded, with errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from retail_lakehouse.lake.prefetch import ordered_map


def test_results_come_back_in_the_order_of_the_items() -> None:
    def slow_for_even(i: int) -> int:
        time.sleep(0.02 if i % 2 == 0 else 0)
        return i * i

    assert list(ordered_map(slow_for_even, range(20))) == [i * i for i in range(20)]


def test_at_most_workers_items_are_taken_ahead_of_the_consumer() -> None:
    taken: list[int] = []

    def items() -> Iterator[int]:
        for i in range(100):
            taken.append(i)
            yield i

    results = ordered_map(lambda i: i, items(), workers=2)
    assert next(results) == 0
    assert len(taken) == 2
    results.close()


def test_an_error_is_raised_where_its_result_belongs() -> None:
    seen: list[int] = []

    def fails_on_three(i: int) -> int:
        if i == 3:
            raise ValueError("line 3 is bad")
        return i

    with pytest.raises(ValueError, match="line 3 is bad"):
        for value in ordered_map(fails_on_three, range(10)):
            seen.append(value)
    assert seen == [0, 1, 2]


def test_work_runs_on_more_than_one_thread() -> None:
    names: set[str] = set()
    barrier = threading.Barrier(2, timeout=5)

    def meet(i: int) -> int:
        names.add(threading.current_thread().name)
        if i < 2:
            barrier.wait()  # both first items must be running at the same time
        return i

    assert list(ordered_map(meet, range(4), workers=2)) == [0, 1, 2, 3]
    assert len(names) == 2

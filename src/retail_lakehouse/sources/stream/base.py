"""The broker-neutral shape of a stream source: partitions, offsets, fetch, acknowledge.

A source is read as a set of **partitions**, each an ordered log whose messages carry an
increasing **offset**. JetStream has one partition per stream (offset = the stream sequence);
Kafka has many per topic (offset = the partition offset). The lake, not the broker, holds the
committed position of each partition: the Delta transaction identifier ``txn`` with app id
:meth:`StreamSource.app_id` and version = the highest offset committed (decision 0018). A source
is opened *at* those positions, so after a crash it resumes exactly after what the lake holds,
whatever the broker remembers about acknowledgements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StreamRecord:
    """One message: where it sits in the source and its raw payload."""

    partition: int
    offset: int
    payload: bytes
    handle: object = None  # the broker's own message object, needed to acknowledge it


class SourceUnavailable(Exception):
    """The broker cannot be reached (yet): retried with backoff by the stream loop."""


class StreamSource(Protocol):
    """What ``retail stream`` needs from a broker."""

    subject: str
    """What is consumed, as the user named it: one session per subject and lake."""

    notes: list[str]
    """What the broker showed that the user should hear of (said after each seek)."""

    @property
    def name(self) -> str:
        """A stable name of what is consumed (broker, stream, subject): lineage and app ids."""
        ...

    def partitions(self) -> list[int]:
        """The partitions consumed (known once connected)."""
        ...

    def app_id(self, partition: int) -> str:
        """The Delta ``txn`` application id that holds ``partition``'s committed offset: named
        after what is consumed (stream or topic, subject, partition), not after the consumer or
        the address used to reach the broker, so a renamed consumer or another host name for the
        same broker can never read the same records into the lake twice."""
        ...

    def app_ids_of(self, subject: str) -> list[str]:
        """The app ids another ``subject`` of the same stream or topic has (to find whether the
        lake holds events it shares with this one)."""
        ...

    async def connect(self) -> None:
        """Reach the broker and find what to consume (raises :class:`SourceUnavailable`)."""
        ...

    async def seek(self, committed: dict[int, int]) -> None:
        """Position each partition just after its ``committed`` offset (0: from the start)."""
        ...

    async def fetch(self, max_records: int, timeout: float) -> list[StreamRecord]:
        """Up to ``max_records`` records, waiting at most ``timeout`` seconds for the first."""
        ...

    async def ack(self, records: list[StreamRecord]) -> None:
        """Acknowledge records whose data is committed to the lake (or skipped as already in)."""
        ...

    async def close(self) -> None:
        """Disconnect (unacknowledged records are delivered again to the next consumer)."""
        ...

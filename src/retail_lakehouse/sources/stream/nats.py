"""NATS JetStream as a stream source: one durable pull consumer, positioned by the lake.

A JetStream stream is one partition (0) whose offsets are the stream sequence numbers. The
consumer is a *durable pull* consumer with explicit acknowledgement: the lake asks for records
only when it is ready for them (back-pressure is the pull itself, and ``max_ack_pending`` bounds
what is in flight), and acknowledges them only after their commit.

The lake holds the committed offset (decision 0018), so :meth:`JetStreamSource.seek` checks the
durable consumer against it: when the consumer delivered records beyond the committed offset that
were never committed (a crash between fetch and commit) or its acknowledgements disagree with
the lake, it is recreated to start right after the committed offset. JetStream would otherwise
redeliver those records only when their ack wait expires, *after* newer ones, and an offset
committed past them would wrongly skip them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from retail_lakehouse.sources.stream.base import SourceUnavailable, StreamRecord

log = logging.getLogger(__name__)

PARTITION = 0
ACK_WAIT_SECONDS = 60.0


class SourceRefused(ValueError):
    """A source URL or subject that can never work (exit code 2, no retry)."""


def parse_url(url: str) -> tuple[str, int]:
    """``nats://HOST:PORT`` -> (host, port); anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme != "nats" or not parts.hostname:
        raise SourceRefused(f"--source must look like nats://HOST:PORT, not {url!r}")
    try:
        port = parts.port or 4222
    except ValueError:
        raise SourceRefused(f"--source {url!r}: the port is not a number") from None
    return parts.hostname, port


OWNER_PREFIX = "retail lake "
LEGACY_DURABLE = "retail"
"""The durable every lake shared before the default was named per lake (decision 0018,
fifteenth round): left on the broker by the upgrade."""


def subjects_overlap(a: str, b: str) -> bool:
    """Whether some subject matches both NATS subject filters (``*``: one token, ``>``: one or
    more trailing tokens): ``sales.>`` and ``sales.lines`` do, ``sales.*`` and ``sales.a.b``
    do not."""
    left, right = a.split("."), b.split(".")
    for x, y in zip(left, right, strict=False):
        if x == ">" or y == ">":
            return True
        if x != y and "*" not in (x, y):
            return False
    return len(left) == len(right)


def lake_consumer_id(root: Path) -> str:
    """A random id of the lake, made once (``_stream/consumer-id``): it names the lake's
    default durable consumers and marks them as its own on the broker. Not a path or host name:
    the same path on two hosts is two lakes, and a container's host name changes each start."""
    path = root / "_stream" / "consumer-id"
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".consumer-id-{uuid.uuid4().hex}")
    scratch.write_text(uuid.uuid4().hex, encoding="ascii")
    try:
        os.link(scratch, path)  # the first writer wins; a racing one reads the winner's id
    except FileExistsError:
        pass
    finally:
        scratch.unlink()
    return path.read_text(encoding="ascii").strip()


def consumer_owner(root: Path) -> str:
    """The description a lake's consumers carry on the broker."""
    return f"{OWNER_PREFIX}{lake_consumer_id(root)}"


def default_durable(root: Path, subject: str) -> str:
    """``retail-<hash of lake id and subject>``: two lakes never share a default consumer."""
    digest = hashlib.sha256(f"{lake_consumer_id(root)}\0{subject}".encode()).hexdigest()
    return f"retail-{digest[:16]}"


class JetStreamSource:
    """A durable pull consumer on ``subject`` of the JetStream stream that holds it."""

    def __init__(
        self,
        url: str,
        subject: str,
        durable: str,
        *,
        max_in_flight: int = 10_000,
        owner: str | None = None,
    ) -> None:
        host, port = parse_url(url)
        if not subject or any(c.isspace() for c in subject):
            raise SourceRefused(f"--subject {subject!r} is not a NATS subject")
        if not durable or any(c in durable for c in " .*>\t"):
            raise SourceRefused(f"--durable {durable!r}: no spaces, dots, * or > in a name")
        self.url = f"nats://{host}:{port}"
        self.subject = subject
        self.durable = durable
        self.owner = owner
        """The consumer's description, naming the lake it feeds (:func:`consumer_owner`): a
        durable described as another lake's is refused, never taken over."""
        self.max_in_flight = max_in_flight
        self.notes: list[str] = []
        self.stream: str | None = None
        self._nc: Any = None
        self._sub: Any = None
        self._closing = False

    @property
    def name(self) -> str:
        return f"{self.url}/{self.stream or '?'}/{self.subject}"

    def partitions(self) -> list[int]:
        return [PARTITION]

    def app_id(self, partition: int) -> str:
        return self._app_id(self.subject, partition)

    def app_ids_of(self, subject: str) -> list[str]:
        return [self._app_id(subject, partition) for partition in self.partitions()]

    def _app_id(self, subject: str, partition: int) -> str:
        if self.stream is None:
            raise RuntimeError("connect() first: the stream's name is part of the app id")
        return f"retail.stream:nats:{self.stream}:{subject}:{partition}"

    async def connect(self) -> None:
        import nats
        from nats.errors import NoServersError
        from nats.js.errors import NotFoundError

        self._closing = False
        try:
            self._nc = await nats.connect(
                self.url,
                connect_timeout=2,
                allow_reconnect=False,  # the stream loop reconnects, logs and backs off
                max_reconnect_attempts=1,  # nats-py retries a first connect 60 times (0: forever)
                reconnect_time_wait=0.1,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnect,
            )
        except (NoServersError, OSError, TimeoutError) as error:
            raise SourceUnavailable(
                f"cannot reach {self.url}: {error or type(error).__name__}"
            ) from None
        js = self._nc.jetstream()
        try:
            self.stream = await js.find_stream_name_by_subject(self.subject)
        except NotFoundError:
            await self.close()
            raise SourceRefused(
                f"no JetStream stream on {self.url} holds subject {self.subject!r}"
            ) from None
        except Exception as error:
            raise SourceUnavailable(f"{self.url}: {_describe(error)}") from None

    async def seek(self, committed: dict[int, int]) -> None:
        if self._nc is None or self.stream is None:
            raise SourceUnavailable("not connected")
        js = self._nc.jetstream()
        try:
            await self._position(js, committed.get(PARTITION, 0))
            self._sub = await js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
            self.notes = await self._leftover(js)
        except SourceRefused:
            raise
        except Exception as error:
            raise SourceUnavailable(f"{self.url}: {_describe(error)}") from None

    async def _leftover(self, js: Any) -> list[str]:
        """The consumer an earlier version shared (:data:`LEGACY_DURABLE`, no description),
        named when this lake uses another: nothing reads it unless a lake of that version still
        streams, and on a stream retained by interest it holds every event for ever. Said, not
        removed: which lakes of that version remain, only the user knows."""
        from nats.js.api import RetentionPolicy
        from nats.js.errors import NotFoundError

        assert self.stream is not None
        if self.durable == LEGACY_DURABLE:
            return []
        try:
            info = await js.consumer_info(self.stream, LEGACY_DURABLE)
        except NotFoundError:
            return []
        if info.config.description:  # made by this version, for a lake that named it so
            return []
        retention = (await js.stream_info(self.stream)).config.retention
        holds = (
            "The stream's retention by interest: it keeps every event until that consumer "
            "acknowledges it, so the broker's storage grows. "
            if retention == RetentionPolicy.INTEREST
            else ""
        )
        return [
            f"consumer {LEGACY_DURABLE!r} on stream {self.stream} of {self.url} was made by an "
            "earlier version of retail stream, before each lake had its own (this lake now "
            f"uses {self.durable!r}); only a lake of that version still reads it. {holds}Once "
            f"none is left, remove it: nats consumer rm {self.stream} {LEGACY_DURABLE}"
        ]

    async def _position(self, js: Any, committed: int) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        assert self.stream is not None
        try:
            info = await js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            info = None
        if info is not None:
            other = info.config.description or ""
            if self.owner and other.startswith(OWNER_PREFIX) and other != self.owner:
                raise SourceRefused(
                    f"--durable {self.durable!r} on {self.url} is the consumer of another lake "
                    f"({other.removeprefix(OWNER_PREFIX)}): two lakes sharing one durable "
                    "consumer split its events between them. Give this lake its own --durable, "
                    "or leave --durable out (the default is named after the lake and subject)"
                )
            clean = (
                info.num_ack_pending == 0
                and info.delivered.stream_seq == committed
                and info.ack_floor.stream_seq == committed
                and info.config.filter_subject == self.subject
                and info.config.ack_policy == AckPolicy.ALL
                and (not self.owner or other == self.owner)
            )
            if clean:
                return
            log.warning(
                "stream consumer %s: delivered up to %s, acknowledged up to %s, %s pending; the "
                "lake holds up to %s: restarting it after the lake's position",
                self.durable,
                info.delivered.stream_seq,
                info.ack_floor.stream_seq,
                info.num_ack_pending,
                committed,
            )
            await js.delete_consumer(self.stream, self.durable)
        start = (
            {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": committed + 1}
            if committed
            else {"deliver_policy": DeliverPolicy.ALL}
        )
        config = ConsumerConfig(
            durable_name=self.durable,
            description=self.owner,
            ack_policy=AckPolicy.ALL,
            ack_wait=ACK_WAIT_SECONDS,
            filter_subject=self.subject,
            max_ack_pending=self.max_in_flight,
            **start,
        )
        await js.add_consumer(self.stream, config)

    async def fetch(self, max_records: int, timeout: float) -> list[StreamRecord]:
        from nats.errors import TimeoutError as NatsTimeout

        if self._sub is None:
            raise SourceUnavailable("not connected")
        try:
            messages = await self._sub.fetch(batch=max_records, timeout=timeout)
        except (NatsTimeout, TimeoutError):
            return []
        except Exception as error:
            raise SourceUnavailable(f"fetch from {self.url} failed: {_describe(error)}") from None
        return [StreamRecord(PARTITION, m.metadata.sequence.stream, m.data, m) for m in messages]

    async def ack(self, records: list[StreamRecord]) -> None:
        if not records:
            return
        try:  # AckPolicy.ALL: acknowledging the highest offset acknowledges all before it
            handle: Any = max(records, key=lambda r: r.offset).handle
            await handle.ack()
            if self._nc is not None:
                await self._nc.flush(timeout=5)
        except Exception as error:
            # The data is committed: unacknowledged records come back and are skipped.
            raise SourceUnavailable(
                f"acknowledging to {self.url} failed: {_describe(error)}"
            ) from None

    async def close(self) -> None:
        nc, self._nc, self._sub = self._nc, None, None
        self._closing = True
        if nc is not None:
            try:
                await nc.close()
            except Exception as error:  # closing a broken connection
                log.debug("closing %s: %s", self.url, _describe(error))

    async def _on_error(self, error: Exception) -> None:
        connected = self._nc is not None and self._nc.is_connected
        (log.warning if connected else log.debug)("stream %s: %s", self.url, _describe(error))

    async def _on_disconnect(self) -> None:
        if not self._closing:
            log.warning("stream %s: disconnected", self.url)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__

"""``retail stream``: consume a broker into bronze in micro-batches, exactly once.

The loop adds no second path into the lake: each micro-batch is committed by
:func:`~retail_lakehouse.pipeline.stream_batch.commit_batch` inside its own recorded run (so the
writer lock is held only while committing, and ``retail run`` can interleave), and with
``run_every`` the pipeline runs through :func:`~retail_lakehouse.pipeline.runner.run_pipeline`,
what ``retail run`` calls. What it adds:

* **micro-batches**: records are gathered for ``batch_seconds`` after the first one arrives, or
  until ``max_batch``; the batch is committed, then acknowledged (never before);
* **exactly once**: the source is opened at the offsets the lake holds; records at or below them
  (redelivered after a crash between commit and acknowledgement) are acknowledged and skipped;
* **back-pressure**: records are pulled only when the previous batch is committed, so a slow
  lake (or a pipeline run) makes the broker hold them, never this process's memory;
* **broker failures**: a lost connection or a broker restart is logged and retried with a
  doubling backoff (0.5 s up to 30 s); records fetched but not committed are read again;
* **another writer**: the writer lock is tried for at most :data:`LOCK_ATTEMPT_SECONDS` at a
  time (or ``writer_wait``, if shorter); while another command holds it, the recovery or the
  micro-batch in hand (not acknowledged) is retried with a doubling backoff (up to
  :data:`MAX_LOCK_BACKOFF_SECONDS`), logged; a pipeline run is postponed to its next turn;
* **stopping**: SIGTERM or SIGINT ends the loop after the batch being committed; ``until_idle``
  ends it after that many seconds without a new record (a last pipeline run first, with
  ``run_every``);
* **one consumer per subject and lake**: a session holds ``<lake>/_stream/<subject>.lock``
  (``flock``, released by the kernel however the process ends) and a second one is refused
  naming the first. Two sessions would each trust the position they read at start: sharing the
  durable consumer they would split the records between them and commit positions out of order
  (a later restart reads again what the other committed), and with two durables both would
  commit the same records;
* **no subject sharing events with another in the lake**: ``sales.>`` and ``sales.lines`` have
  their own positions (app ids), so the events they share would be committed twice. A session is
  refused (exit 1) while a session of an overlapping subject runs (its lock is held; the subject
  is written in it), and refused (exit 2) when the lake holds a position of an overlapping
  subject of the same broker stream (:meth:`StreamConsumer._refuse_overlapping_positions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from retail_lakehouse.config import Settings
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.errors import LakeBusyError
from retail_lakehouse.lake.faults import point as fault_point
from retail_lakehouse.orchestrate.heartbeat import (
    ProcessLock,
    describe_holder,
    held_by_another,
    recorded_holder,
)
from retail_lakehouse.sources.stream.base import SourceUnavailable, StreamRecord, StreamSource

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
POLL_SECONDS = 1.0
LOCK_ATTEMPT_SECONDS = 1.0  # one wait for the writer lock: short, so SIGTERM is served promptly
MAX_LOCK_BACKOFF_SECONDS = 5.0

T = TypeVar("T")


class StreamRunning(RuntimeError):
    """Another ``retail stream`` consumes this subject into this lake."""


class PositionMoved(SourceUnavailable):
    """The lake's position is not the one this session committed last: a ``retail rollback``
    (or a restore) moved it while the stream ran. Handled as a lost connection: the batch in
    hand is not committed nor acknowledged, and the consumer is positioned again from the lake,
    so the events the rollback undid are read again (committing the next batch at the session's
    own position would have skipped them for good)."""


def stream_lock(lake: Lake, subject: str) -> ProcessLock:
    """The one-consumer-per-subject lock of a lake (the file is named by a hash of the subject:
    a subject may hold ``*``, ``>`` and any other character; the subject is written inside)."""
    name = hashlib.sha256(subject.encode()).hexdigest()[:16]
    return ProcessLock(
        lake.root / "_stream" / f"{name}.lock",
        lambda holder: StreamRunning(
            f"another retail stream is already consuming subject {subject!r} into {lake.root}: "
            + describe_holder(holder)
        ),
        detail={"subject": subject},
    )


def overlapping_subjects(lake: Lake, subject: str) -> dict[str, dict[str, Any]]:
    """The other subjects ever consumed into ``lake`` (named in its stream locks) that share
    events with ``subject`` (``sales.>`` and ``sales.lines``), each with its lock's holder
    record and whether a session holds it now (``running``)."""
    from retail_lakehouse.sources.stream.nats import subjects_overlap

    found: dict[str, dict[str, Any]] = {}
    for path in sorted((lake.root / "_stream").glob("*.lock")):
        other = recorded_holder(path).get("subject")
        if isinstance(other, str) and other != subject and subjects_overlap(subject, other):
            holder = held_by_another(path)
            found[other] = {**(holder or {}), "running": holder is not None}
    return found


@dataclass(frozen=True)
class StreamOptions:
    """How ``retail stream`` batches, when it runs the pipeline and when it stops."""

    batch_seconds: float = 1.0
    max_batch: int = 5_000
    until_idle: float | None = None
    run_every: float | None = None
    cdc: bool = False  # Debezium change events applied to silver.cdc_lines (pipeline/cdc.py)


@dataclass
class StreamSummary:
    """What one ``retail stream`` session did."""

    batches: int = 0
    lines: int = 0
    rejected: int = 0
    skipped: int = 0  # redelivered records already in the lake
    pipeline_runs: int = 0
    failed_runs: int = 0
    reconnects: int = 0
    lock_waits: int = 0  # lake work retried because another writer held the lock
    orphans_removed: int = 0
    stopped_by: str = ""
    offsets: dict[int, int] = field(default_factory=dict)


def _say(message: str) -> None:
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    print(f"{stamp} {message}", flush=True)


class StreamConsumer:
    """One ``retail stream`` session: a source, a lake, and the loop between them."""

    def __init__(
        self,
        lake: Lake,
        settings: Settings,
        source: StreamSource,
        options: StreamOptions,
        *,
        say: Callable[[str], None] = _say,
    ) -> None:
        # The same lake, tried in short lock waits: the loop retries, and stays stoppable.
        self.lake = Lake(lake.root, writer_wait=min(lake.writer_wait, LOCK_ATTEMPT_SECONDS))
        self.settings = settings
        self.source = source
        self.options = options
        self.say = say
        self.summary = StreamSummary()
        self._stop: asyncio.Event | None = None
        self._committed: dict[int, int] = {}
        self._last_run = time.monotonic()
        self._unrun = 0  # batches committed since the last pipeline run
        self.connected = False  # reached the broker at least once

    def run(self) -> StreamSummary:
        """Consume until stopped (signal) or idle; the summary of what was done. Raises
        :class:`StreamRunning` when another session consumes the same subject into the lake."""
        lock = stream_lock(self.lake, self.source.subject)
        lock.acquire()
        try:
            for other, holder in overlapping_subjects(self.lake, self.source.subject).items():
                if holder["running"]:  # both would commit the events the subjects share
                    raise StreamRunning(
                        f"another retail stream is consuming subject {other!r}, which shares "
                        f"events with {self.source.subject!r}, into {self.lake.root}: "
                        + describe_holder(holder)
                    )
            asyncio.run(self._main())
        finally:
            lock.release()
        return self.summary

    def request_stop(self, why: str) -> None:
        if self._stop is not None and not self._stop.is_set():
            self.summary.stopped_by = why
            self.say(f"{why}: stopping after the current commit")
            self._stop.set()

    # -- the loop ----------------------------------------------------------------------------
    async def _main(self) -> None:
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self.request_stop, signal.Signals(signum).name)
        recovered = await self._in_lake("recovery", self._recover)
        if recovered is None:  # stopped while another writer held the lake
            await self.source.close()
            return
        self.summary.orphans_removed = recovered
        backoff = FIRST_BACKOFF_SECONDS
        idle_since = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    await self.source.connect()
                    self.connected = True
                    self._committed = await asyncio.to_thread(self._read_committed)
                    await asyncio.to_thread(self._refuse_overlapping_positions)
                    await self.source.seek(self._committed)
                    self.say(
                        f"consuming {self.source.name} after offset(s) "
                        + ", ".join(f"{p}:{o}" for p, o in sorted(self._committed.items()))
                    )
                    for note in self.source.notes:  # a consumer an earlier version left
                        self.say(f"note: {note}")
                    backoff = FIRST_BACKOFF_SECONDS
                    idle_since = await self._consume()
                    break
                except SourceUnavailable as lost:
                    await self.source.close()
                    self.summary.reconnects += 1
                    if self._idle_for(idle_since):
                        log.warning("stream source unavailable: %s; idle: stopping", lost)
                        self.summary.stopped_by = "idle"
                        break
                    log.warning("stream source unavailable: %s; retrying in %.1fs", lost, backoff)
                    self.say(f"source unavailable ({lost}); retrying in {backoff:.1f}s")
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            await self.source.close()
        if self.options.run_every is not None and self._unrun and self.summary.stopped_by == "idle":
            await asyncio.to_thread(self._run_pipeline)
        self.summary.offsets = dict(self._committed)

    async def _consume(self) -> float:
        """Batches until stopped or idle; returns when the last record arrived."""
        assert self._stop is not None
        idle_since = time.monotonic()
        while not self._stop.is_set():
            batch = await self._gather()
            now = time.monotonic()
            if batch:
                idle_since = now
                await self._commit(batch)
            elif self._idle_for(idle_since):
                self.summary.stopped_by = "idle"
                break
            if self._run_due():
                await asyncio.to_thread(self._run_pipeline)
        return idle_since

    async def _gather(self) -> list[StreamRecord]:
        """One micro-batch: wait for a first record (up to a poll interval), then gather for
        ``batch_seconds`` or until ``max_batch``."""
        assert self._stop is not None
        options = self.options
        batch = await self.source.fetch(options.max_batch, POLL_SECONDS)
        deadline = time.monotonic() + options.batch_seconds
        while batch and len(batch) < options.max_batch and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            batch += await self.source.fetch(
                options.max_batch - len(batch), min(remaining, POLL_SECONDS)
            )
        return batch

    async def _commit(self, batch: list[StreamRecord]) -> None:
        unique = {(r.partition, r.offset): r for r in reversed(batch)}  # a message seen twice
        fresh = [
            r
            for (partition, offset), r in sorted(unique.items())
            if offset > self._committed.get(partition, 0)
        ]
        self.summary.skipped += len(batch) - len(fresh)
        if fresh:
            positions: dict[int, int] = {}
            for record in fresh:
                positions[record.partition] = max(positions.get(record.partition, 0), record.offset)
            fault_point("stream.fetched")  # records in hand, nothing committed
            done = await self._in_lake("micro-batch", self._commit_in_lake, fresh, positions)
            if done is None:  # stopped while waiting for the lake: not committed, not acked
                return
            self._committed.update(positions)
            fault_point("stream.committed")  # committed with its position, not acknowledged
        await self.source.ack(batch)

    # -- lake work (in a worker thread: the broker connection stays served meanwhile) ---------
    async def _in_lake(self, what: str, work: Callable[..., T], *args: object) -> T | None:
        """``work(*args)`` in a worker thread, retried while another writer holds the lake
        (logged, doubling backoff); None when the stream is stopped before it could run."""
        assert self._stop is not None
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                return await asyncio.to_thread(work, *args)
            except LakeBusyError as busy:
                self.summary.lock_waits += 1
                if self._stop.is_set():
                    return None
                log.warning("lake busy: %s; %s retried in %.1fs", busy, what, backoff)
                self.say(f"lake busy ({busy}); {what} retried in {backoff:.1f}s")
                await self._sleep(backoff)
                if self._stop.is_set():
                    return None
                backoff = min(backoff * 2, MAX_LOCK_BACKOFF_SECONDS)

    def _recover(self) -> int:
        """What an interrupted command left is finished or undone first (the intents journal,
        ``lake/intents.py``): a micro-batch killed before its manifest commit is undone there
        and its events are read again; then lines of batches older than the journal go too."""
        from retail_lakehouse.lake.runs import recorded_run
        from retail_lakehouse.pipeline.bronze import remove_orphans

        with recorded_run(self.lake, "stream") as run:
            for line in run.recovered:
                self.say(line)
            removed = remove_orphans(self.lake)
            if removed:
                run.changed = True
                self.say(f"removed {removed:,} line(s) of a batch interrupted before its commit")
        return removed

    def _read_committed(self) -> dict[int, int]:
        from retail_lakehouse.lake.contracts.silver import SILVER_CDC_LINES
        from retail_lakehouse.pipeline.stream_batch import POSITIONS_TABLE

        table = SILVER_CDC_LINES.qualified if self.options.cdc else POSITIONS_TABLE
        return {
            p: self.lake.transaction_version(table, self.source.app_id(p)) or 0
            for p in self.source.partitions()
        }

    def _refuse_overlapping_positions(self) -> None:
        """Refuse a subject sharing events with one whose position the lake holds (from the
        same broker stream): its events are in the lake already, and this subject's position
        (its own app id) knows nothing of them, so they would be committed a second time."""
        from retail_lakehouse.lake.contracts.silver import SILVER_CDC_LINES
        from retail_lakehouse.pipeline.stream_batch import POSITIONS_TABLE
        from retail_lakehouse.sources.stream.nats import SourceRefused

        table = SILVER_CDC_LINES.qualified if self.options.cdc else POSITIONS_TABLE
        for other in overlapping_subjects(self.lake, self.source.subject):
            ids = self.source.app_ids_of(other)
            held = {app: self.lake.transaction_version(table, app) for app in ids}
            if any(version for version in held.values()):
                raise SourceRefused(
                    f"subject {self.source.subject!r} shares events with {other!r}, already "
                    f"consumed into {self.lake.root} from the same stream: they would be "
                    "committed twice. Consume one of them, or subjects that share no event "
                    "(or roll the other back first: `retail rollback`)"
                )

    def _commit_in_lake(self, records: list[StreamRecord], positions: dict[int, int]) -> bool:
        from retail_lakehouse.lake.runs import recorded_run
        from retail_lakehouse.pipeline.stream_batch import commit_batch

        apps = {self.source.app_id(p): offset for p, offset in positions.items()}
        if self.options.cdc:
            self._apply_changes(records, apps)
            return True
        with recorded_run(self.lake, "stream") as run:
            self._check_position()  # under the writer lock: no rollback can come in between
            report = commit_batch(
                self.lake,
                run,
                self.source.name,
                records,
                apps,
                self.settings.limits.reader_limits(),
            )
        self.summary.batches += 1
        self.summary.lines += report.lines
        self.summary.rejected += report.rejected
        self._unrun += 1
        self.say(
            f"batch {report.batch_seq}: offsets {report.first_offset}-{report.last_offset}, "
            f"{report.lines:,} line(s), {report.rejected:,} rejected"
        )
        return True

    def _apply_changes(self, records: list[StreamRecord], apps: dict[str, int]) -> None:
        from retail_lakehouse.lake.runs import recorded_run
        from retail_lakehouse.pipeline.cdc import apply_change_records

        with recorded_run(self.lake, "stream --cdc") as run:
            self._check_position()
            report = apply_change_records(
                self.lake,
                run,
                self.source.name,
                records,
                apps,
                self.settings.limits.reader_limits(),
            )
        self.summary.batches += 1
        self.summary.lines += report.received - report.rejected
        self.summary.rejected += report.rejected
        if report.synced is not None and (report.synced.emitted or report.synced.retracted):
            self._unrun += 1  # the group batches changed: --run-every carries them to gold
        first, last = min(r.offset for r in records), max(r.offset for r in records)
        self.say(
            f"changes {first}-{last}: {report.received:,} event(s) = {report.applied:,} applied "
            f"({report.deleted:,} deletes) + {report.superseded:,} superseded + "
            f"{report.duplicates:,} duplicates + {report.rejected:,} rejected"
            + (f"; bronze: {report.synced.describe()}" if report.synced is not None else "")
        )

    def _check_position(self) -> None:
        """Raise :class:`PositionMoved` when the lake's committed offsets differ from what this
        session committed (or read at its start)."""
        lake = self._read_committed()
        mine = {p: self._committed.get(p, 0) for p in lake}
        if lake != mine:
            raise PositionMoved(
                "the lake's stream position moved while streaming (a rollback?): "
                + ", ".join(f"{p}:{mine[p]} -> {lake[p]}" for p in sorted(lake))
                + "; reading again from the lake's position"
            )

    def _run_due(self) -> bool:
        every = self.options.run_every
        return every is not None and self._unrun > 0 and time.monotonic() - self._last_run >= every

    def _run_pipeline(self) -> None:
        from retail_lakehouse.pipeline.runner import run_pipeline

        self._last_run = time.monotonic()
        self._unrun = 0
        try:
            report = run_pipeline(self.lake, self.settings, engine_name=self.settings.engine)
        except LakeBusyError as busy:  # another writer: the run comes at its next turn
            self._unrun = max(self._unrun, 1)
            log.warning("lake busy: %s; pipeline run postponed", busy)
            self.say(f"lake busy ({busy}); pipeline run postponed")
            return
        except Exception as error:  # a failed gate: the stream goes on, the run is alerted
            self.summary.failed_runs += 1
            log.error("pipeline run failed: %s: %s", type(error).__name__, error)
            self.say(f"pipeline run failed: {type(error).__name__}: {error}")
            return
        self.summary.pipeline_runs += 1
        self.say(f"pipeline run {report.run_id} done in {report.seconds:.2f}s")

    # -- helpers -----------------------------------------------------------------------------
    def _idle_for(self, since: float) -> bool:
        idle = self.options.until_idle
        return idle is not None and time.monotonic() - since >= idle

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

"""Lake-changing work requested through the API, done one job at a time by one worker thread.

Runs and upload ingestions share a single FIFO queue: the lake has one writer at a time anyway
(the writer lock), and queueing here means a second run request waits its turn instead of
failing on a busy lock, and an HTTP request never holds the lock. Job state is kept in memory
(the lake's ``meta.runs`` is the durable record of what ran); the last ``keep`` jobs are kept.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

log = logging.getLogger(__name__)

Work = Callable[[], dict[str, Any]]


class JobStatus(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


@dataclass
class Job:
    """One queued unit of work and what became of it."""

    id: str
    kind: str
    work: Work = field(repr=False)
    status: JobStatus = JobStatus.queued
    submitted_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str | None = None
    error_type: str | None = None
    detail: dict[str, Any] | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.succeeded, JobStatus.failed)


class JobQueue:
    """A FIFO of jobs and the single thread that runs them."""

    def __init__(
        self,
        after_each: Callable[[Job], None] | None = None,
        keep: int = 500,
        describe: Callable[[Exception], str] = lambda error: f"{type(error).__name__}: {error}",
        reword: Callable[[dict[str, Any]], dict[str, Any]] = lambda detail: detail,
    ) -> None:
        self.after_each = after_each
        self.describe = describe  # a failed job's reason, as its client is told it
        self.reword = reword  # a succeeded job's detail, as its client is told it
        self.keep = keep
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.running: Job | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="job-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=timeout)
            self._thread = None

    def submit(self, kind: str, work: Work) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], kind=kind, work=work)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                oldest = next(iter(self._jobs.values()))
                if not oldest.finished:
                    break
                self._jobs.popitem(last=False)
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def recent(self, limit: int = 50) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))[:limit]

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._run(job)

    def _run(self, job: Job) -> None:
        job.status = JobStatus.running
        job.started_at = datetime.now(UTC)
        self.running = job
        try:
            job.detail = self.reword(job.work())
            outcome = JobStatus.succeeded
        except Exception as error:
            log.warning("job %s (%s) failed: %s", job.id, job.kind, error)
            job.reason = self.describe(error)
            job.error_type = type(error).__name__
            outcome = JobStatus.failed
        if self.after_each is not None:
            try:
                self.after_each(job)
            except Exception:
                log.exception("after-job hook failed")
        job.finished_at = datetime.now(UTC)
        job.status = outcome
        self.running = None
        job.done.set()

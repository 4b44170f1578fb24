"""``retail watch``: pick up files dropped in ``landing/``, ingest them, run the pipeline.

The watcher adds no second path into the lake: every file goes through
:func:`~retail_lakehouse.pipeline.ingest.ingest_files` (what ``retail ingest`` calls) and every
run through :func:`~retail_lakehouse.pipeline.runner.run_pipeline` (what ``retail run`` calls),
so locking, crash recovery and the exactly-once manifest are theirs. What it adds:

* **complete files only**: a file is taken once its size and mtime stayed the same for
  ``settle_seconds`` (a file already older than that when first seen is taken at once), and
  names that say "still being written" (``*.part``, ``*.tmp``, ``.hidden``) are never taken, so
  writing ``x.csv.part`` then renaming it to ``x.csv`` is the safe protocol for any uploader;
* **when to run**: after ``quiet_seconds`` without a new file, and/or on a cron ``schedule``;
* **retries**: a failed run is tried again after ``retry_backoff_seconds``, doubling, up to
  ``retry_attempts`` attempts; a failed quality gate or SCD2 check is not retried (the same
  data fails the same way) but alerted at once;
* **refused files** move to ``landing/_refused/`` with ``<name>.reason.txt`` beside them, and
  processed files optionally to ``landing/_archive/YYYY-MM-DD/``;
* **publishing**: with ``[publish] after_run``, each successful run is followed by a publish to
  PostgreSQL (what ``retail run`` does); a failed publish is said and retried like a failed run
  (an idle run, then the publish), then alerted (``publish_failed``, exit 1 with ``--once``);
* **stopping**: SIGTERM or SIGINT ends the loop after the file or run being committed;
* **idle cost**: inotify through ``watchfiles`` wakes the loop (a full scan at most every
  ``poll_max_seconds`` as a safety net); without inotify, a stat-only scan whose interval
  doubles up to ``poll_max_seconds`` while nothing changes. Files already handled are
  remembered by (size, mtime), so an idle scan never reads or hashes a file.

A crash loses nothing: a file is in bronze exactly when its manifest row is committed, files
leave ``landing/`` only after that, and the next start sees the rest again (content already in
bronze is skipped by its hash).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from retail_lakehouse.config import Settings
from retail_lakehouse.lake import Lake
from retail_lakehouse.orchestrate.heartbeat import Heartbeat, WatcherRunning, WatchLock
from retail_lakehouse.orchestrate.landing import (
    ARCHIVE_FOLDER,
    REFUSED_FOLDER,
    landing_files,
    sha256_of,
)

__all__ = ["WatchOptions", "Watcher", "WatcherRunning", "next_run_time", "validate_schedule"]

log = logging.getLogger(__name__)

FIRST_POLL_SECONDS = 0.5
MISSING_LANDING_POLL_SECONDS = 2.0
"""How often a watcher whose landing folder was removed looks for it again."""
HEARTBEAT_SECONDS = 10.0
EXIT_OK, EXIT_RUN_FAILED, EXIT_REFUSED = 0, 1, 2


@dataclass(frozen=True)
class WatchOptions:
    """The ``[watch]`` settings, after command-line overrides."""

    settle_seconds: float = 5.0
    quiet_seconds: float = 60.0
    schedule: str | None = None
    retry_attempts: int = 3
    retry_backoff_seconds: float = 30.0
    archive: bool = False
    poll_max_seconds: float = 30.0
    once: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WatchOptions:
        values = settings.watch.model_dump()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def validate_schedule(expression: str) -> str:
    """``expression`` when it is a valid 5-field cron expression, else ValueError."""
    from croniter import croniter

    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ValueError(f"not a cron expression (5 fields, e.g. '0 2 * * *'): {expression!r}")
    return expression


def next_run_time(expression: str, after: datetime | None = None) -> datetime:
    """The next time ``expression`` fires after ``after`` (local time, like cron)."""
    from croniter import croniter

    moment = (after or datetime.now(UTC)).astimezone()
    following: datetime = croniter(expression, moment).get_next(datetime)
    return following


class _Either:
    """Set when either event is (watchfiles' ``stop_event`` needs only ``is_set``)."""

    def __init__(self, first: threading.Event, second: threading.Event) -> None:
        self.first, self.second = first, second

    def is_set(self) -> bool:
        return self.first.is_set() or self.second.is_set()


def _say(message: str) -> None:
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    print(f"{stamp} {message}", flush=True)


class Watcher:
    """One watcher over one project's ``landing/`` folder and lake."""

    def __init__(
        self,
        lake: Lake,
        settings: Settings,
        options: WatchOptions,
        *,
        landing: Path | None = None,
        say: Callable[[str], None] = _say,
    ) -> None:
        from retail_lakehouse.observe.alerts import AlertBook

        self.lake = lake
        self.settings = settings
        self.options = options
        self.landing = (landing or settings.landing).absolute()
        self.say = say
        self.book = AlertBook(lake, settings)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._seen: dict[Path, tuple[tuple[int, int], float]] = {}  # signature, stable since
        self._done: dict[Path, tuple[int, int]] = {}
        self._last_arrival: float | None = None
        self._pending_run = False
        self._attempt = 0
        self._retry_at: float | None = None
        self._next_scheduled: datetime | None = None
        self._next_alert_check = 0.0
        self._poll = FIRST_POLL_SECONDS
        self._inotify = False
        self._events_stop: threading.Event | None = None  # stops the current events thread
        self._watch_lost = False  # the events thread saw the landing folder itself deleted
        self._landing_gone = False
        self._started = datetime.now(UTC)
        self.refused = 0
        self.run_failed = False
        self.publish_failed = False
        self._publish_attempt = 0
        self.heartbeat = Heartbeat(lake, min(HEARTBEAT_SECONDS, options.poll_max_seconds))
        self._sandbox: Any = None  # one reader worker for the watcher's life, started lazily
        self._unwritable: Exception | None = None  # a LakeFormatError: the watcher stops

    # -- lifecycle ---------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop after the file or run being committed (what SIGTERM and SIGINT do)."""
        self._stop.set()
        self._wake.set()

    def run(self) -> int:
        """Watch until stopped (or, with ``once``, until what is there is done); exit code."""
        from retail_lakehouse.lake.lake_format import refuse_newer

        refuse_newer(self.lake.root)  # LakeFormatError (exit 2): not a lake this release writes
        lock = WatchLock(self.lake)
        lock.acquire()  # WatcherRunning names the holder
        previous = self._install_signals()
        try:
            self.landing.mkdir(parents=True, exist_ok=True)
            if self.options.schedule:
                self._next_scheduled = next_run_time(self.options.schedule)
            self.heartbeat.beat(
                state="watching",
                landing=str(self.landing),
                once=self.options.once,
                next_scheduled_run=self._iso(self._next_scheduled),
            )
            self.heartbeat.start()
            self.say(
                f"watching {self.landing} for lake {self.lake.root}"
                + (" (once)" if self.options.once else "")
            )
            if self.options.once:
                self._once()
            else:
                self._inotify = self._start_file_events()
                self._loop()
        finally:
            self._stop.set()
            self.heartbeat.stop(state="stopped", stopped_at=datetime.now(UTC).isoformat())
            if self._sandbox is not None:
                self._sandbox.close()
            lock.release()
            self._restore_signals(previous)
        self.say("stopped")
        if self._unwritable is not None:
            raise self._unwritable  # the CLI: the reason, exit 2, as every writing command
        if self.run_failed or self.publish_failed:
            return EXIT_RUN_FAILED
        return EXIT_REFUSED if self.refused and self.options.once else EXIT_OK

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum: int, frame: FrameType | None) -> None:
            if self._stop.is_set():  # a second signal: stop now
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            self.say(f"{signal.Signals(signum).name} received: stopping after the current commit")
            self.request_stop()

        return {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _start_file_events(self) -> bool:
        """Wake the loop on inotify events (watchfiles); False when not available. A thread
        started earlier (on a landing folder since removed) is stopped first."""
        try:
            import watchfiles
        except ImportError:
            return False
        if self._events_stop is not None:
            self._events_stop.set()
        own = self._events_stop = threading.Event()
        stop = _Either(self._stop, own)

        itself = {str(self.landing), os.path.abspath(self.landing), str(self.landing.resolve())}

        def events() -> None:
            try:
                for changes in watchfiles.watch(
                    self.landing,
                    stop_event=stop,
                    debounce=100,
                    step=200,
                    raise_interrupt=False,
                    ignore_permission_denied=True,
                ):
                    if not own.is_set() and any(path in itself for _, path in changes):
                        self._watch_lost = True  # the folder itself went, and its watch with it
                    self._wake.set()
            except Exception as error:  # e.g. inotify watch limit: fall back to polling
                log.warning("file events unavailable (%s); polling %s", error, self.landing)
                if not own.is_set():
                    self._inotify = False
                    self._wake.set()

        threading.Thread(target=events, name="retail-watch-events", daemon=True).start()
        return True

    # -- the loops -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            settle_at = self._take_files()
            now = time.monotonic()
            quiet_due = (
                self._pending_run
                and settle_at is None
                and self._retry_at is None
                and self._last_arrival is not None
                and now - self._last_arrival >= self.options.quiet_seconds
            )
            retry_due = self._retry_at is not None and now >= self._retry_at
            scheduled_due = (
                self._next_scheduled is not None and datetime.now(UTC) >= self._next_scheduled
            )
            if scheduled_due and self.options.schedule:
                self._next_scheduled = next_run_time(self.options.schedule)
                self.heartbeat.beat(next_scheduled_run=self._iso(self._next_scheduled))
            if not self._stop.is_set() and (quiet_due or retry_due or scheduled_due):
                reason = "retry" if retry_due else "schedule" if scheduled_due else "quiet period"
                self._run_pipeline(reason)
            self._check_alerts()
            self._wait(self._next_wake(settle_at))

    def _once(self) -> None:
        give_up = time.monotonic() + 4 * self.options.settle_seconds + 10
        while not self._stop.is_set():
            settle_at = self._take_files()
            if settle_at is None:
                break
            if time.monotonic() > give_up:
                self.say("files still being written are left for the next start")
                break
            self._wait(settle_at - time.monotonic())
        while not self._stop.is_set():
            self._run_pipeline("once")
            if self._retry_at is None:
                break
            self._wait(self._retry_at - time.monotonic())
        self._next_alert_check = 0.0
        self._check_alerts()

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._wake.wait(seconds)
        self._wake.clear()

    def _next_wake(self, settle_at: float | None) -> float:
        now = time.monotonic()
        limit = self.options.poll_max_seconds if self._inotify else self._poll
        deadlines = [now + limit, self._next_alert_check]
        if settle_at is not None:
            deadlines.append(settle_at)
        if self._retry_at is not None:
            deadlines.append(self._retry_at)
        if self._pending_run and self._last_arrival is not None:
            deadlines.append(self._last_arrival + self.options.quiet_seconds)
        if self._next_scheduled is not None:
            ahead = (self._next_scheduled - datetime.now(UTC)).total_seconds()
            deadlines.append(now + max(ahead, 0.0))
        return max(min(deadlines) - now, 0.05)

    # -- files ---------------------------------------------------------------------------------
    def _take_files(self) -> float | None:
        """Ingest every complete new file; return when the next still-changing one may settle."""
        if not self._landing_here():
            return None
        now = time.monotonic()
        settle = self.options.settle_seconds
        present: set[Path] = set()
        ready: list[Path] = []
        settle_at: float | None = None
        changed = False
        for path, stat in landing_files(self.landing):
            present.add(path)
            signature = (stat.st_size, stat.st_mtime_ns)
            if self._done.get(path) == signature:
                continue
            known = self._seen.get(path)
            if known is None or known[0] != signature:
                changed = True
                self._last_arrival = now
                old = time.time() - stat.st_mtime >= settle
                known = (signature, now - settle if old else now)
                self._seen[path] = known
            if now - known[1] >= settle:
                ready.append(path)
            else:
                settle_at = min(settle_at or known[1] + settle, known[1] + settle)
        for gone in [p for p in self._seen if p not in present]:
            del self._seen[gone]
        for gone in [p for p in self._done if p not in present]:
            del self._done[gone]
        self._poll = FIRST_POLL_SECONDS if changed else min(2 * self._poll, self._poll_max())
        for path in sorted(ready):
            if self._stop.is_set():
                break
            self._take(path)
        return settle_at

    def _landing_here(self) -> bool:
        """Whether the landing folder exists; said once when it goes and when it comes back.

        Its inotify watch goes with it (a new folder of the same name is another inode), so
        the watcher polls while it is gone and watches the new folder when one appears: a
        landing folder removed and made again (a redeployed share, a tidy-up script) must not
        leave a watcher that looks alive and sees nothing for poll_max_seconds at a time. Removed
        and made again at once (``rm -rf landing && mkdir landing``, often with the same inode
        number), it is never seen gone: the events thread's report of the folder's own deletion
        says its watch is lost."""
        if self.landing.is_dir():
            lost, self._watch_lost = self._watch_lost, False
            back = self._landing_gone
            if back:
                self._landing_gone = False
                self.say(f"the landing folder {self.landing} is back: watching it again")
                self.heartbeat.beat(landing_missing=False)
                self._poll = FIRST_POLL_SECONDS
            elif lost:
                self.say(f"the landing folder {self.landing} was made again: watching the new one")
            if self._events_stop is not None and (back or lost):
                self._inotify = self._start_file_events()  # it was watched by events: again
            return True
        if not self._landing_gone:
            self._landing_gone = True
            self._inotify = False  # poll until it is back
            self.say(
                f"the landing folder {self.landing} is gone: waiting for it to come back "
                "(nothing is taken meanwhile)"
            )
            self.heartbeat.beat(landing_missing=True)
        self._poll = min(MISSING_LANDING_POLL_SECONDS, self._poll_max())
        return False

    def _poll_max(self) -> float:
        return self.options.poll_max_seconds

    def _take(self, path: Path) -> None:
        from retail_lakehouse.lake import LakeBusyError
        from retail_lakehouse.lake.errors import LakeFormatError
        from retail_lakehouse.pipeline.ingest import ingest_files
        from retail_lakehouse.sources.formats import FormatOptions
        from retail_lakehouse.sources.readers import SUPPORTED_TEXT, is_supported
        from retail_lakehouse.sources.sandbox import Sandbox

        signature = self._seen[path][0]
        if not is_supported(path):
            self._refuse(
                path, f"unsupported file type {path.suffix!r} (supported: {SUPPORTED_TEXT})"
            )
            return
        try:
            if self._sandbox is None:
                self._sandbox = Sandbox(self.settings.limits.reader_limits())
            formats = FormatOptions.from_settings(self.settings.formats)
            outcomes = ingest_files(self.lake, [path], sandbox=self._sandbox, formats=formats)
        except LakeFormatError as error:  # no retry helps until an upgrade: stop, saying why
            self._stop_unwritable(error)
            return
        except (LakeBusyError, OSError) as error:  # the lake, not the file
            self.say(f"could not ingest {self._name(path)} now: {error}")
            self._seen.pop(path, None)
            return
        except Exception as error:  # a file that breaks the reader must not stop the watcher
            self._refuse(path, f"could not be read: {type(error).__name__}: {error}")
            return
        if not outcomes:
            return
        outcome = outcomes[0]
        if outcome.refused is not None:
            self._refuse(path, outcome.refused.reason)
            return
        report = outcome.report
        assert report is not None
        self._done[path] = signature
        self._seen.pop(path, None)
        if report.status == "ingested":
            self._pending_run = True
            self.say(
                f"ingested {self._name(path)}: {report.rows_ingested:,} lines"
                + (f", {report.rows_rejected:,} rejected" if report.rows_rejected else "")
            )
        else:
            self.say(f"skipped {self._name(path)}: {report.note}")
        for warning in report.warnings:  # a same-named earlier file, an assumed date order
            self.say(f"note: {warning}")
        self.heartbeat.beat(
            last_file=self._name(path),
            last_file_at=datetime.now(UTC).isoformat(),
            last_file_status=report.status,
            pending_run=self._pending_run,
        )
        if self.options.archive:
            self._move(path, self.landing / ARCHIVE_FOLDER / date.today().isoformat())

    def _refuse(self, path: Path, reason: str) -> None:
        from retail_lakehouse.observe.alerts import conditions

        self.refused += 1
        name = self._name(path)
        digest = sha256_of(path)
        target = self._move(path, self.landing / REFUSED_FOLDER)
        if target is not None:
            target.with_name(target.name + ".reason.txt").write_text(
                f"{name} was refused at {datetime.now(UTC).isoformat(timespec='seconds')}\n"
                f"reason: {reason}\nsha256: {digest or '-'}\n"
                "Fix the file and drop it into landing/ again.\n"
            )
        self._seen.pop(path, None)
        self.say(f"refused {name}: {reason}")
        self._alert(lambda: conditions.file_refused(self.book, name, digest, reason))

    def _move(self, path: Path, folder: Path) -> Path | None:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / path.name
        if target.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            target = folder / f"{path.stem}.{stamp}{path.suffix}"
        try:
            shutil.move(path, target)
        except OSError as error:
            self.say(f"could not move {self._name(path)} to {folder}: {error}")
            return None
        return target

    def _name(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.landing))
        except ValueError:
            return str(path)

    # -- runs ----------------------------------------------------------------------------------
    def _run_pipeline(self, reason: str) -> None:
        from retail_lakehouse.lake import LakeBusyError
        from retail_lakehouse.observe.alerts import conditions
        from retail_lakehouse.pipeline.errors import PipelineError, RulesError
        from retail_lakehouse.pipeline.runner import run_pipeline

        self._attempt += 1
        self._retry_at = None
        self.heartbeat.beat(state="running")
        attempts = self.options.retry_attempts
        from retail_lakehouse.lake.errors import LakeFormatError

        try:
            report = run_pipeline(self.lake, self.settings, engine_name=self.settings.engine)
        except LakeFormatError as error:
            self._stop_unwritable(error)
        except (PipelineError, RulesError) as error:  # the data or the rules: not retried
            self._failed(error, final=True)
        except LakeBusyError as busy:
            if self.options.once:  # a one-off ends, as `retail run` on a busy lake does
                self._attempted(busy, attempts)
            else:
                self._postpone(busy)
        except Exception as error:
            self._attempted(error, attempts)
        else:
            for note in report.notes:  # what it recovered first (an owed swap check's warnings)
                self.say(note)
            for layer in report.layers.values():  # a run's warnings (a likely day/month swap)
                for warning in getattr(layer, "warnings", []):
                    self.say(f"warning: {warning}")
            self.say(f"run {report.run_id} ({reason}) finished in {report.seconds:.2f}s")
            self._attempt = 0
            self._pending_run = False
            self.run_failed = False
            self.heartbeat.beat(
                last_run_id=report.run_id,
                last_run_status="succeeded",
                last_run_at=datetime.now(UTC).isoformat(),
            )
            self._alert(lambda: conditions.run_succeeded(self.book))
            self._alert(lambda: conditions.check_slow_run(self.book, report.run_id))
            if self.settings.publish.after_run:
                self._publish()
        self.heartbeat.beat(state="watching", pending_run=self._pending_run)

    def _attempted(self, error: BaseException, attempts: int) -> None:
        """A failed attempt: retried with doubling backoff, alerted after the last one."""
        final = self._attempt >= attempts
        self._failed(error, final=final)
        if not final:
            delay = self.options.retry_backoff_seconds * 2 ** (self._attempt - 1)
            self._retry_at = time.monotonic() + delay
            self.say(f"run attempt {self._attempt}/{attempts} failed; retrying in {delay:g}s")

    def _postpone(self, busy: Exception) -> None:
        """Another command holds the lake (a ``retail publish``, ``optimize`` or ``rollback`` by
        hand): "try later", as for a file, not a failed attempt. Counted as one, a command
        holding the lake longer than the attempts lasted (about two minutes by default) made
        the run "failed", alerted, and dropped until another file came, its lines left in
        bronze. Tried again after ``retry_backoff_seconds`` for as long as the lake is busy."""
        self._attempt -= 1
        delay = self.options.retry_backoff_seconds
        self._retry_at = time.monotonic() + delay
        self.say(f"run postponed: {str(busy).splitlines()[0]} Tried again in {delay:g}s.")

    def _publish(self) -> None:
        """``[publish] after_run``: gold into PostgreSQL after a successful run, with the
        function ``retail publish`` calls (after the run released the writer lock, as ``retail
        run`` does). The run's commits stay whatever happens here. A failure is said, kept in
        the heartbeat and retried with the runs' backoff (the retry is a run, idle when nothing
        arrived, then this publish: a publish owes nothing to a failed one, the target holds its
        own state); after the last attempt it raises ``publish_failed`` and the watcher's exit
        code says it. Without the retry and the alert, PostgreSQL stayed behind the lake until
        the next file arrived, and ``--once`` exited 0."""
        from retail_lakehouse.observe.alerts import conditions

        try:
            from retail_lakehouse.publish.postgres import publish
            from retail_lakehouse.publish.target import resolve_target

            report = publish(self.lake, resolve_target(self.settings))
        except Exception as error:  # refused, failed, psycopg missing: the watch goes on
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.say(f"publishing failed: {first_line}")
            self.heartbeat.beat(last_error=f"publishing failed: {first_line}")
            self._publish_attempt += 1
            attempts = self.options.retry_attempts
            if self._publish_attempt < attempts:
                delay = self.options.retry_backoff_seconds * 2 ** (self._publish_attempt - 1)
                self._retry_at = time.monotonic() + delay
                self.say(
                    f"publish attempt {self._publish_attempt}/{attempts} failed; "
                    f"retrying in {delay:g}s"
                )
                return
            tried, self._publish_attempt = self._publish_attempt, 0
            self.publish_failed = True
            self._alert(lambda: conditions.publish_failed(self.book, first_line, attempts=tried))
            return
        self._publish_attempt = 0
        self.publish_failed = False
        self._alert(lambda: conditions.publish_succeeded(self.book))
        for line in report.render().splitlines():
            self.say(line)

    def _stop_unwritable(self, error: Exception) -> None:
        """A newer release wrote the lake (its format record) while this watcher ran: every
        ingest and run would be refused, so the watcher stops with the reason (exit 2) instead
        of retrying; the files stay in landing/ for the upgraded release."""
        self.say(f"stopping: {error}")
        self.heartbeat.beat(last_error=str(error).splitlines()[0])
        self._unwritable = error
        self._pending_run = False
        self.request_stop()

    def _failed(self, error: BaseException, *, final: bool) -> None:
        from retail_lakehouse.observe.alerts import conditions

        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        self.say(f"run failed: {type(error).__name__}: {first_line}")
        self.heartbeat.beat(
            last_run_status="failed",
            last_run_at=datetime.now(UTC).isoformat(),
            last_error=first_line,
        )
        if final:
            attempts = self._attempt
            self._attempt = 0
            self._pending_run = False
            self.run_failed = True
            self._alert(lambda: conditions.run_failed(self.book, error, attempts=attempts))

    # -- alerts --------------------------------------------------------------------------------
    def _check_alerts(self) -> None:
        from retail_lakehouse.observe.alerts import conditions

        now = time.monotonic()
        if now < self._next_alert_check:
            return
        self._next_alert_check = now + max(min(60.0, self.settings.alerts.retry_seconds), 1.0)
        self._alert(lambda: conditions.check_freshness(self.book, since=self._started))
        self._alert(self.book.retry_due)

    def _alert(self, action: Callable[[], object]) -> None:
        """Alerts never stop the watcher: a failure to raise one is logged and said."""
        try:
            action()
        except Exception as error:
            self.say(f"alert could not be recorded: {type(error).__name__}: {error}")

    @staticmethod
    def _iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat(timespec="seconds")

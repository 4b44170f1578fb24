"""Untrusted files are read in a separate worker process with a memory and a time limit.

A reader is native code (DuckDB, Polars, calamine, Arrow) fed with whatever a user dropped in
``landing/``: a file can crash it (DuckDB's JSON reader segfaulted on 5,000 levels of nesting),
make it allocate without bound (a 50 MB xlsx expanding to 14 M rows took 11.3 GB) or loop for
minutes. In a worker process each of these costs that one file: the worker dies or is killed,
the file is refused with the reason, and the next file gets a fresh worker. The CLI, the API
server and the watcher never run a reader themselves.

One worker lives for a whole command and is restarted only when it dies (starting one costs
about 0.4 s of imports, decision 0021; 2,000 tiny files cannot afford one each, see decision
0008). Limits:

- memory: while it waits, the parent samples the worker's resident memory every 20 ms and
  kills it past ``memory_mb`` (no cgroup needed). Address space is no measure of use here
  (Polars' thread pools reserve ~1.7 GB of it to read a 200 MB workbook), so ``RLIMIT_AS``,
  set inside the worker to its start-up address space plus four times the budget, is only the
  backstop that makes one giant allocation fail at once instead of after it was sampled;
- time: the parent waits at most ``timeout_s`` for an answer, then kills the worker by pid.

The first worker of a ``retail`` command is a fork of the command's process, made while that
process still runs a single thread and holds no file of the lake (``launch(fork=True)``): no
second interpreter to start, no re-import of what the command had loaded (decision 0021, tenth
round). Every other worker (a restart after a death, the API server's, the watcher's) is a
fresh interpreter.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from retail_lakehouse.lake.errors import DISK_FULL
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.limits import MIB, ReaderLimits

SAMPLE_SECONDS = 0.02
STARTUP_SECONDS = 120
PRELOAD = ("retail_lakehouse.pipeline.bronze_stage",)
"""Modules the worker imports while warming up: the module of the function every caller
sends (staging a file into bronze), with the readers and the contracts behind it (not the
lake's store and deltalake since decision 0021's eleventh round: the stage opens no table).
Unpickling the first request imported them on the critical path of every ``retail ingest``
(about 0.05 CPU-s, 0.07-0.15 s wall on a busy machine) after the worker had said "ready";
imported in the warm-up they load while the parent is still starting (decision 0011, eighth
round). Imported by name: the sandbox must not depend on the pipeline at import time."""


@dataclass(frozen=True)
class _Refused:
    reason: str
    line: int | None


@dataclass(frozen=True)
class _OutOfMemory:
    detail: str


@dataclass(frozen=True)
class _DiskFull:
    """The worker's disk (the lake's: staged lines, a compressed file's content) is full: the
    lake's problem, raised in the parent as the OSError a full disk at a commit is, so a good
    file is not refused (the watcher tries it again later)."""

    code: int
    text: str


class _Worker:
    """The worker's process: a fresh interpreter (no parent threads or locks) that runs
    :func:`_main` and talks over one socket.

    Not ``multiprocessing``'s spawn: that one re-runs the parent's main script in the child
    (for ``retail`` the whole CLI, typer and rich) and starts a resource-tracker process, about
    0.2 s on the critical path of every ``retail ingest`` (decision 0021). ``-P`` keeps the
    current folder out of the worker's import path; the parent's ``sys.path`` is the first
    message, so what the worker unpickles imports there as it does here."""

    def __init__(self, channel: socket.socket, memory_mb: int) -> None:
        fd = channel.fileno()
        entry = f"from retail_lakehouse.sources.sandbox import _main; _main({fd}, {int(memory_mb)})"
        self._popen = subprocess.Popen(
            [sys.executable, "-P", "-c", entry], pass_fds=(fd,), stdin=subprocess.DEVNULL
        )
        self.pid = self._popen.pid

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._popen.kill()

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)

    @property
    def exitcode(self) -> int | None:
        return self._popen.poll()


def single_threaded() -> bool:
    """Whether this process runs one thread, native ones included (``/proc/self/task``).

    ``fork`` copies only the calling thread: a lock another thread held (an allocator's, a
    library's pool) would stay held in the child forever. pyarrow, Polars, NumPy, DuckDB and
    deltalake each start a thread when they are imported (jemalloc's background thread,
    OpenBLAS, Polars' spill cleaner), so this is true only before any of them is loaded."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no procfs: not Linux, do not fork
        return False


class _ForkedWorker:
    """The worker as a fork of a single-threaded caller (:meth:`Sandbox.launch`).

    The child keeps nothing of the caller's but its loaded modules: signals back to their
    defaults, standard input from ``/dev/null``, every file descriptor closed but stdout,
    stderr and its end of the socket (as ``subprocess`` does for the fresh interpreter), the
    objects it inherited frozen out of the collector. It then runs :func:`_main` and leaves
    through ``os._exit``, whatever happens: it never returns into the caller's code."""

    def __init__(self, channel: socket.socket, ours: socket.socket, memory_mb: int) -> None:
        import gc

        fd = channel.fileno()
        sys.stdout.flush()  # a buffered line would otherwise be written twice
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                gc.freeze()
                for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    signal.signal(signum, signal.SIG_DFL)
                ours.close()
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.closerange(3, fd)
                os.closerange(fd + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
                _main(fd, memory_mb, told_path=False)
                code = 0
            except BaseException:  # as a fresh interpreter would, say why it could not start
                with contextlib.suppress(BaseException):
                    import traceback

                    traceback.print_exc()
                    sys.stderr.flush()
            finally:
                os._exit(code)
        self.pid = pid
        self._code: int | None = None

    def _poll(self, block: bool = False) -> int | None:
        if self._code is None:
            try:
                done, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone, its status unknown
                self._code = -int(signal.SIGKILL)
            else:
                if done:
                    self._code = os.waitstatus_to_exitcode(status)
        return self._code

    def is_alive(self) -> bool:
        return self._poll() is None

    def kill(self) -> None:
        if self._poll() is None:  # not reaped yet, so the pid is still this child's
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def join(self, timeout: float | None = None) -> None:
        if timeout is None:
            self._poll(block=True)
            return
        deadline = time.monotonic() + timeout
        while self._poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)

    @property
    def exitcode(self) -> int | None:
        return self._poll()


class Sandbox:
    """A worker process that runs ``function(request)`` calls under the reader limits."""

    def __init__(self, limits: ReaderLimits | None = None) -> None:
        self.limits = limits or ReaderLimits()
        self._process: Any = None
        self._conn: Connection | None = None
        self._starting = False  # launched, "ready" not yet received
        self.starts = 0
        self.forked = False  # the current worker is a fork of this process

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker now rather than at the first call (a service pays this once)."""
        self.launch()
        self._ready()

    def launch(self, *, fork: bool = False) -> None:
        """Start the worker without waiting for it: its start-up (importing DuckDB, Polars,
        Arrow) runs on the other core while the caller does its own (``retail ingest`` imports
        the lake, takes the lock, recovers, reads the manifest); the first call waits until it
        is ready.

        ``fork``: make the worker a fork of this process instead of a fresh interpreter, when
        this process still runs one thread (:func:`single_threaded`; otherwise a fresh
        interpreter as always). For a command's own process at its start, before it loads the
        libraries or opens the lake: the child starts without an interpreter's start-up and
        with the command's modules already loaded (decision 0021, tenth round)."""
        if self._conn is None:
            self._spawn(fork=fork)

    def _spawn(self, *, fork: bool = False) -> None:
        ours, theirs = socket.socketpair()
        forked = fork and single_threaded()
        with ours, theirs:
            process: _Worker | _ForkedWorker | None = None
            if forked:
                try:
                    process = _ForkedWorker(theirs, ours, self.limits.memory_mb)
                except OSError:  # no fork to be had (EAGAIN, ENOMEM): a fresh interpreter
                    forked = False
            if process is None:
                process = _Worker(theirs, self.limits.memory_mb)
            conn = Connection(ours.detach())
        if not forked:
            # What the worker unpickles (``function`` by reference) must import there as here.
            conn.send(sys.path)
        self.forked = forked
        self._process, self._conn = process, conn
        self._starting = True
        self.starts += 1

    def _ready(self) -> Connection:
        """The worker's pipe once it has said "ready" (started first when none runs). The time
        limit is for reading a file, not for starting Python: this wait has its own."""
        if self._conn is None:
            self._spawn()
        conn = self._conn
        assert conn is not None
        if self._starting:
            try:
                ready = conn.poll(STARTUP_SECONDS) and conn.recv() == "ready"
            except (EOFError, OSError):
                ready = False
            if not ready:
                self._kill()
                raise RuntimeError(f"the reader process did not start within {STARTUP_SECONDS} s")
            self._starting = False
        return conn

    def close(self) -> None:
        """Stop the worker (it exits when its pipe closes; killed if it does not)."""
        if self._starting:  # never used (every file skipped): no need to wait for its start-up
            self._kill()
            return
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
            conn.close()
        if process is not None:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()

    def _kill(self) -> int | None:
        process = self._process
        if self._conn is not None:
            self._conn.close()
        self._conn = self._process = None
        self._starting = self.forked = False
        if process is None:
            return None
        if process.is_alive():
            process.kill()
        process.join()
        code: int | None = process.exitcode
        return code

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- calls -----------------------------------------------------------------------------
    def call(self, path: Path, function: Callable[[Any], Any], request: Any) -> Any:
        """``function(request)`` in the worker; FileRefused naming ``path`` when the file is
        refused, the worker dies, runs out of memory or takes longer than the limit."""
        conn = self._ready()
        try:
            conn.send((function, request))
        except (OSError, ValueError):  # the worker died between calls
            self._kill()
            conn = self._ready()
            conn.send((function, request))
        self._wait(path, conn)
        try:
            answer = conn.recv()
        except (EOFError, OSError):
            code = self._kill()
            raise FileRefused(path, self._death(code)) from None
        if isinstance(answer, _Refused):
            raise FileRefused(path, answer.reason, line=answer.line)
        if isinstance(answer, _DiskFull):
            raise OSError(answer.code, f"{answer.text} (while reading {path})")
        if isinstance(answer, _OutOfMemory):
            self._kill()  # its heap may be in any state: the next file gets a fresh worker
            raise FileRefused(
                path,
                f"reading needed more than the {self.limits.memory_mb:,} MB memory limit "
                f"(limits.reader_memory_mb): {answer.detail}",
            )
        return answer

    def _wait(self, path: Path, conn: Connection) -> None:
        """Wait for the answer, killing the worker past the time or memory limit."""
        import psutil

        timeout = self.limits.timeout_s
        budget = self.limits.memory_mb * MIB
        deadline = time.monotonic() + timeout
        watched = psutil.Process(self._process.pid)
        peak = 0
        while not conn.poll(SAMPLE_SECONDS):
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                return  # it died: the recv that follows says how
            if peak > budget:
                self._kill()
                raise FileRefused(
                    path,
                    f"reading needed more than the {self.limits.memory_mb:,} MB memory limit "
                    "(limits.reader_memory_mb); stopped",
                )
            if time.monotonic() > deadline:
                self._kill()
                raise FileRefused(
                    path,
                    f"reading took longer than {timeout:g} s (limits.reader_timeout_s); stopped",
                )

    def _death(self, code: int | None) -> str:
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            if name in ("SIGABRT", "SIGKILL", "SIGBUS"):
                return (
                    f"the reader process died ({name}), most likely past its "
                    f"{self.limits.memory_mb:,} MB memory limit (limits.reader_memory_mb)"
                )
            return f"the reader process crashed ({name}) on this file"
        return f"the reader process exited unexpectedly (exit code {code})"


def _address_space() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _warm_up() -> None:
    """Load what every read needs and start the thread pools, so the memory limit is measured
    from a worker that already has them (their stacks and arenas are address space too).

    ``pyarrow.dataset`` is kept out of the worker: DuckDB imports it, and through it pandas,
    on its first scan of Arrow data only to push filters into it (the bronze copy has none);
    without it DuckDB reads the Arrow stream as it is. That halves the worker's start-up
    (0.7 -> 0.4 s, on the critical path of every ``retail ingest``; decision 0021)."""
    sys.modules.setdefault("pyarrow.dataset", None)  # type: ignore[arg-type]
    import importlib

    import duckdb
    import polars as pl
    import pyarrow as pa  # noqa: F401

    for module in PRELOAD:
        importlib.import_module(module)

    pl.DataFrame({"a": ["1,2", "3,4"]}).select(pl.col("a").str.split(",")).to_arrow()
    with duckdb.connect() as con:
        con.execute("SELECT count(*) FROM range(100000)").fetchall()


def _main(fd: int, memory_mb: int, *, told_path: bool = True) -> None:
    """The worker process's entry point (see :class:`_Worker`; ``told_path`` false for a
    fork, which has the caller's import path already).

    It leaves through ``os._exit``: everything it wrote is closed and answered by then, and
    the interpreter's teardown (DuckDB's and Polars' pools, thousands of modules) took 0.15 to
    0.35 s that the command waited for in :meth:`Sandbox.close` (decision 0021)."""
    conn = Connection(fd)
    if told_path:
        try:
            sys.path[:] = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
    _serve(conn, memory_mb)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve(conn: Connection, memory_mb: int) -> None:
    """The worker's loop: one request at a time until the pipe closes."""
    _warm_up()
    if hasattr(resource, "RLIMIT_AS"):
        limit = _address_space() + 4 * memory_mb * MIB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import duckdb

    try:
        conn.send("ready")
    except OSError:  # the command ended (or was killed) while this worker was starting
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the command closed the pipe: nothing more to read
            return
        if message is None:
            return
        function, request = message
        try:
            answer: Any = function(request)
        except FileRefused as refused:
            answer = _Refused(refused.reason, refused.line)
        except MemoryError as error:
            answer = _OutOfMemory(f"MemoryError {error}".strip())
        except duckdb.OutOfMemoryException as error:
            answer = _OutOfMemory(str(error).splitlines()[0])
        except Exception as error:  # any other failure of a reader is this file's refusal
            text = str(error).splitlines()[0] if str(error) else ""
            if isinstance(error, OSError) and error.errno in DISK_FULL:
                answer = _DiskFull(error.errno, error.strerror or text)
            elif isinstance(error, duckdb.IOException) and (
                full := next((c for c in DISK_FULL if os.strerror(c) in text), None)
            ):  # DuckDB writing the staged lines: "Could not write file ...: No space left..."
                answer = _DiskFull(full, text)
            elif "memory" in text.lower() and "alloc" in text.lower():
                answer = _OutOfMemory(text)
            else:
                answer = _Refused(
                    f"the file could not be read ({type(error).__name__}: {text})", None
                )
        try:
            conn.send(answer)
        except MemoryError:
            return
        if isinstance(answer, _OutOfMemory):
            return

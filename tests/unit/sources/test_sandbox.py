"""The reader worker process: a crash, a runaway allocation or a hang costs one file, and the
next call gets a fresh worker. Real processes and real signals, no mocks."""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

import pytest

from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.sandbox import Sandbox

FILE = Path("hostile.csv")


def pid(_: object) -> int:
    return os.getpid()


def segfault(_: object) -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def allocate(megabytes: int) -> int:
    block = bytearray(megabytes * 2**20)  # zero pages are touched: resident memory grows
    for i in range(0, len(block), 4096):
        block[i] = 1
    return len(block)


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def refuse(_: object) -> None:
    raise FileRefused(FILE, "not a sales file", line=3)


def broken(_: object) -> None:
    raise ValueError("a reader bug")


def test_a_crash_refuses_the_file_and_the_next_call_gets_a_new_worker() -> None:
    with Sandbox() as box:
        first = box.call(FILE, pid, None)
        with pytest.raises(FileRefused) as refused:
            box.call(FILE, segfault, None)
        assert "crashed (SIGSEGV)" in refused.value.reason and refused.value.path == FILE
        second = box.call(FILE, pid, None)
        assert second != first and first != os.getpid() and box.starts == 2


def test_memory_past_the_limit_is_stopped() -> None:
    with Sandbox(ReaderLimits(memory_mb=400)) as box:
        with pytest.raises(FileRefused) as refused:
            box.call(FILE, allocate, 3000)
        assert "memory" in refused.value.reason and "400 MB" in refused.value.reason
        assert box.call(FILE, allocate, 16) == 16 * 2**20  # a fresh worker serves the next file


def test_a_hang_is_stopped_at_the_time_limit() -> None:
    with Sandbox(ReaderLimits(timeout_s=2)) as box:
        clock = time.monotonic()
        with pytest.raises(FileRefused) as refused:
            box.call(FILE, sleep, 60)
        assert time.monotonic() - clock < 20
        assert "longer than 2 s" in refused.value.reason
        box.call(FILE, sleep, 0)


def test_refusals_and_reader_errors_come_back_as_refusals_without_a_restart() -> None:
    with Sandbox() as box:
        with pytest.raises(FileRefused) as refused:
            box.call(FILE, refuse, None)
        assert refused.value.reason == "not a sales file" and refused.value.line == 3
        with pytest.raises(FileRefused) as failed:
            box.call(FILE, broken, None)
        assert "ValueError: a reader bug" in failed.value.reason
        assert box.starts == 1


def test_a_launched_worker_serves_the_first_call_and_an_unused_one_is_not_waited_for() -> None:
    """``launch`` starts the worker without waiting (``retail ingest`` overlaps its start-up
    with its own); the first call waits for it and is served by it. A worker launched and
    never used (every file skipped) is killed at once, not waited for through its start-up."""
    with Sandbox() as box:
        box.launch()
        worker = box._process.pid
        assert box.call(FILE, pid, None) == worker and box.starts == 1
    unused = Sandbox()
    unused.launch()
    process = unused._process
    started = time.monotonic()
    unused.close()
    assert time.monotonic() - started < 2.0
    assert not process.is_alive() and unused.starts == 1


FORKED_PROBE = """
import json, os, signal, sys, time
from pathlib import Path
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.sandbox import Sandbox, single_threaded
from tests.unit.sources import test_sandbox as probe

def refusal(box, function, argument):
    try:
        box.call(Path("hostile.csv"), function, argument)
    except FileRefused as refused:
        return refused.reason
    return None

held = open(sys.argv[1], "w")  # a file the launcher holds open: the worker must not
seen = {"single_threaded": single_threaded(), "me": os.getpid(), "held": sys.argv[1]}
with Sandbox(ReaderLimits(memory_mb=400, timeout_s=3)) as box:
    box.launch(fork=True)
    seen["forked"] = box.forked
    worker = box._process.pid
    seen["first"] = box.call(Path("a.csv"), probe.pid, None) == worker
    seen["parent"] = box.call(Path("a.csv"), probe.parent_pid, None)
    seen["fds"] = box.call(Path("a.csv"), probe.open_fds, None)
    seen["sigint"] = box.call(Path("a.csv"), probe.sigint_handler, None)
    seen["address_limit"] = box.call(Path("a.csv"), probe.address_limit, None)
    seen["crash"] = refusal(box, probe.segfault, None)
    seen["memory"] = refusal(box, probe.allocate, 3000)  # served by a restart
    seen["restart_forked"] = box.forked
    seen["hang"] = refusal(box, probe.sleep, 60)
    seen["served"] = box.call(Path("a.csv"), probe.allocate, 16)
    seen["starts"] = box.starts
print(json.dumps(seen))
"""


def parent_pid(_: object) -> int:
    return os.getppid()


def open_fds(_: object) -> list[str]:
    import contextlib

    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the folder's own descriptor, closed by now
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
    return found


def sigint_handler(_: object) -> str:
    import signal

    return str(signal.getsignal(signal.SIGINT))


def address_limit(_: object) -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_AS)[0]


def test_a_forked_worker_keeps_every_limit_and_a_restart_is_a_fresh_interpreter(
    tmp_path: Path,
) -> None:
    """``retail ingest`` forks its first worker from its own process while that process runs
    one thread. Run from a fresh interpreter (this test process has the libraries' threads, so
    a launch here is never a fork): the fork is the launcher's child, holds only its standard
    streams and its socket, dies by SIGINT's default, has the address-space backstop, and is
    refused, killed and replaced on a crash, a runaway allocation or a hang like any worker;
    its replacements are fresh interpreters."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", FORKED_PROBE, str(tmp_path / "held.txt")],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["single_threaded"] and seen["forked"] and seen["first"]
    assert seen["parent"] == seen["me"]
    assert seen["held"] not in seen["fds"] and "/dev/null" in seen["fds"]  # stdin
    assert seen["sigint"] == str(0)  # SIG_DFL: Ctrl-C ends it, the caller decides the rest
    assert 0 < seen["address_limit"] < 2**62
    assert "crashed (SIGSEGV)" in seen["crash"] and not seen["restart_forked"]
    assert "400 MB" in seen["memory"] and "longer than 3 s" in seen["hang"]
    assert seen["served"] == 16 * 2**20 and seen["starts"] == 4


def test_a_process_with_threads_never_forks_its_worker() -> None:
    """This test process has loaded pyarrow (its allocator's thread): a fork could inherit a
    lock held by another thread, so the worker is a fresh interpreter."""
    import pyarrow  # noqa: F401

    with Sandbox() as box:
        box.launch(fork=True)
        assert not box.forked
        assert box.call(FILE, pid, None) != os.getpid()

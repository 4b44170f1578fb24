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

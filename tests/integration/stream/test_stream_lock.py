"""``retail stream`` while another writer holds the lake: it waits (logged, retried with a
backoff) instead of exiting, then commits the micro-batch it holds exactly once; SIGTERM during
the wait stops it promptly with nothing committed. The other writer is this test, holding the
lake's real writer lock (the ``flock`` every ``retail`` writer takes)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from retail_lakehouse.benchmark.broker import Broker, publish
from retail_lakehouse.lake import Lake
from tests.integration.stream.test_stream_behaviour import sale
from tests.integration.stream.test_stream_cli import start_stream
from tests.integration.stream.test_stream_faults import SUBJECT, exactly_once


def read_until(process: subprocess.Popen[str], text: str, seen: list[str]) -> None:
    """Read the command's output into ``seen`` until a line holds ``text``."""
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"no {text!r} in the output:\n" + "".join(seen))


def test_the_stream_waits_for_another_writer_then_commits_exactly_once(
    broker: Broker, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    holder = Lake(lake)
    publish(broker.url, SUBJECT, [sale(n) for n in range(1, 21)])

    seen: list[str] = []
    with holder.writer_lock("test holder"):  # busy from the start: SIGTERM while waiting
        process = start_stream(lake, broker, "--until-idle", "60")
        read_until(process, "lake busy", seen)
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, process.stderr.read() if process.stderr else ""
        assert time.monotonic() - asked < 5  # prompt, though the lock is still held
    assert not (lake / "bronze").exists()  # nothing committed

    seen = []
    with holder.writer_lock("test holder"):  # the recovery waits
        process = start_stream(lake, broker, "--until-idle", "4")
        read_until(process, "recovery retried", seen)
    read_until(process, " batch ", seen)  # the first 20 events, once the lock is free
    with holder.writer_lock("test holder"):  # the next micro-batch waits, unacknowledged
        publish(broker.url, SUBJECT, [sale(n) for n in range(21, 41)])
        read_until(process, "micro-batch retried", seen)
        time.sleep(2)  # longer than one lock attempt: retried again
    read_until(process, " batch ", seen)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err + "".join(seen) + out
    batches = [s for s in [*seen, *out.splitlines()] if " batch " in s and "offsets" in s]
    assert len(batches) == 2, batches
    exactly_once(lake, 40)


def test_a_second_stream_of_the_same_subject_is_refused_and_nothing_is_doubled(
    broker: Broker, tmp_path: Path
) -> None:
    """Two ``retail stream`` commands of one subject into one lake, started together: each read
    the lake's position once, so sharing the durable consumer they split the events between
    them, one recreated the consumer under the other, and events were committed twice (3,100
    lines for 3,000 events before). The second is refused, naming the first."""
    lake = tmp_path / "lake"
    publish(broker.url, SUBJECT, [sale(n) for n in range(1, 601)])
    extra = ("--until-idle", "3", "--batch-seconds", "0.2", "--max-batch", "50")
    first, second = start_stream(lake, broker, *extra), start_stream(lake, broker, *extra)
    done = [process.communicate(timeout=300) for process in (first, second)]
    codes = sorted(process.returncode for process in (first, second))
    errors = "".join(err for _, err in done)
    assert codes == [0, 1], errors
    assert "another retail stream is already consuming subject 'sales.lines'" in errors
    assert "Traceback" not in errors
    exactly_once(lake, 600)
    # the lock goes with its holder: the next session starts and finds nothing new
    again = start_stream(lake, broker, "--until-idle", "1")
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    exactly_once(lake, 600)

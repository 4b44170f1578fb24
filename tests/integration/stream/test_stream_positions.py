"""Stream positions go with the data through ``retail backup``/``restore`` and ``rollback``.

A micro-batch's manifest commit carries its position as a Delta app transaction (decision
0018). A restored lake that lost it would read everything the broker holds again (doubles); a
rolled-back lake that kept it would skip the undone events (silent loss).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from retail_lakehouse.benchmark.broker import Broker, publish
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.commits import TRANSACTIONS_KEY, run_of
from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import run_retail
from tests.integration.stream.test_stream_behaviour import sale

SUBJECT = "sales.lines"
APP_ID = f"retail.stream:nats:SALES:{SUBJECT}:0"


def retail(*args: str | Path, lake: Path) -> str:
    done = run_retail(*args, lake=lake, timeout=120)
    assert done.code == 0, done.stderr + done.stdout
    return done.stdout


def stream(lake: Path, broker: Broker) -> str:
    return retail(
        "stream", "--source", broker.url, "--subject", SUBJECT,
        "--until-idle", "1", "--max-batch", "50", lake=lake,
    )  # fmt: skip


def position(lake: Path) -> int | None:
    table = Lake(lake).delta(BRONZE_FILES.qualified)
    assert table is not None
    return table.transaction_version(APP_ID)


def offsets(lake: Path) -> list[int]:
    with LakeSQL(Lake(lake)) as sql:
        found = sql.arrow("SELECT _row_number FROM bronze.sales_lines ORDER BY 1")
    return [int(v) for v in found.column(0).to_pylist()]


def run_that_committed(lake: Path, offset: int) -> str:
    """The run whose manifest commit set the position to ``offset``."""
    table = Lake(lake).delta(BRONZE_FILES.qualified)
    assert table is not None
    for row in table.history():
        if json.loads(row.get(TRANSACTIONS_KEY) or "{}").get(APP_ID) == offset:
            run = run_of(row)
            assert run is not None
            return run
    raise AssertionError(f"no commit set the position to {offset}")


def test_positions_survive_backup_restore_and_go_back_with_a_rollback(
    broker: Broker, tmp_path: Path
) -> None:
    """200 events streamed, backed up, restored into a new lake: the position is 200 there and
    100 more events arrive exactly once (not 300 re-read). Rolled back past the batch of
    offsets 251-300, the position is 250 again and the next stream reads 251-300 again: every
    offset 1..300 in bronze exactly once."""
    publish(broker.url, SUBJECT, [sale(i) for i in range(200)])
    first = tmp_path / "lake"
    stream(first, broker)
    assert position(first) == 200 and offsets(first) == list(range(1, 201))
    retail("backup", tmp_path / "backup", lake=first)
    second = tmp_path / "restored"
    retail("restore", tmp_path / "backup", "--lake", second, lake=first)
    assert position(second) == 200

    publish(broker.url, SUBJECT, [sale(i) for i in range(200, 300)])
    stream(second, broker)
    assert position(second) == 300 and offsets(second) == list(range(1, 301))

    target = run_that_committed(second, 250)
    retail("rollback", "--to-run", target, "--yes", lake=second)
    assert position(second) == 250 and offsets(second) == list(range(1, 251))
    stream(second, broker)
    assert position(second) == 300 and offsets(second) == list(range(1, 301))


def test_a_rollback_while_the_stream_runs_makes_it_read_the_undone_events_again(
    broker: Broker, tmp_path: Path
) -> None:
    """``retail rollback`` moves the lake's stream position back while ``retail stream`` runs:
    the session committed its next batch at its own position (100 -> 150), so events 51-100,
    undone by the rollback, were never read again (100 lines for 150 events). It now sees the
    position moved under the writer lock, commits nothing, and reads again from the lake's."""
    from tests.integration.stream.test_stream_cli import start_stream
    from tests.integration.stream.test_stream_faults import exactly_once
    from tests.integration.stream.test_stream_lock import read_until

    lake = tmp_path / "lake"
    process = start_stream(lake, broker, "--until-idle", "8", "--batch-seconds", "0.3")
    seen: list[str] = []
    try:
        publish(broker.url, "sales.lines", [sale(n) for n in range(1, 51)])
        read_until(process, "batch 1:", seen)
        with LakeSQL(Lake(lake)) as sql:
            first = sql.arrow("SELECT max(run_id) AS r FROM meta.runs").to_pylist()[0]["r"]
        publish(broker.url, "sales.lines", [sale(n) for n in range(51, 101)])
        read_until(process, "batch 2:", seen)
        back = run_retail("rollback", "--to-run", first, "--yes", lake=lake)
        assert back.code == 0, back.stderr
        publish(broker.url, "sales.lines", [sale(n) for n in range(101, 151)])
        read_until(process, "offsets 51-150", seen)  # read again from the lake's position
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert any("position moved while streaming" in line for line in seen), seen
    exactly_once(lake, 150)

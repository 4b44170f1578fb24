"""A refused command is recorded as refused, the same way whichever command refused.

The audit found ``retail retract nosuch.csv`` (exit 2) emitting an OpenLineage START/COMPLETE
pair and logging the command as ``idle``. Rule now: a refusal decided after the command started
FAILs its started lineage run with the reason and logs ``command refused``; a refusal decided
before anything started (a run id that does not exist) emits nothing; neither writes a
``meta.runs`` row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from retail_lakehouse.observe.lineage.events import events_in
from tests.conftest import run_retail
from tests.integration.observe.openlineage_spec import event_errors


def _log(lake: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((lake / "_logs").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def _runs(lake: Path) -> int:
    done = run_retail("history", "--json", lake=lake)
    assert done.code == 0, done.stderr
    return len(json.loads(done.stdout))


def test_refused_commands_fail_their_lineage_run_and_log_refused(tmp_path: Path) -> None:
    lake, source, empty = tmp_path / "lake", tmp_path / "sales.csv", tmp_path / "empty.csv"
    assert run_retail("generate", "--rows", "50", "--seed", "1", "--out", source).code == 0
    assert run_retail("ingest", source, lake=lake).code == 0
    empty.write_text("")
    runs = _runs(lake)
    for args, command, reason in (
        (("retract", "nosuch.csv"), "retract", "not in bronze.files"),
        (("ingest", empty), "ingest", "1 of 1 file(s) refused"),
        (("ingest", empty, "--replaces", "nosuch.csv"), "ingest", "not in bronze.files"),
    ):
        seen = len(events_in(lake / "_lineage"))
        done = run_retail("--log-format", "json", *args, lake=lake)
        assert done.code == 2, (args, done.stdout, done.stderr)
        events = events_in(lake / "_lineage")[seen:]
        assert [e["eventType"] for e in events] == ["START", "FAIL"], (args, events)
        assert events[0]["job"]["name"] == f"retail.{command}"
        message = events[1]["run"]["facets"]["errorMessage"]["message"]
        assert message.startswith("refused: ") and reason in message, message
        assert event_errors(events[1]) == []
        last = _log(lake)[-1]
        assert last["event"] == "command refused" and last["status"] == "refused", last
        assert reason in last["reason"]
    # on a terminal without --log-format the reason is said once, by the error line
    done = run_retail("retract", "nosuch.csv", lake=lake)
    assert done.code == 2 and done.stderr.count("not in bronze.files") == 1, done.stderr
    assert _log(lake)[-1]["event"] == "command refused"  # still in the lake's log
    seen = len(events_in(lake / "_lineage"))
    assert run_retail("rollback", "--to-run", "nosuch", lake=lake).code == 2
    assert len(events_in(lake / "_lineage")) == seen  # refused before it started: no events
    assert _runs(lake) == runs  # no refusal is a run in meta.runs

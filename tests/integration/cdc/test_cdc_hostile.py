"""Hostile change logs, from the user's side: ``retail ingest --cdc`` reads the file in the
isolated reader worker under the ``[limits]`` of every other file, so a long, deep, wide,
binary or slow change log is refused with exit 2, the file and the reason named, and the lake
is left as it was (the next command runs clean). A long line that is within the limits is read
(DuckDB's CSV reader, which the parent used to split lines, refused a line over 2 MB with "CSV
Error on Line", and dropped it without a word when it was the file's only line: "0 events")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import CliResult, run_retail


def _event(line_id: str, position: int, description: str = "ITEM", **extra: object) -> str:
    image = {
        "line_id": line_id,
        "InvoiceNo": "536365",
        "StockCode": "85123A",
        "Description": description,
        "Quantity": "6",
        "InvoiceDate": "2011-05-01 10:00",
        "UnitPrice": "2.55",
        "CustomerID": "17850",
        "Country": "United Kingdom",
        **extra,
    }
    return json.dumps({"op": "c", "after": image, "source": {"lsn": position}}) + "\n"


def _ingest(lake: Path, log: Path, **limits: str) -> CliResult:
    env = {f"RETAIL_LIMITS__{k.upper()}": v for k, v in limits.items()}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return run_retail("ingest", "--cdc", log, lake=lake)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _events_in_lake(lake: Path) -> int:
    done = run_retail("sql", "SELECT count(*) AS n FROM bronze.cdc_events", "-f", "json", lake=lake)
    if done.code != 0:  # no such table: nothing was ever recorded
        return 0
    return int(done.json()[0]["n"])


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        ("deep", "nested deeper than 64 levels (limits.max_json_depth)"),
        ("wide", "more than 1,024 keys (limits.max_json_keys)"),
        ("binary", "binary content"),
        ("long", "longer than 8,388,608 bytes (limits.max_line_bytes)"),
        ("empty", "the file is empty"),
        ("fat", "line 2: a value longer than 65,536 bytes (limits.max_field_bytes)"),
        ("nul", "line 2: a NUL character in a value (binary data?)"),
    ],
)
def test_a_hostile_change_log_is_refused_with_the_reason_and_leaves_the_lake_clean(
    tmp_path: Path, shape: str, reason: str
) -> None:
    lake = tmp_path / "lake"
    good = tmp_path / "good.jsonl"
    good.write_text(_event("L1", 10), encoding="utf-8")
    assert _ingest(lake, good).code == 0
    log = tmp_path / f"{shape}.jsonl"
    if shape == "deep":
        nested = '{"a":' * 5000 + "1" + "}" * 5000
        log.write_text(_event("L2", 20) + _event("L3", 30).replace('"ITEM"', nested))
    elif shape == "wide":
        log.write_text(_event("L2", 20, **{f"k{i}": "v" for i in range(5000)}))
    elif shape == "binary":
        log.write_bytes(_event("L2", 20).encode() + bytes(range(256)) * 64)
    elif shape == "long":
        log.write_text(_event("L2", 20, description="x" * (9 * 2**20)))
    elif shape == "fat":
        log.write_text(_event("L2", 20) + _event("L3", 30, description="x" * 100_000))
    elif shape == "nul":  # a JSON escape: the line has no NUL byte, the value does
        log.write_text(_event("L2", 20) + _event("L3", 30, description="nul\u0000in"))
    else:
        log.write_bytes(b"")

    done = _ingest(lake, log)

    assert done.code == 2, done.stdout + done.stderr[-2000:]
    assert str(log) in done.stderr and reason in done.stderr, done.stderr[-2000:]
    assert _events_in_lake(lake) == 1  # only the good log's event
    assert not list(lake.rglob("*.input*"))  # no scratch left
    again = _ingest(lake, good)  # the next command is clean: a duplicate of what is there
    assert again.code == 0 and "1 duplicates" in again.stdout, again.stdout + again.stderr


def test_a_long_line_within_the_limits_is_read_not_dropped(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    log = tmp_path / "long.jsonl"
    log.write_text(_event("L1", 10, description="x" * (3 * 2**20)) + _event("L2", 11))

    done = _ingest(lake, log, max_field_bytes=str(4 * 2**20))

    assert done.code == 0, done.stderr[-2000:]
    assert "2 change event(s) = 2 applied" in done.stdout, done.stdout
    assert _events_in_lake(lake) == 2


def test_a_change_log_is_read_under_the_reader_time_limit(tmp_path: Path) -> None:
    """The reader's limits apply: with a time limit no read can meet, the log is refused by the
    worker's watchdog (the parent never reads it itself)."""
    lake = tmp_path / "lake"
    log = tmp_path / "log.jsonl"
    log.write_text("".join(_event(f"L{i}", i) for i in range(1, 20_001)), encoding="utf-8")

    done = _ingest(lake, log, reader_timeout_s="0.001")

    assert done.code == 2, done.stdout + done.stderr[-2000:]
    assert "limits.reader_timeout_s" in done.stderr and str(log) in done.stderr
    assert _events_in_lake(lake) == 0


def test_a_stream_micro_batch_rejects_a_hostile_change_event_and_applies_the_rest() -> None:
    """``retail stream --cdc`` parses its micro-batches with the same function and limits: a deep
    or wide event is a reject with its offset and reason (5,000 levels crashed DuckDB's JSON
    parser in the stream's own process), the good one is applied."""
    import pyarrow as pa

    from retail_lakehouse.sources.cdc import change_events
    from retail_lakehouse.sources.limits import ReaderLimits

    nested = '{"a":' * 5000 + "1" + "}" * 5000
    lines = pa.table(
        {
            "n": pa.array([7, 8, 9, 10], pa.int64()),
            "line": [
                _event("L1", 1).replace('"ITEM"', nested),
                _event("L2", 2, **{f"k{i}": "v" for i in range(2000)}),
                _event("L3", 3),
                _event("L4", 4, description="nul\u0000in"),
            ],
        }
    )

    events = change_events(lines, ReaderLimits())

    assert events["reason"].to_pylist() == [
        "JSON nested deeper than 64 levels (limits.max_json_depth)",
        "a row image with more than 1,024 keys (limits.max_json_keys)",
        None,
        "a NUL character in a value (binary data?)",  # PostgreSQL's text cannot hold it
    ]
    assert events["line_id"].to_pylist()[2] == "L3"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"\n\n\n", "no change event (blank lines only)"),
        (b"  \n\t\n \r\n", "no change event (blank lines only)"),
    ],
)
def test_a_change_log_without_an_event_is_refused_like_an_empty_one(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    """An empty change log was refused while one of blank lines was "0 change event(s)" (exit
    0) and, once the lake had CDC tables, whitespace-only lines ended in an internal error (a
    Delta predicate over no bucket). The rule is the sales files' (a CSV of blank lines has no
    header: refused): a change log with no event is refused, exit 2, named."""
    lake = tmp_path / "lake"
    first = tmp_path / "first.ndjson"
    first.write_text(_event("L1", 1))
    assert _ingest(lake, first).code == 0
    log = tmp_path / "nothing.ndjson"
    log.write_bytes(content)

    done = _ingest(lake, log)

    assert done.code == 2, done.stdout + done.stderr
    assert f"{log}: {reason}" in " ".join(done.stderr.split()), done.stderr
    assert _events_in_lake(lake) == 1
    after = run_retail("status", lake=lake)
    assert after.code == 0 and "recovered" not in after.stdout + after.stderr

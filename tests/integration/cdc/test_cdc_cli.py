"""``retail ingest --cdc``: a generated change log applied in source order, whatever the
arrival order. The same events in order, shuffled and duplicated, or split in two files that
arrive newest first, give the same silver state and history, equal to an independent
computation here (a plain dictionary replay of the events sorted by log position)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import run_retail

IMAGE = ("invoice_no", "stock_code", "description", "quantity", "invoice_date", "unit_price",
         "customer_id", "country")  # fmt: skip


def change_log(lines: int, seed: int) -> list[dict[str, Any]]:
    """Creates, updates (quantity and price corrections), deletes and re-creates of ``lines``
    source lines, with strictly increasing log positions, in source order."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    position = 1000
    state: dict[str, dict[str, Any] | None] = {}
    for _ in range(lines * 4):
        line_id = f"L{rng.randrange(lines):05d}"
        before = state.get(line_id)
        position += rng.randint(1, 5)
        if before is None:
            op = rng.choice("cr")
            image = {
                "line_id": line_id,
                "InvoiceNo": f"5{rng.randrange(400):05d}",
                "StockCode": f"{85000 + rng.randrange(50)}",
                "Description": "ITEM",
                "Quantity": str(rng.randint(1, 12)),
                "InvoiceDate": f"2011-05-0{rng.randint(1, 9)} 10:00",
                "UnitPrice": f"{rng.randint(50, 900) / 100:.2f}",
                "CustomerID": str(12000 + rng.randrange(30)),
                "Country": "United Kingdom",
            }
            after: dict[str, Any] | None = image
        elif rng.random() < 0.2:
            op, after = "d", None
        else:
            op = "u"
            after = {**before, "Quantity": str(rng.randint(1, 12)),
                     "UnitPrice": f"{rng.randint(50, 900) / 100:.2f}"}  # fmt: skip
        envelope = {
            "op": op,
            "before": before,
            "after": after,
            "source": {"connector": "postgresql", "lsn": position, "ts_ms": position * 10},
            "ts_ms": position * 10 + 3,
        }
        events.append({"payload": envelope} if rng.random() < 0.5 else envelope)
        state[line_id] = after
    return events


def write(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def two_parts(folder: Path, lines: int, seed: int) -> tuple[list[dict[str, Any]], Path, Path]:
    """A change log of ``lines`` source lines and the log cut in two at its middle, in source
    order: ``first.ndjson`` (already applied) and ``later.ndjson`` (the command under test)."""
    events = change_log(lines, seed=seed)
    half = len(events) // 2
    first = write(folder / "first.ndjson", events[:half])
    return events, first, write(folder / "later.ndjson", events[half:])


def ingest(lake: Path, path: Path) -> str:
    done = run_retail("ingest", "--cdc", path, lake=lake)
    assert done.code == 0, done.stderr + done.stdout
    assert "balanced" in done.stdout and "UNBALANCED" not in done.stdout
    return done.stdout


def silver(lake: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    columns = ", ".join(IMAGE)
    with LakeSQL(Lake(lake)) as sql:
        current = sql.arrow(
            f"SELECT line_id, op, log_position, is_deleted, {columns} FROM silver.cdc_lines "
            "ORDER BY line_id"
        )
        history = sql.arrow(
            f"SELECT line_id, log_position, valid_to_position, is_current, op, {columns} "
            "FROM silver.cdc_history ORDER BY line_id, log_position"
        )
    return (
        [tuple(r.values()) for r in current.to_pylist()],
        [tuple(r.values()) for r in history.to_pylist()],
    )


def expected(events: list[dict[str, Any]]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The independent computation: replay the distinct events sorted by log position."""
    keys = {"InvoiceNo": "invoice_no", "StockCode": "stock_code", "Description": "description",
            "Quantity": "quantity", "InvoiceDate": "invoice_date", "UnitPrice": "unit_price",
            "CustomerID": "customer_id", "Country": "country"}  # fmt: skip
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for raw in events:
        e = raw.get("payload", raw)
        image = e["before"] if e["op"] == "d" else e["after"]
        seen.setdefault((image["line_id"], e["source"]["lsn"]), {"op": e["op"], "image": image})
    by_line: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for (line_id, position), event in sorted(seen.items()):
        by_line.setdefault(line_id, []).append((position, event))
    current, history = [], []
    for line_id, changes in sorted(by_line.items()):
        for i, (position, event) in enumerate(changes):
            values = tuple(event["image"][k] for k in keys)
            nxt = changes[i + 1][0] if i + 1 < len(changes) else None
            history.append((line_id, position, nxt, nxt is None, event["op"], *values))
        position, event = changes[-1]
        values = tuple(event["image"][k] for k in keys)
        current.append((line_id, event["op"], position, event["op"] == "d", *values))
    return current, history


@pytest.mark.soak
def test_shuffled_duplicated_and_split_change_logs_give_the_in_order_state(tmp_path: Path) -> None:
    events = change_log(300, seed=7)
    rng = random.Random(1)
    shuffled = events + rng.sample(events, len(events) // 5)  # a fifth delivered twice
    rng.shuffle(shuffled)
    in_order = write(tmp_path / "in_order.ndjson", events)
    messy = write(tmp_path / "messy.ndjson", shuffled)
    half = len(events) // 2
    newer = write(tmp_path / "newer.ndjson", events[half:])
    older = write(tmp_path / "older.ndjson", events[:half])

    ingest(tmp_path / "a", in_order)
    out = ingest(tmp_path / "b", messy)
    assert f"{len(shuffled) - len(events):,} duplicates" in out
    ingest(tmp_path / "c", newer)
    late = ingest(tmp_path / "c", older)  # every older change arrives after the newer ones
    assert "superseded" in late
    again = ingest(tmp_path / "c", older)  # the same file twice: all duplicates, no change
    assert f"= 0 applied (0 deletes) + 0 superseded + {half:,} duplicates" in again

    truth = expected(events)
    assert len(truth[0]) > 250 and any(row[3] for row in truth[0])  # deletes are in the mix
    assert silver(tmp_path / "a") == truth
    assert silver(tmp_path / "b") == truth
    assert silver(tmp_path / "c") == truth


@pytest.mark.soak
def test_stream_cdc_applies_a_shuffled_duplicated_stream_in_source_order(
    tmp_path: Path,
) -> None:
    from retail_lakehouse.benchmark.broker import publish, running_broker

    events = change_log(120, seed=11)
    rng = random.Random(3)
    messy: list[Any] = events + rng.sample(events, len(events) // 4)
    rng.shuffle(messy)
    garbage_at = len(messy) // 2
    messy.insert(garbage_at, b"{not an envelope")
    lake = tmp_path / "lake"
    with running_broker() as broker:
        publish(broker.url, "orders.changes", messy, stream="ORDERS")
        command = ["stream", "--cdc", "--source", broker.url, "--subject", "orders.changes"]
        done = run_retail(*command, "--until-idle", "2", "--max-batch", "100", lake=lake)
    assert done.code == 0, done.stderr + done.stdout
    assert silver(lake) == expected(events)
    with LakeSQL(Lake(lake)) as sql:
        rejected = sql.arrow(
            "SELECT _row_number, reason FROM bronze.cdc_events WHERE reason IS NOT NULL"
        ).to_pylist()
        received = sql.arrow("SELECT count(*) AS n FROM bronze.cdc_events").to_pylist()
    assert rejected == [{"_row_number": garbage_at + 1, "reason": "not a JSON object"}]
    assert received == [{"n": len(messy)}]

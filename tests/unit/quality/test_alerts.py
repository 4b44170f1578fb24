"""Score-drop alerts over real meta tables, delivered to a real local HTTP server."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.quality.alerts import KIND_SCORE_DROP, check_score_drop
from tests.unit.quality.quality_history_builder import write_run


def lake_with_runs(root: Path, scores: list[float], table: str = "silver.sales_lines") -> Lake:
    lake = Lake(root)
    for i, score in enumerate(scores):
        write_run(lake, f"run{i:02d}", score, index=i, table=table)
    return lake


def stored_alerts(lake: Lake) -> list[dict[str, Any]]:
    if not lake.exists("meta.alerts"):
        return []
    rows: list[dict[str, Any]] = lake.read("meta.alerts").to_pylist()
    return rows


# -- the baseline rule -------------------------------------------------------------------------


def test_drop_of_more_than_ten_points_raises_exactly_one_alert(tmp_path: Path) -> None:
    scores = [95.0, 96.0, 94.0, 95.0, 96.0, 80.0]
    lake = lake_with_runs(tmp_path, scores)
    alerts_by_run = {f"run{i:02d}": check_score_drop(lake, f"run{i:02d}") for i in range(6)}

    raised = [a for alerts in alerts_by_run.values() for a in alerts]
    assert len(raised) == 1
    alert = raised[0]
    assert alert.run_id == "run05"
    assert alert.kind == KIND_SCORE_DROP
    assert alert.value == 80.0
    assert alert.baseline == pytest.approx(95.2)
    assert "15.2 points below" in alert.message
    assert alert.delivered is None and alert.delivery_error is None  # no webhook configured

    rows = stored_alerts(lake)
    assert len(rows) == 1
    assert rows[0]["alert_id"] == alert.alert_id
    assert rows[0]["run_id"] == "run05"
    assert rows[0]["value"] == 80.0
    assert rows[0]["baseline"] == pytest.approx(95.2)


def test_small_drops_and_exactly_ten_points_raise_nothing(tmp_path: Path) -> None:
    lake = lake_with_runs(tmp_path, [95.0, 95.0, 95.0, 95.0, 95.0, 88.0, 85.0])
    assert check_score_drop(lake, "run05") == []  # 7 points
    # run06: baseline is runs 01..05 = (95*4 + 88) / 5 = 93.6, drop 8.6
    assert check_score_drop(lake, "run06") == []
    lake = lake_with_runs(tmp_path / "exact", [95.0, 95.0, 85.0])
    assert check_score_drop(lake, "run02") == []  # exactly 10 is not "more than 10"
    assert stored_alerts(lake) == []


def test_fewer_than_two_earlier_runs_never_alert(tmp_path: Path) -> None:
    lake = lake_with_runs(tmp_path, [99.0, 20.0])
    assert check_score_drop(lake, "run00") == []  # first run: no history at all
    assert check_score_drop(lake, "run01") == []  # one earlier run is not a baseline
    assert stored_alerts(lake) == []


def test_two_to_four_earlier_runs_use_their_mean(tmp_path: Path) -> None:
    lake = lake_with_runs(tmp_path, [96.0, 94.0, 80.0])
    [alert] = check_score_drop(lake, "run02")
    assert alert.baseline == pytest.approx(95.0)


def test_baseline_is_the_last_five_earlier_runs_only(tmp_path: Path) -> None:
    # With all six earlier runs the mean would be 87.5 (drop 3.5); the last five give 95 (drop 11).
    lake = lake_with_runs(tmp_path, [50.0, 95.0, 95.0, 95.0, 95.0, 95.0, 84.0])
    [alert] = check_score_drop(lake, "run06")
    assert alert.baseline == pytest.approx(95.0)
    # and a later run is not compared with runs after it
    lake2 = lake_with_runs(tmp_path / "later", [95.0, 95.0, 95.0, 40.0])
    assert check_score_drop(lake2, "run02") == []


def test_a_run_whose_scores_were_written_twice_counts_once_at_its_latest(tmp_path: Path) -> None:
    # run01 written again later (a retried write): one baseline run, placed at its last write
    lake = lake_with_runs(tmp_path, [95.0, 95.0, 95.0])
    write_run(lake, "run01", 95.0, index=3)
    write_run(lake, "run04", 80.0, index=4)
    [alert] = check_score_drop(lake, "run04")
    assert alert.baseline == pytest.approx(95.0) and "of the previous 3 runs" in alert.message
    assert check_score_drop(lake, "run02") == []  # run01's latest write is after run02


def test_checking_the_same_run_twice_stores_one_alert(tmp_path: Path) -> None:
    lake = lake_with_runs(tmp_path, [95.0, 95.0, 70.0])
    assert len(check_score_drop(lake, "run02")) == 1
    assert check_score_drop(lake, "run02") == []
    assert len(stored_alerts(lake)) == 1


def test_scores_of_other_tables_are_not_a_baseline(tmp_path: Path) -> None:
    lake = lake_with_runs(tmp_path, [99.0, 99.0, 99.0], table="gold.fact_sales")
    write_run(lake, "silver-run", 60.0, index=10)
    assert check_score_drop(lake, "silver-run") == []
    assert check_score_drop(lake, "silver-run", table="gold.fact_sales") == []


def test_unknown_run_raises_nothing(tmp_path: Path) -> None:
    lake = lake_with_runs(tmp_path, [95.0, 95.0, 95.0])
    assert check_score_drop(lake, "no-such-run") == []
    assert check_score_drop(Lake(tmp_path / "empty"), "run00") == []


def test_alert_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lake = lake_with_runs(tmp_path, [95.0, 95.0, 70.0])
    with caplog.at_level(logging.WARNING, logger="retail_lakehouse.quality.alerts"):
        check_score_drop(lake, "run02")
    assert any(
        "quality alert" in r.getMessage() and "70.0" in r.getMessage() for r in caplog.records
    )


# -- webhook delivery against a real HTTP server -----------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    status: ClassVar[int] = 200
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        type(self).received.append(
            {"path": self.path, "type": self.headers.get("Content-Type"), "body": json.loads(body)}
        )
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Recorder", (_Recorder,), {"status": 200, "received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/retail", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_alert_is_posted_as_json_to_the_webhook(
    tmp_path: Path, webhook: tuple[str, type[_Recorder]]
) -> None:
    url, handler = webhook
    lake = lake_with_runs(tmp_path, [95.0, 96.0, 94.0, 95.0, 96.0, 80.0])
    [alert] = check_score_drop(lake, "run05", webhook_url=url)

    assert alert.delivered is True and alert.delivery_error is None
    [request] = handler.received
    assert request["path"] == "/hooks/retail"
    assert request["type"] == "application/json"
    body = request["body"]
    assert body["kind"] == "quality_score_drop"
    assert body["run_id"] == "run05"
    assert body["table"] == "silver.sales_lines"
    assert body["value"] == 80.0
    assert body["baseline"] == pytest.approx(95.2)
    assert body["message"] == alert.message
    [row] = stored_alerts(lake)
    assert row["delivered"] is True and row["delivery_error"] is None


def test_webhook_refusing_the_alert_is_recorded_not_raised(
    tmp_path: Path, webhook: tuple[str, type[_Recorder]]
) -> None:
    url, handler = webhook
    handler.status = 500
    lake = lake_with_runs(tmp_path, [95.0, 95.0, 70.0])
    [alert] = check_score_drop(lake, "run02", webhook_url=url)
    assert alert.delivered is False
    assert alert.delivery_error is not None and "HTTP 500" in alert.delivery_error
    [row] = stored_alerts(lake)
    assert row["delivered"] is False and "HTTP 500" in row["delivery_error"]


def test_unreachable_webhook_is_recorded_not_raised(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    lake = lake_with_runs(tmp_path, [95.0, 95.0, 70.0])
    [alert] = check_score_drop(lake, "run02", webhook_url=f"http://127.0.0.1:{port}/x")
    assert alert.delivered is False
    assert alert.delivery_error and "ConnectError" in alert.delivery_error
    assert stored_alerts(lake)[0]["delivered"] is False


def test_malformed_webhook_url_is_recorded_not_raised(tmp_path: Path) -> None:
    lake = lake_with_runs(tmp_path, [95.0, 95.0, 70.0])
    [alert] = check_score_drop(lake, "run02", webhook_url="not a url")
    assert alert.delivered is False and alert.delivery_error

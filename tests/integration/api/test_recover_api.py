"""``as_of`` on the read endpoints, and a backup taken while ``retail serve`` is reading."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.history import resolve_as_of
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import REAL_DATA, run_retail
from tests.integration.api.live import Server, serve

pytestmark = pytest.mark.slow

MART_SUMS = (
    "SELECT sum(gross_revenue) AS g, sum(net_revenue) AS n, sum(units) AS u "
    "FROM gold.mart_daily_sales"
)


def first_run(lake: Path) -> str:
    with LakeSQL(Lake(lake), tables=["meta.runs"]) as sql:
        rows = sql.arrow(
            "SELECT run_id FROM meta.runs WHERE command = 'run' ORDER BY started_at LIMIT 1"
        )
    run_id: str = rows.column(0)[0].as_py()
    return run_id


def sums(lake: Path, as_of: str | None) -> dict[str, Any]:
    versions = None if as_of is None else resolve_as_of(Lake(lake), as_of).versions
    with LakeSQL(Lake(lake), versions=versions) as sql:
        row: dict[str, Any] = sql.arrow(MART_SUMS).to_pylist()[0]
    return row


def test_read_endpoints_answer_as_of_a_run(server: Server) -> None:
    viewer = server.client("viewer")
    r1 = first_run(server.lake)
    then, now = sums(server.lake, r1), sums(server.lake, None)
    assert float(then["g"]) < float(now["g"])  # the second run added sales

    past = viewer.get("/api/v1/kpis", params={"as_of": r1})
    assert past.status_code == 200, past.text
    assert past.json()["gross_revenue"] == float(then["g"])
    assert past.json()["units"] == int(then["u"])
    current = viewer.get("/api/v1/kpis")
    assert current.json()["gross_revenue"] == float(now["g"])
    # a time before the lake existed is refused, not answered as a lake without sales
    empty = viewer.get("/api/v1/kpis", params={"as_of": "2001-01-01T00:00:00"})
    assert empty.status_code == 422 and "nothing had been written to this lake" in empty.text
    bad = viewer.get("/api/v1/kpis", params={"as_of": "not a run"})
    assert bad.status_code == 422 and "neither a run id" in bad.text


def test_a_backup_while_serve_is_reading_does_not_block_it(server: Server, tmp_path: Path) -> None:
    viewer = server.client("viewer")
    answered: list[int] = []
    stop = threading.Event()

    def keep_reading() -> None:
        with httpx.Client(base_url=server.url, headers=dict(viewer.headers)) as client:
            while not stop.is_set():
                answered.append(client.get("/api/v1/kpis").status_code)

    reader = threading.Thread(target=keep_reading)
    reader.start()
    try:
        done = run_retail("backup", tmp_path / "backups", lake=server.lake)
    finally:
        stop.set()
        reader.join()
    assert done.code == 0, done.stderr
    assert "current state" in done.stdout
    assert answered and set(answered) == {200}
    restored = tmp_path / "restored"
    assert run_retail("restore", tmp_path / "backups", "--lake", restored).code == 0
    assert sums(restored, None) == sums(server.lake, None)


def test_as_of_a_vacuumed_state_names_no_server_path(private_lake: Path) -> None:
    """The 422 says which table and how many files are gone, not where the lake lives."""
    r1 = first_run(private_lake)
    vacuumed = run_retail("vacuum", "--retain", "0h", "--force", lake=private_lake)
    assert vacuumed.code == 0, vacuumed.stderr
    with serve(private_lake) as server:
        gone = server.client("viewer").get("/api/v1/kpis", params={"as_of": r1})
    assert gone.status_code == 422, gone.text
    message = gone.json()["detail"][0]["msg"]
    assert "can no longer be read" in message and "file(s) that `retail vacuum` deleted" in message
    assert "(e.g. gold/" in message and str(private_lake) not in gone.text, message


def test_health_names_no_server_path_when_a_refresh_fails(private_lake: Path) -> None:
    """``GET /api/v1/health`` needs no key; a failed snapshot refresh (a data file removed by
    hand) showed its error with the lake's absolute path there (fifteenth round's audit)."""
    with serve(private_lake) as server:
        served = next((private_lake / "gold" / "dim_country").glob("*.parquet"))
        served.rename(private_lake / "moved-away.parquet")
        added = run_retail(
            "ingest", REAL_DATA / "online_retail_ii_head_99_bom.csv", lake=private_lake
        )
        assert added.code == 0, added.stderr
        run_retail("run", lake=private_lake)  # new gold versions: the server rebuilds, and fails
        with server.client() as anonymous:
            deadline = time.monotonic() + 60
            health = anonymous.get("/api/v1/health").json()
            while health["refresh_error"] is None and time.monotonic() < deadline:
                time.sleep(0.5)
                health = anonymous.get("/api/v1/health").json()
    assert health["status"] == "degraded", health
    assert "gold/dim_country/part-" in health["refresh_error"], health["refresh_error"]
    assert str(private_lake) not in health["refresh_error"], health["refresh_error"]

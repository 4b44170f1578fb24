"""The hostile files of issue 13 at the sizes they were reported at, and 2,000 tiny files
(``make soak``; the same limits are exercised by small variants in ``make test``)."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from tests import hostile_files as hostile
from tests.conftest import run_retail
from tests.integration.api.live import serve

pytestmark = pytest.mark.soak
TWO_GB = 2 * 2**30


def bronze_lines(lake: Path) -> int:
    with LakeSQL(Lake(lake)) as sql:
        value: int = sql.arrow("SELECT count(*) AS n FROM bronze.sales_lines")["n"][0].as_py()
    return value


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("big") / "landing"
    folder.mkdir()
    hostile.xlsx_bomb(folder / "bomb.xlsx", rows=14_000_000)  # ~50 MB, once 11.3 GB
    hostile.big_json_object(folder / "object.json", keys=1_000_000)  # ~53 MB, once a hang
    hostile.wide_ndjson(folder / "wide.ndjson", keys=20_000)  # 249 KB, once 13.4 GB
    hostile.deep_json_array(folder / "deep.json", depth=5000)  # once a segfault
    hostile.good_csv(folder / "z_good.csv")
    return folder


def test_full_size_hostile_files_from_the_cli(big_files: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    code, _, stderr, peak = hostile.run_retail_measured("ingest", big_files, lake=lake)
    assert code == 2 and "4 of 5 file(s) refused" in stderr, stderr
    text = " ".join(stderr.split())
    assert "bomb.xlsx: the workbook expands to" in text
    assert "object.json: a line (at or after line 1) longer than" in text
    assert "wide.ndjson: no readable JSON object" in text and "20008 keys" in text
    assert "deep.json, line 1: JSON nested deeper than 64 levels" in text
    assert peak < TWO_GB, f"{peak / 2**20:.0f} MB"
    assert bronze_lines(lake) == 3


def test_full_size_hostile_files_through_the_api(big_files: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    assert run_retail("ingest", big_files / "z_good.csv", lake=lake).code == 0
    with serve(lake, env={"RETAIL_MAX_UPLOAD_MB": "200"}) as server:
        sampler = hostile.TreePeak(server.process.pid)
        with server.client("admin") as admin:
            for name in ("bomb.xlsx", "object.json", "wide.ndjson", "deep.json"):
                content = (big_files / name).read_bytes()
                response = admin.post(
                    "/api/v1/files", files={"file": (name, content)}, params={"wait": 120}
                )
                assert response.status_code == 422, (name, response.text)
                assert server.process.poll() is None
            assert admin.get("/api/v1/health").status_code == 200
        assert sampler.stop() < TWO_GB


def cpu_seconds_of_children() -> float:
    """CPU-seconds (user + system) of the finished child processes so far, their reader workers
    included: a bound on work that does not depend on how loaded the machine is (wall seconds
    did: 71 s at load 20 for what takes far less on a quiet machine)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_two_thousand_tiny_files_in_under_a_minute(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    for i in range(2000):
        hostile.good_csv(folder / f"f{i:04d}.csv", invoice=600000 + i, lines=2)
    lake = tmp_path / "lake"
    clock = cpu_seconds_of_children()
    done = run_retail("ingest", folder, lake=lake)
    seconds = cpu_seconds_of_children() - clock
    assert done.code == 0, done.stderr
    assert bronze_lines(lake) == 4000
    assert seconds < 60, f"{seconds:.1f} CPU-s"
    # and the next 200 files cost no more per file in a lake that already has 2,000
    more = tmp_path / "more"
    more.mkdir()
    for i in range(200):
        hostile.good_csv(more / f"g{i:03d}.csv", invoice=700000 + i, lines=2)
    clock = cpu_seconds_of_children()
    assert run_retail("ingest", more, lake=lake).code == 0
    assert cpu_seconds_of_children() - clock < 15

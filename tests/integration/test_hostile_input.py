"""Hostile files from the user's side: ``retail ingest`` of a folder holding every file of
issue 13 next to good ones, and the same files uploaded to a real ``retail serve``.

Each hostile file is refused with its name and reason (exit 2, HTTP 422), the good files after
it are ingested, nothing of a refused file reaches the lake, no process crashes, and the whole
process tree stays under 2 GB (sampled every 20 ms with psutil). Small variants of the big
reports (a 50 MB xlsx bomb, a 53 MB JSON object) hit the same limits here; the full sizes run in
``make soak``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline.bronze import ingest_files
from retail_lakehouse.sources.sandbox import Sandbox
from tests import hostile_files as hostile
from tests.conftest import run_retail
from tests.integration.api.live import Server, serve

TWO_GB = 2 * 2**30

# file name -> (how to make it, the reason the refusal must give)
HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "b_deep.json": (hostile.deep_json_array, "JSON nested deeper than 64 levels"),
    "c_wide.ndjson": (hostile.wide_ndjson, "20008 keys, more than 1024"),
    "d_object.json": (
        lambda p: hostile.big_json_object(p, keys=100_000),
        "100008 keys, more than 1024",
    ),
    "e_bomb.xlsx": (
        lambda p: hostile.xlsx_bomb(p, rows=60_000),
        "more than the 16 MB allowed (limits.max_workbook_mb)",
    ),
    "f_list.parquet": (hostile.parquet_list_column, "nested column(s) tags"),
    "g_binary.parquet": (hostile.parquet_binary_column, "holds bytes that are not UTF-8"),
    "h_empty_header.csv": (hostile.empty_header_cells, "8,008 columns, more than the 256"),
    "i_duplicates.csv": (hostile.duplicate_header, "8,008 columns, more than the 256"),
    "j_widening.csv": (
        lambda p: hostile.duplicate_header(p, names=33),
        "33 extra columns beyond the canonical ones",
    ),
}
LIMITS_ENV = {"RETAIL_LIMITS__MAX_WORKBOOK_MB": "16"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "landing"
    root.mkdir()
    hostile.good_csv(root / "a_good.csv", invoice=536365)
    for name, (make, _) in HOSTILE.items():
        make(root / name)
    hostile.good_csv(root / "z_good.csv", invoice=536366)
    return root


def rows(lake: Path, sql: str) -> list[dict[str, object]]:
    with LakeSQL(Lake(lake)) as con:
        found: list[dict[str, object]] = con.arrow(sql).to_pylist()
    return found


def count(lake: Path, sql: str) -> int:
    value = next(iter(rows(lake, sql)[0].values()))
    assert isinstance(value, int)
    return value


def test_a_folder_of_hostile_files_refuses_each_and_ingests_the_rest(
    folder: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    code, _stdout, stderr, peak = hostile.run_retail_measured(
        "ingest", folder, lake=lake, env=LIMITS_ENV
    )

    assert code == 2, stderr
    assert f"{len(HOSTILE)} of {len(HOSTILE) + 2} file(s) refused" in stderr
    for name, (_, reason) in HOSTILE.items():
        line = next((x for x in stderr.splitlines() if name in x), "")
        assert reason in " ".join(stderr.split()), (name, stderr)
        assert str(folder / name) in line, (name, stderr)
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert peak < TWO_GB, f"peak {peak / 2**20:.0f} MB"
    # the good files before and after the hostile ones are in, and nothing of the others
    assert count(lake, "SELECT count(*) FROM bronze.sales_lines") == 6
    files = run_retail(
        "sql", "SELECT _source_file FROM bronze.files ORDER BY 1", "-f", "json", lake=lake
    ).json()
    assert [Path(f["_source_file"]).name for f in files] == ["a_good.csv", "z_good.csv"]
    assert count(lake, "SELECT count(*) FROM bronze.rejects") == 0
    columns = rows(lake, "DESCRIBE bronze.sales_lines")
    assert not [c for c in columns if str(c["column_name"]).startswith("x_")]  # not widened


def test_schema_history_records_only_real_changes(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    wider = tmp_path / "wider.csv"
    wider.write_text(hostile.HEADER + ",note\n1,2,3,4,2010-12-01,1,1,EIRE,hello\n")
    files = [hostile.good_csv(tmp_path / f"{i}.csv", 1000 + i) for i in range(3)] + [wider]
    with Sandbox() as box:
        for file in files:  # one command each: every ingest used to add an "initial" row
            with recorded_run(lake, "ingest") as run:
                ingest_files(lake, [file], run, sandbox=box)
    history = rows(lake.root, "SELECT change, schema_version FROM meta.schema_history ORDER BY 2")
    assert history == [
        {"change": "initial", "schema_version": 1},
        {"change": "added_columns", "schema_version": 2},
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("served")
    lake = root / "lake"
    assert run_retail("ingest", hostile.good_csv(root / "seed.csv", 500000), lake=lake).code == 0
    with serve(lake, env=LIMITS_ENV, args=("--access-log",)) as running:
        yield running


def test_hostile_uploads_are_refused_and_the_server_lives_on(server: Server, folder: Path) -> None:
    def data_files() -> dict[str, str]:
        # meta.runs and the observation journals (_lineage, _logs, _metrics) record the
        # refused ingests; no table's data may change.
        found = hostile.lake_fingerprint(server.lake)
        journals = ("meta/runs", "_serve", "_lineage", "_logs", "_metrics", "_journal")
        return {k: v for k, v in found.items() if not k.startswith(journals)}

    before = data_files()
    sampler = hostile.TreePeak(server.process.pid)
    with server.client("admin") as admin:
        for name, (_, reason) in HOSTILE.items():
            content = (folder / name).read_bytes()
            response = admin.post("/api/v1/files", files={"file": (name, content)})
            assert response.status_code == 422, (name, response.text)
            assert reason in response.json()["job"]["reason"], (name, response.text)
            assert name in response.json()["job"]["reason"]
            assert not (server.landing / name).exists()  # not left to fail the next ingest
            assert server.process.poll() is None
        assert data_files() == before  # nothing of a refused upload reached the lake
        good = (folder / "z_good.csv").read_bytes()
        assert admin.post("/api/v1/files", files={"file": ("z.csv", good)}).status_code == 201
        assert admin.get("/api/v1/health").status_code == 200
    assert sampler.stop() < TWO_GB
    assert count(server.lake, "SELECT count(*) FROM bronze.sales_lines") == 3 + 3


def test_a_key_in_the_query_string_is_not_logged(server: Server) -> None:
    secret = server.keys["viewer"]
    httpx.get(f"{server.url}/api/v1/health?api_key={secret}&country=EIRE", timeout=30)
    httpx.get(f"{server.url}/api/v1/kpis?token={secret}", timeout=30)
    log = next(server.lake.parent.glob("serve-*.log")).read_text()
    assert "/api/v1/health?api_key=[redacted]&country=EIRE" in log
    assert secret not in log

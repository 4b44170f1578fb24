"""The Dagster definitions: in-process (materialize, checks, sensor evaluation), the ``dagster``
CLI as a subprocess, and the real ``dagster-webserver`` read through GraphQL and Chromium."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

dg = pytest.importorskip("dagster")

from retail_lakehouse.lake import Lake  # noqa: E402
from retail_lakehouse.lake.contracts.gold import GOLD_TABLES  # noqa: E402
from retail_lakehouse.orchestrate import defs  # noqa: E402
from retail_lakehouse.orchestrate.dagster.assets import IngestConfig  # noqa: E402
from retail_lakehouse.orchestrate.dagster.automation import BRONZE_OP, landing_sensor  # noqa: E402
from retail_lakehouse.orchestrate.dagster.checks import (  # noqa: E402
    fact_keys_resolve,
    line_accounting,
    rule_checks,
    scd2_one_current_row,
)
from retail_lakehouse.orchestrate.dagster.resources import RetailProject  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, REAL_DATA, screenshot_path  # noqa: E402
from tests.integration.orchestrate.receivers import free_port, wait_for  # noqa: E402

SAMPLE = REAL_DATA / "online_retail_head_1071.csv"
DAGSTER = Path(sys.executable).with_name("dagster")
WEBSERVER = Path(sys.executable).with_name("dagster-webserver")
GOLD = [t.name for t in GOLD_TABLES]  # the contracts' list, in their order


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """One lake built by materializing every asset (and running every check) in process."""
    root = tmp_path_factory.mktemp("dagster") / "lake"
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        resources={"retail": RetailProject(lake=str(root))},
        run_config=dg.RunConfig(ops={BRONZE_OP: IngestConfig(files=[str(SAMPLE)])}),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    return root, result


@pytest.fixture
def lake_copy(built: tuple[Path, Any], tmp_path: Path) -> Lake:
    shutil.copytree(built[0], tmp_path / "lake")
    return Lake(tmp_path / "lake")


def test_materialize_builds_every_layer_with_metadata_and_passing_checks(
    built: tuple[Path, Any],
) -> None:
    root, result = built
    lake = Lake(root)
    events = {
        "/".join(e.asset_key.path): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert set(events) == {"bronze/sales_lines", "silver/sales_lines"} | {f"gold/{t}" for t in GOLD}
    assert events["bronze/sales_lines"]["rows"].value == 1071
    fact = events["gold/fact_sales"]
    assert fact["rows"].value == lake.read("gold.fact_sales").num_rows > 0
    assert fact["delta_version"].value == lake.version("gold.fact_sales")
    assert 0 < events["silver/sales_lines"]["quality_score"].value <= 100
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    for name in ("line_accounting", "scd2_one_current_row", "fact_keys_resolve"):
        assert checks[name].passed, name
    blocking = [e for e in checks.values() if e.severity == dg.AssetCheckSeverity.ERROR]
    assert len(blocking) >= 3 and all(e.passed for e in blocking)
    # the same functions as `retail run`: the runs are in meta.runs
    commands = set(lake.read("meta.runs").column("command").to_pylist())
    assert {"ingest", "dagster silver", "dagster gold"} <= commands


def test_checks_fail_when_the_data_breaks_them(lake_copy: Lake, tmp_path: Path) -> None:
    retail = RetailProject(lake=str(lake_copy.root))
    assert scd2_one_current_row(retail=retail).passed
    assert fact_keys_resolve(retail=retail).passed
    assert line_accounting(retail=retail).passed

    # SCD2: a customer with two current rows
    dim = lake_copy.read("gold.dim_customer")
    known = dim.filter(pc.is_valid(dim.column("customer_id"))).slice(0, 1)
    key = known.schema.get_field_index("customer_key")
    twin = known.set_column(key, "customer_key", pa.array([0xDEADBEEF], pa.int64()))
    lake_copy.write("gold.dim_customer", pa.concat_tables([dim, twin]), mode="overwrite")
    broken = scd2_one_current_row(retail=retail)
    assert not broken.passed and "current row" in str(broken.metadata["problem"])

    # fact keys: products missing from their dimension
    lake_copy.delete("gold.dim_product", "product_key <> 0")
    unresolved = fact_keys_resolve(retail=retail)
    assert not unresolved.passed
    assert unresolved.metadata["unresolved_product_key"].value > 0
    assert unresolved.metadata["unresolved_customer_key"].value == 0

    # accounting: silver lines lost
    lake_copy.delete("silver.sales_lines", "quantity > 10")
    assert not line_accounting(retail=retail).passed

    # a blocking quality rule over its threshold
    strict = tmp_path / "strict.yaml"
    strict.write_text("rules:\n  - name: customer_present\n    action: fail\n    threshold: 0.0\n")
    checks = rule_checks([strict])
    result = dg.materialize(
        [*defs.assets, checks],
        selection=dg.AssetSelection.checks(checks),
        resources={"retail": retail},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    gate = evaluations["rule_customer_present"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    assert gate.metadata["lines_failed"].value > 0
    assert evaluations["rule_invoice_no_present"].passed
    spec = next(s for s in checks.check_specs if s.name == "rule_customer_present")
    assert spec.blocking


def test_daily_schedule_and_retry_policy() -> None:
    schedule = defs.get_schedule_def("daily_run")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    for assets in defs.assets:  # type: ignore[union-attr]
        policy = assets.op.retry_policy
        assert policy.max_retries == 2 and policy.backoff == dg.Backoff.EXPONENTIAL


def test_sensor_run_keys_are_content_hashes(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    old = time.time() - 600
    for name in ("a.csv", "copy_of_a.csv"):
        shutil.copy(SAMPLE, landing / name)
        os.utime(landing / name, (old, old))
    (landing / "c.csv.part").write_text("still being written")
    (landing / "_refused").mkdir()
    shutil.copy(SAMPLE, landing / "_refused" / "x.csv")
    retail = RetailProject(lake=str(tmp_path / "lake"), landing=str(landing))

    context = dg.build_sensor_context(resources={"retail": retail})
    result = landing_sensor(context)
    digest = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    keys = [request.run_key for request in result.run_requests]
    assert keys == [digest, digest]  # the same content twice: Dagster runs the key once
    config = result.run_requests[0].run_config["ops"][BRONZE_OP]["config"]
    assert config["files"] == [str(landing / "a.csv")]

    # an old name with new content is a new run key; a fresh (unsettled) file waits
    (landing / "a.csv").write_bytes(SAMPLE.read_bytes()[:5000])
    os.utime(landing / "a.csv", (old, old))
    shutil.copy(SAMPLE, landing / "new.csv")
    again = landing_sensor(
        dg.build_sensor_context(cursor=result.cursor, resources={"retail": retail})
    )
    keys = [request.run_key for request in again.run_requests]
    assert len(keys) == 2 and digest in keys
    assert hashlib.sha256((landing / "a.csv").read_bytes()).hexdigest() in keys


def _dagster_env(tmp_path: Path, lake: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")}
    return environ | {"DAGSTER_HOME": str(home), "RETAIL_LAKE": str(lake)}


def test_dagster_cli_validates_and_materializes_the_whole_lake(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    (project / "landing").mkdir(parents=True)
    landed = project / "landing" / SAMPLE.name
    shutil.copy(SAMPLE, landed)
    # bronze takes settled files only (the watcher's rule): make the copy look finished, not
    # depend on `validate` taking longer than the settle time
    settled = time.time() - 3600
    os.utime(landed, (settled, settled))
    environ = _dagster_env(tmp_path, project / "lake")
    validate = subprocess.run(
        [DAGSTER, "definitions", "validate", "-m", "retail_lakehouse.orchestrate"],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert validate.returncode == 0, validate.stderr[-3000:]
    materialize = subprocess.run(
        [DAGSTER, "asset", "materialize", "--select", "*", "-m", "retail_lakehouse.orchestrate"],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert materialize.returncode == 0, materialize.stderr[-3000:]
    lake = Lake(project / "lake")
    assert lake.read("bronze.sales_lines").num_rows == 1071
    assert all(lake.exists(f"gold.{table}") for table in GOLD)
    assert lake.read("gold.fact_sales").num_rows == lake.read("silver.sales_lines").num_rows


@pytest.fixture
def webserver(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "webserver.log").open("w")
    server = subprocess.Popen(
        [WEBSERVER, "-m", "retail_lakehouse.orchestrate", "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path,
        env=_dagster_env(tmp_path, tmp_path / "lake"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/server_info", timeout=2).status_code == 200
        except httpx.HTTPError:
            assert server.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
            return False

    try:
        wait_for(up, timeout=240, every=1.0)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        log.close()


GRAPH_QUERY = """
{ assetNodes { assetKey { path } dependencyKeys { path } description
               assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }
"""


@pytest.mark.browser
def test_webserver_serves_the_asset_graph(webserver: str, tmp_path: Path) -> None:
    response = httpx.post(f"{webserver}/graphql", json={"query": GRAPH_QUERY}, timeout=60)
    assert response.status_code == 200, response.text
    nodes = {
        "/".join(node["assetKey"]["path"]): node for node in response.json()["data"]["assetNodes"]
    }
    deps = {
        name: {"/".join(d["path"]) for d in node["dependencyKeys"]} for name, node in nodes.items()
    }
    assert deps["silver/sales_lines"] == {"bronze/sales_lines"}
    assert deps["gold/fact_sales"] == {f"gold/{t}" for t in GOLD[:6]}
    assert deps["gold/mart_customer_rfm"] == {"gold/fact_sales", "gold/dim_customer"}
    assert "SCD type 2" in nodes["gold/dim_customer"]["description"]
    checks = {
        c["name"]: c["blocking"] for c in nodes["gold/dim_customer"]["assetChecksOrError"]["checks"]
    }
    assert checks == {"scd2_one_current_row": True}

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    shot = screenshot_path("dagster-asset-graph.png", tmp_path)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 2400, "height": 1500})
        group = f"{webserver}/locations/retail_lakehouse.orchestrate/asset-groups/gold"
        page.goto(group, timeout=120_000)
        page.get_by_text("fact_sales").first.wait_for(timeout=120_000)
        skip = page.get_by_role("button", name="Skip")  # the UI's first-visit newsletter box
        if skip.count():
            skip.click()
        page.wait_for_timeout(3000)
        page.screenshot(path=str(shot))
        browser.close()
    assert shot.stat().st_size > 10_000


def test_bronze_asset_and_sensor_follow_the_ingests_rules_for_compressed_duplicate_and_huge(
    tmp_path: Path,
) -> None:
    """Dagster's bronze asset is ``retail ingest``'s function: the same content gzipped is
    skipped (the content hash), a file past ``limits.max_file_mb`` is refused by its size
    (nothing read); the sensor does not hash such a file either (it was hashed whole, minutes
    for a 50 GB file, to make a run key)."""
    import gzip

    from retail_lakehouse.orchestrate.dagster.assets import bronze_sales_lines

    landing = tmp_path / "landing"
    landing.mkdir()
    plain = landing / "a.csv"
    shutil.copy(SAMPLE, plain)
    packed = landing / "a_again.csv.gz"
    packed.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    huge = landing / "huge.csv"
    huge.write_bytes(SAMPLE.read_bytes()[:4000])
    with huge.open("r+b") as handle:
        handle.truncate(5 * 2**30)  # sparse: past the 4,096 MB default, no disk used
    old = time.time() - 600
    for path in (plain, packed, huge):
        os.utime(path, (old, old))
    retail = RetailProject(lake=str(tmp_path / "lake"), landing=str(landing))

    sensed = landing_sensor(dg.build_sensor_context(resources={"retail": retail}))
    keys = {
        r.run_config["ops"][BRONZE_OP]["config"]["files"][0]: r.run_key for r in sensed.run_requests
    }
    assert keys[str(huge)].startswith("too-big:"), keys

    result = dg.materialize(
        [bronze_sales_lines],
        resources={"retail": retail},
        run_config=dg.RunConfig(
            ops={BRONZE_OP: IngestConfig(files=[str(plain), str(packed), str(huge)])}
        ),
        instance=dg.DagsterInstance.ephemeral(),
    )

    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["files_ingested"] == 1 and metadata["files_skipped"] == 1, metadata
    assert metadata["files_refused"] == 1, metadata
    refusal = metadata["refused"]  # the file and the reason, as `retail ingest` says them
    assert str(huge) in refusal and "max_file_mb" in refusal, refusal
    lake = Lake(tmp_path / "lake")
    assert lake.read("bronze.files").num_rows == 1
    assert lake.read("bronze.sales_lines").num_rows == metadata["lines_ingested"]

    corrected = landing / "a.csv"  # the same name, other content: said in the metadata
    corrected.write_text(SAMPLE.read_text(encoding="utf-8")[:3000], encoding="utf-8")
    again = dg.materialize(
        [bronze_sales_lines],
        resources={"retail": retail},
        run_config=dg.RunConfig(ops={BRONZE_OP: IngestConfig(files=[str(corrected)])}),
        instance=dg.DagsterInstance.ephemeral(),
    )
    [event] = again.get_asset_materialization_events()
    notes = event.materialization.metadata["notes"].value
    assert "a.csv was ingested before as batch 1" in notes, notes


def test_a_silver_asset_killed_before_its_swap_check_is_reported_by_the_next_command(
    tmp_path: Path,
) -> None:
    """Dagster's silver asset is killed after silver's watermark, before the day/month swap
    check: the next writing command (``retail run``, nothing new) reports the likely swap, as
    it does for a killed ``retail run`` (the asset's run names the same recovery)."""
    import polars as pl

    from tests.conftest import RETAIL

    def retail(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RETAIL), "--lake", str(lake), *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=env,
        )

    lake = tmp_path / "lake"
    generated = tmp_path / "dayfirst.csv"
    made = retail(
        "generate", "-n", "3000", "--seed", "7", "-o", str(generated), "--date-order", "dmy"
    )
    assert made.returncode == 0, made.stderr
    frame = pl.read_csv(generated, infer_schema_length=0)
    day = frame["InvoiceDate"].str.extract(r"^(\d+)/", 1).cast(pl.Int32)
    known, ambiguous = tmp_path / "known.csv", tmp_path / "days 1-12.csv"
    frame.filter(day > 12).write_csv(known)
    frame.filter(day <= 12).write_csv(ambiguous)
    for step in (("ingest", str(known)), ("run",), ("ingest", str(ambiguous))):
        done = retail(*step)
        assert done.returncode == 0, done.stderr
    script = (
        "import dagster as dg, sys\n"
        "from retail_lakehouse.orchestrate.dagster.assets import silver_sales_lines\n"
        "from retail_lakehouse.orchestrate.dagster.resources import RetailProject\n"
        "retail = RetailProject(lake=sys.argv[1])\n"
        "dg.materialize([silver_sales_lines], resources={'retail': retail},"
        " instance=dg.DagsterInstance.ephemeral())\n"
    )
    environ = _dagster_env(tmp_path, lake) | {"RETAIL_FAULT": "after:meta.watermarks:kill"}
    killed = subprocess.run(
        [sys.executable, "-c", script, str(lake)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environ,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    said = " ".join(retail("run").stdout.split())
    assert "recovered interrupted dagster silver" in said, said
    assert f"{ambiguous} (batch 2): likely day/month swap" in said, said


def test_a_failing_table_test_fails_the_gold_asset_as_it_fails_retail_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Table tests judge what gold built: ``retail run`` (and the watcher) run them after gold
    and fail on a ``fail`` test; the gold asset skipped them, so the same lake and rules passed
    in Dagster. Now the asset fails, its reason shown, not retried, and the results are in
    ``meta.quality_results`` as after ``retail run``."""
    tests = tmp_path / "tests.yaml"
    tests.write_text(
        "tests:\n"
        "  - name: fact_small\n    table: gold.fact_sales\n    test: row_count\n"
        "    max: 10\n    action: fail\n"
    )
    config = tmp_path / "retail.toml"
    config.write_text(f'rules = ["{tests}"]\n')
    monkeypatch.setenv("RETAIL_CONFIG", str(config))
    lake = tmp_path / "lake"
    result = dg.materialize(
        list(defs.assets),
        resources={"retail": RetailProject(lake=str(lake))},
        run_config=dg.RunConfig(ops={BRONZE_OP: IngestConfig(files=[str(SAMPLE)])}),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "gold"
    reason = failure.step_failure_data.user_failure_data.description
    assert "fact_small" in reason, reason
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    results = Lake(lake).read("meta.quality_results").to_pylist()
    assert any(r.get("rule") == "fact_small" for r in results), results[:3]


def _silver_and_gold(lake: Path) -> Any:
    """Materialise Dagster's silver and gold assets in process (bronze already ingested)."""
    from retail_lakehouse.orchestrate.dagster.assets import gold_tables, silver_sales_lines

    return dg.materialize(
        [silver_sales_lines, gold_tables],
        resources={"retail": RetailProject(lake=str(lake))},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_a_killed_full_refresh_is_completed_by_the_next_materialisation_as_by_retail_run(
    tmp_path: Path,
) -> None:
    """``retail run --full-refresh`` killed after its first silver commit leaves silver to be
    rebuilt (decision 0007). The next ``retail run`` rebuilds it; the Dagster assets ran a
    plain incremental silver over the half-replaced table instead. Now they are
    ``run_pipeline``'s layers, so the next materialisation rebuilds: the lake equals one whose
    full refresh was never interrupted, and the history names the recovery."""
    from tests.integration.faults import copy_lake, differences, ok, retail

    lake = tmp_path / "lake"
    ok("ingest", SAMPLE, lake=lake)
    ok("run", lake=lake)
    reference = copy_lake(lake, tmp_path / "reference")
    ok("run", "--full-refresh", lake=reference)
    killed = retail("run", "--full-refresh", lake=lake, fault="after:silver.sales_lines:kill")
    assert killed.code == -9, killed  # the point is reached: the process is killed there
    result = _silver_and_gold(lake)
    assert result.success
    said = {
        "/".join(e.asset_key.path): e.materialization.metadata.get("run_notes")
        for e in result.get_asset_materialization_events()
    }
    logged = said["silver/sales_lines"].value
    assert "recovered interrupted run --full-refresh" in logged, logged[-2000:]
    assert "rebuilding silver and gold from bronze" in logged, logged[-2000:]
    assert differences(reference, lake) == []
    assert "nothing to do" in ok("run", lake=lake).stdout  # and `retail run` agrees it is done


def test_maintenance_auto_runs_after_a_materialisation_as_after_retail_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[maintenance] auto``: ``retail run`` compacts a table past ``max_files`` and vacuums,
    as commits of its run; the Dagster assets did not (a Dagster-only lake never compacted)."""
    import json

    from tests.integration.faults import copy_lake, ok

    config = tmp_path / "retail.toml"
    config.write_text("[maintenance]\nauto = true\nmax_files = 1\nretain_hours = 0\n")
    monkeypatch.setenv("RETAIL_CONFIG", str(config))
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    halves = [tmp_path / "first.csv", tmp_path / "second.csv"]
    halves[0].write_text("".join(lines[:500]), encoding="utf-8")
    halves[1].write_text(lines[0] + "".join(lines[500:]), encoding="utf-8")
    lake = tmp_path / "lake"
    ok("ingest", *halves, lake=lake)
    reference = copy_lake(lake, tmp_path / "reference")
    ran = ok("run", lake=reference).stdout
    assert "maintenance: compacted" in ran, ran

    assert _silver_and_gold(lake).success
    opened = Lake(lake)
    bronze = opened.delta("bronze.sales_lines")
    assert bronze is not None and len(bronze.file_uris()) == 1  # two ingests, compacted
    history = json.loads(ok("history", "bronze.sales_lines", "--json", lake=lake).stdout)
    by = {v["operation"]: v["run_id"] for v in history}
    runs = {
        r["run_id"]: r["command"] for r in json.loads(ok("history", "--json", lake=lake).stdout)
    }
    assert runs[by["OPTIMIZE"]] == "dagster silver", (by, runs)
    assert "VACUUM END" in by
    for name in set(opened.tables()) - {"meta.runs"}:  # each run's row comes after its upkeep
        table = opened.delta(name)  # as `retail run` left its lake: nothing past the threshold
        assert table is None or len(table.file_uris()) <= 1, name
    assert differences_of_gold(reference, lake) == []


def differences_of_gold(reference: Path, lake: Path) -> list[str]:
    """The gold tables that differ between two lakes (volatile columns left out)."""
    from tests.integration.faults import contents

    want, got = contents(reference), contents(lake)
    return [name for name in want if name.startswith("gold.") and want[name] != got.get(name)]

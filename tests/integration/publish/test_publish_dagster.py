"""Dagster's publish asset: ``retail publish``'s function downstream of gold, against the real
PostgreSQL of the test session, materialised through Dagster's own API on a real lake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

dg = pytest.importorskip("dagster")

from retail_lakehouse.lake import Lake  # noqa: E402
from retail_lakehouse.lake.contracts.gold import GOLD_TABLES  # noqa: E402
from retail_lakehouse.orchestrate import defs  # noqa: E402
from retail_lakehouse.orchestrate.dagster.assets import key  # noqa: E402
from retail_lakehouse.orchestrate.dagster.resources import RetailProject  # noqa: E402
from retail_lakehouse.publish.ddl import published_tables  # noqa: E402
from tests.conftest import REAL_DATA  # noqa: E402
from tests.integration.publish.support import create_database, ok, retail_env  # noqa: E402
from tests.pgcluster import Cluster  # noqa: E402

SAMPLE = REAL_DATA / "online_retail_head_1071.csv"
PUBLISH = dg.AssetKey(["publish", "postgres"])


def _publish_asset() -> Any:
    return next(a for a in defs.assets if PUBLISH in a.keys)  # type: ignore[union-attr]


def _materialise(lake: Path) -> Any:
    return dg.materialize(
        [_publish_asset()],
        resources={"retail": RetailProject(lake=str(lake))},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _built(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    ok(retail_env("ingest", SAMPLE, lake=lake))
    ok(retail_env("run", lake=lake))
    return lake


def test_the_publish_asset_is_downstream_of_every_gold_table() -> None:
    graph = defs.resolve_asset_graph()
    assert graph.get(PUBLISH).parent_keys == {key(t) for t in GOLD_TABLES}


def test_the_publish_asset_publishes_with_retail_publishs_function(
    tmp_path: Path, pg: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = _built(tmp_path)
    monkeypatch.delenv("RETAIL_PUBLISH_DSN", raising=False)
    monkeypatch.setenv("RETAIL_CONFIG", str(tmp_path / "absent.toml"))

    # not configured: the step succeeds, nothing is materialised, nothing is recorded
    quiet = _materialise(lake)
    assert quiet.success
    assert quiet.get_asset_materialization_events() == []
    assert "publish" not in Lake(lake).read("meta.runs").column("command").to_pylist()

    # configured ([publish] dsn in retail.toml): published, recorded as `retail publish` is
    dsn = create_database(pg, "dagster_pub")
    config = tmp_path / "retail.toml"
    config.write_text(f'[publish]\ndsn = "{dsn}"\nschema = "shop"\n')
    monkeypatch.setenv("RETAIL_CONFIG", str(config))
    done = _materialise(lake)
    assert done.success
    [event] = done.get_asset_materialization_events()
    assert event.asset_key == PUBLISH
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    opened = Lake(lake)
    runs = opened.read("meta.runs").to_pylist()
    [publish_run] = [r for r in runs if r["command"] == "publish"]
    assert metadata["run_id"] == publish_run["run_id"]
    assert metadata["mode"] == "full"
    assert "s3cret" not in str(metadata)  # the target is shown without its password
    for table in published_tables():
        in_postgres = int(pg.psql(f"SELECT count(*) FROM shop.{table.name}", dbname="dagster_pub"))
        assert metadata[f"rows {table.name}"] == in_postgres > 0, table.name
        assert metadata[f"version {table.name}"] == opened.version(table.qualified), table.name

    # nothing new: materialised (PostgreSQL holds this gold), no write, no recorded run
    again = _materialise(lake)
    assert again.success
    [event] = again.get_asset_materialization_events()
    said = {k: v.value for k, v in event.materialization.metadata.items()}
    assert said["mode"] == "nothing" and "run_id" not in said
    assert {k: v for k, v in said.items() if k.startswith(("rows ", "version "))} == {
        k: v for k, v in metadata.items() if k.startswith(("rows ", "version "))
    }
    assert [r["command"] for r in Lake(lake).read("meta.runs").to_pylist()].count("publish") == 1


def test_a_publish_that_fails_is_a_failed_materialisation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = _built(tmp_path)
    monkeypatch.setenv("RETAIL_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv(
        "RETAIL_PUBLISH_DSN", "postgresql://nobody:topsecret@127.0.0.1:1/x?connect_timeout=2"
    )
    result = _materialise(lake)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    reason = failure.step_failure_data.user_failure_data.description
    assert "cannot connect to postgresql://nobody@127.0.0.1:1/x" in reason, reason
    assert "topsecret" not in reason
    assert failure.step_key == "publish__postgres"  # the asset's step: Dagster shows it failed
    assert result.get_asset_materialization_events() == []
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


def test_the_sensor_and_schedule_publish_only_with_after_run(tmp_path: Path) -> None:
    """``[publish] after_run`` makes ``retail run`` and ``retail watch`` publish after a run;
    Dagster's sensor and daily schedule follow it (read when the definitions load)."""
    import json
    import os
    import subprocess
    import sys

    script = (  # the selections the definitions' sensor and schedule run
        "import json\n"
        "from retail_lakehouse.orchestrate import defs\n"
        "graph = defs.resolve_asset_graph()\n"
        "def keys(target):\n"
        "    selected = target.resolvable_to_job.selection.resolve(graph)\n"
        "    return sorted('/'.join(k.path) for k in selected)\n"
        "print(json.dumps({\n"
        "    'sensor': keys(defs.get_sensor_def('landing_sensor').targets[0]),\n"
        "    'schedule': keys(defs.get_schedule_def('daily_run').target)}))\n"
    )
    seen = {}
    for after_run in ("false", "true"):
        config = tmp_path / f"{after_run}.toml"
        config.write_text(f"[publish]\nafter_run = {after_run}\n")
        environ = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")}
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=environ | {"RETAIL_CONFIG": str(config)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        seen[after_run] = json.loads(done.stdout.splitlines()[-1])
    for automation in ("sensor", "schedule"):
        assert "publish/postgres" not in seen["false"][automation]
        assert "gold/fact_sales" in seen["false"][automation]
        assert "publish/postgres" in seen["true"][automation]

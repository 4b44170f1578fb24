"""A publish is a recorded run of the lake (command ``publish`` in ``meta.runs``, its
``meta.publish_state`` commit tagged with it), and ``retail rollback`` leaves that record alone:
it describes PostgreSQL, which a rollback does not change; the next publish brings PostgreSQL to
the rolled-back gold, row for row."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from retail_lakehouse.lake import Lake
from retail_lakehouse.publish.ddl import published_tables
from tests.integration.publish.support import (
    content_digest,
    create_database,
    lake_totals,
    ok,
    pg_totals,
    retail_env,
)
from tests.integration.publish.test_publish_cli import two_parts
from tests.pgcluster import Cluster

RECORD = "meta.publish_state"


def _runs(lake: Path) -> dict[str, dict[str, object]]:
    """``retail history --json``: every run, an ``unrecorded`` one included (commits whose run
    has no ``meta.runs`` row)."""
    return {r["run_id"]: r for r in json.loads(ok(retail_env("history", "--json", lake=lake)))}


def _unrecorded(runs: dict[str, dict[str, object]]) -> list[dict[str, object]]:
    return [r for r in runs.values() if r["status"] == "unrecorded"]


def _record_rows(lake: Path) -> int:
    return Lake(lake).read(RECORD).num_rows


def _gold(digest: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in digest.items() if not k.startswith(("_retail", "relations"))}


def test_publish_is_a_recorded_run_and_rollback_then_publish_restores_postgres(
    tmp_path: Path, pg: Cluster
) -> None:
    dsn = create_database(pg, "runs")
    first_part, next_part = two_parts(tmp_path, rows=3000)
    lake = tmp_path / "lake"
    ok(retail_env("ingest", first_part, lake=lake))
    ok(retail_env("run", lake=lake))
    [first_run] = [i for i, r in _runs(lake).items() if r["command"] == "run"]
    ok(retail_env("publish", "--dsn", dsn, lake=lake))
    first_published = _gold(content_digest(pg, "runs"))

    # the publish is in `retail history` as a run, and its record's commit names it
    runs = _runs(lake)
    [published] = [r for r in runs.values() if r["command"] == "publish"]
    assert published["status"] == "succeeded", published
    assert published["tables"].get(RECORD) == 0, published  # its first version, by this run
    assert not _unrecorded(runs), runs

    ok(retail_env("ingest", next_part, lake=lake))
    ok(retail_env("run", lake=lake))
    ok(retail_env("publish", "--dsn", dsn, lake=lake))
    assert pg_totals(pg, "runs") == lake_totals(lake)
    recorded = _record_rows(lake)

    # rollback to the first run: gold goes back, the record of PostgreSQL stays as it was
    publishes = [i for i, r in _runs(lake).items() if r["command"] == "publish"]
    rolled = ok(retail_env("rollback", "--to-run", first_run, "--yes", lake=lake))
    assert _record_rows(lake) == recorded, rolled
    assert not [i for i in publishes if i in rolled], rolled  # not listed among runs undone
    ok(retail_env("publish", "--dsn", dsn, lake=lake))
    assert pg_totals(pg, "runs") == lake_totals(lake)
    assert _gold(content_digest(pg, "runs")) == first_published  # row for row
    assert not _unrecorded(_runs(lake))


def test_a_publish_killed_at_its_lake_commits_is_recorded_by_the_next_command(
    tmp_path: Path, pg: Cluster
) -> None:
    """Killed after PostgreSQL committed, around the lake's two commits (its record, then its
    ``meta.runs`` row): the next writing command's recovery records the run (``interrupted``
    when its row was not written), no commit is left unnamed, PostgreSQL equals the lake."""
    import shutil

    dsn = create_database(pg, "killedrecord")
    first_part, _ = two_parts(tmp_path, rows=2000)
    base = tmp_path / "base"
    ok(retail_env("ingest", first_part, lake=base))
    ok(retail_env("run", lake=base))
    expected = {
        f"after:{RECORD}": "interrupted",
        "before:meta.runs": "interrupted",
        "after:meta.runs": "succeeded",
    }
    for number, (point, status) in enumerate(expected.items()):
        lake = tmp_path / f"lake-{number}"
        shutil.copytree(base, lake)
        done = retail_env(
            "publish", "--dsn", dsn, "--full", lake=lake, env={"RETAIL_FAULT": f"{point}:kill"}
        )
        assert done.code == -signal.SIGKILL, (point, done.stdout, done.stderr)
        if number == 0:  # PostgreSQL committed first, whatever the lake's side
            assert pg_totals(pg, "killedrecord") == lake_totals(lake), point
        ok(retail_env("run", lake=lake))  # any writing command recovers what was left
        runs = _runs(lake)
        assert not _unrecorded(runs), (point, runs)
        [publish] = [r for r in runs.values() if r["command"] == "publish"]
        assert publish["status"] == status, (point, publish)
        assert _record_rows(lake) == len(published_tables()), point  # its rows stay

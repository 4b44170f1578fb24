"""Bad targets and crashes: refused with exit 2 and nothing changed on either side; a publish
killed with SIGKILL at any point leaves PostgreSQL exactly as before (or exactly as after, once
it committed), and the next publish completes."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.integration.publish.support import (
    content_digest,
    create_database,
    lake_files,
    lake_totals,
    ok,
    pg_totals,
    retail_env,
)
from tests.integration.publish.test_publish_cli import two_parts
from tests.pgcluster import PASSWORD, Cluster, free_port


def refused(result_code: int, out: str, *needles: str) -> None:
    assert result_code == 2, out
    for needle in needles:
        assert needle in out, (needle, out)
    assert "Traceback" not in out


def test_bad_targets_are_refused_and_nothing_changes(
    pg: Cluster, real_files: list[Path], tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    ok(retail_env("ingest", real_files[2], lake=lake))
    ok(retail_env("run", lake=lake))
    untouched = lake_files(lake)

    done = retail_env("publish", lake=lake, env={"RETAIL_PUBLISH_DSN": ""})
    refused(done.code, done.stderr, "no PostgreSQL target")

    port = free_port()
    done = retail_env(
        "publish", "--dsn", f"postgresql://someone:pw-unreachable@127.0.0.1:{port}/db", lake=lake
    )
    refused(done.code, done.stderr, f"cannot connect to postgresql://someone@127.0.0.1:{port}/db")
    assert "pw-unreachable" not in done.stdout + done.stderr

    done = retail_env("publish", "--dsn", pg.dsn(password="wrong-pw-123"), lake=lake)
    refused(done.code, done.stderr, "password authentication failed")
    assert "wrong-pw-123" not in done.stdout + done.stderr

    pg.psql("CREATE ROLE reader LOGIN PASSWORD 'reader-pw-1'")
    pg.psql("CREATE DATABASE perm")
    before = content_digest(pg, "perm")
    done = retail_env("publish", "--dsn", pg.dsn("reader", "reader-pw-1", "perm"), lake=lake)
    refused(done.code, done.stderr, "user reader may not create schema retail", "GRANT CREATE")
    assert content_digest(pg, "perm") == before

    create_database(pg, "clash")
    pg.psql(
        "CREATE SCHEMA retail; CREATE TABLE retail.fact_sales (id integer); "
        "INSERT INTO retail.fact_sales VALUES (1)",
        dbname="clash",
    )
    before = content_digest(pg, "clash")
    done = retail_env("publish", "--dsn", pg.dsn(dbname="clash"), lake=lake)
    refused(done.code, done.stderr, "fact_sales (id integer)", "not created by retail publish")
    assert content_digest(pg, "clash") == before

    assert lake_files(lake) == untouched

    # two lakes, one schema: the second is refused, naming both; --take-over replaces
    dsn = create_database(pg, "two")
    ok(retail_env("publish", "--dsn", dsn, lake=lake))
    other = tmp_path / "other"
    ok(retail_env("ingest", real_files[0], lake=other))
    ok(retail_env("run", lake=other))
    before, other_files = content_digest(pg, "two"), lake_files(other)
    done = retail_env("publish", "--dsn", dsn, lake=other)
    refused(done.code, done.stderr, "another lake", str(lake), str(other), "--take-over")
    assert PASSWORD not in done.stderr
    assert content_digest(pg, "two") == before
    assert lake_files(other) == other_files
    ok(retail_env("publish", "--dsn", dsn, "--take-over", lake=other))
    assert pg_totals(pg, "two") == lake_totals(other)


def test_killed_publish_leaves_postgres_as_before(
    tmp_path: Path, pg: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = create_database(pg, "killed")
    first_part, next_part = two_parts(tmp_path, rows=4000)
    lake = tmp_path / "lake"
    ok(retail_env("ingest", first_part, lake=lake))
    ok(retail_env("run", lake=lake))
    ok(retail_env("publish", "--dsn", dsn, lake=lake))
    ok(retail_env("publish", "--dsn", dsn, "--schema", "fallback", lake=lake))
    ok(retail_env("ingest", next_part, lake=lake))
    ok(retail_env("run", lake=lake))

    # when the published snapshot can no longer be read (vacuumed), small tables are compared
    # in PostgreSQL instead: the same end state
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.publish import incremental, postgres
    from retail_lakehouse.publish.target import Target

    monkeypatch.setattr(incremental, "_previous_snapshot", lambda *args: None)
    report = postgres.publish(Lake(lake), Target(dsn, "fallback"))
    assert report.mode == "incremental"
    assert pg_totals(pg, "killed", "fallback") == lake_totals(lake)
    before, files = content_digest(pg, "killed"), lake_files(lake)

    for fault, extra in (
        ("publish.prepared@3:kill", []),  # incremental, both threads busy, nothing committed
        ("publish.loaded:kill", []),  # incremental: batches and dimensions written, not committed
        ("publish.before_commit:kill", []),  # the state table written too
        ("publish.copied:kill", ["--full"]),  # full: tables truncated and reloaded, no keys yet
    ):
        done = retail_env("publish", "--dsn", dsn, *extra, lake=lake, env={"RETAIL_FAULT": fault})
        assert done.code == -signal.SIGKILL, (fault, done.stdout, done.stderr)
        assert content_digest(pg, "killed") == before, fault
        assert lake_files(lake) == files, fault

    # killed after PostgreSQL committed, before the lake recorded it: the target is complete,
    # and the next publish trusts the target's own state (nothing to do)
    done = retail_env(
        "publish", "--dsn", dsn, lake=lake, env={"RETAIL_FAULT": "publish.committed:kill"}
    )
    assert done.code == -signal.SIGKILL
    assert pg_totals(pg, "killed") == lake_totals(lake)
    assert "nothing to publish" in ok(retail_env("publish", "--dsn", dsn, lake=lake))


def test_publish_killed_at_each_commit_of_its_settling_record_recovers(
    pg: Cluster, real_files: list[Path], tmp_path: Path
) -> None:
    """The publish that writes ``meta.publish_state``'s tenth version also compacts it (a second
    commit) and checkpoints its log. Killed before or after either commit, the lake stays
    readable, the next publish completes, and PostgreSQL equals the lake."""
    import shutil

    from retail_lakehouse.publish.postgres import RECORD_SETTLE_EVERY

    dsn = create_database(pg, "settle")
    base = tmp_path / "base"
    ok(retail_env("ingest", real_files[2], lake=base))
    ok(retail_env("run", lake=base))
    for _ in range(RECORD_SETTLE_EVERY):  # versions 0-9: the next record settles
        ok(retail_env("publish", "--dsn", dsn, "--full", lake=base))
    record = "meta.publish_state"
    for number, point in enumerate(
        (f"before:{record}", f"after:{record}", f"before:{record}@2", f"after:{record}@2")
    ):
        lake = tmp_path / f"lake-{number}"
        shutil.copytree(base, lake)
        done = retail_env(
            "publish", "--dsn", dsn, "--full", lake=lake, env={"RETAIL_FAULT": f"{point}:kill"}
        )
        assert done.code == -signal.SIGKILL, (point, done.stdout, done.stderr)
        ok(retail_env("publish", "--dsn", dsn, "--full", lake=lake))
        assert pg_totals(pg, "settle") == lake_totals(lake), point
        runs = ok(
            retail_env(
                "sql", f"SELECT count(DISTINCT run_id) FROM {record}", "-f", "csv", lake=lake
            )
        )
        assert int(runs.splitlines()[1]) >= RECORD_SETTLE_EVERY + 1, (point, runs)

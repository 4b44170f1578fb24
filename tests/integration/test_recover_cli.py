"""Recover, from the user's side: history, time travel, rollback, backup and restore, optimize and
vacuum, retract and replace, all through the real ``retail`` command on real Delta tables.

The "done when" scenario of the issue is :func:`test_as_of_backup_rollback_restore_maintenance`.
Gold tables are compared whole (every column but run ids, timestamps and batch numbers) with
lakes built from the expected input alone.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.gold import GOLD_TABLES
from retail_lakehouse.lake.history import AsOfError, resolve_as_of
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.serve.readers import build_snapshot
from tests.conftest import REAL_DATA, CliResult, run_retail

pytestmark = pytest.mark.slow

SOURCE = REAL_DATA / "online_retail_head_1071.csv"
FIGURES = """
SELECT (SELECT count(*) FROM bronze.sales_lines) AS bronze_lines,
       (SELECT count(*) FROM bronze.files) AS files,
       (SELECT count(*) FROM silver.sales_lines) AS silver_lines,
       (SELECT count(*) FROM gold.fact_sales) AS fact_lines,
       (SELECT CAST(sum(line_amount) AS VARCHAR) FROM gold.fact_sales) AS revenue,
       (SELECT count(*) FROM gold.dim_customer) AS customers,
       (SELECT count(*) FROM gold.dim_product) AS products,
       (SELECT CAST(sum(net_revenue) AS VARCHAR) FROM gold.mart_daily_sales) AS mart_revenue,
       (SELECT count(*) FROM gold.mart_customer_rfm) AS rfm_rows
"""
IGNORED = {"_batch_seq", "_run_id", "run_id", "_processed_at", "computed_at", "updated_at"}


def ok(*args: str | Path, lake: Path | None = None) -> CliResult:
    done = run_retail(*args, lake=lake)
    assert done.code == 0, f"retail {' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done


def figures(lake: Path, *as_of: str) -> dict[str, Any]:
    extra = ["--as-of", as_of[0]] if as_of else []
    rows: list[dict[str, Any]] = ok("sql", "-f", "json", *extra, FIGURES, lake=lake).json()
    return rows[0]


def last_run(lake: Path, command: str = "run") -> str:
    with LakeSQL(Lake(lake), tables=["meta.runs"]) as sql:
        rows = sql.arrow(
            "SELECT run_id FROM meta.runs WHERE command = ? ORDER BY started_at DESC LIMIT 1",
            [command],
        )
    run_id: str = rows.column("run_id")[0].as_py()
    return run_id


def parquet_files(lake: Path) -> int:
    return sum(1 for _ in lake.rglob("*.parquet"))


def gold_rows(lake: Path) -> dict[str, list[str]]:
    """Every gold table as sorted rows (JSON text), without run ids, timestamps, batch numbers."""
    tables: dict[str, list[str]] = {}
    with LakeSQL(Lake(lake)) as sql:
        for target in GOLD_TABLES:
            data = sql.arrow(f"SELECT * FROM {target.qualified}")
            keep = [c for c in data.column_names if c not in IGNORED]
            tables[target.qualified] = sorted(
                json.dumps(row, sort_keys=True, default=_text)
                for row in data.select(keep).to_pylist()
            )
    return tables


def _text(value: Any) -> str:
    return str(value) if not isinstance(value, Decimal) else format(value, "f")


def split_source(tmp_path: Path) -> tuple[Path, Path]:
    """File A (the first 599 lines) and file B (the other 472), both with the header."""
    lines = SOURCE.read_text(encoding="utf-8").splitlines(keepends=True)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("".join(lines[:600]), encoding="utf-8")
    b.write_text(lines[0] + "".join(lines[600:]), encoding="utf-8")
    return a, b


def test_as_of_backup_rollback_restore_maintenance(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    a, b = split_source(tmp_path)
    ok("ingest", a, lake=lake)
    ok("run", lake=lake)
    r1 = last_run(lake)
    after_r1 = figures(lake)
    ok("ingest", b, lake=lake)
    ok("run", lake=lake)
    r2 = last_run(lake)
    after_r2 = figures(lake)
    assert after_r2["fact_lines"] > after_r1["fact_lines"] > 0
    assert after_r2["files"] == 2 and after_r1["files"] == 1

    # time travel: every table as it was when R1 finished
    assert figures(lake, r1) == after_r1
    # a time before the lake's first commit is refused, not answered as an empty lake
    early = run_retail("sql", "--as-of", "2000-01-01", "SELECT 1", lake=lake)
    assert early.code == 2 and "nothing had been written to this lake" in early.stderr
    # history ties Delta versions to runs
    history = json.loads(ok("history", "--json", lake=lake).stdout)
    by_run = {entry["run_id"]: entry for entry in history}
    assert "gold.fact_sales" in by_run[r1]["tables"]
    assert by_run[r1]["command"] == "run" and by_run[r1]["rows_added"] > 0
    fact_versions = json.loads(ok("history", "gold.fact_sales", "--json", lake=lake).stdout)
    assert {v["run_id"] for v in fact_versions} <= set(by_run)

    backups = tmp_path / "backups"
    first = ok("backup", backups, lake=lake).stdout
    assert "copied" in first
    first_id = first.split()[1].rstrip(":")

    # rollback needs confirmation; without a terminal it refuses and says how
    refused = run_retail("rollback", "--to-run", r1, lake=lake)
    assert refused.code == 2 and "--yes" in refused.stderr
    assert figures(lake) == after_r2
    rolled = ok("rollback", "--to-run", r1, "--yes", lake=lake).stdout
    assert "b.csv" in rolled  # shown as leaving bronze
    assert figures(lake) == after_r1
    # a rollback can itself be rolled back (to the run before it), and done again
    ok("rollback", "--to-run", r2, "--yes", lake=lake)
    assert figures(lake) == after_r2
    ok("rollback", "--to-run", r1, "--yes", lake=lake)
    assert figures(lake) == after_r1
    rollback_run = last_run(lake, f"rollback --to-run {r1}")
    # ingesting B again works and gives R2's figures
    assert "ingested" in ok("ingest", b, lake=lake).stdout
    ok("run", lake=lake)
    assert figures(lake) == after_r2
    # the rollback is itself a run: as of it, the lake is R1's
    assert figures(lake, rollback_run) == after_r1

    # an incremental second backup copies only what changed
    second = ok("backup", backups, lake=lake).stdout
    assert "copied 0 new file(s)" not in second

    # the backup taken at R2, restored into a new lake, gives R2's figures
    restored = tmp_path / "restored"
    ok("restore", backups / "backups" / f"{first_id}.json", "--lake", restored)
    assert figures(restored) == after_r2
    # and the newest backup (BACKUP a folder) is the lake as it is now
    newest = tmp_path / "newest"
    ok("restore", backups, "--lake", newest)
    assert figures(newest) == after_r2
    assert gold_rows(newest) == gold_rows(lake)

    before = parquet_files(lake)
    ok("optimize", lake=lake)
    assert figures(lake) == after_r2
    short = run_retail("vacuum", "--retain", "0h", lake=lake)
    assert short.code == 2 and "time travel" in short.stderr
    vacuumed = ok("vacuum", "--retain", "0h", "--force", lake=lake).stdout
    assert "time travel lost" in vacuumed
    assert parquet_files(lake) < before
    assert figures(lake) == after_r2
    # a state whose files that vacuum deleted is refused by name, not an internal error: by
    # `retail sql --as-of` (exit 2), by the API's `as_of` (its AsOfError is a 422), by rollback
    gone = run_retail("sql", "--as-of", r1, "SELECT count(*) FROM gold.fact_sales", lake=lake)
    assert gone.code == 2, gone.stderr
    assert "retail vacuum` deleted" in gone.stderr and "internal error" not in gone.stderr
    with pytest.raises(AsOfError, match="retail vacuum` deleted"):
        build_snapshot(Lake(lake), versions=resolve_as_of(Lake(lake), r1).versions)
    refused = run_retail("rollback", "--to-run", r1, "--yes", lake=lake)
    assert refused.code == 2 and "retail vacuum` deleted" in refused.stderr


def test_replacing_a_file_equals_a_lake_of_the_corrected_file(tmp_path: Path) -> None:
    lines = SOURCE.read_text(encoding="utf-8").splitlines(keepends=True)
    changed = lines[5].replace(",6,12/1/2010", ",60,12/1/2010")
    assert changed != lines[5]
    original, corrected = tmp_path / "export.csv", tmp_path / "export-fixed.csv"
    original.write_text("".join(lines), encoding="utf-8")
    corrected.write_text("".join([*lines[:5], changed, *lines[6:]]), encoding="utf-8")

    lake = tmp_path / "lake"
    ok("ingest", original, lake=lake)
    ok("run", lake=lake)
    replaced = ok("ingest", "--replaces", "export.csv", corrected, lake=lake).stdout
    assert "replaced batch 1" in replaced
    ran = ok("run", lake=lake).stdout
    assert "retracted" in ran

    alone = tmp_path / "alone"
    ok("ingest", corrected, lake=alone)
    ok("run", lake=alone)
    assert gold_rows(lake) == gold_rows(alone)
    with LakeSQL(Lake(lake)) as sql:
        kept = sql.arrow("SELECT count(*) AS n FROM bronze.sales_lines").column("n")[0].as_py()
    assert kept == len(lines) - 1  # the old version's lines left bronze


def test_a_replacement_whose_content_bronze_already_holds_says_where_it_is(
    tmp_path: Path,
) -> None:
    """``--replaces OLD NEW`` where NEW's content is already in bronze under another name: NEW
    is skipped (its lines are counted in that batch), OLD is retracted, and the message names
    the batch holding the content instead of "batch None"."""
    small = REAL_DATA / "online_retail_ii_head_99_bom.csv"
    copy = tmp_path / "copy-of-small.csv"
    copy.write_bytes(small.read_bytes())
    lake = tmp_path / "lake"
    ok("ingest", SOURCE, lake=lake)
    ok("ingest", small, lake=lake)
    replaced = ok("ingest", "--replaces", SOURCE.name, copy, lake=lake).stdout
    assert "None" not in replaced, replaced
    assert "skipped (same content already in batch 2)" in replaced, replaced
    assert "replaced batch 1" in replaced, replaced
    ok("run", lake=lake)
    alone = tmp_path / "alone"
    ok("ingest", small, lake=alone)
    ok("run", lake=alone)
    assert gold_rows(lake) == gold_rows(alone)


def test_retracting_a_file_restores_lines_it_made_duplicates(tmp_path: Path) -> None:
    """The 99-line file repeats lines of the 1071-line one: removed as duplicates while the
    bigger file is in, kept again once it is retracted (silver re-processes that batch)."""
    small = REAL_DATA / "online_retail_ii_head_99_bom.csv"
    lake = tmp_path / "lake"
    ok("ingest", SOURCE, lake=lake)
    ok("run", lake=lake)
    ok("ingest", small, lake=lake)
    ok("run", lake=lake)
    assert figures(lake)["fact_lines"] == figures(lake)["silver_lines"]
    unknown = run_retail("retract", "nothing-like-this.csv", lake=lake)
    assert unknown.code == 2 and "not in bronze.files" in unknown.stderr
    ok("retract", SOURCE.name, lake=lake)
    ok("run", lake=lake)
    alone = tmp_path / "alone"
    ok("ingest", small, lake=alone)
    ok("run", lake=alone)
    assert gold_rows(lake) == gold_rows(alone)
    accounting = json.loads(ok("status", "--json", lake=lake).stdout)["accounting"]
    assert accounting["balanced"] is True, accounting  # through gold
    # a retracted batch number is never given to a new file
    ok("ingest", SOURCE, lake=lake)
    with LakeSQL(Lake(lake), tables=["bronze.files"]) as sql:
        seqs = sql.arrow("SELECT _batch_seq FROM bronze.files ORDER BY 1").column(0).to_pylist()
    assert seqs == [2, 3]


def test_a_retraction_sharing_a_manifest_file_then_new_data_and_a_full_refresh(
    tmp_path: Path,
) -> None:
    """Two files ingested by one command share a manifest (``bronze.files``) Parquet file; the
    retraction's DELETE rewrites the other file's row with delta-rs' own writer (string_view
    columns). The next run with new data, and a full refresh, read that manifest file next to
    ones the project wrote: once an internal error (`Unable to merge: Field _source_file`)."""
    a, b = split_source(tmp_path)
    lake = tmp_path / "lake"
    ok("ingest", a, REAL_DATA / "online_retail_ii_head_99_bom.csv", lake=lake)
    ok("run", lake=lake)
    ok("retract", "online_retail_ii_head_99_bom.csv", lake=lake)
    ok("run", lake=lake)
    ok("ingest", b, lake=lake)
    ok("run", lake=lake)
    incremental = gold_rows(lake)
    ok("run", "--full-refresh", lake=lake)
    assert gold_rows(lake) == incremental
    alone = tmp_path / "alone"
    ok("ingest", a, lake=alone)
    ok("ingest", b, lake=alone)
    ok("run", lake=alone)
    assert gold_rows(alone) == incremental
    accounting = json.loads(ok("status", "--json", lake=lake).stdout)["accounting"]
    assert accounting["balanced"] is True, accounting


def test_a_damaged_or_incomplete_backup_is_refused_naming_the_file(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    ok("ingest", REAL_DATA / "online_retail_ii_head_99_bom.csv", lake=lake)
    ok("run", lake=lake)
    key = ok("keys", "create", "--role", "viewer", lake=lake).stdout.strip().splitlines()[-1]
    inside = run_retail("backup", lake / "backups", lake=lake)  # lost with the lake
    assert inside.code == 2 and "inside the lake" in inside.stderr, inside.stderr[-2000:]
    assert not (lake / "backups").exists()
    backups = tmp_path / "backups"
    ok("backup", backups, lake=lake)
    manifest = json.loads(next((backups / "backups").glob("*.json")).read_text())
    entry = manifest["tables"]["gold.fact_sales"]["files"][0]
    obj = backups / "objects" / entry["sha256"][:2] / entry["sha256"]
    good = obj.read_bytes()

    obj.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    target = tmp_path / "restored"
    damaged = run_retail("restore", backups, "--lake", target)
    assert damaged.code == 2
    assert "damaged" in damaged.stderr and entry["path"] in damaged.stderr
    assert not target.exists()

    obj.unlink()
    missing = run_retail("restore", backups, "--lake", target)
    assert missing.code == 2 and "incomplete" in missing.stderr and entry["path"] in missing.stderr
    assert not target.exists()

    obj.write_bytes(good)
    ok("restore", backups, "--lake", target)
    assert figures(target) == figures(lake)
    # the key store came back: the same key works on the restored lake
    keys = json.loads((target / "_serve" / "api_keys.json").read_text())
    assert keys == json.loads((lake / "_serve" / "api_keys.json").read_text())
    assert key
    again = run_retail("restore", backups, "--lake", target)
    assert again.code == 2 and "already holds a lake" in again.stderr


ANSWERS = " UNION ALL ".join(
    f"SELECT '{t.qualified}' AS table_name, count(*) AS row_count, "
    f"CAST(sum(hash(r)::HUGEINT) AS VARCHAR) AS digest FROM {t.qualified} r"
    for t in GOLD_TABLES
)
"""Every gold table and mart: its row count and an order-free digest of its whole rows."""


def answers(lake: Path) -> dict[str, Any]:
    """What ``retail sql`` answers about every gold table and mart, and the headline figures."""
    rows = ok("sql", "-f", "json", ANSWERS, lake=lake).json()
    return {"tables": sorted(map(json.dumps, rows)), "figures": figures(lake)}


def files_per_table(lake: Path) -> dict[str, dict[str, int]]:
    """Live data files (from each Delta log) and Parquet files on disk, per table."""
    live = live_files(lake)
    return {
        name: {"live": count, "disk": parquet_files(lake.joinpath(*name.split(".")))}
        for name, count in live.items()
    }


def incremental_runs(tmp_path: Path, runs: int) -> dict[str, Any]:
    """``runs`` small files, each ingested and run; then optimize and vacuum (see
    :func:`optimize_and_vacuum_keep_answers`). Returns the measured figures."""
    lake = tmp_path / "lake"
    started = time.perf_counter()
    for part in split_into(tmp_path, runs):
        ok("ingest", part, lake=lake)
        ok("run", lake=lake)
    measured = optimize_and_vacuum_keep_answers(lake)
    measured.update(runs=runs, series_seconds=round(time.perf_counter() - started, 1))
    print(json.dumps(measured))  # shown with pytest -s
    return measured


def optimize_and_vacuum_keep_answers(lake: Path) -> dict[str, Any]:
    """``retail optimize`` then ``retail vacuum --retain 0h --force``: files on disk fall to one
    per table (plus the two commands' own ``meta.runs`` rows) and every query over gold answers
    the same; the lake keeps running incrementally afterwards."""
    before = answers(lake)
    before_gold = gold_rows(lake)
    before_files = files_per_table(lake)
    disk_before = parquet_files(lake)
    assert sum(t["disk"] for t in before_files.values()) == disk_before
    started = time.perf_counter()
    ok("optimize", lake=lake)
    ok("vacuum", "--retain", "0h", "--force", lake=lake)
    maintenance_seconds = time.perf_counter() - started
    after_files = files_per_table(lake)
    disk_after = parquet_files(lake)
    tables = len(after_files)
    assert disk_after <= tables + 2 < disk_before  # + this vacuum's and optimize's runs rows
    for name, counts in after_files.items():
        bound = 3 if name == "meta.runs" else 1
        assert counts["live"] == counts["disk"] <= bound, (name, counts)
    assert answers(lake) == before
    assert gold_rows(lake) == before_gold
    # the lake keeps working incrementally after compaction (batch statistics survived)
    ok("ingest", REAL_DATA / "online_retail_ii_head_99_bom.csv", lake=lake)
    ok("run", lake=lake)
    assert figures(lake)["bronze_lines"] == before["figures"]["bronze_lines"] + 99
    return {
        "maintenance_seconds": round(maintenance_seconds, 1),
        "parquet_on_disk": [disk_before, disk_after],
        "live_files": [
            sum(t["live"] for t in before_files.values()),
            sum(t["live"] for t in after_files.values()),
        ],
        "per_table": {name: [before_files[name], after_files[name]] for name in before_files},
    }


@pytest.mark.soak
@pytest.mark.timeout(3600)  # 30 runs: 60 commands, about 15 min on 2 idle cores
@pytest.mark.parametrize("runs", [5, 30])
def test_incremental_runs_then_optimize_and_vacuum(tmp_path: Path, runs: int) -> None:
    """The issue's proof: after 30 incremental runs, optimize and vacuum bound the files on disk
    and every query answers the same (figures in docs/recover.md). 5 runs: the same, quicker."""
    incremental_runs(tmp_path, runs)


def split_into(tmp_path: Path, parts: int) -> list[Path]:
    """The 1071-line file cut into ``parts`` files of consecutive lines, each with the header."""
    lines = SOURCE.read_text(encoding="utf-8").splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    size = len(body) // parts + 1
    paths = []
    for index in range(parts):
        part = tmp_path / f"part-{index:02d}.csv"
        part.write_text(header + "".join(body[index * size : (index + 1) * size]), "utf-8")
        paths.append(part)
    return paths


def live_files(lake: Path) -> dict[str, int]:
    """Live (current-version) data files of every table, from the Delta logs."""
    opened = Lake(lake)
    counts = {}
    for name in opened.tables():
        table = opened.delta(name)
        counts[name] = 0 if table is None else len(table.file_uris())
    return counts


def test_maintenance_auto_compacts_and_vacuums_inside_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[maintenance] auto`` with a low threshold: the run that takes a table past it compacts
    and vacuums on its own, as commits of that run, and gold is what it would have been."""
    parts = split_into(tmp_path, 3)
    plain, project = tmp_path / "plain", tmp_path / "project"
    plain.mkdir()
    project.mkdir()
    (project / "retail.toml").write_text(
        "[maintenance]\nauto = true\nmax_files = 2\nretain_hours = 0\n", encoding="utf-8"
    )
    monkeypatch.chdir(project)  # retail.toml is found in the working directory
    lake = project / "lake"
    for part in parts[:2]:
        ok("ingest", part, lake=lake)
        ok("run", lake=lake)
    assert live_files(lake)["gold.fact_sales"] == 2  # at the threshold, not past it
    ok("ingest", parts[2], lake=lake)
    disk_before = parquet_files(lake)
    ran = ok("run", lake=lake).stdout
    third = last_run(lake)
    assert "maintenance: compacted" in ran, ran
    live = live_files(lake)
    assert max(live.values()) <= 2, live  # nothing is left past the threshold
    assert live["gold.fact_sales"] == 1 and live["silver.sales_lines"] == 1, live
    assert live["bronze.sales_lines"] == 1, live
    # vacuum with a 0h window: only live files stay on disk, fewer than before the run
    assert parquet_files(lake) == sum(live.values()) < disk_before
    assert sum(1 for _ in (lake / "gold" / "fact_sales").rglob("*.parquet")) == 1

    # the compaction and vacuum are commits of that run, and the run is in the history
    versions = json.loads(ok("history", "gold.fact_sales", "--json", lake=lake).stdout)
    by_run = [v["operation"] for v in versions if v["run_id"] == third]
    assert "OPTIMIZE" in by_run and "VACUUM END" in by_run, versions
    runs = json.loads(ok("history", "--json", lake=lake).stdout)
    assert runs[0]["run_id"] == third and runs[0]["command"] == "run", runs[0]

    # gold equals a lake built from the same files without maintenance
    monkeypatch.chdir(plain)
    reference = plain / "lake"
    ok("ingest", *parts, lake=reference)
    ok("run", lake=reference)
    assert live_files(reference)["bronze.sales_lines"] == 3  # no maintenance there
    assert figures(lake) == figures(reference)
    assert gold_rows(lake) == gold_rows(reference)


def test_retracting_a_file_skipped_as_a_duplicate_names_the_file_that_holds_its_content(
    tmp_path: Path,
) -> None:
    """A file whose content was already in the lake was skipped at ingest; retracting it said
    only "not in bronze.files". It now names the file (and batch) that brought the content, and
    what to retract instead; the lake is unchanged."""
    lake = tmp_path / "lake"
    first = tmp_path / "monday.csv"
    first.write_bytes(SOURCE.read_bytes())
    again = tmp_path / "monday-resent.csv"
    again.write_bytes(SOURCE.read_bytes())
    ok("ingest", first, lake=lake)
    assert "same content already in batch 1" in ok("ingest", again, lake=lake).stdout

    done = run_retail("retract", again, lake=lake)

    assert done.code == 2, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert f"file '{again}' is not in bronze.files: its content was already in the lake" in said
    assert f"as {first} (batch 1)" in said and "retail retract --batch 1" in said, said
    lines = run_retail(
        "sql", "SELECT count(*) AS n FROM bronze.sales_lines", "-f", "json", lake=lake
    )
    assert lines.json() == [{"n": 1071}], lines.stdout


def test_retract_by_name_across_a_large_manifest(tmp_path: Path) -> None:
    """``retail retract NAME`` asks the manifest by predicate, not row by row in Python: among
    20,000 file rows, a name held by two batches is refused listing both, a path picks one, a
    name is not a suffix of another (f1.csv is not f11.csv), and a quote in a name is data."""
    import pyarrow as pa

    from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES

    lake = tmp_path / "lake"
    ok("ingest", SOURCE, lake=lake)
    store = Lake(lake)
    real = store.read(BRONZE_FILES.qualified)
    names = [f"/x/f{i}.csv" for i in range(20_000)] + [f"/y/{SOURCE.name}", "/z/it's.csv"]
    rows = real.take(pa.array([0] * len(names)))

    def put(table: pa.Table, column: str, values: list[Any]) -> pa.Table:
        kind = real.schema.field(column).type
        return table.set_column(
            table.schema.get_field_index(column), column, pa.array(values, type=kind)
        )

    rows = put(rows, "_batch_seq", list(range(100, 100 + len(names))))
    rows = put(rows, "_source_file", names)
    rows = put(rows, "_source_sha256", [f"{i:064x}" for i in range(len(names))])
    store.write(BRONZE_FILES.qualified, rows)
    other = 100 + 20_000

    several = run_retail("retract", SOURCE.name, lake=lake)
    assert several.code == 2, several.stdout + several.stderr
    said = " ".join(several.stderr.split())
    assert f"matches several batches: batch 1 ({SOURCE}), batch {other} (/y/{SOURCE.name})" in said
    assert (
        "name it by its path as ingested, or retract it by number first: retail retract --batch N"
        in said
    )

    assert (
        f"retracted batch {other} (/y/{SOURCE.name})"
        in ok("retract", f"/y/{SOURCE.name}", lake=lake).stdout
    )
    assert "retracted batch 101 (/x/f1.csv)" in ok("retract", "f1.csv", lake=lake).stdout
    assert (
        f"retracted batch {other + 1} (/z/it's.csv)" in ok("retract", "it's.csv", lake=lake).stdout
    )
    again = run_retail("retract", "f1.csv", lake=lake)
    assert again.code == 0 and "already retracted (batch 101" in again.stdout, again.stderr
    assert Lake(lake).read(BRONZE_FILES.qualified).num_rows == 1 + 20_000 - 1
    # the retractions are asked by predicate too: a second retraction of the quoted name is
    # "already retracted", the next ingest numbers past every retracted batch, and a rollback
    # lists exactly the files ingested after its target (the two manifests anti-joined)
    again = run_retail("retract", "it's.csv", lake=lake)
    assert again.code == 0 and f"already retracted (batch {other + 1}" in again.stdout
    before = _runs(lake)[-1]
    small = REAL_DATA / "online_retail_ii_head_99_bom.csv"
    ok("ingest", small, lake=lake)
    seqs = Lake(lake).read(BRONZE_FILES.qualified, ["_batch_seq", "_source_file"]).to_pylist()
    assert [r["_batch_seq"] for r in seqs if r["_source_file"] == str(small)] == [other + 2]
    rolled = " ".join(ok("rollback", "--to-run", before, "--yes", lake=lake).stdout.split())
    assert f"{small.name} │ {other + 2} │" in rolled
    assert rolled.count(".csv │") == 1  # none of the 20,000 others


def _runs(lake: Path) -> list[str]:
    """Run ids in the order they started."""
    with LakeSQL(Lake(lake), tables=["meta.runs"]) as sql:
        rows = sql.arrow("SELECT run_id FROM meta.runs ORDER BY started_at")
    return [str(r) for r in rows.column("run_id").to_pylist()]


def test_a_path_given_to_retract_or_replaces_never_picks_another_folder_s_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``jan/sales.csv`` and ``feb/sales.csv`` in one lake: once jan's batch was retracted (or
    replaced), ``retail retract jan/sales.csv`` again, or the same ``ingest --replaces`` run a
    second time (a retry), fell back from the path to the name and retracted feb's file, whose
    lines the user never named (sixteenth round's audit). A path names the files whose path it
    ends with, folder by folder (``./jan/sales.csv`` and ``/abs/.../jan/sales.csv`` are jan's);
    a bare name still matches every folder."""
    for month, seed in (("jan", 1), ("feb", 2)):
        (tmp_path / month).mkdir()
        ok("generate", "--rows", "60", "--seed", str(seed), "--out", tmp_path / month / "sales.csv")
    fixed = tmp_path / "fixed.csv"
    ok("generate", "--rows", "30", "--seed", "3", "--out", fixed)
    lake = tmp_path / "lake"

    def lines(source: str) -> int:
        found = ok("sql", "-f", "json", "SELECT count(*) AS n FROM bronze.sales_lines "
                   f"WHERE _source_file = '{source}'", lake=lake).json()  # fmt: skip
        return int(found[0]["n"])

    monkeypatch.chdir(tmp_path)  # the files are ingested as the user names them: jan/sales.csv
    ok("ingest", "jan/sales.csv", "feb/sales.csv", lake=lake)
    assert "retracted batch 1 (jan/sales.csv)" in ok("retract", "./jan/sales.csv", lake=lake).stdout
    again = ok("retract", "jan/sales.csv", lake=lake)
    assert "already retracted (batch 1" in again.stdout + again.stderr
    assert lines("feb/sales.csv") == 60

    ok("ingest", "jan/sales.csv", lake=lake)  # batch 3, jan's lines back
    ok("ingest", "--replaces", str(tmp_path / "jan" / "sales.csv"), fixed, lake=lake)
    retry = ok("ingest", "--replaces", "jan/sales.csv", fixed, lake=lake)  # replaced feb's
    assert "feb" not in retry.stdout, retry.stdout
    assert (lines("jan/sales.csv"), lines("feb/sales.csv"), lines(str(fixed))) == (0, 60, 30)
    (tmp_path / "archive").mkdir()  # feb's file moved after its ingest: found by its bytes
    (tmp_path / "feb" / "sales.csv").rename(tmp_path / "archive" / "sales.csv")
    moved = ok("retract", "archive/sales.csv", lake=lake).stdout
    assert "retracted batch 2 (feb/sales.csv)" in moved, moved


def test_a_rollback_to_an_interrupted_run_is_refused_naming_the_run_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``retail run`` killed after its fact commit, then recovered by the next run: rolling
    back to the killed run's id restored the lake as the kill left it, the fact with 445 lines
    and the marts and the line accounting of 192 (``retail status``: not balanced), which the
    API served until the next run (sixteenth round's audit). That state is no run's result: the
    rollback is refused (exit 2), naming the last run that succeeded before it."""
    sources = []
    for seed, rows in ((1, 200), (2, 300)):
        source = tmp_path / f"s{seed}.csv"
        ok("generate", "--rows", str(rows), "--seed", str(seed), "--out", source)
        sources.append(source)
    lake = tmp_path / "lake"
    ok("ingest", sources[0], lake=lake)
    ok("run", lake=lake)
    ok("ingest", sources[1], lake=lake)
    monkeypatch.setenv("RETAIL_FAULT", "after:gold.fact_sales:kill")
    assert run_retail("run", lake=lake).code == -9
    monkeypatch.delenv("RETAIL_FAULT")
    ok("run", lake=lake)
    history = ok("history", "--json", lake=lake).json()  # newest first
    listed = {r["status"]: r["run_id"] for r in reversed(history)}  # the newest of each
    ingest = next(r["run_id"] for r in history if r["command"] == "ingest")  # the second file
    before = Lake(lake).versions()

    refused = run_retail("rollback", "--to-run", listed["interrupted"], "--yes", lake=lake)
    assert refused.code == 2, refused.stdout + refused.stderr
    said = " ".join(refused.stderr.split())
    assert f"run {listed['interrupted']} was interrupted" in said, said
    assert f"use retail rollback --to-run {ingest} (the last run that succeeded" in said, said
    assert Lake(lake).versions() == before

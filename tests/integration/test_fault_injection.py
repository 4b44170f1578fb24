"""Deterministic fault injection at every commit boundary of ingest, run, full refresh (with
changed rules), retract, rollback, optimize, vacuum, ingest --replaces and restore.

For each scenario the fault-free command is run once with ``RETAIL_FAULT_TRACE`` to list the
points it passes (every Delta commit is one, through ``lake/commits.py``: a new commit cannot be
missed). Then, for a point and a mode (SIGKILL of the process, or an injected ``ENOSPC``), the
real ``retail`` is run with the fault armed on a copy of the starting lake, then the next command
a user would type (the same command again: the recovery that comes first completes or undoes
the interrupted one, and the retry finds its work done or does it); the lake must equal the
fault-free one, table by table, with no intent left.

``make test`` runs a spread of points (both modes, every scenario) and one random kill; ``make
soak`` runs every point in both modes and a longer random-kill series, and prints the figures
recorded in docs/reliability.md.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.integration.faults import (
    contents,
    copy_lake,
    differences,
    killed_at_random,
    no_journal_left,
    ok,
    retail,
    traced_points,
)

RULES = """\
rules:
  - name: small_quantities
    dimension: accuracy
    expression: quantity < 20
    weight: 5
    action: quarantine
"""


@dataclass
class Scenario:
    name: str
    base: Path  # the lake before the command
    command: tuple[str | Path, ...]
    next_command: tuple[str | Path, ...]
    reference: Path  # base + command, without fault
    points: list[str]
    seconds: float  # how long the fault-free command took


def _with_extra_column(source: Path, target: Path) -> Path:
    """A copy of a generated CSV with one more column (exercises the schema-change commits)."""
    lines = source.read_text(encoding="utf-8").splitlines()
    target.write_text(
        "\n".join([lines[0] + ",Store"] + [f"{line},S{i % 3}" for i, line in enumerate(lines[1:])])
        + "\n",
        encoding="utf-8",
    )
    return target


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scenario]:
    root = tmp_path_factory.mktemp("faults")
    a, b = root / "a.csv", root / "b.csv"
    ok("generate", "--rows", "2000", "--seed", "1", "--out", a, lake=root / "x")
    ok("generate", "--rows", "1500", "--seed", "2", "--out", b, lake=root / "x")
    b_extra = _with_extra_column(b, root / "b_extra.csv")
    rules = root / "rules.yaml"
    rules.write_text(RULES)

    # each scenario's reference (its base + its command, fault-free, traced) is the next base
    ingested = root / "ingested"
    ok("ingest", a, lake=ingested)
    ok("run", lake=ingested)
    plan = (
        ("ingest", ("ingest", b_extra), ("ingest", b_extra)),
        ("run", ("run",), ("run",)),
        ("full-refresh", ("run", "--full-refresh", "--rules", rules), ("run", "--rules", rules)),
    )
    built: dict[str, Scenario] = {}
    base = ingested
    for name, command, next_command in plan:
        built[name] = _traced(name, base, command, next_command, root)
        base = built[name].reference
    # the commands of recover (issue 16), on the lake the chain above built
    target = _last_run_id(built["run"].reference, "run")
    rollback = ("rollback", "--to-run", target, "--yes")
    vacuum = ("vacuum", "--retain", "0h", "--force")
    for name, command in (
        ("retract", ("retract", "--batch", "2")),
        ("rollback", rollback),
        ("optimize", ("optimize",)),
        ("vacuum", vacuum),
    ):
        built[name] = _traced(name, base, command, command, root)
        base = built[name].reference
    # a corrected file replacing the first one (ingest, then retract, in one run)
    fixed = _with_changed_quantity(a, root / "a_fixed.csv")
    replaces = ("ingest", "--replaces", a.name, fixed)
    built["replaces"] = _traced("replaces", base, replaces, replaces, root)
    # a restore of the last lake's backup into an empty folder
    ok("backup", root / "backup", lake=built["replaces"].reference)
    empty = root / "empty"
    empty.mkdir()
    restore = ("restore", root / "backup")
    built["restore"] = _traced("restore", empty, restore, restore, root)
    return built


def _traced(
    name: str,
    base: Path,
    command: tuple[str | Path, ...],
    next_command: tuple[str | Path, ...],
    root: Path,
) -> Scenario:
    """A scenario: its reference is ``base`` + ``command`` run once without fault, traced."""
    reference = copy_lake(base, root / f"{name}-reference")
    clock = time.perf_counter()
    points = traced_points(command, reference, root / f"{name}.trace")
    seconds = time.perf_counter() - clock
    return Scenario(name, base, command, next_command, reference, points, seconds)


def _with_changed_quantity(source: Path, target: Path) -> Path:
    """A corrected copy of a generated CSV: the quantity of its first line changed."""
    header, first, *rest = source.read_text(encoding="utf-8").splitlines()
    cells = first.split(",")
    column = header.split(",").index("Quantity")
    cells[column] = str(int(cells[column]) + 7)
    target.write_text("\n".join([header, ",".join(cells), *rest]) + "\n", encoding="utf-8")
    return target


def _last_run_id(lake: Path, command: str) -> str:
    """The id of the latest ``meta.runs`` row of ``command`` (a rollback target)."""
    runs = DeltaTable(str(lake / "meta" / "runs")).to_pyarrow_table().to_pylist()
    return str(
        max((r for r in runs if r["command"] == command), key=lambda r: r["started_at"])["run_id"]
    )


CACHES = ("swap_invoices.stored",)
"""Fault points of caches a command can do without: a full disk there is a warning and the
command completes (the day/month swap check's per-file invoices, decision 0020: "per-file
invoices not kept ... every line grouped"); a kill there is still a kill."""


def fault_trial(scenario: Scenario, point: str, mode: str, work: Path) -> None:
    """One fault at one point, then the next command; the lake must equal the reference."""
    lake = copy_lake(scenario.base, work / "lake")
    faulted = retail(*scenario.command, lake=lake, fault=f"{point}:{mode}")
    expected = -signal.SIGKILL if mode == "kill" else 0 if point.startswith(CACHES) else 1
    assert faulted.code == expected, (point, mode, faulted.stdout, faulted.stderr)
    if mode == "enospc":
        assert "No space left on device" in faulted.stderr + faulted.stdout
    ok(*scenario.next_command, lake=lake)
    assert differences(scenario.reference, lake) == [], (scenario.name, point, mode)
    assert no_journal_left(lake)


def progress(line: str) -> None:
    """One line per soak trial in ``$RETAIL_FAULT_LOG`` when set (figures of a long series)."""
    log = os.environ.get("RETAIL_FAULT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(line + "\n")


def spread(points: list[str], count: int) -> list[str]:
    """``count`` points spread over the list, first and last included."""
    if len(points) <= count:
        return points
    if count == 1:
        return [points[len(points) // 2]]
    step = (len(points) - 1) / (count - 1)
    return [points[round(i * step)] for i in range(count)]


def test_every_commit_is_a_traced_fault_point(scenarios: dict[str, Scenario]) -> None:
    """The registry is the commits themselves: each scenario passes its layers' commits."""
    ingest = scenarios["ingest"].points
    for name in ("bronze.sales_lines", "bronze.sales_lines.schema", "meta.schema_history"):
        assert f"before:{name}@1" in ingest
    assert ingest[-4:] == [
        "before:bronze.files@1",
        "after:bronze.files@1",
        "before:meta.runs@1",
        "after:meta.runs@1",
    ]
    run = scenarios["run"].points
    for name in ("silver.sales_lines", "gold.fact_sales", "gold.mart_daily_sales"):
        assert f"before:{name}@1" in run
    assert run[-4:-2] == ["before:meta.watermarks@2", "after:meta.watermarks@2"]
    assert len(scenarios["full-refresh"].points) >= len(run) - 6
    retract = scenarios["retract"].points
    assert retract.index("before:meta.retractions@1") < retract.index("before:bronze.files@1")
    rollback = scenarios["rollback"].points  # one commit per table it changes
    assert sum(p.startswith("before:gold.") for p in rollback) >= 3, rollback
    for name in ("optimize", "vacuum"):  # a commit per table with files to compact / delete
        assert any(p.startswith("before:bronze.") for p in scenarios[name].points), name
    replaces = scenarios["replaces"].points  # the new file's commits, then the retraction's
    assert replaces.index("after:bronze.files@1") < replaces.index("before:meta.retractions@1")
    assert replaces[-2:] == ["before:meta.runs@1", "after:meta.runs@1"]
    restore = scenarios["restore"].points  # one table created per backed-up table, then its run
    tables = sum(p.startswith("restore.table:") for p in restore)
    assert tables == len(contents(scenarios["replaces"].reference)) + 1  # + meta.runs
    assert restore[-2:] == ["before:meta.runs@2", "after:meta.runs@2"]


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("ingest", 2),
        ("run", 2),
        ("full-refresh", 2),
        ("retract", 2),
        ("rollback", 2),
        ("optimize", 1),
        ("vacuum", 1),
        ("replaces", 2),
        ("restore", 2),
    ],
)
def test_faults_at_spread_points(
    scenarios: dict[str, Scenario], name: str, count: int, tmp_path: Path
) -> None:
    """A spread of each scenario's points, alternating SIGKILL and ENOSPC."""
    scenario = scenarios[name]
    chosen = spread([p for p in scenario.points if p.startswith("before:")], count)
    for index, point in enumerate(chosen):
        fault_trial(scenario, point, ("kill", "enospc")[index % 2], tmp_path / str(index))


def test_random_kill_short(scenarios: dict[str, Scenario], tmp_path: Path) -> None:
    scenario = scenarios["run"]
    for seed in range(1):
        lake = copy_lake(scenario.base, tmp_path / f"lake{seed}")
        killed_at_random(scenario.command, lake, scenario.seconds, seed)
        ok(*scenario.next_command, lake=lake)
        assert differences(scenario.reference, lake) == []


# -- soak: every point, both modes, and a long random series ----------------------------------


@pytest.mark.soak
@pytest.mark.timeout(7200)
@pytest.mark.parametrize(
    "name",
    [
        "ingest",
        "run",
        "full-refresh",
        "retract",
        "rollback",
        "optimize",
        "vacuum",
        "replaces",
        "restore",
    ],
)
def test_every_point_both_modes(scenarios: dict[str, Scenario], name: str, tmp_path: Path) -> None:
    scenario = scenarios[name]
    trials = 0
    failures: list[str] = []
    # a subset: a regex searched in "<scenario> <point>" (e.g. "^run .*mart_|meta\\.runs")
    only = re.compile(os.environ.get("RETAIL_FAULT_POINTS", ""))
    for index, point in enumerate(scenario.points):
        if not only.search(f"{name} {point}"):
            continue
        for mode in ("kill", "enospc"):
            trials += 1
            clock = time.perf_counter()
            try:
                fault_trial(scenario, point, mode, tmp_path / f"{index}-{mode}")
            except AssertionError as failed:
                failures.append(f"{point}:{mode}: {str(failed)[:300]}")
                outcome = f"FAILED {str(failed)[:300]!r}"
            else:
                outcome = "ok"
            seconds = time.perf_counter() - clock
            load = os.getloadavg()[0]
            progress(
                f"{time.strftime('%H:%M:%S')} {name} {point} {mode} {outcome} "
                f"{seconds:.1f}s load {load:.1f}"
            )
    assert failures == [], "\n".join(failures)
    tables = contents(scenario.reference)
    rows = sum(len(rows) for rows in tables.values())
    print(
        f"\n{name}: {trials // 2} of {len(scenario.points)} points, {trials} trials, 0 lost, "
        "0 doubled "
        f"({rows} rows compared in {len(tables)} tables)"
    )


@pytest.mark.soak
@pytest.mark.timeout(7200)
def test_random_kills_long(scenarios: dict[str, Scenario], tmp_path: Path) -> None:
    killed = 0
    trials = 30
    for seed in range(trials):
        scenario = scenarios[("ingest", "run", "full-refresh")[seed % 3]]
        lake = copy_lake(scenario.base, tmp_path / "lake")
        started = time.perf_counter()
        delay = killed_at_random(scenario.command, lake, scenario.seconds, seed)
        killed += delay < time.perf_counter() - started + 0.05
        expected = scenario.reference
        untouched = no_journal_left(lake) and differences(scenario.base, lake) == []
        if scenario.next_command != scenario.command and untouched:
            # Killed before its first write (still starting up): the command never happened,
            # so the next one is compared with itself run on the untouched lake.
            expected = copy_lake(scenario.base, tmp_path / "expected")
            ok(*scenario.next_command, lake=expected)
        ok(*scenario.next_command, lake=lake)
        assert differences(expected, lake) == [], (scenario.name, seed, delay)
        assert no_journal_left(lake)
        progress(f"random {scenario.name} seed {seed} kill after {delay:.2f}s ok")
    print(f"\nrandom kills: {trials} trials, 0 lost, 0 doubled")

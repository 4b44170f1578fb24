"""``retail ingest`` and ``retail run`` never import pandas (decision 0011, sixth round), nor
Polars outside the reader worker (seventh round), nor structlog or NumPy (ninth round).

pandas costs 0.15-0.3 s of every command that imports it, and nothing in these two commands
needs it; it came in through side doors (pyarrow's conversion of Python values, DuckDB's
parameters and Arrow scans, delta-rs' ``pyarrow.dataset`` reader, Ibis' result converter). A
deterministic guard, not a timing test: the CLI's ``main`` runs in a fresh interpreter, which
then lists the modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_retail

_PROBE = """
import json, sys
out, args = sys.argv[1], json.loads(sys.argv[2])
{extra}
from retail_lakehouse.cli.app import main
sys.argv = ["retail", *args]
try:
    main()
finally:
    with open(out, "w") as handle:
        json.dump(sorted(sys.modules), handle)
"""


def _modules(tmp_path: Path, *args: str, extra: str = "") -> set[str]:
    """Top-level modules loaded by ``retail ARGS`` run through ``main`` in a fresh process."""
    return {name.split(".")[0] for name in _all_modules(tmp_path, *args, extra=extra)}


def _all_modules(tmp_path: Path, *args: str, extra: str = "") -> set[str]:
    """Every module (full dotted name) loaded by ``retail ARGS`` in a fresh process."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(extra=extra), str(out), json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(out.read_text()))


def test_ingest_and_run_do_not_import_pandas(
    tmp_path: Path, lake_dir: Path, real_files: list[Path]
) -> None:
    lake = str(lake_dir)
    first, *later = real_files
    # a fresh lake (tables created), its first run (full), then an append and its run
    for args in (
        ("--lake", lake, "ingest", str(first)),
        ("--lake", lake, "run"),
        ("--lake", lake, "ingest", *map(str, later)),
        ("--lake", lake, "run"),
        ("--lake", lake, "run", "--full-refresh"),
    ):
        every = _all_modules(tmp_path, *args)
        loaded = {name.split(".")[0] for name in every}
        assert "pandas" not in loaded, args
        # the reader worker parses; the commands' own processes never load Polars (0.09 CPU-s)
        assert "polars" not in loaded, args
        assert "deltalake" in loaded, args  # the command did its work in this process
        # the ingest's own process reads its manifest through delta-rs; DuckDB is the reader
        # worker's (46 + 28 CPU ms; decision 0021, eleventh round) and the run's
        assert ("duckdb" in loaded) == (args[2] == "run"), args
        # logging is our own; structlog (rich's tracebacks, pygments) only renders console
        # lines, and these commands print none (25-30 ms; decision 0011, ninth round)
        assert "structlog" not in loaded, args
        # pyarrow loads without its NumPy bridge, and nothing else asks for NumPy (0.09 CPU-s)
        assert "numpy" not in loaded, args
        # the ingest's own process calls no pyarrow.compute function, so it does not build
        # their ~290 wrappers (0.04 CPU-s; decision 0021, twelfth round); the run uses them
        assert ("pyarrow.compute" in every) == (args[2] == "run"), args
        # only DuckDB's SQL compiler, not Ibis' other nineteen (50 ms; decision 0011, eighth
        # round)
        compilers = {n for n in every if n.startswith("ibis.backends.sql.compilers.")}
        if args[2] == "run":
            assert "ibis.backends.sql.compilers.duckdb" in compilers, args
        assert compilers <= {
            "ibis.backends.sql.compilers._compat",
            "ibis.backends.sql.compilers.base",
            "ibis.backends.sql.compilers.duckdb",
        }, (args, sorted(compilers))

    # `retail status` never loads Ibis, Polars or pandas (its date-order report may use DuckDB)
    status = {name.split(".")[0] for name in _all_modules(tmp_path, "--lake", lake, "status")}
    assert not {"ibis", "polars", "pandas"} & status, sorted(status)


def test_status_of_a_lake_without_assumed_dates_loads_no_arrow(tmp_path: Path) -> None:
    """`retail status` of a lake whose files declared their dates answers from the Delta logs
    and delta-rs' own queries: no pyarrow, DuckDB or table contracts (0.25 s). Reading the
    lake's time zone through the contracts' module loaded pyarrow for one constant, 0.35 s
    (sixteenth round)."""
    source, lake = tmp_path / "s.csv", tmp_path / "lake"
    assert run_retail("generate", "--rows", "300", "--out", source, lake=lake).code == 0
    assert run_retail("ingest", source, lake=lake).code == 0
    assert run_retail("run", lake=lake).code == 0
    every = _all_modules(tmp_path, "--lake", str(lake), "status")
    loaded = {name.split(".")[0] for name in every} & {"pyarrow", "duckdb", "ibis", "numpy"}
    assert not loaded, sorted(loaded)
    assert "retail_lakehouse.lake.contracts" not in every


def test_the_probe_sees_pandas_when_something_imports_it(tmp_path: Path) -> None:
    """The guard can fail: the same probe reports pandas (or Polars) once anything imports it."""
    assert "pandas" in _modules(tmp_path, "--version", extra="import pandas")
    assert "polars" in _modules(tmp_path, "--version", extra="import polars")

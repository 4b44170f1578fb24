"""Fixtures shared by every test: the real sample files and the real ``retail`` command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
if not REAL_DATA.is_dir():  # a checkout without shared/ next to it: use the bundled copies
    REAL_DATA = REPO / "src" / "retail_lakehouse" / "samples"
REAL_FILES = {
    "online_retail_head_1071.csv": 1071,
    "online_retail_head_999_short_dates.csv": 999,
    "online_retail_ii_head_99_bom.csv": 99,
}
RETAIL = str(Path(sys.executable).with_name("retail"))
# Debian's Chromium for browser tests, with the flags it needs on a closed network as root.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


FILE_WEIGHTS = {"cluster": 4, "spark": 3, "browser": 2, "slow": 1}
"""How early a test file is handed to a worker, by the heaviest marker of its tests."""


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only the tests that will run count
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the slow files first, each file's tests kept together and in their order.

    ``make test`` runs ``--dist loadfile --no-loadscope-reorder``: each file goes whole to one of
    two workers, in this order. xdist's own reordering (most tests first) handed out the
    one-test files last, and those are the slowest (the Spark Connect pipeline, the browser
    pages, the CDC gold run): one worker ran them alone at the end while the other had nothing
    left. Slow first, the hundreds of quick unit tests fill the end on both workers.
    """

    def weight(item: pytest.Item) -> int:
        return max(
            (FILE_WEIGHTS[m.name] for m in item.iter_markers() if m.name in FILE_WEIGHTS), default=0
        )

    heaviest: dict[str, int] = {}
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        heaviest[path] = max(heaviest.get(path, 0), weight(item))
    items.sort(key=lambda item: -heaviest[item.nodeid.split("::", 1)[0]])  # stable


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


RetailCli = Callable[..., CliResult]


@pytest.fixture(scope="session")
def real_files() -> list[Path]:
    return [REAL_DATA / name for name in REAL_FILES]


def run_retail(
    *args: str | Path, lake: Path | None = None, timeout: float = 600, cwd: Path | None = None
) -> CliResult:
    """Run the installed ``retail`` console script, as a user would (in ``cwd`` if given)."""
    command = [RETAIL]
    if lake is not None:
        command += ["--lake", str(lake)]
    command += [str(a) for a in args]
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, check=False, cwd=cwd
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def hung_run(lake: Path, point: str) -> subprocess.Popen[bytes]:
    """A ``retail run`` of ``lake`` started in the background that stops for good at the fault
    point ``point`` (``before:gold.fact_sales``), holding the writer lock, for tests of what
    other commands and readers do beside a writer. The caller kills it."""
    return subprocess.Popen(
        [RETAIL, "--lake", str(lake), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RETAIL_FAULT": f"{point}:hang"},
    )


@pytest.fixture
def retail() -> RetailCli:
    return run_retail


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def screenshot_path(name: str, tmp_dir: Path) -> Path:
    """Where a browser test saves its screenshot: ``docs/images`` when refreshing the docs
    (``RETAIL_UPDATE_SCREENSHOTS=1``), a temporary folder otherwise, so a test run leaves the
    checkout clean."""
    if os.environ.get("RETAIL_UPDATE_SCREENSHOTS") == "1":
        return REPO / "docs" / "images" / name
    return tmp_dir / name


def ingest_with_cli(lake: Path, source: Path) -> None:
    """Ingest one file with the real ``retail ingest`` and insist that it worked."""
    done = run_retail("ingest", source, lake=lake)
    assert done.code == 0, done.stderr


@pytest.fixture(scope="module")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Start the JVM once per module; Spark engines opened later reuse the running session."""
    pytest.importorskip("pyspark")
    from retail_lakehouse.engines import open_engine
    from retail_lakehouse.lake import Lake

    with open_engine(Lake(tmp_path_factory.mktemp("spark") / "lake"), "spark"):
        yield

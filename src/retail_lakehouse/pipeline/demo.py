"""``retail demo``: the whole job on bundled sample data, end to end, in one call."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retail_lakehouse.config import Settings
from retail_lakehouse.generate import generate
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline import gold
from retail_lakehouse.pipeline.bronze import discover, ingest_files
from retail_lakehouse.pipeline.runner import run_pipeline
from retail_lakehouse.pipeline.status import lake_status


@dataclass
class DemoSummary:
    status: dict[str, Any]
    sections: list[Any] = field(default_factory=list)


def bundled_samples() -> list[Path]:
    """The real UCI sample files shipped with the package."""
    from importlib.resources import files

    folder = files("retail_lakehouse") / "samples"
    return sorted(Path(str(p)) for p in folder.iterdir() if str(p).endswith(".csv"))


def run_demo(lake: Lake, landing: Path, *, rows: int, seed: int) -> DemoSummary:
    """Generate a sample file into the landing folder, ingest it and the real samples, run."""
    landing.mkdir(parents=True, exist_ok=True)
    sample = landing / f"generated_{rows}_seed{seed}.csv"
    if not sample.exists():
        generate(rows, sample, seed=seed)
    with recorded_run(lake, "ingest") as run:
        ingest_files(lake, discover([sample, *bundled_samples()], lake.root), run)
    report = run_pipeline(lake, Settings(lake=lake.root, landing=landing))
    return DemoSummary(lake_status(lake), [report.render(), *gold.summary(lake)])

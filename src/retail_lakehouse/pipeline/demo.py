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


class DemoRefused(ValueError):
    """The lake holds files the demo did not write: its sample sales would mix with them."""


def run_demo(lake: Lake, landing: Path, *, rows: int, seed: int) -> DemoSummary:
    """Generate a sample file, ingest it and the real samples, run every layer.

    Only on a new lake or one the demo made: on a lake of real files it would add its sample
    sales to the shop's figures (refused, naming one of them)."""
    import tempfile

    _refuse_real_files(lake)
    # generated in a folder of its own, removed after: never the project's landing/, where a
    # ``retail watch`` would ingest the invented sales into the shop's lake (a run again
    # generates the same bytes from the seed, skipped as already ingested)
    with tempfile.TemporaryDirectory(prefix="retail-demo-") as folder:
        sample = Path(folder) / f"generated_{rows}_seed{seed}.csv"
        generate(rows, sample, seed=seed)
        with recorded_run(lake, "ingest") as run:
            ingest_files(lake, discover([sample, *bundled_samples()], lake.root), run)
    report = run_pipeline(lake, Settings(lake=lake.root, landing=landing))
    return DemoSummary(lake_status(lake), [report.render(), *gold.summary(lake)])


def _refuse_real_files(lake: Lake) -> None:
    """Refuse a lake whose manifest holds a file that is neither a generated demo file nor a
    bundled sample (asked by predicate: one row at most reaches this process)."""
    from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES
    from retail_lakehouse.pipeline.bronze_manifest import named, small_query

    own = r"regexp_like(_source_file, '(^|/)generated_[0-9]+_seed[0-9]+\.csv$')"
    samples = named([path.name for path in bundled_samples()])
    found = small_query(
        lake,
        BRONZE_FILES.qualified,
        f"SELECT _source_file FROM t WHERE NOT ({own} OR {samples}) LIMIT 1",
    )
    for source in found.get("_source_file", []):
        raise DemoRefused(
            f"the lake at {lake.root} holds files of its own ({source}, ...): the demo would "
            "add its generated sales to them. Run it on a new lake: "
            "retail --lake demo-lake demo"
        )

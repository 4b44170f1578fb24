"""What a publish did: per table and as a whole, with the timing of each step.

Kept apart from the publish itself so both halves of it (``postgres`` runs the transaction,
``incremental`` brings changed tables in step) report into the same objects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TableResult:
    """What one publish did to one table."""

    action: str  # loaded | synced | batches | unchanged
    version: int
    rows_written: int = 0
    rows_deleted: int = 0
    batches: dict[str, str] | None = None


@dataclass
class PublishReport:
    """What one ``retail publish`` did."""

    run_id: str
    target: str
    schema: str
    lake_id: str
    mode: str = "incremental"  # full | incremental | nothing
    reason: str = ""
    tables: dict[str, TableResult] = field(default_factory=dict)
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    background: dict[str, float] = field(default_factory=dict)
    """Seconds of lake-side work per table done on the second thread of an incremental
    publish (``prepare <table>``), overlapping the steps above, so not part of their sum."""
    _clock: float = field(default_factory=time.perf_counter, repr=False)

    def step(self, name: str) -> None:
        """Close the timing of step ``name`` (seconds since the previous step)."""
        now = time.perf_counter()
        self.steps[name] = round(now - self._clock, 4)
        self._clock = now

    @property
    def nothing_to_do(self) -> bool:
        return self.mode == "nothing"

    @property
    def rows_written(self) -> int:
        return sum(t.rows_written for t in self.tables.values())

    def render(self) -> str:
        where = f"{self.target} schema {self.schema}"
        if self.nothing_to_do:
            return f"{where} is up to date: nothing to publish ({self.seconds:.2f}s)"
        lines = [f"published to {where} ({self.mode}{': ' + self.reason if self.reason else ''})"]
        for name, result in self.tables.items():
            if result.action == "unchanged":
                continue
            lines.append(
                f"  {name:<28} {result.action:<9} +{result.rows_written:,} "
                f"-{result.rows_deleted:,} rows (Delta version {result.version})"
            )
        unchanged = [n for n, r in self.tables.items() if r.action == "unchanged"]
        if unchanged:
            lines.append(f"  unchanged: {', '.join(unchanged)}")
        lines.append(f"run {self.run_id} finished in {self.seconds:.2f}s")
        return "\n".join(lines)

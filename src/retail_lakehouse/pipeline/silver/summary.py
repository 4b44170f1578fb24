"""What one silver run did, for the CLI, the API and the runner's report."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Group
from rich.table import Table
from rich.text import Text

from retail_lakehouse.quality.results import QualityOutcome


@dataclass
class SilverReport:
    """Counts of one silver run. ``bronze_lines = silver_lines + quarantined + duplicates``."""

    batches: list[int] = field(default_factory=list)
    bronze_lines: int = 0
    silver_lines: int = 0
    quarantined: int = 0
    duplicates: int = 0
    overall_score: float | None = None
    grade: str | None = None
    warnings: list[str] = field(default_factory=list)
    outcome: QualityOutcome | None = None
    seconds: float = 0.0
    full_refresh: bool = False
    alerts: list[str] = field(default_factory=list)
    retracted: list[int] = field(default_factory=list)  # retracted batches taken out

    @property
    def did_work(self) -> bool:
        return bool(self.batches)

    @property
    def balanced(self) -> bool:
        return self.bronze_lines == self.silver_lines + self.quarantined + self.duplicates

    def render(self) -> Group:
        """A short summary: lines in and out, the score, and the rules that failed most."""
        gone = (
            [Text(f"silver: retracted batch(es) {', '.join(map(str, self.retracted))} removed")]
            if self.retracted
            else []
        )
        if not self.did_work:
            return Group(*gone, Text("silver: nothing new in bronze", style="dim"))
        what = "rebuilt from" if self.full_refresh else "processed"
        head = Text.assemble(
            ("silver: ", "bold"),
            f"{what} {len(self.batches)} batch{'es' if len(self.batches) != 1 else ''} · "
            f"{self.bronze_lines:,} bronze lines → {self.silver_lines:,} silver, "
            f"{self.quarantined:,} quarantined, {self.duplicates:,} duplicates removed",
        )
        parts: list[Text | Table] = [*gone, head]
        if self.overall_score is not None:
            parts.append(
                Text(f"quality score {self.overall_score:.1f} (grade {self.grade})", style="bold")
            )
        failing = [r for r in (self.outcome.rules if self.outcome else ()) if r.lines_failed]
        if failing:
            table = Table(title=None, show_edge=False, pad_edge=False, box=None)
            table.add_column("rule")
            table.add_column("action")
            table.add_column("failed", justify="right")
            table.add_column("pass %", justify="right")
            for result in sorted(failing, key=lambda r: -r.lines_failed)[:8]:
                table.add_row(
                    result.name,
                    result.rule.action,
                    f"{result.lines_failed:,}",
                    f"{result.score:.2f}",
                )
            parts.append(table)
        parts += [Text(f"warning: {w}", style="yellow") for w in self.warnings]
        parts += [Text(f"alert: {a}", style="red") for a in self.alerts]
        return Group(*parts)

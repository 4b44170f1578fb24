"""Progress bars that appear on a terminal and stay silent in pipes and CI logs."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from retail_lakehouse.cli.context import console


@contextlib.contextmanager
def progress_bar(label: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """Yield ``advance(done, status="")`` that sets the completed amount and the text shown
    after the bar (what a pipe's progress lines say besides the count: on a terminal the bar
    replaces them); a no-op when not on a terminal."""
    if not console.is_terminal:
        yield lambda _done, _status="": None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total, status="")

        def advance(done: int, status: str = "") -> None:
            progress.update(task, completed=done, status=status)

        yield advance


class StderrProgress:
    """Progress lines on stderr, at most one per ``interval`` seconds and the first only after
    ``interval``: a command that finishes sooner says nothing, and stdout (which scripts
    parse) stays the command's result. For what has no bar: stdout is not a terminal."""

    def __init__(self, label: str, interval: float) -> None:
        self.label = label
        self.interval = interval
        self.next_at = time.monotonic() + interval

    def __call__(self, describe: Callable[[], str]) -> None:
        """Write ``describe()`` if the interval has passed (cheap to call for every file)."""
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + self.interval
        print(f"{self.label}: {describe()}", file=sys.stderr, flush=True)

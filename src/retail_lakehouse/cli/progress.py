"""Progress bars that appear on a terminal and stay silent in pipes and CI logs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from retail_lakehouse.cli.context import console


@contextlib.contextmanager
def progress_bar(label: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(done)`` that sets the completed amount; a no-op when not on a terminal."""
    if not console.is_terminal:
        yield lambda _done: None
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
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda done: progress.update(task, completed=done)

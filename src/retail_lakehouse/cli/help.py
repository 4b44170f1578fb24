"""How ``--help`` reads: docstrings rendered as Markdown, flags shown without a value.

Two fixes applied to the whole command tree once, so commands added later get them too:

- Typer's default "rich" markup prints the docstrings' ````code```` spans literally; Markdown
  mode renders them as code (both single and double backticks are code spans in Markdown).
- Typer 0.29 shows a type after every option, so a flag such as ``--json`` read as if it took a
  value (``--json <bool>``); flags (and counters) take none, so none is shown. Repeatable
  options read ``<path>...`` rather than ``<list[Path]>``.
"""

from __future__ import annotations

from typing import Any

import typer
import typer.core

_original_display_type = typer.core.TyperOption.display_type_rich


def _display_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None
    result: str | None = _original_display_type(self, ctx)
    if result and result.startswith("<list[") and result.endswith("]>"):
        return f"<{result[6:-2].lower()}>..."  # a repeatable option: one value per use
    return result


def polish_help(app: typer.Typer) -> None:
    """Markdown help for ``app`` and every sub-app; flags shown without a value type."""
    typer.core.TyperOption.display_type_rich = _display_type  # type: ignore[method-assign]
    _markdown(app)


def _markdown(app: typer.Typer) -> None:
    app.rich_markup_mode = "markdown"
    for group in app.registered_groups:
        if group.typer_instance is not None:
            _markdown(group.typer_instance)

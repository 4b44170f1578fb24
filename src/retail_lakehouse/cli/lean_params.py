"""Typer's option conversion without pydantic where the answer is already known.

Typer 0.29 converts every parameter of the invoked command, and of the app's callback, through
a pydantic ``TypeAdapter`` built on first use, even when the value is ``None`` (an option not
given): importing ``typer._adapters`` with pydantic's ``TypeAdapter`` machinery and building
the adapters cost about 0.05 CPU-s in every ``retail`` process (decision 0011, eleventh
round), on the critical path of ``retail ingest`` and ``retail run``. Nearly every value a
command receives needs no conversion at all: ``None``, a ``str`` for a ``str`` option, a
``bool`` for a flag, an ``int`` default inside its bounds, a choice that matches.

:func:`install` wraps Typer's ``build_runtime_param`` so that each parameter gets a
:class:`_LeanParam`: it answers those cases itself with exactly what the adapter would
return, and builds Typer's own runtime parameter (the adapter) for anything else, so
conversions of other values, and every error message, are Typer's. If this Typer has no such
hook (an older or newer layout), nothing is changed and Typer works as it always did.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

_UNHANDLED = object()
"""Marker: the lean path does not know the answer; Typer's adapter decides."""


def install() -> bool:
    """Route Typer's parameter conversion through :class:`_LeanParam`; ``False`` if this
    Typer's layout is not the one this module knows (then nothing is changed)."""
    try:
        from typer import core
        from typer._coercion import RuntimeParam, TypeDescriptor
    except ImportError:
        return False
    original = getattr(core, "build_runtime_param", None)
    if original is None or getattr(original, "_retail_lean", False):
        return original is not None
    lean_class = _lean_class(RuntimeParam)

    def build(descriptor: TypeDescriptor) -> Any:
        if descriptor.file_annotation is not None:  # opens files: Typer's own
            return original(descriptor)
        return lean_class(
            annotation=descriptor.annotation,
            parameter_info=descriptor.parameter_info,
            build_full=lambda: original(descriptor),
        )

    build._retail_lean = True  # type: ignore[attr-defined]
    setattr(core, "build_runtime_param", build)  # noqa: B010 - not exported by typer.core
    return True


def _lean_class(base: type[Any]) -> type[Any]:
    """A subclass of Typer's ``RuntimeParam`` (a frozen dataclass whose ``coerce`` returns
    ``None`` or ``()`` for a missing value before converting anything)."""
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class _LeanParam(base):  # type: ignore[misc]
        build_full: Callable[[], Any] = field(default=lambda: None, compare=False)
        _full: list[Any] = field(default_factory=list, compare=False)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            answer = _UNHANDLED
            if ctx is None or getattr(ctx, "token_normalize_func", None) is None:
                answer = known_answer(self.annotation, self.parameter_info, value)
            if answer is not _UNHANDLED:
                return answer
            if not self._full:
                self._full.append(self.build_full())
            return self._full[0]._coerce_value(value, param=param, ctx=ctx)

    return _LeanParam


def known_answer(annotation: Any, info: Any, value: Any) -> Any:
    """What Typer's adapter returns for ``value``, when that needs no conversion; else
    ``_UNHANDLED``. Public for the test that compares it with Typer's adapters."""
    if getattr(info, "parser", None) is not None:
        return _UNHANDLED
    if get_origin(annotation) is list:
        (item_type,) = get_args(annotation)
        if not isinstance(value, (list, tuple)):
            return _UNHANDLED
        items = [known_answer(item_type, info, item) for item in value]
        return _UNHANDLED if any(item is _UNHANDLED for item in items) else items
    if get_origin(annotation) is not None:
        return _UNHANDLED
    if annotation is str:
        return value if type(value) is str else _UNHANDLED
    if annotation is bool:
        return value if type(value) is bool else _UNHANDLED
    if annotation is int or annotation is float:
        return value if type(value) is annotation and _within(info, value) else _UNHANDLED
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice(annotation, info, value)
    if annotation is Path and _plain_path(info) and type(value) is str:
        return Path(value) if _readable_or_missing(info, value) else _UNHANDLED
    return _UNHANDLED


def _within(info: Any, value: float) -> bool:
    low, high = getattr(info, "min", None), getattr(info, "max", None)
    return (low is None or value >= low) and (high is None or value <= high)


def _plain_path(info: Any) -> bool:
    """A path option with none of Typer's checks (existence, kind, access, resolution)."""
    return not (
        info.exists
        or info.resolve_path
        or info.allow_dash
        or info.writable
        or info.path_type is not None
        or not info.file_okay
        or not info.dir_okay
    )


def _readable_or_missing(info: Any, value: str) -> bool:
    """Typer's one check on a plain path: an existing path must be readable (``readable``
    defaults to true); a path that does not exist passes unchecked."""
    if not info.readable:
        return True
    try:
        os.stat(value)
    except OSError:
        return True
    except ValueError:  # an embedded NUL: Typer's own path says what is wrong
        return False
    return os.access(value, os.R_OK)


def _choice(annotation: type[Enum], info: Any, value: Any) -> Any:
    """An enum option given its member, or a value equal to one member's value as Typer
    compares them (``str(member.value)``, case-folded unless case-sensitive)."""
    if isinstance(value, annotation):
        return value
    if type(value) is not str:
        return _UNHANDLED
    wanted = value if info.case_sensitive else value.casefold()
    for member in annotation:
        text = str(member.value)
        if (text if info.case_sensitive else text.casefold()) == wanted:
            return member
    return _UNHANDLED

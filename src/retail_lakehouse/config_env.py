"""The ``RETAIL_*`` environment variables as settings values, and the merge of the sources.

Until the thirteenth round pydantic-settings' ``BaseSettings`` did this. Importing it cost
about 0.05 CPU-s of every command that reads the settings (112 modules beyond pydantic: asyncio,
dotenv, importlib.metadata, its CLI source), twice per ``retail ingest A && retail run``
(decision 0021, thirteenth round). This module keeps its rules for this project's models:

- ``RETAIL_<FIELD>`` sets a field; names are matched without regard to case.
- A field that holds a model, a list or a dict takes JSON (``RETAIL_RULES='["a.yaml"]'``), and
  ``RETAIL_<FIELD>__<KEY>[__<KEY>...]`` sets one key inside it (``RETAIL_LIMITS__MAX_FILE_MB=8``,
  ``RETAIL_ALERTS__CHANNELS__OPS__URL=...``); a key that is itself a model, list or dict takes
  JSON again. Both forms together: the keys are laid over the JSON object.
- An empty value is a value (``RETAIL_WEBHOOK_URL=`` sets the empty text), as before.
- Precedence: values given in code (the CLI's options) over the environment over
  ``retail.toml``, merged key by key inside nested tables (:func:`layered`).

One difference, on purpose: a variable that should hold JSON and does not is refused as a
:class:`~retail_lakehouse.config_file.ConfigError` naming the variable (exit 2), where
pydantic-settings raised its own ``SettingsError`` (an internal error, exit 1).
"""

from __future__ import annotations

import json
import os
import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from retail_lakehouse.config_file import ConfigError

PREFIX = "RETAIL_"
NESTED = "__"

_CONTAINERS = (list, dict, set, frozenset, tuple)


def environment_values(
    model: type[BaseModel], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The values ``environ`` (the process environment by default) gives ``model``'s fields,
    as text or decoded JSON, nested as the model is; pydantic validates them afterwards."""
    source = os.environ if environ is None else environ
    names = {name.lower(): name for name in source}  # the last spelling wins, as before
    env = {lowered: source[name] for lowered, name in names.items()}
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = f"{PREFIX}{name}".lower()
        text = env.get(key)
        complex_, lenient = _complexity(field.annotation)
        if not complex_:
            if text is not None:
                values[name] = text
            continue
        nested = _nested(env, names, key + NESTED.lower(), field.annotation)
        if text is None:
            if nested:
                values[name] = nested
            continue
        decoded = _json(text, names[key], lenient)
        values[name] = layered(nested, decoded) if isinstance(decoded, dict) else decoded
    return values


def layered(*sources: Mapping[str, Any]) -> dict[str, Any]:
    """One mapping from ``sources``, the first winning; nested mappings merge key by key
    (a ``[limits]`` table in ``retail.toml`` and ``RETAIL_LIMITS__MAX_FILE_MB`` both count)."""
    merged: dict[str, Any] = {}
    for source in reversed(sources):
        for key, value in source.items():
            below = merged.get(key)
            if isinstance(below, dict) and isinstance(value, dict):
                merged[key] = layered(value, below)
            else:
                merged[key] = value
    return merged


def _nested(
    env: Mapping[str, str], names: Mapping[str, str], prefix: str, annotation: Any
) -> dict[str, Any]:
    """``RETAIL_<FIELD>__A__B=v`` variables as ``{"a": {"b": v}}`` (keys as written, in lower
    case); a key whose type is a model, list or dict takes JSON."""
    result: dict[str, Any] = {}
    for key, text in env.items():
        if not key.startswith(prefix):
            continue
        *path, last = key[len(prefix) :].split(NESTED.lower())
        target: Any = annotation
        holder: Any = result
        for part in path:
            target = _member(target, part)
            if isinstance(holder, dict):
                holder = holder.setdefault(part, {})
        target = _member(target, last)
        value: Any = text
        if target is not None and text:
            complex_, lenient = _complexity(target)
            if complex_:
                value = _json(text, names[key], lenient)
        if isinstance(holder, dict):
            holder[last] = value
    return result


def _member(annotation: Any, key: str) -> Any:
    """The type of ``key`` inside ``annotation``: a model's field (by name or alias, in any
    case), a dict's values, a union's first member that has it; None when nothing has it."""
    if annotation is None:
        return None
    origin = get_origin(annotation)
    if origin is dict:
        arguments = get_args(annotation)
        return _Raw(arguments[-1]) if arguments else None
    if isinstance(annotation, _Raw):
        return _member(annotation.annotation, key)
    for member in get_args(annotation) if _is_union(origin) else ():
        found = _member(member, key)
        if found is not None:
            return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if key in (name.lower(), (field.alias or name).lower()):
                return field.annotation
    return None


class _Raw:
    """A dict's value type: JSON that does not parse is left as text for validation to judge
    (as pydantic-settings did for such types)."""

    def __init__(self, annotation: Any) -> None:
        self.annotation = annotation


def _complexity(annotation: Any) -> tuple[bool, bool]:
    """(takes JSON, JSON that does not parse is left as text): a model, list or dict takes
    JSON; inside a union, or as a dict's value type, text that is not JSON stays text."""
    if isinstance(annotation, _Raw):
        return _complexity(annotation.annotation)[0], True
    origin = get_origin(annotation)
    if _is_union(origin):
        return any(_complexity(member)[0] for member in get_args(annotation)), True
    if origin in _CONTAINERS or annotation in _CONTAINERS:
        return True, False
    return isinstance(annotation, type) and issubclass(annotation, BaseModel), False


def _is_union(origin: Any) -> bool:
    return origin is Union or origin is types.UnionType


def _json(text: str, variable: str, lenient: bool) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        if lenient:
            return text
        raise ConfigError(
            f"environment variable {variable}={text!r}: this setting takes JSON: {error}"
        ) from None

"""Finding and reading ``retail.toml``: where it is, what it says, and what it got wrong.

The project file is found the way ``git`` finds its repository: in the working directory or the
nearest parent folder that has one (``RETAIL_CONFIG`` names a file explicitly and wins). Relative
paths in a file found in a parent folder are relative to that folder, and so are the default
``lake`` and ``landing`` folders: running a command from ``project/reports/`` uses
``project/lake``, not a new ``project/reports/lake``.

Mistakes are reported before any work starts, naming the file and the line: invalid TOML, a
value of the wrong kind (``engine = "foo"``), and, as a warning only, a key no setting has
(``webhok_url``, with the closest known name).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

CONFIG_NAME = "retail.toml"
CONFIG_ENV = "RETAIL_CONFIG"


class ConfigError(ValueError):
    """The settings cannot be used (bad TOML, a bad value): a usage error, exit code 2."""


def find_config_file(start: Path | None = None) -> Path | None:
    """``$RETAIL_CONFIG`` if set, else the nearest ``retail.toml`` from ``start`` (the working
    directory) up to the file-system root, else None."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        return Path(named)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def read_config(path: Path | None) -> dict[str, Any]:
    """The file's table (empty when there is no file); invalid TOML is a :class:`ConfigError`
    naming the file, line and column."""
    if path is None or not path.is_file():
        return {}
    import tomllib  # 0.006 CPU-s of regular expressions, paid only where there is a file

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the settings file: {error}") from None


def key_line(path: Path, key: str) -> int | None:
    """The line (1-based) where ``key = ...`` is written, for messages."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    return next((number for number, line in enumerate(lines, 1) if pattern.match(line)), None)


def where(path: Path, key: str) -> str:
    """``retail.toml:7`` (or just the file when the key cannot be located)."""
    line = key_line(path, key)
    return f"{path}:{line}" if line else str(path)


_warned: set[tuple[str, str]] = set()


def warn_unknown_keys(path: Path, data: Mapping[str, Any], known: Iterable[str]) -> None:
    """A warning on stderr for each key no setting has, with the closest known name (once per
    file and key in a process). Unknown keys are not errors: a newer file may carry settings
    an older version does not know."""
    names = sorted(known)
    for key in data:
        if key in names or (str(path), key) in _warned:
            continue
        _warned.add((str(path), key))
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known settings: {', '.join(names)}"
        sys.stderr.write(f"warning: {where(path, key)}: unknown setting {key!r} ignored{hint}\n")


def rebase_paths(
    data: dict[str, Any], config: Path, path_fields: Mapping[str, Any]
) -> dict[str, Any]:
    """Relative paths of a file found in another folder, made relative to that folder; the
    defaults of ``path_fields`` (name -> default) too, when the file does not set them."""
    root = config.parent.resolve()
    if root == Path.cwd().resolve():
        return data
    rebased = dict(data)
    for name, default in path_fields.items():
        value = rebased.get(name, default)
        if value is None:
            continue
        if isinstance(value, list):
            rebased[name] = [_under(root, v) for v in value]
        else:
            rebased[name] = _under(root, value)
    return rebased


def _under(root: Path, value: Any) -> Any:
    if not isinstance(value, (str, Path)):
        return value  # a wrong type: left for validation to report
    if isinstance(value, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", value):
        return value  # a URI (file:///...): absolute by nature, validated with the setting
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


_SECRET_PART = re.compile(r"secret|password|passwd|dsn|url|token|^key$", re.IGNORECASE)
"""Setting names whose values are never echoed: a DSN holds its password, a Slack or webhook
URL its token, ``jwt_secret`` signs the API's tokens."""


def _shown(loc: list[str], value: Any) -> str:
    """A bad value as the refusal shows it: a scalar as written; a table or list only by its
    kind (it may hold a secret beside the mistake); a secret setting not at all."""
    if any(_SECRET_PART.search(part) for part in loc):
        return "(value hidden)"
    if isinstance(value, Mapping):
        return "(a table)"
    if isinstance(value, (list, tuple)):
        return "(a list)"
    return repr(value)


def describe_validation_error(
    error: Any, config: Path | None, data: Mapping[str, Any], env_prefix: str
) -> str:
    """One line per invalid setting, naming where its value came from: the environment
    variable when one is set (it wins over the file), the nearest one for a nested key
    (``RETAIL_LIMITS__MAX_FILE_MB``, else ``RETAIL_LIMITS``), else the file's line with the
    dotted key (``publish.after_run``); and the offending value only, never the table around
    it (which may hold a password beside the mistake), and no value at all of a secret
    setting."""
    lines = []
    for problem in error.errors():
        loc = [str(part) for part in problem.get("loc") or ()] or ["?"]
        key, dotted = loc[0], ".".join(loc)
        message = problem.get("msg", "invalid value")
        value = _shown(loc, problem.get("input"))
        variable = _variable(env_prefix, loc)
        if variable is not None:
            origin = f"environment variable {variable}={value}"
        elif config is not None and key in data:
            origin = f"{where(config, key)}: {dotted} = {value}"
        else:
            origin = f"setting {dotted}"
        lines.append(f"{origin}: {message}")
    return "invalid settings: " + "; ".join(lines)


def _variable(env_prefix: str, path: list[str]) -> str | None:
    """The set variable (any case) that spells the longest head of ``path``, if any."""
    names = {name.lower(): name for name in os.environ}
    for length in range(len(path), 0, -1):
        found = names.get(f"{env_prefix}{'__'.join(path[:length])}".lower())
        if found is not None:
            return found
    return None


def describe_settings_error(error: Exception, env_prefix: str) -> str:
    """pydantic-settings' ``SettingsError`` (a variable that should hold JSON and does not:
    ``RETAIL_WATCH='{'``) as a usage error naming the variable (not its text, which may hold
    a webhook's token beside the mistake) and where the JSON broke.

    Its message names only the field (``error parsing value for field "watch" from source
    "EnvSettingsSource"``); the JSON error it is raised from holds the text that failed, so the
    variable is the field's own (``RETAIL_WATCH``) or nested one (``RETAIL_WATCH__...``, any
    case) that holds that text."""
    cause = error.__cause__
    field = re.search(r'field "([^"]+)"', str(error))
    if field is None or not isinstance(cause, json.JSONDecodeError):
        return f"invalid settings: {error}" + (f": {cause}" if cause else "")
    head = f"{env_prefix}{field.group(1)}".lower()
    names = [
        name
        for name, value in sorted(os.environ.items())
        if value == cause.doc and (name.lower() == head or name.lower().startswith(f"{head}__"))
    ]
    origin = ", ".join(f"environment variable {name}" for name in names)  # its text may be secret
    origin = origin or f"setting {field.group(1)}"
    return f"invalid settings: {origin}: this setting takes JSON: {cause}"

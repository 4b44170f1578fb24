"""Quality rules as data: YAML files of named rules, merged by name over the shipped defaults.

A file has a top-level ``rules:`` list. Each entry is a mapping with ``name``, ``dimension``,
``expression`` (TRUE when a line passes), ``weight``, ``action`` and optionally ``threshold``,
``description`` and ``enabled``. Later files override earlier ones field by field, so
``{name: missing_customer, action: fail, threshold: 0.3}`` turns a shipped warning into a gate
without repeating its expression, and ``enabled: false`` switches a rule off.

Everything is validated at load time (unknown keys, types, ranges, and the expression itself,
which is compiled against the silver columns) so a bad file stops the command before any data
is read, with a message naming the file, the rule and the problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from retail_lakehouse.pipeline.errors import RulesError

Dimension = Literal[
    "completeness", "validity", "accuracy", "consistency", "uniqueness", "timeliness"
]
Action = Literal["warn", "quarantine", "fail"]

DIMENSIONS: tuple[Dimension, ...] = (
    "completeness",
    "validity",
    "accuracy",
    "consistency",
    "uniqueness",
    "timeliness",
)
ACTIONS: tuple[Action, ...] = ("warn", "quarantine", "fail")
DEFAULTS_SOURCE = "<default rules>"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_KEYS = {
    "name",
    "dimension",
    "expression",
    "weight",
    "action",
    "threshold",
    "description",
    "enabled",
}
_REQUIRED = ("dimension", "expression", "weight", "action")


@dataclass(frozen=True)
class Rule:
    """One validated rule. ``expression`` is TRUE for a passing line; FALSE fails it and NULL
    (unknown, e.g. a comparison with a missing value) counts as passing, like a SQL CHECK."""

    name: str
    dimension: Dimension
    expression: str
    weight: float
    action: Action
    threshold: float | None = None
    description: str | None = None
    source: str = DEFAULTS_SOURCE

    @property
    def allowed_share(self) -> float:
        """Share of checked lines that may fail before a ``fail`` rule stops the run."""
        return self.threshold or 0.0


@dataclass(frozen=True)
class RuleSet:
    """The effective rules of a run, in a stable order (defaults first, then additions)."""

    rules: tuple[Rule, ...]
    sources: tuple[str, ...] = field(default=(DEFAULTS_SOURCE,))

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def by_action(self, action: Action) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.action == action)

    def names(self) -> list[str]:
        return [r.name for r in self.rules]

    def get(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


def load_rules(
    extra: Sequence[Path] = (), *, include_defaults: bool = True, validate: bool = True
) -> RuleSet:
    """The shipped defaults overlaid with each file of ``extra`` in order (later wins)."""
    merged: dict[str, dict[str, Any]] = {}
    sources: list[str] = []
    if include_defaults:
        text = resources.files(__package__).joinpath("default_rules.yaml").read_text("utf-8")
        _overlay(merged, _entries(text, DEFAULTS_SOURCE), DEFAULTS_SOURCE)
        sources.append(DEFAULTS_SOURCE)
    for path in extra:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as error:
            raise RulesError(f"{path}: cannot read rules file: {error.strerror or error}") from None
        _overlay(merged, _entries(text, str(path)), str(path))
        sources.append(str(path))
    rules = [_build(entry) for entry in merged.values() if entry.get("enabled", True) is not False]
    ruleset = RuleSet(tuple(rules), tuple(sources))
    if validate:
        from retail_lakehouse.quality.compile import validate_rules

        validate_rules(ruleset)
    return ruleset


def rules_from_text(
    text: str, *, source: str = "<text>", include_defaults: bool = False
) -> RuleSet:
    """Rules from YAML text (tests, the API): same validation as files."""
    merged: dict[str, dict[str, Any]] = {}
    if include_defaults:
        base = resources.files(__package__).joinpath("default_rules.yaml").read_text("utf-8")
        _overlay(merged, _entries(base, DEFAULTS_SOURCE), DEFAULTS_SOURCE)
    _overlay(merged, _entries(text, source), source)
    rules = [_build(e) for e in merged.values() if e.get("enabled", True) is not False]
    ruleset = RuleSet(tuple(rules), (source,))
    from retail_lakehouse.quality.compile import validate_rules

    validate_rules(ruleset)
    return ruleset


# -- parsing and merging ---------------------------------------------------------------------

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it: the pure-Python one takes 15 ms of every run to
read the default rules."""


def _entries(text: str, source: str) -> list[dict[str, Any]]:
    try:
        document = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise RulesError(f"{source}: not valid YAML{line}: {error}") from None
    if not isinstance(document, Mapping) or "rules" not in document:
        raise RulesError(f"{source}: expected a mapping with a top-level 'rules:' list")
    unknown_top = set(document) - {"rules", "version"}
    if unknown_top:
        raise RulesError(f"{source}: unknown top-level key(s) {sorted(unknown_top)}")
    items = document["rules"]
    if items is None:
        return []
    if not isinstance(items, list):
        raise RulesError(f"{source}: 'rules' must be a list of rules")
    seen: set[str] = set()
    entries: list[dict[str, Any]] = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            raise RulesError(f"{source}: rule #{position} must be a mapping of keys to values")
        name = item.get("name")
        label = f"rule #{position}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise RulesError(
                f"{source}: {label}: 'name' must be lower_snake_case text "
                f"(letters, digits, underscores; starting with a letter), got {name!r}"
            )
        unknown = set(item) - _KEYS
        if unknown:
            raise RulesError(
                f"{source}: rule {name!r}: unknown key(s) {sorted(unknown)}; "
                f"allowed: {sorted(_KEYS)}"
            )
        if name in seen:
            raise RulesError(f"{source}: rule {name!r} is defined twice in the same file")
        seen.add(name)
        entries.append({**item, "source": source})
    return entries


def _overlay(merged: dict[str, dict[str, Any]], entries: list[dict[str, Any]], source: str) -> None:
    for entry in entries:
        name = entry["name"]
        if name in merged:
            merged[name] = {**merged[name], **entry}
        else:
            missing = [k for k in _REQUIRED if k not in entry]
            if missing and entry.get("enabled", True) is not False:
                raise RulesError(
                    f"{source}: rule {name!r}: missing {', '.join(missing)} (a new rule needs "
                    f"{', '.join(_REQUIRED)}; only overrides of an existing rule may omit them)"
                )
            merged[name] = dict(entry)


def _build(entry: Mapping[str, Any]) -> Rule:
    source = str(entry["source"])
    name = str(entry["name"])

    def problem(text: str) -> RulesError:
        return RulesError(f"{source}: rule {name!r}: {text}")

    dimension = entry.get("dimension")
    if dimension not in DIMENSIONS:
        raise problem(f"dimension must be one of {', '.join(DIMENSIONS)}, got {dimension!r}")
    action = entry.get("action")
    if action not in ACTIONS:
        raise problem(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    expression = entry.get("expression")
    if isinstance(expression, bool):  # YAML reads a bare `true` as a boolean
        expression = "TRUE" if expression else "FALSE"
    if not isinstance(expression, str) or not expression.strip():
        raise problem("expression must be non-empty text (a boolean SQL expression)")
    weight = entry.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 100:
        raise problem(f"weight must be a number from 0 to 100, got {weight!r}")
    threshold = entry.get("threshold")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise problem(f"threshold must be a number from 0 to 1, got {threshold!r}")
        if not 0 <= threshold <= 1:
            raise problem(
                f"threshold is the share of lines allowed to fail, from 0 to 1, got {threshold!r}"
                " (write 0.05 for 5%)"
            )
        if action != "fail":
            raise problem(f"threshold only applies to action 'fail', not {action!r}")
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise problem("description must be text")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise problem(f"enabled must be true or false, got {enabled!r}")
    return Rule(
        name=name,
        dimension=cast(Dimension, dimension),
        expression=expression.strip(),
        weight=float(weight),
        action=cast(Action, action),
        threshold=None if threshold is None else float(threshold),
        description=description,
        source=source,
    )


def with_rule(ruleset: RuleSet, rule: Rule) -> RuleSet:
    """A copy of ``ruleset`` with ``rule`` added or replacing the one of the same name."""
    rules = [rule if r.name == rule.name else r for r in ruleset.rules]
    if rule.name not in ruleset.names():
        rules.append(rule)
    return replace(ruleset, rules=tuple(rules))

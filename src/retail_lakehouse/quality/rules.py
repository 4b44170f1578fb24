"""Quality rules as data: YAML files of named rules, merged by name over the shipped defaults.

A file has a top-level ``rules:`` list. Each entry is a mapping with ``name``, ``dimension``,
``expression`` (TRUE when a line passes), ``weight``, ``action`` and optionally ``threshold``,
``description`` and ``enabled``. Later files override earlier ones field by field, so
``{name: missing_customer, action: fail, threshold: 0.3}`` turns a shipped warning into a gate
without repeating its expression, and ``enabled: false`` switches a rule off.

Everything is validated at load time (unknown keys, types, ranges, and the expression itself,
which is compiled against the silver columns) so a bad file stops the command before any data
is read, with a message naming the file, the rule and the problem. A new rule's ``weight``
defaults to 1.

The same files may hold a top-level ``tests:`` list: dbt-style tests on whole tables (usually
gold): ``unique``, ``not_null``, ``accepted_values``, ``relationships``, ``row_count`` and
``freshness`` (see :class:`TableTest` and docs/quality-rules.md). They are merged by name like
rules, and each becomes a :class:`Rule` for scoring, gating and the result tables, so a test is
reported and gated exactly like a rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
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
_REQUIRED = ("dimension", "expression", "action")
DEFAULT_WEIGHT = 1.0
"""A new rule without ``weight`` costs a failing line one point of its 100."""


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


TestKind = Literal[
    "unique", "not_null", "accepted_values", "relationships", "row_count", "freshness"
]
TEST_KINDS: tuple[TestKind, ...] = (
    "unique",
    "not_null",
    "accepted_values",
    "relationships",
    "row_count",
    "freshness",
)
_TEST_DIMENSION: dict[TestKind, Dimension] = {
    "unique": "uniqueness",
    "not_null": "completeness",
    "accepted_values": "validity",
    "relationships": "consistency",
    "row_count": "completeness",
    "freshness": "timeliness",
}
_TEST_KEYS = {
    "name",
    "table",
    "test",
    "column",
    "values",
    "to",
    "field",
    "min",
    "max",
    "max_age_hours",
    "dimension",
    "weight",
    "action",
    "threshold",
    "description",
    "enabled",
}
_TABLE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class TableTest:
    """A dbt-style test on a whole table, checked after gold is built.

    Per kind, what is checked (rows) and what fails:

    - ``unique``: rows with a non-null ``column``; a row fails when it repeats a value (every
      copy after the first).
    - ``not_null``: every row; NULL in ``column`` fails.
    - ``accepted_values``: rows with a non-null ``column``; a value outside ``values`` fails.
    - ``relationships``: rows with a non-null ``column``; a value missing from ``to``.``field``
      fails (a foreign key without its row).
    - ``row_count``: one check; fails when the row count is outside ``min``..``max``.
    - ``freshness``: one check; fails when the newest ``column`` is older than ``max_age_hours``
      (or the table has no value at all).
    """

    name: str
    table: str
    kind: TestKind
    column: str | None = None
    values: tuple[Any, ...] = ()
    to_table: str | None = None
    to_column: str | None = None
    min_rows: int | None = None
    max_rows: int | None = None
    max_age_hours: float | None = None
    dimension: Dimension = "validity"
    weight: float = DEFAULT_WEIGHT
    action: Action = "warn"
    threshold: float | None = None
    description: str | None = None
    source: str = DEFAULTS_SOURCE

    def summary(self) -> str:
        """What the test checks, in words (stored where a rule keeps its expression)."""
        if self.kind == "accepted_values":
            shown = ", ".join(repr(v) for v in self.values[:8])
            more = ", ..." if len(self.values) > 8 else ""
            return f"{self.table}.{self.column} in ({shown}{more})"
        if self.kind == "relationships":
            return f"{self.table}.{self.column} found in {self.to_table}.{self.to_column}"
        if self.kind == "row_count":
            low = "" if self.min_rows is None else f"{self.min_rows:,} <= "
            high = "" if self.max_rows is None else f" <= {self.max_rows:,}"
            return f"{low}rows of {self.table}{high}"
        if self.kind == "freshness":
            return f"newest {self.table}.{self.column} at most {self.max_age_hours:g} h old"
        return f"{self.table}.{self.column} is {self.kind.replace('_', ' ')}"

    def as_rule(self) -> Rule:
        """The test as a rule: what scoring, gates and the result tables work with."""
        return Rule(
            name=self.name,
            dimension=self.dimension,
            expression=f"(table test {self.kind}) {self.summary()}",
            weight=self.weight,
            action=self.action,
            threshold=self.threshold,
            description=self.description,
            source=self.source,
        )


@dataclass(frozen=True)
class RuleSet:
    """The effective rules of a run, in a stable order (defaults first, then additions)."""

    rules: tuple[Rule, ...]
    sources: tuple[str, ...] = field(default=(DEFAULTS_SOURCE,))
    tests: tuple[TableTest, ...] = ()

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
    tests: dict[str, dict[str, Any]] = {}
    sources: list[str] = []
    if include_defaults:
        text = resources.files(__package__).joinpath("default_rules.yaml").read_text("utf-8")
        _overlay(merged, _entries(text, DEFAULTS_SOURCE), DEFAULTS_SOURCE)
        _overlay_tests(tests, _test_entries(text, DEFAULTS_SOURCE))
        sources.append(DEFAULTS_SOURCE)
    for path in extra:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as error:
            raise RulesError(f"{path}: cannot read rules file: {error.strerror or error}") from None
        except UnicodeDecodeError as error:  # another encoding, or not text at all
            raise RulesError(
                f"{path}: not UTF-8 text (byte {error.start}); save the rules file as UTF-8"
            ) from None
        _overlay(merged, _entries(text, str(path)), str(path))
        _overlay_tests(tests, _test_entries(text, str(path)))
        sources.append(str(path))
    rules = [_build(entry) for entry in merged.values() if entry.get("enabled", True) is not False]
    built = [_build_test(e) for e in tests.values() if e.get("enabled", True) is not False]
    _check_names(rules, built)
    ruleset = RuleSet(tuple(rules), tuple(sources), tuple(built))
    if validate:
        from retail_lakehouse.quality.compile import validate_rules

        validate_rules(ruleset)
    return ruleset


def rules_from_text(
    text: str, *, source: str = "<text>", include_defaults: bool = False
) -> RuleSet:
    """Rules from YAML text (tests, the API): same validation as files."""
    merged: dict[str, dict[str, Any]] = {}
    tests: dict[str, dict[str, Any]] = {}
    if include_defaults:
        base = resources.files(__package__).joinpath("default_rules.yaml").read_text("utf-8")
        _overlay(merged, _entries(base, DEFAULTS_SOURCE), DEFAULTS_SOURCE)
        _overlay_tests(tests, _test_entries(base, DEFAULTS_SOURCE))
    _overlay(merged, _entries(text, source), source)
    _overlay_tests(tests, _test_entries(text, source))
    rules = [_build(e) for e in merged.values() if e.get("enabled", True) is not False]
    built = [_build_test(e) for e in tests.values() if e.get("enabled", True) is not False]
    _check_names(rules, built)
    ruleset = RuleSet(tuple(rules), (source,), tuple(built))
    from retail_lakehouse.quality.compile import validate_rules

    validate_rules(ruleset)
    return ruleset


# -- parsing and merging ---------------------------------------------------------------------

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it: the pure-Python one takes 15 ms of every run to
read the default rules."""


def _document(text: str, source: str) -> Mapping[str, Any]:
    try:
        document = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise RulesError(f"{source}: not valid YAML{line}: {error}") from None
    if not isinstance(document, Mapping) or not ({"rules", "tests"} & set(document)):
        raise RulesError(
            f"{source}: expected a mapping with a top-level 'rules:' list (and/or 'tests:')"
        )
    unknown_top = set(document) - {"rules", "tests", "version"}
    if unknown_top:
        raise RulesError(f"{source}: unknown top-level key(s) {sorted(unknown_top)}")
    return document


def _entries(text: str, source: str) -> list[dict[str, Any]]:
    document = _document(text, source)
    items = document.get("rules")
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
    weight = _weight(entry, problem)
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


def _weight(entry: Mapping[str, Any], problem: Callable[[str], RulesError]) -> float:
    weight = entry.get("weight", DEFAULT_WEIGHT)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 100:
        raise problem(f"weight must be a number from 0 to 100, got {weight!r}")
    return float(weight)


# -- table tests -----------------------------------------------------------------------------


def _test_entries(text: str, source: str) -> list[dict[str, Any]]:
    items = _document(text, source).get("tests")
    if items is None:
        return []
    if not isinstance(items, list):
        raise RulesError(f"{source}: 'tests' must be a list of table tests")
    seen: set[str] = set()
    entries: list[dict[str, Any]] = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            raise RulesError(f"{source}: test #{position} must be a mapping of keys to values")
        name = item.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise RulesError(
                f"{source}: test #{position}: 'name' must be lower_snake_case text, got {name!r}"
            )
        unknown = set(item) - _TEST_KEYS
        if unknown:
            raise RulesError(
                f"{source}: test {name!r}: unknown key(s) {sorted(unknown)}; "
                f"allowed: {sorted(_TEST_KEYS)}"
            )
        if name in seen:
            raise RulesError(f"{source}: test {name!r} is defined twice in the same file")
        seen.add(name)
        entries.append({**item, "source": source})
    return entries


def _overlay_tests(merged: dict[str, dict[str, Any]], entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        name = entry["name"]
        merged[name] = {**merged[name], **entry} if name in merged else dict(entry)


def _build_test(entry: Mapping[str, Any]) -> TableTest:
    source = str(entry["source"])
    name = str(entry["name"])

    def problem(text: str) -> RulesError:
        return RulesError(f"{source}: test {name!r}: {text}")

    kind = entry.get("test")
    if kind not in TEST_KINDS:
        raise problem(f"'test' must be one of {', '.join(TEST_KINDS)}, got {kind!r}")
    table = entry.get("table")
    if not isinstance(table, str) or not _TABLE.match(table):
        raise problem(f"'table' must name a lake table as layer.name, got {table!r}")
    column = entry.get("column")
    needs_column = kind != "row_count"
    if needs_column and (not isinstance(column, str) or not column):
        raise problem(f"a {kind} test needs 'column'")
    if column is not None and not isinstance(column, str):
        raise problem(f"'column' must be a column name, got {column!r}")
    values: tuple[Any, ...] = ()
    if kind == "accepted_values":
        raw = entry.get("values")
        if not isinstance(raw, list) or not raw:
            raise problem("an accepted_values test needs 'values': a non-empty list")
        if any(isinstance(v, Mapping | list) for v in raw):
            raise problem("'values' must be plain values (text or numbers)")
        values = tuple(raw)
    to_table = entry.get("to")
    to_column = entry.get("field")
    if kind == "relationships":
        if not isinstance(to_table, str) or not _TABLE.match(to_table):
            raise problem("a relationships test needs 'to': the referenced table (layer.name)")
        if not isinstance(to_column, str) or not to_column:
            raise problem("a relationships test needs 'field': the referenced column")
    min_rows, max_rows = entry.get("min"), entry.get("max")
    if kind == "row_count":
        for label, bound in (("min", min_rows), ("max", max_rows)):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
                raise problem(f"'{label}' must be a whole number of rows, got {bound!r}")
        if min_rows is None and max_rows is None:
            raise problem("a row_count test needs 'min' and/or 'max'")
    max_age = entry.get("max_age_hours")
    if kind == "freshness" and (
        isinstance(max_age, bool) or not isinstance(max_age, int | float) or max_age <= 0
    ):
        raise problem(f"a freshness test needs 'max_age_hours' > 0, got {max_age!r}")
    dimension = entry.get("dimension", _TEST_DIMENSION[cast(TestKind, kind)])
    if dimension not in DIMENSIONS:
        raise problem(f"dimension must be one of {', '.join(DIMENSIONS)}, got {dimension!r}")
    action = entry.get("action", "warn")
    if action not in ("warn", "fail"):
        raise problem(
            f"action must be warn or fail (a table test quarantines no line), got {action!r}"
        )
    threshold = entry.get("threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 1
    ):
        raise problem(f"threshold is the share of rows allowed to fail, 0 to 1, got {threshold!r}")
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise problem("description must be text")
    return TableTest(
        name=name,
        table=table,
        kind=cast(TestKind, kind),
        column=column,
        values=values,
        to_table=to_table if kind == "relationships" else None,
        to_column=to_column if kind == "relationships" else None,
        min_rows=min_rows,
        max_rows=max_rows,
        max_age_hours=None if max_age is None else float(max_age),
        dimension=cast(Dimension, dimension),
        weight=_weight(entry, problem),
        action=cast(Action, action),
        threshold=None if threshold is None else float(threshold),
        description=description,
        source=source,
    )


def _check_names(rules: Sequence[Rule], tests: Sequence[TableTest]) -> None:
    """A test and a rule may not share a name: results are recorded by name."""
    clash = {r.name for r in rules} & {t.name for t in tests}
    if clash:
        name = sorted(clash)[0]
        test = next(t for t in tests if t.name == name)
        raise RulesError(f"{test.source}: test {name!r}: a rule already has this name")


def with_rule(ruleset: RuleSet, rule: Rule) -> RuleSet:
    """A copy of ``ruleset`` with ``rule`` added or replacing the one of the same name."""
    rules = [rule if r.name == rule.name else r for r in ruleset.rules]
    if rule.name not in ruleset.names():
        rules.append(rule)
    return replace(ruleset, rules=tuple(rules))

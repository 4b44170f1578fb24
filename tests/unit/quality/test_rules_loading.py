"""Rules files: shipped defaults, merging by name, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_lakehouse.pipeline.errors import RulesError
from retail_lakehouse.quality.rules import DEFAULTS_SOURCE, load_rules, rules_from_text


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


RULE = """\
rules:
  - name: big_orders
    dimension: accuracy
    expression: quantity < 10000
    weight: 4
    action: warn
    description: Nobody orders ten thousand of anything.
"""


def test_defaults_ship_with_the_package() -> None:
    rules = load_rules()
    names = rules.names()
    for expected in (
        "invoice_no_present",
        "stock_code_present",
        "quantity_parseable",
        "unit_price_parseable",
        "invoice_date_parseable",
        "quantity_not_zero",
        "customer_present",
        "description_present",
        "price_not_zero",
        "price_not_negative",
        "not_in_future",
        "date_plausible",
        "quantity_typical",
        "price_typical",
        "stock_code_format",
    ):
        assert expected in names
    assert {r.action for r in rules.by_action("quarantine")} == {"quarantine"}
    assert all(r.source == DEFAULTS_SOURCE for r in rules)
    assert len(set(names)) == len(names)


def test_a_file_adds_rules_after_the_defaults(tmp_path: Path) -> None:
    rules = load_rules([write(tmp_path, RULE)])
    added = rules.get("big_orders")
    assert rules.names()[-1] == "big_orders"
    assert (added.dimension, added.weight, added.action, added.threshold) == (
        "accuracy",
        4.0,
        "warn",
        None,
    )
    assert added.source.endswith("rules.yaml")


def test_override_by_name_changes_only_the_given_keys(tmp_path: Path) -> None:
    override = write(
        tmp_path, "rules:\n  - name: customer_present\n    action: fail\n    threshold: 0.3\n"
    )
    default = load_rules().get("customer_present")
    changed = load_rules([override]).get("customer_present")
    assert (changed.action, changed.threshold) == ("fail", 0.3)
    assert (changed.expression, changed.weight) == (default.expression, default.weight)
    assert len(load_rules([override])) == len(load_rules())


def test_later_files_win_and_rules_can_be_switched_off(tmp_path: Path) -> None:
    first = write(tmp_path, RULE, "a.yaml")
    second = write(
        tmp_path,
        "rules:\n  - name: big_orders\n    weight: 9\n  - name: price_typical\n"
        "    enabled: false\n",
        "b.yaml",
    )
    rules = load_rules([first, second])
    assert rules.get("big_orders").weight == 9
    assert "price_typical" not in rules.names()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rules: [", "not valid YAML"),
        ("- just a list", "top-level 'rules:' list"),
        ("rules: {name: x}", "'rules' must be a list"),
        ("rules:\n  - 42\n", "rule #1 must be a mapping"),
        ("rules:\n  - name: Bad Name\n", "lower_snake_case"),
        (RULE + "    treshold: 0.1\n", "unknown key(s) ['treshold']"),
        (RULE.replace("accuracy", "beauty"), "dimension must be one of"),
        (RULE.replace("action: warn", "action: explode"), "action must be one of"),
        (RULE.replace("weight: 4", "weight: 400"), "weight must be a number from 0 to 100"),
        (RULE.replace("weight: 4", "weight: lots"), "weight must be a number"),
        (RULE + "    threshold: 0.1\n", "threshold only applies to action 'fail'"),
        (
            RULE.replace("action: warn", "action: fail") + "    threshold: 5\n",
            "write 0.05 for 5%",
        ),
        ("rules:\n  - name: lonely\n    weight: 1\n", "missing dimension, expression, action"),
        (RULE + RULE[7:], "defined twice in the same file"),
        (RULE.replace("quantity < 10000", "quantity <"), "cannot read the expression"),
        (RULE.replace("quantity < 10000", "qty < 10000"), "unknown column 'qty'"),
        (RULE.replace("quantity < 10000", "quantity + 1"), "must be a condition"),
        (
            RULE.replace("quantity < 10000", "read_csv('x') IS NULL"),
            "function read_csv() is not available",
        ),
        (
            RULE.replace("quantity < 10000", "quantity IN (SELECT 1)"),
            "IN takes a list of literals",
        ),
        (RULE.replace("quantity < 10000", "median(quantity) > 1"), "needs a window"),
        (
            RULE.replace("quantity < 10000", "stock_code ~ '(unclosed'"),
            "invalid regular expression",
        ),
        (RULE.replace("quantity < 10000", "description > 5"), "does not type-check"),
        (RULE.replace("quantity < 10000", "quality_score > 5"), "unknown column"),
    ],
)
def test_bad_files_name_the_file_the_rule_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RulesError) as error:
        load_rules([path])
    message = str(error.value)
    assert str(path) in message
    assert problem in message
    if "big_orders" in text and "defined twice" not in problem and "rule #" not in message:
        assert "'big_orders'" in message


def test_an_unreadable_file_is_a_rules_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules([tmp_path / "missing.yaml"])


def test_a_file_that_is_not_utf8_text_is_a_rules_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(RULE.replace("Nobody", "Caf\u00e9").encode("latin-1"))
    with pytest.raises(RulesError, match=r"latin1\.yaml: not UTF-8 text \(byte 1\d\d\)"):
        load_rules([path])


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 150 + "quantity" + ")" * 150 + " > 0",  # sqlglot's parser runs out of stack
        "quantity " + "+ 1 " * 600 + "> 0",  # parsed, then too deep to translate
        " AND ".join(["quantity > 0"] * 120),
    ],
    ids=["parentheses", "sum", "conditions"],
)
def test_an_expression_nested_too_deeply_is_refused_not_a_crash(
    tmp_path: Path, expression: str
) -> None:
    path = write(tmp_path, RULE.replace("quantity < 10000", repr(expression)))
    with pytest.raises(RulesError, match=r"'big_orders': the expression nests too deeply"):
        load_rules([path])


def test_statements_are_not_expressions() -> None:
    with pytest.raises(RulesError, match="must be an expression"):
        rules_from_text(
            RULE.replace("quantity < 10000", "'DROP TABLE x'").replace(
                "expression: 'DROP TABLE x'", 'expression: "DROP TABLE silver"'
            )
        )


def _rule_with(expression: str) -> str:
    """A one-rule file whose expression is ``expression`` (YAML double-quoted)."""
    quoted = expression.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return (
        "rules:\n  - name: broken_rule\n    dimension: validity\n"
        f'    expression: "{quoted}"\n    action: warn\n'
    )


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("quantity >", "something is missing after '>' (column 10"),
        ("quantity > 1 AND", "something is missing after 'AND' (column 14"),
        ("NOT", "something is missing after 'NOT' (column 1"),
        ("quantity BETWEEN 1", "BETWEEN needs a low and a high value: x BETWEEN 1 AND 9"),
        ("quantity > (1", "a '(' is not closed (column 13"),
        ("foo(1 2)", "expected ')' before '2' (column 7"),
        ("quantity >= 1 1", "unexpected '1' (column 15"),
        ("quantity > 1 )", "unexpected ')' (column 14"),
        ("description = 'abc", "the quoted text starting at column 15 is not closed"),
        ('"quantity > 1', "the quoted name starting at column 1 is not closed"),
        ("quantity >\n  (1 +", "something is missing after '+' (line 2, column 6"),
        ("quantity > 1; DROP TABLE x", "one condition only, not several statements"),
        ("quantity IS", "'quantity' is followed by 'IS' with no operator"),
        ("quantity + 'abc' > 1", "+ does not apply to quantity (int64) and 'abc' (string)"),
        ("quantity LIKE '5%'", "LIKE does not apply to quantity (int64)"),
        ("upper(quantity) = 'A'", "UPPER does not apply to quantity (int64)"),
        # a function or an operator as the rule writer spelt it, not sqlglot's class keys
        ("starts_with(quantity, 'a')", "STARTS_WITH does not apply to quantity (int64)"),
        ("-country > 0", "- does not apply to country (string)"),
        # a statistic over text: DuckDB's cast of 'United Kingdom' to DOUBLE at run time
        ("abs(robust_z(country)) <= 10", "robust_z needs numbers, not country (string)"),
        ("median(description) OVER () > 1", "median needs numbers, not description (string)"),
        ("sum(country) OVER () > 1", "sum needs numbers, not country (string)"),
    ],
)
def test_an_unreadable_expression_is_explained_in_words(
    tmp_path: Path, expression: str, says: str
) -> None:
    """sqlglot's own text (class names, 'Required keyword') never reaches the user: the message
    says what is wrong and where in the expression, after the file and the rule's name."""
    path = write(tmp_path, _rule_with(expression))
    with pytest.raises(RulesError) as error:
        load_rules([path])
    message = str(error.value)
    assert message.startswith(f"{path}: rule 'broken_rule': "), message
    assert says in message, message
    for internal in ("sqlglot", "<class", "Required keyword", "Error tokenizing", "Block", "Alias"):
        assert internal not in message, message

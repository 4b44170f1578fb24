"""The examples of docs/quality-rules.md are valid rules (the guide cannot drift from the code)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retail_lakehouse.quality.rules import rules_from_text

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "quality-rules.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S)


def test_the_guide_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", BLOCKS)
def test_every_example_loads(block: str) -> None:
    if block.lstrip().startswith("rules:"):
        rules_from_text(block, include_defaults=True)
        return
    if block.lstrip().startswith("tests:"):  # table tests: checked against the contracts
        assert rules_from_text(block, include_defaults=True).tests
        return
    expressions = re.findall(
        r"expression: (?:>-\n)?(.*?)(?=\n\n|\nexpression|\n#|\Z)", block, flags=re.S
    )
    assert expressions
    for expression in expressions:
        lines = (re.sub(r"\s+#.*$", "", line).strip() for line in expression.splitlines())
        text = " ".join(lines)
        rules_from_text(
            "rules:\n  - name: example\n    dimension: validity\n    weight: 1\n"
            f"    action: warn\n    expression: >-\n      {text}\n"
        )

"""Product categories: the shipped keyword mapping and a user CSV layered over it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from retail_lakehouse.engines import Engine
from retail_lakehouse.pipeline.gold.categories import (
    NON_PRODUCT,
    OTHER,
    CategoryMappingError,
    category_rules,
    shipped_rules,
    with_category,
)

DESCRIPTIONS = {
    "JUMBO BAG RED RETROSPOT": "Bags & Storage",
    "white hanging heart t-light holder": "Home Decor",
    "PAPER CHAIN KIT 50'S CHRISTMAS": "Christmas",
    "HANDBAG": "Bags & Storage",
    "STRING OF PEARLS": OTHER,  # "RING" only matches at a word start
    "SET OF 3 CAKE TINS PANTRY DESIGN": "Baking",
    "ALARM CLOCK BAKELIKE RED": "Home Decor",
    "POSTAGE": NON_PRODUCT,
}


def categorise(engine: Engine, rules_file: Path | None = None) -> dict[str, str]:
    names = list(DESCRIPTIONS) + [None]
    table = pa.table(
        {
            "code": [str(i) for i in range(len(names))],
            "description": names,
            "is_non_product": [d == "POSTAGE" for d in names],
        }
    )
    t = engine.arrow_table(table, "category_input")
    out = engine.to_arrow(with_category(engine, t, "code", category_rules(rules_file)))
    return {str(row["description"]): row["category"] for row in out.to_pylist()}


def test_shipped_mapping(engine: Engine) -> None:
    got = categorise(engine)
    assert got.pop("None") == OTHER
    assert got == DESCRIPTIONS
    assert len({rule.keyword for rule in shipped_rules()}) == len(shipped_rules())


def test_user_rules_come_first(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("keyword,category\nretrospot,Retrospot range\npearls,Jewellery\n")
    got = categorise(engine, path)
    assert got["JUMBO BAG RED RETROSPOT"] == "Retrospot range"
    assert got["STRING OF PEARLS"] == "Jewellery"
    assert got["ALARM CLOCK BAKELIKE RED"] == "Home Decor"  # shipped rules still apply


def test_bad_user_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("word,group\nbag,Bags\n")
    with pytest.raises(CategoryMappingError, match="keyword,category"):
        category_rules(path)
    with pytest.raises(CategoryMappingError, match=r"missing\.csv"):
        category_rules(tmp_path / "missing.csv")

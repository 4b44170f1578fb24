"""Product categories from description keywords: a documented, user-overridable mapping.

The shipped mapping is ``categories.csv`` next to this module (``keyword,category``, checked in
file order, first match wins). A user CSV of the same shape (``Settings.product_categories``) is
checked *before* the shipped rows, so it can add keywords and re-route existing ones without
copying the whole file. Matching is on whole-word prefixes of the normalised description (ASCII
letters upper-cased, every run of other characters turned into one space): ``BAG`` matches
"JUMBO BAG RED" and "BAGS", not "HANDBAG" (which has its own keyword). Descriptions that match
no keyword are ``Other``; non-product codes (postage, fees, adjustments) are ``Non-product``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.csv as pacsv

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake import arrays
from retail_lakehouse.pipeline.errors import PipelineError
from retail_lakehouse.pipeline.text import ASCII_UPPER, ascii_upper

OTHER = "Other"
NON_PRODUCT = "Non-product"
_NON_ALNUM = r"[^A-Z0-9]+"


class CategoryMappingError(PipelineError):
    """The user's category CSV cannot be used (nothing is committed)."""


@dataclass(frozen=True)
class CategoryRule:
    keyword: str
    category: str


def normalise_keyword(text: str) -> str:
    """Keywords are normalised exactly like descriptions (see the module docstring)."""
    return re.sub(_NON_ALNUM, " ", text.translate(ASCII_UPPER)).strip()


def _read_rules(data: bytes, origin: str) -> list[CategoryRule]:
    try:
        table: pa.Table = pacsv.read_csv(
            pa.BufferReader(data),
            convert_options=pacsv.ConvertOptions(
                column_types={"keyword": pa.string(), "category": pa.string()},
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as error:
        raise CategoryMappingError(f"{origin}: {error}") from None
    missing = {"keyword", "category"} - set(table.column_names)
    if missing:
        raise CategoryMappingError(f"{origin}: needs the columns keyword,category")
    rules: list[CategoryRule] = []
    for keyword, category in zip(
        table.column("keyword").to_pylist(), table.column("category").to_pylist(), strict=True
    ):
        word = normalise_keyword(keyword)
        if not word or not category.strip():
            raise CategoryMappingError(f"{origin}: empty keyword or category in {keyword!r}")
        rules.append(CategoryRule(word, category.strip()))
    return rules


def shipped_rules() -> list[CategoryRule]:
    """The mapping shipped with the package."""
    data = resources.files(__package__).joinpath("categories.csv").read_bytes()
    return _read_rules(data, "categories.csv")


def category_rules(user_csv: Path | None = None) -> list[CategoryRule]:
    """The effective mapping: the user's rules first, then the shipped ones; first keyword wins."""
    rules: list[CategoryRule] = []
    if user_csv is not None:
        try:
            data = user_csv.read_bytes()
        except OSError as error:
            raise CategoryMappingError(f"product categories file {user_csv}: {error}") from None
        rules = _read_rules(data, str(user_csv))
    rules += shipped_rules()
    seen: set[str] = set()
    unique: list[CategoryRule] = []
    for rule in rules:
        if rule.keyword not in seen:
            seen.add(rule.keyword)
            unique.append(rule)
    return unique


RULES_KEY = "retail.category_rules"
"""Commit metadata of ``gold.dim_product``: the fingerprint of the mapping its categories were
derived with. An append re-derives only its recomputed products' categories when the mapping is
the same; any other commit (an older version, a rollback) makes it re-derive every row."""


def rules_fingerprint(rules: list[CategoryRule]) -> str:
    """A digest of the effective mapping, in order (priority matters)."""
    import hashlib

    text = "\n".join(f"{rule.keyword}\x1f{rule.category}" for rule in rules)
    return hashlib.sha256(text.encode()).hexdigest()


_RULES = pa.schema(
    [
        pa.field("rule_priority", pa.int32()),
        pa.field("rule_keyword", pa.string()),
        pa.field("rule_category", pa.string()),
    ]
)


def rules_table(rules: list[CategoryRule]) -> pa.Table:
    """The mapping as data: priority (file order), `` KEYWORD`` as matched, category."""
    return arrays.table(
        {
            "rule_priority": list(range(len(rules))),
            "rule_keyword": [" " + rule.keyword for rule in rules],
            "rule_category": [rule.category for rule in rules],
        },
        _RULES,
    )


def with_category(engine: Engine, table: ir.Table, key: str, rules: list[CategoryRule]) -> ir.Table:
    """``table`` (unique ``key``, ``description``, ``is_non_product``) plus ``category``.

    The mapping is joined as a table (every row against every keyword, the first matching rule
    wins) rather than compiled into a CASE of one branch per rule: the same answer, while the
    query stays small however many keywords a user adds."""
    mapping = engine.arrow_table(rules_table(rules), "gold_category_rules")
    normalised = table.select(
        key, _normalised=" " + ascii_upper(table.description).re_replace(_NON_ALNUM, " ") + " "
    )
    matches = normalised.cross_join(mapping).filter(
        normalised._normalised.contains(mapping.rule_keyword)
    )
    first = matches.group_by(key).agg(rule_priority=matches.rule_priority.min())
    chosen = first.join(mapping, "rule_priority").select(key, "rule_category")
    joined = table.left_join(chosen, key)
    category: ir.StringValue = ibis.cases(
        (joined.is_non_product.fill_null(False), NON_PRODUCT),
        (joined.rule_category.isnull(), OTHER),
        else_=joined.rule_category,
    )
    return joined.select(*[table[c] for c in table.columns], category=category)

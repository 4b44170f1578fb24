"""Product search: case-insensitive and typo-tolerant, over an in-memory index of ``dim_product``.

The index is built once per snapshot (a few thousand products), so a search is a fuzzy match
over Python strings that takes about a millisecond and never reaches SQL. Relevance (0-100): an
exact stock code scores 100, a code prefix 96, a description containing the query 90-95, and
anything else rapidfuzz's ``WRatio`` scaled below 90 (it copes with typos, missing words and word
order: "whte hart" finds "WHITE HANGING HEART T-LIGHT HOLDER").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from rapidfuzz import fuzz, process, utils

MIN_SCORE = 65.0


@dataclass(frozen=True)
class Product:
    stock_code: str
    description: str
    category: str | None
    is_non_product: bool


@dataclass(frozen=True)
class Hit:
    product: Product
    score: float


class ProductIndex:
    """Products of one snapshot, pre-normalised for matching."""

    def __init__(self, products: list[Product]) -> None:
        self.products = products
        self._normalised = [utils.default_process(p.description or "") for p in products]
        categories = {p.category for p in products if p.category}
        self.categories: dict[str, str] = {c.lower(): c for c in sorted(categories)}

    @classmethod
    def from_arrow(cls, table: pa.Table) -> ProductIndex:
        rows: list[dict[str, Any]] = table.to_pylist()
        return cls(
            [
                Product(
                    stock_code=str(r["stock_code"]),
                    description=r["description"] or "",
                    category=r["category"],
                    is_non_product=bool(r["is_non_product"]),
                )
                for r in rows
            ]
        )

    def resolve_category(self, value: str) -> str | None:
        return self.categories.get(value.strip().lower())

    def search(self, query: str | None, category: str | None, limit: int) -> list[Hit]:
        """Best matches for ``query`` (any case, typos allowed) within ``category`` (exact)."""
        allowed = [
            i for i, p in enumerate(self.products) if category is None or p.category == category
        ]
        if not query or not query.strip():
            ordered = sorted(allowed, key=lambda i: self.products[i].description)
            return [Hit(self.products[i], 100.0) for i in ordered[:limit]]
        text = utils.default_process(query)
        fuzzy: dict[int, float] = {}
        if text:
            choices = {i: self._normalised[i] for i in allowed}
            for _, score, i in process.extract(
                text, choices, scorer=fuzz.WRatio, limit=None, score_cutoff=MIN_SCORE
            ):
                fuzzy[i] = float(score)
        code = query.strip().lower()
        scores: dict[int, float] = {i: s * 0.89 for i, s in fuzzy.items()}
        for i in allowed:
            stock = self.products[i].stock_code.lower()
            if stock == code:
                scores[i] = 100.0
            elif stock.startswith(code):
                scores[i] = 96.0
            elif text and text in self._normalised[i]:
                scores[i] = 90.0 + fuzzy.get(i, 0.0) * 0.05
        ranked = sorted(
            scores,
            key=lambda i: (-scores[i], self.products[i].description, self.products[i].stock_code),
        )
        return [Hit(self.products[i], round(scores[i], 1)) for i in ranked[:limit]]

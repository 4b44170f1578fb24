"""Product search: case-insensitive and typo-tolerant, over an in-memory index of ``dim_product``.

Built once per snapshot. Fuzzy-matching a query against every description (tens of thousands
on a big lake) costs about 100 ms, so the index works on words instead: the query's words are
matched against the much smaller vocabulary of description words (rapidfuzz ``ratio``, plus
prefixes and word parts, so "whte" finds WHITE and "cake" finds CAKESTAND), and only products
containing a matched word are scored. A search then takes a few milliseconds and never reaches
SQL.

Relevance (0-100): an exact stock code scores 100, the exact description (any case and
punctuation) 98, a code prefix 96; otherwise 85% of the mean over the query's words of their
best word match (a word the product lacks counts 0) plus up to 4 points for the share of the
description's words the query matched, so "party bunting" ranks PARTY BUNTING above SPOTTY
BUNTING PARTY PACK, and at most 89. rapidfuzz ``WRatio`` on the whole description orders equal
scores.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from rapidfuzz import fuzz, process, utils

MIN_SCORE = 60.0
EXACT_DESCRIPTION = 98.0
WORD_CUTOFF = 75.0
MAX_RERANK = 500


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
    """Products of one snapshot, with a word index for fast fuzzy search."""

    def __init__(self, products: list[Product]) -> None:
        self.products = products
        self._normalised = [utils.default_process(p.description or "") for p in products]
        postings: dict[str, list[int]] = defaultdict(list)
        for i, text in enumerate(self._normalised):
            for word in set(text.split()):
                postings[word].append(i)
        self._postings = dict(postings)
        self._word_counts = [len(set(text.split())) for text in self._normalised]
        self._vocabulary = sorted(self._postings)
        self._codes = sorted((p.stock_code.lower(), i) for i, p in enumerate(products))
        categories = {p.category for p in products if p.category}
        self.categories: dict[str, str] = {c.lower(): c for c in sorted(categories)}

    @classmethod
    def from_arrow(cls, table: pa.Table) -> ProductIndex:
        products: list[Product] = []
        # Batch by batch: one huge to_pylist() would hold the GIL (and stall requests) for the
        # whole table while a snapshot is built in the background.
        for batch in table.to_batches(max_chunksize=2048):
            rows: list[dict[str, Any]] = batch.to_pylist()
            products += [
                Product(
                    stock_code=str(r["stock_code"]),
                    description=r["description"] or "",
                    category=r["category"],
                    is_non_product=bool(r["is_non_product"]),
                )
                for r in rows
            ]
        return cls(products)

    def resolve_category(self, value: str) -> str | None:
        return self.categories.get(value.strip().lower())

    # -- matching --------------------------------------------------------------------------
    def _word_matches(self, token: str) -> dict[str, float]:
        """Vocabulary words close to ``token``, with a 0-100 similarity."""
        found: dict[str, float] = {}
        for word, score, _ in process.extract(
            token, self._vocabulary, scorer=fuzz.ratio, limit=None, score_cutoff=WORD_CUTOFF
        ):
            found[word] = float(score)
        start = bisect.bisect_left(self._vocabulary, token)
        for word in self._vocabulary[start:]:
            if not word.startswith(token):
                break
            found[word] = max(found.get(word, 0.0), 100.0 if word == token else 95.0)
        if len(token) >= 4:
            for word in self._vocabulary:
                if token in word:
                    found[word] = max(found.get(word, 0.0), 85.0)
        return found

    def _code_matches(self, query: str) -> dict[int, float]:
        code = query.strip().lower()
        scores: dict[int, float] = {}
        if not code:
            return scores
        start = bisect.bisect_left(self._codes, (code, -1))
        for stock, i in self._codes[start:]:
            if not stock.startswith(code):
                break
            scores[i] = 100.0 if stock == code else 96.0
        return scores

    def search(self, query: str | None, category: str | None, limit: int) -> list[Hit]:
        """Best matches for ``query`` (any case, typos allowed) within ``category`` (exact)."""

        def allowed(i: int) -> bool:
            return category is None or self.products[i].category == category

        if not query or not query.strip():
            ordered = sorted(
                (i for i in range(len(self.products)) if allowed(i)),
                key=lambda i: (self.products[i].description, self.products[i].stock_code),
            )
            return [Hit(self.products[i], 100.0) for i in ordered[:limit]]
        text = utils.default_process(query)
        tokens = list(dict.fromkeys(text.split()))
        totals: dict[int, float] = defaultdict(float)
        covered: dict[int, set[str]] = defaultdict(set)
        for token in tokens:
            best: dict[int, float] = {}
            for word, similarity in self._word_matches(token).items():
                for i in self._postings[word]:
                    covered[i].add(word)
                    if similarity > best.get(i, 0.0):
                        best[i] = similarity
            for i, similarity in best.items():
                totals[i] += similarity
        scores: dict[int, float] = {}
        for i, total in totals.items():
            mean = total / len(tokens)
            if mean < MIN_SCORE or not allowed(i):
                continue
            if self._normalised[i] == text:
                scores[i] = EXACT_DESCRIPTION
                continue
            coverage = min(1.0, len(covered[i]) / max(1, self._word_counts[i]))
            scores[i] = round(min(89.0, mean * 0.85 + 4.0 * coverage), 1)
        for i, score in self._code_matches(query).items():
            if allowed(i):
                scores[i] = score
        shortlist = sorted(scores, key=lambda i: -scores[i])[:MAX_RERANK]
        tie_break = {i: fuzz.WRatio(text, self._normalised[i]) for i in shortlist}
        ranked = sorted(
            shortlist,
            key=lambda i: (
                -scores[i],
                -tie_break[i],
                self.products[i].description,
                self.products[i].stock_code,
            ),
        )
        return [Hit(self.products[i], scores[i]) for i in ranked[:limit]]

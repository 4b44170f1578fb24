"""The one definition of whitespace and letter case (``pipeline/text.py``), on DuckDB, against
the same definition applied in Python. Spark is compared with DuckDB by the parity tests."""

from __future__ import annotations

import sys
import unicodedata

import pyarrow as pa

from retail_lakehouse.engines import Engine
from retail_lakehouse.pipeline.text import (
    ASCII_UPPER,
    WHITESPACE,
    WHITESPACE_CLASS,
    ascii_lower,
    ascii_upper,
    is_blank,
    remove_whitespace,
    strip_whitespace,
)
from tests.adversarial import NOT_WHITESPACE, adversarial_rows

SAMPLES = [
    "vintage shelf",
    "64018f",
    "\u00a0\t vintage shelf \u3000\x0b\x0c",
    "\ufeff\u200bcode\u200b",
    "\u00adsoft hyphen\u00ad",
    "\x1fseparator\x1f",
    "",
    "   ",
    "a\u00a0b",
    "STRAße ﬁne İ",
    *[value for row in adversarial_rows() for value in row.values() if value is not None],
]


def evaluate(engine: Engine, expression: object) -> list[object]:
    table = engine.arrow_table(pa.table({"s": pa.array(SAMPLES, pa.string())}), "text_samples")
    column = table.s
    result = engine.to_arrow(table.select(out=expression(column)))  # type: ignore[operator]
    return result.column("out").to_pylist()


def test_whitespace_is_unicode_white_space_plus_two_invisible_characters() -> None:
    unicode_spaces = {
        c
        for c in map(chr, range(sys.maxunicode + 1))
        if c.isspace() and c not in "\x1c\x1d\x1e\x1f"
    }
    assert set(WHITESPACE) == unicode_spaces | {"\u200b", "\ufeff"}
    assert WHITESPACE_CLASS.isascii()  # no control character ever reaches SQL text
    assert not set(NOT_WHITESPACE) & set(WHITESPACE)
    assert all(unicodedata.category(c) != "Ll" for c in WHITESPACE)


def test_strip_remove_and_blank_match_python(engine: Engine) -> None:
    assert evaluate(engine, strip_whitespace) == [s.strip(WHITESPACE) for s in SAMPLES]
    assert evaluate(engine, remove_whitespace) == [
        "".join(c for c in s if c not in WHITESPACE) for s in SAMPLES
    ]
    assert evaluate(engine, is_blank) == [not s.strip(WHITESPACE) for s in SAMPLES]


def test_case_changes_ascii_letters_only(engine: Engine) -> None:
    assert evaluate(engine, ascii_upper) == [s.translate(ASCII_UPPER) for s in SAMPLES]
    lowered = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    assert evaluate(engine, ascii_lower) == [s.translate(lowered) for s in SAMPLES]
    assert "STRAße ﬁne İ".translate(ASCII_UPPER) == "STRAßE ﬁNE İ"


def test_null_stays_null(engine: Engine) -> None:
    table = engine.arrow_table(pa.table({"s": pa.array([None], pa.string())}), "null_text")
    out = engine.to_arrow(
        table.select(a=strip_whitespace(table.s), b=ascii_upper(table.s), c=is_blank(table.s))
    ).to_pylist()
    assert out == [{"a": None, "b": None, "c": True}]

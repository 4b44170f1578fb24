"""Old vs new silver text cleaning (decision 0010) on a lake's bronze lines, one DuckDB process,
alternating runs. Usage: python scripts/bench_text_cleaning.py LAKE [RUNS]"""

import statistics
import sys
import time

import ibis

from retail_lakehouse.engines import open_engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.pipeline.text import ascii_upper, strip_whitespace


@ibis.udf.scalar.builtin(name="trim")  # type: ignore[untyped-decorator]
def _trim_chars(value: str, characters: str) -> str:  # type: ignore[empty-body]
    """DuckDB's two-argument trim, as silver used before decision 0010."""


def old(v):
    return _trim_chars(v, " \t\n\r\v\f").nullif("")


def new(v):
    return strip_whitespace(v).nullif("")


lake = Lake(sys.argv[1])
with open_engine(lake, "duckdb") as eng:
    b = eng.table("bronze.sales_lines")
    cols = [
        "invoice_no",
        "stock_code",
        "description",
        "quantity",
        "invoice_date",
        "unit_price",
        "customer_id",
        "country",
    ]

    def expr(f, up):
        sel = {c: f(b[c].cast("string")) for c in cols}
        sel["invoice_no"] = up(sel["invoice_no"])
        sel["stock_code"] = up(sel["stock_code"])
        t = b.select(**sel)
        return t.aggregate(**{f"n_{c}": t[c].length().sum() for c in cols})

    variants = {
        "old (trim + upper)": expr(old, lambda v: v.upper()),
        "new (regex + ascii_upper)": expr(new, ascii_upper),
    }
    times = {k: [] for k in variants}
    results = {}
    for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 5):
        for k, e in variants.items():
            t0 = time.perf_counter()
            results[k] = eng.to_arrow(e).to_pylist()
            times[k].append(time.perf_counter() - t0)
    for k, v in times.items():
        print(f"{k}: median {statistics.median(v):.3f}s  runs {[round(x, 3) for x in v]}")
    print("same lengths:", results["old (trim + upper)"] == results["new (regex + ascii_upper)"])

# ruff: noqa: B023  (a throwaway measurement tool, decision 0011 point 48)
"""Compare every Delta table of two lakes row for row (EXCEPT ALL both ways), times ignored."""

import sys
from pathlib import Path

import duckdb
from deltalake import DeltaTable

a, b = Path(sys.argv[1]), Path(sys.argv[2])
con = duckdb.connect()
bad = 0
for log in sorted(a.glob("*/*/_delta_log")):
    t = log.parent.relative_to(a)
    fa = DeltaTable(str(a / t)).file_uris()
    fb = DeltaTable(str(b / t)).file_uris()
    if not fa and not fb:
        continue
    cols = con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({fa!r}, union_by_name=true)"
    ).fetchall()
    keep = [
        c[0]
        for c in cols
        if not any(
            k in c[0]
            for k in (
                "computed_at",
                "run_id",
                "_ingested_at",
                "finished",
                "started",
                "seconds",
                "_run",
            )
        )
    ]
    sel = ", ".join(f'"{c}"' for c in keep)

    def q(f):
        return f"SELECT {sel} FROM read_parquet({f!r}, union_by_name=true)"

    n1 = con.execute(f"SELECT count(*) FROM ({q(fa)} EXCEPT ALL {q(fb)})").fetchone()[0]
    n2 = con.execute(f"SELECT count(*) FROM ({q(fb)} EXCEPT ALL {q(fa)})").fetchone()[0]
    rows = con.execute(f"SELECT count(*) FROM ({q(fa)})").fetchone()[0]
    if n1 or n2:
        bad += 1
    print(f"{t!s:40} rows {rows:8} diff {n1} {n2}")
print("tables differing:", bad)

"""Ibis' SQL compilers load on demand once the DuckDB engine is imported (decision 0011, eighth
round): the DuckDB backend still works, and every other compiler or dialect is still there
when asked for (the Spark engine's PySpark compiler, ``ibis.to_sql`` to another dialect).

Run in a fresh interpreter: in the test process another test may have imported the compilers
package the ordinary way already, and then nothing would be tested."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
import retail_lakehouse.engines.duckdb
import ibis
loaded = lambda: sorted(n for n in sys.modules if n.startswith("ibis.backends.sql.compilers."))
con = ibis.duckdb.connect()
assert con.sql("SELECT 41 + 1 AS answer").to_pyarrow().to_pylist() == [{"answer": 42}]
assert "ibis.backends.sql.compilers.postgres" not in loaded(), loaded()
t = ibis.table({"a": "int64"}, name="t")
assert "FROM" in ibis.to_sql(t.select(b=t.a + 1), dialect="postgres")
from ibis.backends.sql.compilers import PySparkCompiler
import ibis.backends.sql.compilers as sc
assert sc.PySparkCompiler is PySparkCompiler and sc.pyspark.compiler is not None
try:
    ibis.to_sql(t, dialect="no_such_dialect")
except ValueError:
    pass
else:
    raise AssertionError("an unknown dialect was accepted")
print("ok")
"""


def test_compilers_load_on_demand() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"

#!/bin/bash
# One series: per round, the bare copy, then target 1's chain (real and floor), then target 3's.
N=${1:-6}; OUT=${2:-/tmp/floor-series.txt}
FL=$(cd "$(dirname "$0")" && pwd); V=${V:-$FL/../../.venv/bin}; W=${W:-/tmp/fl16}
export RETAIL_SQL_CACHE=$W/sqlcache
cd $W
[ -n "$NICE" ] && echo -19 > /proc/self/autogroup
t() { local label=$1; shift; /usr/bin/time -f "$label %e %U %S %M" -a -o $OUT "$@" >/dev/null 2>$W/last.err || { echo "FAIL $label" >> $OUT; tail -3 $W/last.err >> $OUT; }; }
for i in $(seq $N); do
  echo "# round $i load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)" >> $OUT
  t python_bare $V/python -c pass
  t python_imports $V/python -c "import sys; sys.modules['numpy'] = None; import pyarrow, pyarrow.parquet, pyarrow.ipc; del sys.modules['numpy']; import duckdb, deltalake"
  rm -f copy.parquet; t bare $V/python -c "import duckdb; duckdb.connect().execute(\"COPY (SELECT * FROM read_csv('$W/F.csv', all_varchar = true)) TO '$W/copy.parquet' (FORMAT parquet)\")"
  rm -rf I0; t ingestF_real $V/retail --lake $W/I0 ingest F.csv
  rm -rf I0; t ingestF_floor $V/python $FL/ingest.py $W/recI0 $W/I0 $W/F.csv
  rm -rf R0; cp -a Pfresh R0; sync; t runF_real $V/retail --lake $W/R0 run
  rm -rf R0; cp -a Pfresh R0; sync; t runF_floor $V/python $FL/replay.py $W/recF
  rm -rf R0; cp -a Pfresh R0; sync; t runF_floor1 $V/python $FL/replay.py $W/recF --one-connection
  rm -rf I1; cp -a Q0 I1; sync; t ingestA_real $V/retail --lake $W/I1 ingest A.csv
  rm -rf I1; cp -a Q0 I1; sync; t ingestA_floor $V/python $FL/ingest.py $W/recI $W/I1 $W/A.csv
  rm -rf R1; cp -a P1 R1; sync; t runA_real $V/retail --lake $W/R1 run
  rm -rf R1; cp -a P1 R1; sync; t runA_floor $V/python $FL/replay.py $W/recA
  rm -rf R1; cp -a P1 R1; sync; t runA_floor1 $V/python $FL/replay.py $W/recA --one-connection
done
echo "# end load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)" >> $OUT

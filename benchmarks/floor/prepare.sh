#!/bin/bash
# Build the lakes and recordings the floor's series uses (decision 0020, sixteenth round).
# Everything lives in $W (default /tmp/fl16); the recordings name the lakes' paths, so the
# series replays on copies made at the same paths. Needs about 1 GB of disk.
set -euo pipefail
W=${W:-/tmp/fl16}; V=${V:-$(cd "$(dirname "$0")/../.." && pwd)/.venv/bin}
FL=$(cd "$(dirname "$0")" && pwd)
export RETAIL_SQL_CACHE=$W/sqlcache
mkdir -p "$W" && cd "$W"
$V/retail generate --rows 541909 --out F.csv --seed 42
$V/python -c "
from pathlib import Path
from retail_lakehouse.benchmark.processes import make_append
make_append(Path('F.csv'), Path('A.csv'), 5419, 0)"
$V/python "$FL/record.py" recI0 -- --lake "$W/I0" ingest F.csv      # fresh ingest, recorded
cp -a I0 Pfresh                                                     # F ingested, not run
cp -a Pfresh R0 && $V/python "$FL/record.py" recF -- --lake "$W/R0" run   # fresh run, recorded
cp -a R0 Q0                                                         # the lake before the append
cp -a Q0 I1 && $V/python "$FL/record.py" recI -- --lake "$W/I1" ingest A.csv   # append's ingest
cp -a I1 P1                                                         # A ingested, not run
cp -a P1 R1 && $V/python "$FL/record.py" recA -- --lake "$W/R1" run   # append's run, recorded

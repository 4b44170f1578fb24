"""``retail vacuum`` says what it deleted: every file, whatever its name (old Parquet files,
strays, a reader's decompressed copy left by a command killed with its reader), and their size.
It counted ``*.parquet`` only, so a 1 MB scratch copy deleted by it was "deleted 0 file(s)"."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from tests.conftest import run_retail


def _files(lake: Path) -> dict[Path, int]:
    return {p: p.stat().st_size for p in lake.rglob("*") if p.is_file()}


def test_vacuum_counts_and_sizes_every_file_it_deletes(
    tmp_path: Path, real_files: list[Path]
) -> None:
    lake = tmp_path / "lake"
    assert run_retail("ingest", real_files[2], lake=lake).code == 0
    assert run_retail("run", lake=lake).code == 0
    assert run_retail("ingest", real_files[1], lake=lake).code == 0
    assert run_retail("run", lake=lake).code == 0  # old versions' files for vacuum to delete
    folder = lake / "bronze" / "sales_lines"
    copy = folder / "part-00000000-0000-0000-0000-000000000000-c000.snappy.parquet.input.csv"
    copy.write_bytes(b"x" * 1_000_000)  # a decompressed copy a killed command left
    old = time.time() - 3 * 86400
    os.utime(copy, (old, old))
    before = _files(lake)

    done = run_retail("vacuum", "--retain", "0h", "--force", lake=lake)

    assert done.code == 0, done.stderr[-2000:]
    after = _files(lake)
    gone = {p: size for p, size in before.items() if p not in after}
    assert copy in gone
    assert any(p.suffix == ".parquet" for p in gone)
    found = re.search(r"deleted (\d+) file\(s\) \(([\d,]+) bytes\)", done.stdout)
    assert found, done.stdout
    assert int(found.group(1)) == len(gone)
    assert int(found.group(2).replace(",", "")) == sum(gone.values())

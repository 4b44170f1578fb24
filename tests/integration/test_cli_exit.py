"""``retail`` leaves through the interpreter's normal teardown, with its exit code intact.

The command used to end with ``os._exit`` to dodge an abort in native teardown ("terminate
called without an active exception", exit -6). These tests run the commands that touch every
native library (the parser threads, DuckDB, delta-rs, pyarrow), on success and on a file refused
half-way through its stream, and check the exit codes and that atexit handlers run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import RetailCli

ABORTS = ("terminate called", "Fatal Python error", "Segmentation fault", "core dumped")


def _clean(stderr: str) -> bool:
    return not any(sign in stderr for sign in ABORTS)


def test_commands_exit_with_their_code_and_no_native_abort(
    retail: RetailCli, lake_dir: Path, real_files: list[Path], tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.parquet"
    rows = 300_000
    table = pa.table({"Invoice": [str(i) for i in range(rows)], "Quantity": ["1"] * rows})
    pq.write_table(table, damaged, row_group_size=50_000)
    data = bytearray(damaged.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = b"\xff" * 4096  # a row group past the first is unreadable
    damaged.write_bytes(bytes(data))

    for command, expected in [
        (("ingest", *real_files), 0),
        (("run",), 0),
        (("ingest", damaged), 2),
        (("run",), 0),
        (("status",), 0),
        (("sql", "SELECT count(*) FROM gold.fact_sales"), 0),
    ]:
        done = retail(*command, lake=lake_dir)
        assert done.code == expected, (command, done.code, done.stderr[-2000:])
        assert _clean(done.stderr), (command, done.stderr[-2000:])


def test_atexit_handlers_run_after_a_command(lake_dir: Path) -> None:
    """``os._exit`` would skip them (and coverage, profilers and buffered logs with them)."""
    lake_dir.mkdir()  # an empty lake (status refuses a folder that does not exist)
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        f"sys.argv = ['retail', '--lake', {str(lake_dir)!r}, 'status']\n"
        "from retail_lakehouse.cli.app import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("atexit ran")


def test_an_ingest_interrupted_while_hashing_exits_130_with_nothing_ingested(
    lake_dir: Path, tmp_path: Path
) -> None:
    """Ctrl-C (SIGINT) while the ingest hashes a big file: the command says so and exits 130
    (a script must not take it for a success), its helper thread does not keep it alive, and
    bronze gains nothing (decision 0021, twelfth-round review)."""
    import os
    import signal
    import time

    from tests.conftest import RETAIL

    line = b"536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,UK\n"
    big = tmp_path / "big.csv"
    with big.open("wb") as out:
        out.write(b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,")
        out.write(b"Country\n" + line * 2_500_000)  # about 200 MB: many 16 MiB blocks
    process = subprocess.Popen(
        [RETAIL, "--lake", str(lake_dir), "ingest", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,  # noqa: PLW1509 (a background parent may ignore SIGINT)
    )
    deadline = time.monotonic() + 60
    while process.poll() is None and _read_so_far(process.pid, big) < 2 * 16 * 2**20:
        assert time.monotonic() < deadline, "the ingest never read the file"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGINT)  # two blocks read: the hash is under way
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and _clean(stderr)
    assert not (lake_dir / "bronze" / "sales_lines").exists()


def _read_so_far(pid: int, path: Path) -> int:
    """How far process ``pid`` has read ``path`` (its open descriptor's offset; 0: not open)."""
    import os

    fds = Path(f"/proc/{pid}/fd")
    try:
        for fd in fds.iterdir():
            if os.readlink(fd) == str(path):
                info = (Path(f"/proc/{pid}/fdinfo") / fd.name).read_text()
                return int(info.split("pos:")[1].split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _default_sigint() -> None:
    """In the child before exec: SIGINT to its default (a shell's background job ignores it)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)

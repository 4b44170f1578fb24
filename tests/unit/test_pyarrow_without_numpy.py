"""``pyarrow_without_numpy`` (decision 0011, ninth round): in a one-command process pyarrow
loads without NumPy, NumPy stays importable for the code that uses it alone, and pyarrow's
conversions to NumPy then fail loudly instead of crashing; outside such a process (a test, the
API) nothing changes.

Run in fresh interpreters: the test process has NumPy and pyarrow loaded already."""

from __future__ import annotations

import subprocess
import sys

_ONE_COMMAND = """
import sys
from retail_lakehouse.cli import context
context.ONE_COMMAND.append(True)
context.pyarrow_without_numpy()
assert "pyarrow.compute" in sys.modules and "numpy" not in sys.modules, sorted(sys.modules)
import pyarrow as pa
import pyarrow.compute as pc
assert pc.sum(pa.array([1, 2, 3], pa.int64())).as_py() == 6
import numpy as np  # importable again, and usable on Arrow buffers
assert np.frombuffer(pa.array([7, 8], pa.int64()).buffers()[1], np.int64).tolist() == [7, 8]
try:
    pa.array([1, 2], pa.int64()).to_numpy()
except ImportError:
    pass
else:
    raise AssertionError("pyarrow converted to NumPy without its bridge")
print("ok")
"""

_IN_PROCESS = """
import sys
from retail_lakehouse.cli import context
context.pyarrow_without_numpy()
assert "pyarrow" not in sys.modules
import pyarrow as pa
assert pa.array([1, 2], pa.int64()).to_numpy().tolist() == [1, 2]
print("ok")
"""


def _run(code: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_a_one_command_process_loads_pyarrow_without_numpy() -> None:
    _run(_ONE_COMMAND)


def test_outside_a_one_command_process_nothing_changes() -> None:
    _run(_IN_PROCESS)

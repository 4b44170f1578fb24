"""A real lake and a real ``retail serve`` for API tests, built the way a user builds them.

The lake comes from generated data through the real CLI (``generate``, ``ingest``, ``run``) once
per test process and is copied for tests that change it. Servers are the real ``retail serve``
command in a subprocess on a free loopback port; keys come from ``retail keys create``.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from retail_lakehouse.benchmark.broker import free_port
from tests.conftest import RETAIL, run_retail

BATCHES = ((16_000, 42), (4_000, 7))
"""Generated files (lines, seed), each ingested and run in turn: incremental runs, and invoice
numbers that repeat across files, as in merged real exports."""
ROLES = ("viewer", "analyst", "admin")
START_SECONDS = 240
"""How long a server may take to answer its first health check. Seconds on an idle machine;
a loaded shared runner has been seen to need more than a minute."""


def _ok(*args: str | Path, lake: Path | None = None) -> str:
    done = run_retail(*args, lake=lake)
    assert done.code == 0, (
        f"retail {' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@functools.cache
def template_lake() -> Path:
    """A lake built from generated files through the real CLI, once per process."""
    root = Path(tempfile.mkdtemp(prefix="api-lake-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    lake = root / "lake"
    for rows, seed in BATCHES:
        source = root / f"sales-{seed}.csv"
        _ok("generate", "--rows", str(rows), "--seed", str(seed), "--out", source)
        _ok("ingest", source, lake=lake)
        _ok("run", lake=lake)
    return lake


def copy_lake(dest: Path) -> Path:
    """A private copy of the template lake (for tests that write to it)."""
    shutil.copytree(template_lake(), dest)
    return dest


def create_key(lake: Path, role: str, name: str | None = None) -> str:
    """A new key through ``retail keys create``: the key is the last line printed."""
    args = ["keys", "create", "--role", role] + (["--name", name] if name else [])
    return _ok(*args, lake=lake).strip().splitlines()[-1]


@dataclass
class Server:
    """A running ``retail serve`` and what tests need to talk to it."""

    url: str
    lake: Path
    landing: Path
    process: subprocess.Popen[bytes]
    keys: dict[str, str] = field(default_factory=dict)

    def client(
        self, role: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Client:
        """An HTTP client for the server, sending ``role``'s key (none when ``role`` is None)."""
        sent = {"X-API-Key": self.keys[role]} if role else {}
        return httpx.Client(base_url=self.url, headers={**sent, **(headers or {})}, timeout=60)


@contextmanager
def serve(
    lake: Path, *, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[Server]:
    """Start ``retail serve`` on ``lake``, wait until healthy, stop it afterwards."""
    port = free_port()
    landing = lake.parent / "landing"
    environment = {
        **os.environ,
        "RETAIL_LANDING": str(landing),
        "RETAIL_API_RATE_LIMIT_PER_MINUTE": "100000",
        **(env or {}),
    }
    log = (lake.parent / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [RETAIL, "--lake", str(lake), "serve", "--port", str(port), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
    )
    url = f"http://127.0.0.1:{port}"
    server = Server(url, lake, landing, process)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"retail serve exited: {Path(log.name).read_text()}")
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"retail serve did not become healthy within {START_SECONDS} s")
            time.sleep(0.2)
        server.keys = {role: create_key(lake, role, f"test-{role}") for role in ROLES}
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()

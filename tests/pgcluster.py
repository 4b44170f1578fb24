"""A throwaway PostgreSQL cluster from Debian's packages, for tests and benchmarks.

``initdb`` into a fresh folder, a free localhost port, ``pg_ctl start``; stopped by the
postmaster's pid at the end and the folder removed. PostgreSQL refuses to run as root, so as
root (CI) the cluster belongs to the ``postgres`` user the Debian package creates (``nobody`` if
it is missing) and its commands run under that uid (``subprocess``'s ``user=``).

Run as a script it starts a cluster and prints its DSN until interrupted (for benchmarks):
``python -m tests.pgcluster``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from retail_lakehouse.benchmark.broker import free_port

SUPERUSER = "retail_admin"
PASSWORD = "s3cret-admin-pw"  # a throwaway cluster's; tests check it never reaches output


def pg_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` live: Debian keeps them in /usr/lib/postgresql/<ver>/bin,
    off PATH; other systems put them on PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


@dataclass
class Cluster:
    """A running throwaway cluster."""

    folder: Path
    port: int
    pid: int
    bin_dir: Path

    def dsn(self, user: str = SUPERUSER, password: str = PASSWORD, dbname: str = "postgres") -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, *, dbname: str = "postgres") -> str:
        """Run SQL with the packaged ``psql`` (the user's tool) and return its unaligned output."""
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        done = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                dbname,
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout.strip()


def _owner() -> tuple[str | None, int | None, int | None]:
    """The user the cluster runs as: ourselves, or (as root) ``postgres`` / ``nobody``."""
    if os.geteuid() != 0:
        return None, None, None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return name, entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


@contextlib.contextmanager
def running_cluster(settings: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Start a cluster, yield it, stop it by pid and remove its folder."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    name, uid, gid = _owner()
    # as root the cluster's own user must reach the folder: /tmp, not a private TMPDIR
    folder = Path(tempfile.mkdtemp(prefix="retail-pg-", dir="/tmp" if uid is not None else None))
    data = folder / "data"
    pwfile = folder / "pw"
    pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
    if uid is not None and gid is not None:
        os.chown(folder, uid, gid)
        os.chown(pwfile, uid, gid)
    as_owner: dict[str, object] = {"user": name} if name else {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=folder,
        **as_owner,  # type: ignore[arg-type]
    )
    port = free_port()
    options = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(folder),
        "fsync": "off",  # a throwaway cluster: durability is PostgreSQL's own business
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "shared_buffers": "128MB",
        "max_wal_size": "2GB",
        **(settings or {}),
    }
    opts = " ".join(f"-c {k}={v}" for k, v in options.items())
    subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(folder / "log"), "-w"]
        + ["-t", "60", "start"],
        check=True,
        capture_output=True,
        env=env,
        cwd=folder,
        **as_owner,  # type: ignore[arg-type]
    )
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    cluster = Cluster(folder, port, pid, bin_dir)
    try:
        yield cluster
    finally:
        _stop(pid)
        shutil.rmtree(folder, ignore_errors=True)


def _stop(pid: int) -> None:
    """Fast shutdown (SIGINT to the postmaster), then SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops the cluster too
    with running_cluster() as running:
        print(running.dsn(), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()

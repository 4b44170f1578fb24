"""Opening the Spark session the ``[spark]`` settings describe: a master or a Spark Connect server.

One function builds the session for the engine and for ``retail doctor``, so what the doctor
checks is what a run gets. Only the DataFrame and SQL API is used afterwards (a Connect session
has no ``sparkContext``): every setting the engine needs is a runtime SQL setting, applied with
``spark.conf.set`` after the session exists, which both kinds of session accept.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlsplit

from retail_lakehouse.config import SparkSettings
from retail_lakehouse.config_file import ConfigError

DEFAULT_MASTER = "local[*]"

RUNTIME_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    # Wall-clock timestamps as INT64 microseconds (the default, INT96, is deprecated Parquet).
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Shuffle partitions sized by adaptive execution, whatever the cluster (no fixed count).
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
}
"""Set on every session unless the user's ``conf`` says otherwise."""

LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "ERROR",
}
"""Static settings for sessions this process starts itself (a master, not Connect)."""


class SparkUnavailable(ConfigError):
    """The configured Spark cannot be reached or started (a usage error: exit code 2)."""


def target(settings: SparkSettings) -> tuple[str, str]:
    """``("remote", url)`` or ``("master", url)``: settings first, then ``SPARK_REMOTE``."""
    if settings.remote:
        return "remote", settings.remote
    if settings.master:
        return "master", settings.master
    remote = os.environ.get("SPARK_REMOTE")
    if remote:
        return "remote", remote
    return "master", DEFAULT_MASTER


def check_reachable(kind: str, url: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``sc://`` or ``spark://`` address nobody listens on: both clients would
    otherwise retry for minutes before giving up."""
    if not url.startswith(("sc://", "spark://")):
        return
    for address in url.removeprefix("spark://").removeprefix("sc://").split(","):
        parts = urlsplit(f"//{address.split('/')[0].split(';')[0]}")
        host = parts.hostname or "localhost"
        port = parts.port or (15002 if kind == "remote" else 7077)
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError as error:
            last = f"{host}:{port}: {error.strerror or error}"
    raise SparkUnavailable(f"cannot reach the Spark {kind} {url} ({last})")


def open_session(settings: SparkSettings) -> Any:
    """The Spark session for these settings (an existing one in this process is reused)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable(
            "the spark engine needs PySpark: pip install 'retail-lakehouse[spark]'"
        ) from None
    kind, url = target(settings)
    check_reachable(kind, url)
    builder: Any = SparkSession.builder
    if kind == "remote":
        builder = builder.remote(url)
    else:
        builder = builder.master(url).appName("retail-lakehouse")
        local = {**LOCAL_CONF}
        if url.startswith("local"):
            local["spark.driver.memory"] = os.environ.get("RETAIL_SPARK_DRIVER_MEMORY", "2g")
        for key, value in local.items():
            if key not in settings.conf:
                builder = builder.config(key, value)
    for key, value in settings.conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:
        raise SparkUnavailable(f"cannot start a Spark session on {kind} {url}: {error}") from None
    for key, value in RUNTIME_CONF.items():
        if key not in settings.conf:
            session.conf.set(key, value)
    return session


def describe(session: Any, settings: SparkSettings) -> dict[str, Any]:
    """What ``retail doctor`` prints: where the session runs, its version and the settings."""
    kind, url = target(settings)
    conf = {**RUNTIME_CONF, **settings.conf}
    return {
        "engine": "spark",
        kind: url,
        "version": session.version,
        "connect": kind == "remote",
        "conf": {key: session.conf.get(key, value) for key, value in sorted(conf.items())},
    }

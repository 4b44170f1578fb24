"""Where the Spark engine runs, as a user configures it: ``[spark]`` in ``retail.toml``,
``RETAIL_SPARK_*`` over it, Spark's own ``SPARK_REMOTE``, and ``retail doctor --engine spark``
showing and checking the session (exit 2, fast, when nobody listens at the address)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from retail_lakehouse.config import load_settings
from retail_lakehouse.config_file import ConfigError
from retail_lakehouse.engines.spark import file_uri
from retail_lakehouse.engines.spark_session import target
from tests.conftest import RETAIL

TOML = """\
engine = "spark"
[spark]
master = "local[1]"
[spark.conf]
"spark.sql.shuffle.partitions" = 3
"spark.sql.adaptive.enabled" = false
"""


def retail_with(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RETAIL_", "SPARK_REMOTE"))}
    return subprocess.run(
        [RETAIL, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**clean, "RETAIL_CONFIG": str(config), "COLUMNS": "200", **env},
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "retail.toml"
    path.write_text(TOML)
    monkeypatch.setenv("RETAIL_CONFIG", str(path))
    for name in ("RETAIL_SPARK_MASTER", "RETAIL_SPARK_REMOTE", "RETAIL_SPARK_CONF", "SPARK_REMOTE"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_spark_table_of_retail_toml_is_read(config: Path) -> None:
    spark = load_settings().spark
    assert target(spark) == ("master", "local[1]")
    assert spark.conf == {
        "spark.sql.shuffle.partitions": "3",
        "spark.sql.adaptive.enabled": "false",
    }


def test_environment_beats_the_file_and_spark_remote_is_the_fallback(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAIL_SPARK_REMOTE", "sc://spark.example:15002")
    monkeypatch.setenv("RETAIL_SPARK_CONF", '{"spark.executor.memory": "4g"}')
    spark = load_settings().spark
    assert target(spark) == ("remote", "sc://spark.example:15002")  # the file's master dropped
    assert spark.conf["spark.executor.memory"] == "4g"
    assert spark.conf["spark.sql.shuffle.partitions"] == "3"
    monkeypatch.delenv("RETAIL_SPARK_REMOTE")
    config.write_text('engine = "spark"\n')
    monkeypatch.setenv("SPARK_REMOTE", "sc://other:15002")
    assert target(load_settings().spark) == ("remote", "sc://other:15002")
    monkeypatch.delenv("SPARK_REMOTE")
    assert target(load_settings().spark) == ("master", "local[*]")


def test_bad_spark_settings_are_refused(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text('[spark]\nremote = "http://nope"\n')
    with pytest.raises(ConfigError, match="sc://"):
        load_settings()
    config.write_text('[spark]\nmaster = "local[1]"\nremote = "sc://a:1"\n')
    with pytest.raises(ConfigError, match="not both"):
        load_settings()
    config.write_text("")
    monkeypatch.setenv("RETAIL_SPARK_CONF", "[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        load_settings()


def test_local_paths_reach_spark_as_file_uris(tmp_path: Path) -> None:
    assert file_uri(tmp_path / "a b.parquet") == f"file://{tmp_path}/a b.parquet"
    assert file_uri("s3a://bucket/lake/x.parquet") == "s3a://bucket/lake/x.parquet"
    assert file_uri("file:///already/there") == "file:///already/there"


@pytest.mark.spark
def test_doctor_shows_and_checks_the_configured_session(config: Path) -> None:
    pytest.importorskip("pyspark")
    done = retail_with(config, "doctor", "--json")  # engine = "spark" from the file
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["master"] == "local[1]" and report["version"].startswith(("3.", "4."))
    assert report["conf"]["spark.sql.shuffle.partitions"] == "3"
    assert report["conf"]["spark.sql.adaptive.enabled"] == "false"
    assert report["check"].startswith("ok")


@pytest.mark.spark
def test_doctor_refuses_an_address_nobody_listens_on(config: Path) -> None:
    pytest.importorskip("pyspark")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for env in (
        {"RETAIL_SPARK_REMOTE": f"sc://127.0.0.1:{port}"},
        {"RETAIL_SPARK_MASTER": f"spark://127.0.0.1:{port}"},
    ):
        done = retail_with(config, "doctor", "--engine", "spark", **env)
        assert done.returncode == 2, (env, done.stdout, done.stderr)
        assert "cannot reach the Spark" in done.stderr and str(port) in done.stderr
        assert "Traceback" not in done.stderr

"""Where a setting comes from, as a user sets it: defaults < ``retail.toml`` < ``RETAIL_*``
variables < options given in code (the CLI's flags), merged key by key inside tables, with the
environment's spellings (nested ``__`` keys, JSON values, any case), as pydantic-settings reads
them; and the refusals, which name the variable that holds a bad value (decision 0021,
thirteenth round)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from retail_lakehouse.config import load_settings
from retail_lakehouse.config_file import ConfigError
from tests.conftest import RETAIL

TOML = """\
landing = "inbox"
engine = "duckdb"
writer_wait = 3
[limits]
max_columns = 99
max_file_mb = 7
[publish]
schema = "from_file"
[alerts.channels.ops]
type = "webhook"
url = "http://file.example"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.upper().startswith("RETAIL_"):
            monkeypatch.delenv(name)
    config = tmp_path / "retail.toml"
    config.write_text(TOML)
    monkeypatch.setenv("RETAIL_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_each_source_wins_over_the_one_below_key_by_key(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAIL_WRITER_WAIT", "4")
    monkeypatch.setenv("RETAIL_LIMITS__MAX_FILE_MB", "8")  # one key of the file's [limits]
    monkeypatch.setenv("RETAIL_ALERTS__CHANNELS__OPS__URL", "http://env.example")
    settings = load_settings(writer_wait=5.0, log_format=None)
    assert settings.writer_wait == 5.0  # the option over the variable over the file
    assert settings.limits.max_file_mb == 8  # the variable over the file...
    assert settings.limits.max_columns == 99  # ...which still sets its other keys
    assert settings.limits.max_line_bytes == 8 * 2**20  # and the default the rest
    assert settings.landing == Path("inbox")  # the file is in the working folder
    assert settings.publish.target_schema == "from_file"
    channel = settings.alerts.channels["ops"]
    assert (channel.type, channel.url) == ("webhook", "http://env.example")
    assert settings.log_format is None  # an option not given falls through


def test_json_values_any_case_aliases_and_empty_text(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("retail_engine", "spark")  # names are matched in any case
    monkeypatch.setenv("RETAIL_RULES", '["a.yaml", "b.yaml"]')
    monkeypatch.setenv("RETAIL_LIMITS", '{"max_columns": 100, "max_file_mb": 9}')
    monkeypatch.setenv("RETAIL_LIMITS__MAX_FILE_MB", "10")  # a key over the JSON object
    monkeypatch.setenv("RETAIL_PUBLISH__SCHEMA", "from_env")  # the alias of target_schema
    monkeypatch.setenv("RETAIL_ALERTS__FRESHNESS", '[{"pattern": "shop_*", "hours": 26}]')
    monkeypatch.setenv("RETAIL_ALERTS__CHANNELS__OPS__TO", '["ops@example.com"]')
    monkeypatch.setenv("RETAIL_WEBHOOK_URL", "")  # an empty value is a value
    settings = load_settings()
    assert settings.engine == "spark"
    assert settings.rules == [Path("a.yaml"), Path("b.yaml")]
    assert (settings.limits.max_columns, settings.limits.max_file_mb) == (100, 10)
    assert settings.publish.target_schema == "from_env"
    assert [(f.pattern, f.hours) for f in settings.alerts.freshness] == [("shop_*", 26.0)]
    assert settings.alerts.channels["ops"].to == ["ops@example.com"]
    assert settings.alerts.channels["ops"].url == "http://file.example"
    assert settings.webhook_url == ""


def test_a_bad_value_is_refused_naming_its_variable(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAIL_ENGINE", "foo")
    with pytest.raises(ConfigError, match=r"RETAIL_ENGINE='foo'.*'duckdb' or 'spark'"):
        load_settings()
    monkeypatch.delenv("RETAIL_ENGINE")
    monkeypatch.setenv("RETAIL_LIMITS", "{max_columns: 3")
    with pytest.raises(ConfigError, match=r"RETAIL_LIMITS: this setting takes JSON"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [("RETAIL_WATCH", ""), ("retail_watch", "{"), ("RETAIL_ALERTS__FRESHNESS", "[{")],
)
def test_a_variable_that_is_not_json_is_refused_naming_it(
    project: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("RETAIL_WATCH__SCHEDULE", "0 2 * * *")  # a good neighbour, not named
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value).startswith(f"invalid settings: environment variable {name}:")
    assert f"{name}: this setting takes JSON" in str(refused.value)
    assert "SCHEDULE" not in str(refused.value)


def test_the_cli_refuses_a_variable_that_is_not_json_with_exit_2(project: Path) -> None:
    done = subprocess.run(
        [RETAIL, "status"],
        capture_output=True,
        text=True,
        env={**os.environ, "RETAIL_WATCH": "{", "COLUMNS": "200"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr  # pydantic-settings' SettingsError was exit 1
    assert "RETAIL_WATCH: this setting takes JSON" in done.stderr
    assert "internal error" not in done.stderr


def test_a_variable_that_is_not_json_is_never_echoed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its text may hold a webhook's token beside the broken brace: named, never shown."""
    monkeypatch.setenv("RETAIL_ALERTS", '{"channels": {"ops": {"url": "https://h/T0PSECRET"')
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "RETAIL_ALERTS: this setting takes JSON" in str(refused.value)
    assert "T0PSECRET" not in str(refused.value)


def test_a_bad_nested_variable_is_named(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAIL_LIMITS__MAX_FILE_MB", "lots")
    with pytest.raises(ConfigError, match=r"RETAIL_LIMITS__MAX_FILE_MB='lots'.*valid integer"):
        load_settings()

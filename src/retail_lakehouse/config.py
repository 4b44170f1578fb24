"""Settings: one place for every knob, read from ``retail.toml`` and ``RETAIL_*`` variables.

Precedence (highest first): explicit CLI options, environment variables, ``retail.toml`` (the
file named by ``RETAIL_CONFIG``, else the nearest one in the working directory or a parent folder:
see :mod:`retail_lakehouse.config_file`), built-in defaults. Keeping this in one
pydantic model means the CLI, the API and the Dagster definitions all see the same values.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from retail_lakehouse.config_file import (
    ConfigError,
    describe_settings_error,
    describe_validation_error,
    find_config_file,
    read_config,
    rebase_paths,
    warn_unknown_keys,
)

# -- retail watch and alerts (orchestrate/watch.py, observe/alerts) ----------------------------


class WatchSettings(BaseModel):
    """``[watch]``: how ``retail watch`` decides a file is complete and when it runs."""

    settle_seconds: float = Field(
        default=5.0,
        ge=0,
        description="A file is complete once its size and mtime stay put "
        "this long (files named *.part, *.tmp or starting with '.' are never picked up).",
    )
    quiet_seconds: float = Field(
        default=60.0, ge=0, description="Run the pipeline once no new file arrived for this long."
    )
    schedule: str | None = Field(
        default=None,
        description="Cron expression (local time) for scheduled runs, e.g. '0 2 * * *'.",
    )
    retry_attempts: int = Field(default=3, ge=1, description="Attempts per failed run.")
    retry_backoff_seconds: float = Field(
        default=30.0, ge=0, description="Wait before the 2nd attempt; doubles each time."
    )
    archive: bool = Field(
        default=False, description="Move processed files to landing/_archive/YYYY-MM-DD/."
    )
    poll_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest idle wait between folder scans."
    )


class ChannelSettings(BaseModel):
    """One alert channel: a JSON webhook, a Slack-compatible webhook, or e-mail over SMTP."""

    type: Literal["webhook", "slack", "smtp"]
    url: str | None = None
    host: str = "localhost"
    port: int = 25
    sender: str = "retail-lakehouse@localhost"
    to: list[str] = Field(default_factory=list)
    username: str | None = None
    password_env: str | None = Field(
        default=None, description="Environment variable holding the SMTP password."
    )
    starttls: bool = False
    timeout_seconds: float = 10.0


class FreshnessSettings(BaseModel):
    """Alert when no file matching ``pattern`` (a glob on the file name) arrived for ``hours``."""

    pattern: str = "*"
    hours: float = Field(gt=0)


class AlertSettings(BaseModel):
    """``[alerts]``: channels and thresholds of the alerts raised by ``retail watch``."""

    channels: dict[str, ChannelSettings] = Field(default_factory=dict)
    freshness: list[FreshnessSettings] = Field(default_factory=list)
    slow_run_factor: float = Field(
        default=3.0, gt=1, description="A run slower than this times the recent median alerts."
    )
    slow_run_history: int = Field(default=10, ge=1, description="Runs in the median.")
    slow_run_min_runs: int = Field(default=5, ge=1, description="Runs needed for a median.")
    slow_run_min_seconds: float = Field(
        default=30.0, ge=0, description="Runs shorter than this never count as slow."
    )
    retry_seconds: float = Field(default=60.0, ge=0, description="First delivery retry delay.")
    max_delivery_attempts: int = Field(default=8, ge=1)


class PublishSettings(BaseModel):
    """``[publish]``: the PostgreSQL copy of gold that BI tools connect to (``retail publish``)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    dsn: SecretStr | None = Field(
        default=None,
        description="libpq connection string or postgresql:// URL (RETAIL_PUBLISH_DSN wins).",
    )
    target_schema: str = Field(
        default="retail", alias="schema", description="PostgreSQL schema that receives gold."
    )
    after_run: bool = Field(default=False, description="Publish after every successful run.")


DEFAULT_RETAIN_HOURS = 168
"""Vacuum's default window: a week of versions stays readable (``--as-of``, rollback)."""
MAX_RETAIN_HOURS = 876_000
"""100 years: longer than any lake has existed, so it keeps every version; a longer window has
no cut-off date the calendar can hold (Python's dates end at year 1), it was an OverflowError.
The one bound of ``retail vacuum --retain`` and ``[maintenance] retain_hours``."""


class MaintenanceSettings(BaseModel):
    """``[maintenance]``: let ``retail run`` compact and vacuum on its own (off by default)."""

    auto: bool = Field(default=False, description="Optimize and vacuum after each run.")
    max_files: int = Field(
        default=64, description="A table with more live files than this is compacted."
    )
    retain_hours: int = Field(
        default=DEFAULT_RETAIN_HOURS,
        ge=0,
        le=MAX_RETAIN_HOURS,
        description="Vacuum keeps what versions of the last N hours need (0 to 876,000).",
    )


class SparkSettings(BaseModel):
    """Where the Spark engine runs: ``[spark]`` in ``retail.toml``, ``RETAIL_SPARK_MASTER``,
    ``RETAIL_SPARK_REMOTE``, ``RETAIL_SPARK_CONF`` (a JSON object), and Spark's own
    ``SPARK_REMOTE`` when neither master nor remote is set (see docs/spark.md)."""

    master: str | None = Field(
        default=None, description="local[N], spark://host:port, yarn or k8s://... (default local)."
    )
    remote: str | None = Field(default=None, description="Spark Connect URL: sc://host:port.")
    conf: dict[str, str] = Field(
        default_factory=dict, description="Passed to the session builder as-is (spark.* keys)."
    )

    @field_validator("conf", mode="before")
    @classmethod
    def _conf_text(cls, value: Any) -> Any:
        """TOML numbers and booleans are Spark conf text too (``4`` means ``"4"``)."""
        if isinstance(value, dict):
            return {
                str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()
            }
        return value

    @model_validator(mode="after")
    def _one_target(self) -> SparkSettings:
        if self.master and self.remote:
            raise ValueError("set spark master or spark remote, not both")
        if self.remote and not self.remote.startswith("sc://"):
            raise ValueError(f"spark remote must be an sc:// URL, got {self.remote!r}")
        return self


# -- dates and numbers of source files (sources/formats.py, decision 0017) -------------------


class FormatSourceRule(BaseModel):
    """``[[formats.sources]]``: how files whose name matches ``pattern`` are written."""

    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(description="Glob on the file name (on the path when it has a '/').")
    date_order: Literal["mdy", "dmy", "ymd"] | None = Field(
        default=None, description="Month, day or year first."
    )
    decimal: Literal[".", ","] | None = Field(default=None, description="Decimal separator.")
    encoding: Literal["utf-8", "utf-8-sig", "cp1252"] | None = Field(
        default=None, description="Text encoding (instead of the detected one)."
    )
    delimiter: Literal[",", ";", "\t", "|"] | None = Field(
        default=None, description="Field delimiter (instead of the detected one)."
    )


class FormatsSettings(BaseModel):
    """``[formats]``: reading dates and numbers when a file's own values do not decide."""

    default_date_order: Literal["mdy", "dmy", "ymd"] = Field(
        default="mdy", description="Used (and recorded 'assumed') when every date reads both ways."
    )
    max_contradicting_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="A file is refused when more than this share of its deciding values "
        "contradict its declared or majority date order or decimal separator.",
    )
    sources: list[FormatSourceRule] = Field(default_factory=list)


def _spark_from_environment(value: Any) -> Any:
    """Lay ``RETAIL_SPARK_*`` over the ``[spark]`` table (environment beats file)."""
    import json
    import os

    merged: dict[str, Any] = dict(value) if isinstance(value, dict) else {}
    if isinstance(value, SparkSettings):
        merged = value.model_dump()
    for key in ("master", "remote"):
        text = os.environ.get(f"RETAIL_SPARK_{key.upper()}")
        if text:
            merged[key] = text
            merged.pop("remote" if key == "master" else "master", None)
    conf = os.environ.get("RETAIL_SPARK_CONF")
    if conf:
        try:
            extra = json.loads(conf)
        except ValueError as error:
            raise ValueError(f"RETAIL_SPARK_CONF is not a JSON object: {error}") from None
        if not isinstance(extra, dict):
            raise ValueError("RETAIL_SPARK_CONF must be a JSON object of spark.* keys")
        merged["conf"] = {**merged.get("conf", {}), **extra}
    return merged


class LimitsSettings(BaseModel):
    """``[limits]``: what one source file may contain (see ``sources/limits.py``)."""

    max_columns: int = Field(default=256, ge=8, description="Columns per file.")
    max_extra_columns: int = Field(
        default=32, ge=0, description="Non-canonical columns bronze may ever hold."
    )
    max_header_bytes: int = Field(default=65536, ge=256, description="Header line length.")
    max_field_bytes: int = Field(default=65536, ge=64, description="One value's length.")
    max_line_bytes: int = Field(default=8 * 2**20, ge=1024, description="One line's length.")
    max_json_depth: int = Field(default=64, ge=2, description="JSON nesting depth.")
    max_json_keys: int = Field(default=1024, ge=8, description="Keys per JSON object.")
    max_workbook_mb: int = Field(default=512, ge=1, description="xlsx uncompressed size.")
    max_workbook_rows: int = Field(default=1_048_576, ge=1, description="Rows per sheet.")
    max_file_mb: int = Field(
        default=4096, ge=1, description="Size of one source file as given (checked first)."
    )
    max_decompressed_mb: int = Field(
        default=4096, ge=1, description="Content of a .gz/.bz2/.xz file, decompressed."
    )
    max_compression_ratio: int = Field(
        default=100, ge=2, description="Content / compressed size of a .gz/.bz2/.xz file."
    )
    reader_memory_mb: int = Field(default=2048, ge=384, description="Reader process memory.")
    reader_timeout_s: float = Field(default=600.0, gt=0, description="Seconds per file.")

    def reader_limits(self) -> Any:
        """The limits as the reader worker takes them (a plain frozen dataclass)."""
        from retail_lakehouse.sources.limits import MIB, ReaderLimits

        return ReaderLimits(
            max_columns=self.max_columns,
            max_extra_columns=self.max_extra_columns,
            max_header_bytes=self.max_header_bytes,
            max_field_bytes=self.max_field_bytes,
            max_line_bytes=self.max_line_bytes,
            max_json_depth=self.max_json_depth,
            max_json_keys=self.max_json_keys,
            max_workbook_bytes=self.max_workbook_mb * MIB,
            max_workbook_rows=self.max_workbook_rows,
            max_file_bytes=self.max_file_mb * MIB,
            max_decompressed_bytes=self.max_decompressed_mb * MIB,
            max_compression_ratio=self.max_compression_ratio,
            memory_mb=self.reader_memory_mb,
            timeout_s=self.reader_timeout_s,
        )


class Settings(BaseSettings):
    """Runtime configuration of a retail-lakehouse project."""

    model_config = SettingsConfigDict(
        env_prefix="RETAIL_", env_nested_delimiter="__", extra="ignore"
    )

    lake: Path = Field(
        default=Path("lake"),
        description="Root folder of the Delta tables (a path or file:// URI).",
        validate_default=True,  # ./lake in a folder delta-rs cannot open is refused too
    )
    landing: Path = Field(default=Path("landing"), description="Where new files are dropped.")
    rules: list[Path] = Field(
        default_factory=list, description="Extra quality-rule YAML files layered on the defaults."
    )
    engine: Literal["duckdb", "spark"] = Field(
        default="duckdb", description="Transformation engine: duckdb or spark."
    )
    webhook_url: str | None = Field(default=None, description="POSTed to on quality alerts.")
    product_categories: Path | None = Field(
        default=None, description="CSV overriding the keyword -> category mapping of products."
    )
    max_upload_mb: int = Field(default=200, description="Largest file the API accepts.")
    api_rate_limit_per_minute: int = Field(default=600, description="Requests per key.")
    jwt_secret: str | None = Field(default=None, description="Signs API tokens; random if unset.")
    progress_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often a long `retail ingest` writes a progress line to stderr "
        "(the first after that long: a quicker command says nothing).",
    )
    watch: WatchSettings = Field(default_factory=WatchSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    # -- observation (logs, lineage, metrics) ------------------------------------------------
    log_format: Literal["console", "json"] | None = Field(
        default=None,
        description="Log events on stderr as json or console lines (default: warnings only).",
    )
    lineage_url: str | None = Field(
        default=None,
        description="OpenLineage HTTP endpoint (e.g. Marquez); OPENLINEAGE_URL also works.",
    )
    lineage_namespace: str = Field(
        default="retail-lakehouse", description="OpenLineage namespace of the jobs."
    )
    metrics_file: Path | None = Field(
        default=None, description="Prometheus textfile written after every writing command."
    )
    publish: PublishSettings = Field(
        default_factory=PublishSettings, description="PostgreSQL publishing ([publish] table)."
    )
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    formats: FormatsSettings = Field(
        default_factory=FormatsSettings, description="Date orders and decimal separators."
    )
    spark: SparkSettings = Field(
        default_factory=SparkSettings,
        validate_default=True,
        description="Spark session: master or remote, and conf.",
    )
    limits: LimitsSettings = Field(
        default_factory=LimitsSettings, description="Limits on untrusted source files."
    )
    time_zone: str = Field(
        default="UTC",
        description="IANA zone (e.g. Europe/Berlin) of the shop's wall clock: silver's "
        "invoice_ts and everything gold derives from it. Instants that arrive with a zone or "
        "offset (zoned Parquet timestamps, ISO text ending in Z or +01:00) are converted into "
        "it; dates without one are taken as already in it. A lake remembers the zone it was "
        "built in: changing it needs `retail run --full-refresh` (decision 0017).",
    )
    writer_wait: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a writing command waits for another writer before exiting 1.",
    )

    @field_validator("lake", mode="before")
    @classmethod
    def _lake_location(cls, value: Any) -> Any:
        """A ``file://`` URI becomes its folder; other schemes are refused (lake/location), and
        so are folders Delta Lake cannot open, unless the command uses no lake."""
        from retail_lakehouse.lake.location import UnsupportedLakeRoot, local_root

        if not isinstance(value, str | Path):
            return value
        try:
            return local_root(value)
        except UnsupportedLakeRoot:
            if _LAKE_UNUSED.get():
                return Path(value)
            raise

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """An IANA name the time-zone database knows; refused at load (exit 2) otherwise, before
        a run could build silver in a zone no engine can convert to."""
        return known_zone(value)

    @field_validator("spark", mode="before")
    @classmethod
    def _spark_env(cls, value: Any) -> Any:
        return _spark_from_environment(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = find_config_file()
        data = read_config(config)
        if config is not None:
            warn_unknown_keys(config, data, settings_cls.model_fields)
            data = rebase_paths(data, config, _path_defaults(settings_cls))
        return (init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=data))


def known_zone(name: str) -> str:
    """``name`` when it is an IANA time zone (``UTC``, ``Europe/Berlin``, ``Asia/Kolkata``);
    a ValueError naming it otherwise. Offsets (``+01:00``) and abbreviations that are not zones
    (``CEST``) are refused: a fixed offset has no daylight saving, so it is not a shop's clock."""
    if name == "UTC":
        return name  # the default: no file to read
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin', "
            "'America/New_York' or 'UTC'"
        ) from None
    return name


def _path_defaults(settings_cls: type[BaseSettings]) -> dict[str, Any]:
    """Every setting that holds paths, with its default (rebased with the file's folder)."""
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in settings_cls.model_fields.items()
        if "Path" in str(field.annotation)
    }


_LAKE_UNUSED: ContextVar[bool] = ContextVar("lake_unused", default=False)


def load_settings(*, lake_unused: bool = False, **overrides: Any) -> Settings:
    """Build settings, dropping ``None`` overrides so unset CLI options fall through.

    Raises :class:`~retail_lakehouse.config_file.ConfigError` naming the file and line (or the
    environment variable) of a bad value, so callers can refuse before any work starts: a
    value pydantic refuses, and a ``RETAIL_*`` variable that should hold JSON and does not
    (pydantic-settings' ``SettingsError``, otherwise an internal error, exit 1).
    ``lake_unused``: the command opens no lake (``retail init DIR``, ``retail generate``, a
    ``--help``), so a lake folder that cannot be used, the default ``./lake`` of the working
    folder included, is no reason to refuse it."""
    token = _LAKE_UNUSED.set(lake_unused)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        config = find_config_file()
        data = read_config(config)
        raise ConfigError(describe_validation_error(error, config, data, "RETAIL_")) from None
    except SettingsError as error:  # a RETAIL_* variable that should hold JSON and does not
        raise ConfigError(describe_settings_error(error, "RETAIL_")) from None
    finally:
        _LAKE_UNUSED.reset(token)


DEFAULT_TOML = """\
# retail-lakehouse project settings. Every key can also be set as RETAIL_<KEY> in the
# environment (for example RETAIL_LAKE=/data/lake); command-line options win over both.

# Root folder of the Delta Lake tables (bronze, silver, gold, meta).
lake = "lake"

# Folder where new source files are dropped; `retail ingest landing/` picks them up and
# uploads through the API land here.
landing = "landing"

# Extra quality-rule files (YAML, a top-level `rules:` list), layered over the shipped
# defaults: a rule with the same name replaces the default one.
# rules = ["rules/my_rules.yaml"]

# Transformation engine: "duckdb" (embedded, default) or "spark" (needs the [spark] extra).
# engine = "duckdb"

# URL that receives a JSON POST when a quality alert fires.
# webhook_url = "https://hooks.example.com/retail"

# CSV (keyword,category) overriding the shipped product category mapping.
# product_categories = "categories.csv"

# Largest upload the API accepts, in MB.
# max_upload_mb = 200

# A `retail ingest` still going after this many seconds writes a progress line to stderr
# (files done of all, lines, skipped, refused), then one per interval; stdout stays the summary.
# progress_seconds = 10

# `retail watch`: when a dropped file counts as complete, when the pipeline runs.
# [watch]
# settle_seconds = 5        # size and mtime unchanged this long (or rename from *.part)
# quiet_seconds = 60        # run the pipeline once no new file arrived for this long
# schedule = "0 2 * * *"    # and/or on a cron schedule (local time)
# retry_attempts = 3        # attempts per failed run, backoff doubling from:
# retry_backoff_seconds = 30
# archive = false           # move processed files to landing/_archive/YYYY-MM-DD/

# Alerts (run failed, quality gate failed, file refused, freshness, slow run, score drop).
# [alerts.channels.ops]
# type = "webhook"          # generic JSON POST
# url = "https://hooks.example.com/retail"
# [alerts.channels.team]
# type = "slack"            # Slack-compatible incoming webhook
# url = "https://hooks.slack.com/services/..."
# [alerts.channels.mail]
# type = "smtp"
# host = "localhost"
# port = 25
# sender = "retail@example.com"
# to = ["data-team@example.com"]
# password_env = "RETAIL_SMTP_PASSWORD"   # the password itself never goes in this file
# [[alerts.freshness]]
# pattern = "store_*.csv"   # no new file matching this for 26 hours raises an alert
# hours = 26
# `retail publish`: copy gold into PostgreSQL for BI tools (needs the [postgres] extra).
# Prefer RETAIL_PUBLISH_DSN or ~/.pgpass for the password over writing it here.
# [publish]
# dsn = "postgresql://retail@db.example.com:5432/warehouse"
# schema = "retail"
# after_run = false
# Let `retail run` compact tables with more than max_files live files, then vacuum files no
# version of the last retain_hours needs (`retail optimize` / `retail vacuum` by hand otherwise).
# [maintenance]
# auto = true
# max_files = 64
# retain_hours = 168
# Where the Spark engine runs (docs/spark.md): a master (local[4], spark://host:7077, yarn,
# k8s://https://host:443) or a Spark Connect server (remote = "sc://host:15002"), and any
# spark.* settings for the session builder. `retail doctor --engine spark` checks them.
# [spark]
# master = "spark://spark-master:7077"
# [spark.conf]
# "spark.executor.memory" = "4g"
# Limits on what one source file may contain; a file past a limit is refused (exit 2) with
# the reason, before it can widen bronze or exhaust the machine. Each file is read in a
# separate worker process with this memory and time budget.
# [limits]
# max_columns = 256            # columns in a header / distinct JSON keys
# max_extra_columns = 32       # non-canonical columns bronze may ever hold
# max_header_bytes = 65536
# max_field_bytes = 65536      # a longer value rejects its line
# max_line_bytes = 8388608     # a longer line refuses the file
# max_json_depth = 64
# max_json_keys = 1024         # keys per JSON object
# max_workbook_mb = 512        # declared uncompressed size of an xlsx
# max_workbook_rows = 1048576  # rows per sheet
# max_file_mb = 4096           # size of a file as given, checked before it is read
# max_decompressed_mb = 4096   # content of a .gz/.bz2/.xz export
# max_compression_ratio = 100  # content / compressed size, judged past its first 64 MiB
# reader_memory_mb = 2048      # resident memory of the reader process, libraries included
# reader_timeout_s = 600
# The shop's wall clock (an IANA zone): silver's invoice dates, and every day, hour and month
# gold derives from them, are in it. Instants that arrive with a zone (zoned Parquet timestamps,
# ISO text like 2011-12-01T08:26:00+01:00 or ...Z) are converted into it; dates without a zone
# are taken as already in it. The lake records the zone it was built in; after changing it,
# `retail run --full-refresh` rebuilds silver and gold (a plain run refuses, exit 2).
# time_zone = "UTC"
# How files write dates and numbers (docs/dates-and-numbers.md). Detected per file from a value
# that reads one way (13/12/2010, 2,55); otherwise declare it, per file name:
# [formats]
# default_date_order = "mdy"        # when every date reads both ways (recorded "assumed")
# max_contradicting_share = 0.05    # refuse a file when more of its values contradict
# [[formats.sources]]
# pattern = "shop_de_*.csv"
# date_order = "dmy"
# decimal = ","
# delimiter = ";"
# encoding = "cp1252"
"""

"""Settings: one place for every knob, read from ``retail.toml`` and ``RETAIL_*`` variables.

Precedence (highest first): explicit CLI options, environment variables, ``retail.toml`` in the
working directory (or the file named by ``RETAIL_CONFIG``), built-in defaults. Keeping this in one
pydantic model means the CLI, the API and the Dagster definitions all see the same values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _config_file() -> Path:
    return Path(os.environ.get("RETAIL_CONFIG", "retail.toml"))


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
    reader_memory_mb: int = Field(default=1280, ge=384, description="Reader process memory.")
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
            memory_mb=self.reader_memory_mb,
            timeout_s=self.reader_timeout_s,
        )


class Settings(BaseSettings):
    """Runtime configuration of a retail-lakehouse project."""

    model_config = SettingsConfigDict(
        env_prefix="RETAIL_", env_nested_delimiter="__", extra="ignore"
    )

    lake: Path = Field(default=Path("lake"), description="Root folder of the Delta tables.")
    landing: Path = Field(default=Path("landing"), description="Where new files are dropped.")
    rules: list[Path] = Field(
        default_factory=list, description="Extra quality-rule YAML files layered on the defaults."
    )
    engine: str = Field(default="duckdb", description="Transformation engine: duckdb or spark.")
    webhook_url: str | None = Field(default=None, description="POSTed to on quality alerts.")
    product_categories: Path | None = Field(
        default=None, description="CSV overriding the keyword -> category mapping of products."
    )
    max_upload_mb: int = Field(default=200, description="Largest file the API accepts.")
    api_rate_limit_per_minute: int = Field(default=600, description="Requests per key.")
    jwt_secret: str | None = Field(default=None, description="Signs API tokens; random if unset.")
    limits: LimitsSettings = Field(
        default_factory=LimitsSettings, description="Limits on untrusted source files."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, dropping ``None`` overrides so unset CLI options fall through."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


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
# reader_memory_mb = 1280      # resident memory of the reader process, libraries included
# reader_timeout_s = 600
"""

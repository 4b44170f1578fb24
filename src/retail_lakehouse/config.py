"""Settings: one place for every knob, read from ``retail.toml`` and ``RETAIL_*`` variables.

Precedence (highest first): explicit CLI options, environment variables, ``retail.toml`` in the
working directory (or the file named by ``RETAIL_CONFIG``), built-in defaults. Keeping this in one
pydantic model means the CLI, the API and the Dagster definitions all see the same values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _config_file() -> Path:
    return Path(os.environ.get("RETAIL_CONFIG", "retail.toml"))


class Settings(BaseSettings):
    """Runtime configuration of a retail-lakehouse project."""

    model_config = SettingsConfigDict(env_prefix="RETAIL_", extra="ignore")

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
    writer_wait: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a writing command waits for another writer before exiting 1.",
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
"""

"""The project a Dagster run works on: settings (``retail.toml``, ``RETAIL_*``) and its lake."""

from __future__ import annotations

from dagster import ConfigurableResource

from retail_lakehouse.config import Settings, load_settings
from retail_lakehouse.lake import Lake


class RetailProject(ConfigurableResource):  # type: ignore[type-arg]
    """Which lake to build. Unset fields fall through to ``RETAIL_LAKE`` / ``retail.toml`` in
    the working directory, exactly as for the ``retail`` command."""

    lake: str | None = None
    landing: str | None = None

    def settings(self) -> Settings:
        return load_settings(lake=self.lake, landing=self.landing)

    def open_lake(self) -> Lake:
        return Lake(self.settings().lake)

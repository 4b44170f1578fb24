"""Alerts that reach people: conditions, channels (webhook, Slack, e-mail) and dedup.

The one alert implementation of the project: the silver layer's score-drop check, the watcher
and ``retail alerts`` all raise, deliver and record alerts through :class:`AlertBook`.
"""

from retail_lakehouse.observe.alerts.book import AlertBook
from retail_lakehouse.observe.alerts.channels import configured_channels, send
from retail_lakehouse.observe.alerts.model import KINDS, Alert

__all__ = ["KINDS", "Alert", "AlertBook", "configured_channels", "send"]

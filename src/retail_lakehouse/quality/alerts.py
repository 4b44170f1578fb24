"""Quality alerts: a run whose overall score falls well below its recent baseline.

The rule (also in ``docs/quality-report.md``):

* the baseline is the mean overall score of the (up to) five runs that scored the same table
  before this one, ordered by when their scores were computed;
* with fewer than two earlier runs there is no baseline worth the name and no alert;
  with two to four, their mean is the baseline;
* a drop of *more than* 10 points below the baseline raises one ``quality_score_drop`` alert.

An alert is raised through :class:`~retail_lakehouse.observe.alerts.AlertBook` (the project's one
alert implementation): logged, stored in ``meta.alerts`` and sent to the configured channels.
Delivery never fails the run that produced good data: a refused, slow or unreachable channel is
recorded in ``delivered`` / ``delivery_error`` and retried by ``retail watch``.

The caller is a pipeline run that already holds the lake's writer lock; this module does not
take it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from retail_lakehouse.config import ChannelSettings, Settings
from retail_lakehouse.lake.contracts.meta import META_QUALITY_SCORES
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.store import Lake
from retail_lakehouse.observe.alerts import Alert, AlertBook, configured_channels
from retail_lakehouse.observe.alerts.channels import LEGACY_WEBHOOK
from retail_lakehouse.observe.alerts.model import KIND_SCORE_DROP
from retail_lakehouse.quality.history import DEFAULT_TABLE, RunScores, recent_scores

log = logging.getLogger(__name__)

BASELINE_RUNS = 5
MIN_BASELINE_RUNS = 2
DROP_THRESHOLD = 10.0


@dataclass(frozen=True)
class Baseline:
    """The earlier runs a score is compared with, and their mean."""

    runs: list[RunScores]

    @property
    def usable(self) -> bool:
        return len(self.runs) >= MIN_BASELINE_RUNS

    @property
    def mean(self) -> float:
        return sum(r.overall for r in self.runs) / len(self.runs)


def check_score_drop(
    lake: Lake,
    run_id: str,
    *,
    table: str = DEFAULT_TABLE,
    webhook_url: str | None = None,
    settings: Settings | None = None,
) -> list[Alert]:
    """Compare ``run_id``'s overall score with its baseline; raise, store and send any alert.

    Returns the alerts raised (zero or one). Calling it again for the same run and table raises
    nothing new: the alert id is derived from both, and an existing one is not duplicated.
    Delivery goes to the channels of ``settings`` (``[alerts.channels]`` and ``webhook_url``)
    or, without settings, to ``webhook_url`` alone."""
    alert_id = f"{KIND_SCORE_DROP}:{table}:{run_id}"
    with LakeSQL(lake, tables=[META_QUALITY_SCORES.qualified]) as sql:
        recent = recent_scores(sql, run_id, table, BASELINE_RUNS)
    if not recent:  # the run has no score
        return []
    run, baseline = recent[-1], Baseline(recent[:-1])
    if not baseline.usable:
        return []
    drop = baseline.mean - run.overall
    if drop <= DROP_THRESHOLD:
        return []
    message = (
        f"{table}: overall quality score {run.overall:.1f} is {drop:.1f} points below the mean "
        f"{baseline.mean:.1f} of the previous {len(baseline.runs)} runs"
    )
    channels = configured_channels(settings)
    if webhook_url:
        channels[LEGACY_WEBHOOK] = ChannelSettings(type="webhook", url=webhook_url)
    book = AlertBook(lake, settings, channels=channels, lock_held=True)
    alert = book.raise_alert(
        KIND_SCORE_DROP,
        alert_id,
        message,
        severity="critical" if drop > 2 * DROP_THRESHOLD else "warning",
        run_id=run_id,
        value=run.overall,
        baseline=round(baseline.mean, 4),
        subject=table,
        alert_id=alert_id,
    )
    if alert is None:
        return []
    log.warning("quality alert: %s", message)
    return [alert]


def recent_alerts(sql: LakeSQL, run_ids: list[str], limit: int = 20) -> list[dict[str, Any]]:
    """Stored alerts of the given runs, newest first (what reports show)."""
    if not run_ids:
        return []
    rows: list[dict[str, Any]] = sql.rows(
        """
        SELECT alert_id, run_id, raised_at, kind, severity, message, value, baseline,
               delivered, delivery_error
        FROM meta.alerts
        WHERE list_contains(?, run_id)
        ORDER BY raised_at DESC
        LIMIT ?
        """,
        [run_ids, limit],
    )
    return rows

"""Quality alerts: a run whose overall score falls well below its recent baseline.

The rule (also in ``docs/quality-report.md``):

* the baseline is the mean overall score of the (up to) five runs that scored the same table
  before this one, ordered by when their scores were computed;
* with fewer than two earlier runs there is no baseline worth the name and no alert;
  with two to four, their mean is the baseline;
* a drop of *more than* 10 points below the baseline raises one ``quality_score_drop`` alert.

An alert is logged, appended to ``meta.alerts`` and, when a webhook URL is configured, POSTed as
JSON. Delivery is best effort: a refused, slow or unreachable webhook is recorded in
``delivered`` / ``delivery_error`` and never fails the run that produced good data.

The caller is a pipeline run that already holds the lake's writer lock; this module does not
take it again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pyarrow as pa

from retail_lakehouse.lake.contracts.meta import META_ALERTS, META_QUALITY_SCORES
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.store import Lake
from retail_lakehouse.quality.history import DEFAULT_TABLE, RunScores, score_history

log = logging.getLogger(__name__)

KIND_SCORE_DROP = "quality_score_drop"
BASELINE_RUNS = 5
MIN_BASELINE_RUNS = 2
DROP_THRESHOLD = 10.0
WEBHOOK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Alert:
    """One raised alert, as stored in ``meta.alerts``."""

    alert_id: str
    run_id: str
    raised_at: datetime
    kind: str
    severity: str
    message: str
    value: float | None
    baseline: float | None
    delivered: bool | None  # None: no webhook configured
    delivery_error: str | None

    def payload(self, table: str) -> dict[str, Any]:
        """The JSON body sent to the webhook."""
        body = asdict(self)
        body["raised_at"] = self.raised_at.isoformat()
        body["table"] = table
        del body["delivered"], body["delivery_error"]
        return body


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


def baseline_for(history: list[RunScores], run_id: str) -> tuple[RunScores, Baseline] | None:
    """The run itself and the up-to-five runs before it, or None when the run has no score."""
    for position, run in enumerate(history):
        if run.run_id == run_id:
            earlier = history[max(0, position - BASELINE_RUNS) : position]
            return run, Baseline(earlier)
    return None


def check_score_drop(
    lake: Lake,
    run_id: str,
    *,
    table: str = DEFAULT_TABLE,
    webhook_url: str | None = None,
) -> list[Alert]:
    """Compare ``run_id``'s overall score with its baseline; raise, store and send any alert.

    Returns the alerts raised (zero or one). Calling it again for the same run and table raises
    nothing new: the alert id is derived from both, and an existing one is not duplicated."""
    with LakeSQL(lake, tables=[META_QUALITY_SCORES.qualified, META_ALERTS.qualified]) as sql:
        found = baseline_for(score_history(sql, table), run_id)
        alert_id = f"{KIND_SCORE_DROP}:{table}:{run_id}"
        already: int = (
            sql.arrow("SELECT count(*) AS n FROM meta.alerts WHERE alert_id = ?", [alert_id])
            .column("n")[0]
            .as_py()
        )
    if found is None or already:
        return []
    run, baseline = found
    if not baseline.usable:
        return []
    drop = baseline.mean - run.overall
    if drop <= DROP_THRESHOLD:
        return []
    message = (
        f"{table}: overall quality score {run.overall:.1f} is {drop:.1f} points below the mean "
        f"{baseline.mean:.1f} of the previous {len(baseline.runs)} runs"
    )
    alert = Alert(
        alert_id=alert_id,
        run_id=run_id,
        raised_at=datetime.now(UTC),
        kind=KIND_SCORE_DROP,
        severity="critical" if drop > 2 * DROP_THRESHOLD else "warning",
        message=message,
        value=run.overall,
        baseline=round(baseline.mean, 4),
        delivered=None,
        delivery_error=None,
    )
    log.warning("quality alert: %s", message)
    if webhook_url:
        delivered, error = deliver(webhook_url, alert.payload(table))
        alert = Alert(**{**asdict(alert), "delivered": delivered, "delivery_error": error})
    _store(lake, alert)
    return [alert]


def deliver(url: str, payload: dict[str, Any]) -> tuple[bool, str | None]:
    """POST ``payload`` as JSON; report (delivered, error) instead of raising."""
    try:
        response = httpx.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS)
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as error:
        reason = f"{type(error).__name__}: {error}"
        log.warning("quality alert not delivered to webhook: %s", reason)
        return False, reason
    if response.is_success:
        return True, None
    reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    log.warning("quality alert not delivered to webhook: %s", reason)
    return False, reason


def _store(lake: Lake, alert: Alert) -> None:
    row = {name: [value] for name, value in asdict(alert).items()}
    lake.write(META_ALERTS.qualified, pa.table(row))


def recent_alerts(sql: LakeSQL, run_ids: list[str], limit: int = 20) -> list[dict[str, Any]]:
    """Stored alerts of the given runs, newest first (what reports show)."""
    if not run_ids:
        return []
    rows: list[dict[str, Any]] = sql.arrow(
        """
        SELECT alert_id, run_id, raised_at, kind, severity, message, value, baseline,
               delivered, delivery_error
        FROM meta.alerts
        WHERE list_contains(?, run_id)
        ORDER BY raised_at DESC
        LIMIT ?
        """,
        [run_ids, limit],
    ).to_pylist()
    return rows

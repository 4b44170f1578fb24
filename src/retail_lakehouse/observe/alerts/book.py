"""``meta.alerts`` as the alert book: raise once per condition, deliver, retry, clear.

* **No storm**: an alert stands for a *condition* (``run_failed``, ``freshness:store_*.csv``, a
  refused file's name and hash, ...). While an alert for a condition is open, raising it again
  does nothing; :meth:`AlertBook.resolve` closes it when the condition clears, and only then can
  it be raised anew.
* **Delivery is recorded and retried**: each channel's outcome is kept on the alert's row
  (``channels``), with ``attempts`` and ``next_attempt_at``; :meth:`AlertBook.retry_due` sends
  again to the channels that failed, with exponential backoff, up to a maximum of attempts.
* One row per alert, updated in place (a Delta overwrite of that one ``alert_id``), so the table
  reads as the current state of every alert while Delta history keeps every change.

Writes need the lake's writer lock. Inside a pipeline run the caller already holds it
(``lock_held=True``); elsewhere (the watcher between runs) the book takes it per write.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from retail_lakehouse.config import ChannelSettings, Settings
from retail_lakehouse.lake import Lake, arrays
from retail_lakehouse.lake.contracts.meta import META_ALERTS
from retail_lakehouse.observe.alerts.channels import configured_channels, send
from retail_lakehouse.observe.alerts.model import (
    DELIVERED,
    Alert,
    alert_id_for,
    checked_id,
)

log = logging.getLogger(__name__)

TABLE = META_ALERTS.qualified


class AlertBook:
    """The alerts of one lake, with the channels and thresholds of one project."""

    def __init__(
        self,
        lake: Lake,
        settings: Settings | None = None,
        *,
        channels: dict[str, ChannelSettings] | None = None,
        lock_held: bool = False,
    ) -> None:
        self.lake = lake
        self.settings = settings
        self.channels = configured_channels(settings) if channels is None else channels
        self.lock_held = lock_held
        alerts = settings.alerts if settings else None
        self.retry_seconds = alerts.retry_seconds if alerts else 60.0
        self.max_attempts = alerts.max_delivery_attempts if alerts else 8

    # -- reading -------------------------------------------------------------------------------
    def all(self) -> list[Alert]:
        """Every alert, newest first."""
        if not self.lake.exists(TABLE):
            return []
        rows = self.lake.read(TABLE).to_pylist()
        alerts = [_from_row(row) for row in rows]
        return sorted(alerts, key=lambda a: a.raised_at, reverse=True)

    def open_alert(self, condition: str) -> Alert | None:
        for alert in self.all():
            if alert.condition == condition and alert.open:
                return alert
        return None

    # -- raising and clearing --------------------------------------------------------------------
    def raise_alert(
        self,
        kind: str,
        condition: str,
        message: str,
        *,
        severity: str = "warning",
        run_id: str | None = None,
        value: float | None = None,
        baseline: float | None = None,
        subject: str | None = None,
        alert_id: str | None = None,
        reported: bool = False,
    ) -> Alert | None:
        """Raise, deliver and store an alert, unless one is open for ``condition`` (or an alert
        with ``alert_id`` exists). Returns the new alert or None.

        ``reported``: the caller has just told its user the reason (the watcher's ``run failed:``
        and ``refused``), so the log line says only that an alert was raised: the message goes
        to the channels and ``meta.alerts``, not a second time to the same terminal."""
        known = self.all()
        if any(a.condition == condition and a.open for a in known):
            return None
        if alert_id is not None and any(a.alert_id == alert_id for a in known):
            return None
        now = datetime.now(UTC)
        alert = Alert(
            alert_id=checked_id(alert_id or alert_id_for(kind, condition, now)),
            run_id=run_id,
            raised_at=now,
            kind=kind,
            severity=severity,
            message=message,
            value=value,
            baseline=baseline,
            condition=condition,
            subject=subject,
        )
        if reported:
            log.warning("alert %s raised (`retail alerts list` shows it)", kind)
        else:
            log.warning("alert %s: %s", kind, message)
        alert = self._deliver(alert, list(self.channels))
        self._write(alert, new=True)
        return alert

    def resolve(self, condition: str) -> Alert | None:
        """Close the open alert of ``condition`` (its condition cleared) and say so, best
        effort, on the channels. Returns the closed alert or None when none was open."""
        alert = self.open_alert(condition)
        if alert is None:
            return None
        closed = replace(alert, resolved_at=datetime.now(UTC))
        for name in self.channels:
            error = send(self.channels[name], closed)
            if error:
                log.warning("alert resolution not delivered to %s: %s", name, error)
        self._write(closed, new=False)
        log.info("alert %s cleared: %s", alert.kind, condition)
        return closed

    def retry_due(self, now: datetime | None = None) -> list[Alert]:
        """Send again, to the channels that failed, every alert whose retry time has come."""
        now = now or datetime.now(UTC)
        retried: list[Alert] = []
        for alert in self.all():
            due = alert.next_attempt_at is not None and alert.next_attempt_at <= now
            if alert.delivered is False and due and alert.attempts < self.max_attempts:
                names = [n for n in alert.failed_channels if n in self.channels]
                updated = self._deliver(alert, names)
                self._write(updated, new=False)
                retried.append(updated)
        return retried

    def test(self, name: str) -> str | None:
        """Send a test alert through channel ``name`` (not stored); None when it was accepted."""
        now = datetime.now(UTC)
        alert = Alert(
            alert_id=alert_id_for("test", name, now),
            run_id=None,
            raised_at=now,
            kind="test",
            severity="warning",
            message=f"test alert from retail-lakehouse to channel {name!r}",
            condition=f"test:{name}",
        )
        return send(self.channels[name], alert)

    # -- internals -------------------------------------------------------------------------------
    def _deliver(self, alert: Alert, names: list[str]) -> Alert:
        if not self.channels:
            return alert
        states = dict(alert.channels)
        for name in names:
            error = send(self.channels[name], alert)
            states[name] = DELIVERED if error is None else error
            if error:
                log.warning("alert %s not delivered to %s: %s", alert.kind, name, error)
        failed = {n: s for n, s in states.items() if s != DELIVERED}
        attempts = alert.attempts + 1
        retry = None
        if failed and attempts < self.max_attempts:
            delay = self.retry_seconds * 2 ** (attempts - 1)
            retry = datetime.now(UTC) + timedelta(seconds=delay)
        return replace(
            alert,
            channels=states,
            delivered=not failed,
            delivery_error="; ".join(f"{n}: {s}" for n, s in failed.items()) or None,
            attempts=attempts,
            next_attempt_at=retry,
        )

    def _write(self, alert: Alert, *, new: bool) -> None:
        data = arrays.table(
            {name: [value] for name, value in alert.row().items()}, META_ALERTS.schema
        )
        with self._lock():
            if new:
                self.lake.write(TABLE, data)
            else:
                predicate = f"alert_id = '{checked_id(alert.alert_id)}'"
                self.lake.write(TABLE, data, mode="overwrite", predicate=predicate)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        if self.lock_held:
            yield
        else:
            with self.lake.writer_lock("alert delivery"):
                yield


def _from_row(row: dict[str, Any]) -> Alert:
    channels = row.get("channels")
    return Alert(
        alert_id=row["alert_id"],
        run_id=row.get("run_id"),
        raised_at=row["raised_at"],
        kind=row["kind"],
        severity=row["severity"],
        message=row["message"],
        value=row.get("value"),
        baseline=row.get("baseline"),
        delivered=row.get("delivered"),
        delivery_error=row.get("delivery_error"),
        condition=row.get("condition") or row["alert_id"],
        channels=json.loads(channels) if channels else {},
        attempts=int(row.get("attempts") or 0),
        next_attempt_at=row.get("next_attempt_at"),
        resolved_at=row.get("resolved_at"),
        subject=row.get("subject"),
    )

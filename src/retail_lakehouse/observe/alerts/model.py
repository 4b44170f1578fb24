"""What an alert is: its kind, the condition it stands for, and how it reads in each channel."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

KIND_RUN_FAILED = "run_failed"
KIND_GATE_FAILED = "quality_gate_failed"
KIND_FILE_REFUSED = "file_refused"
KIND_FRESHNESS = "freshness"
KIND_SLOW_RUN = "slow_run"
KIND_SCORE_DROP = "quality_score_drop"
KIND_PUBLISH_FAILED = "publish_failed"
KIND_TEST = "test"

KINDS = (
    KIND_RUN_FAILED,
    KIND_GATE_FAILED,
    KIND_FILE_REFUSED,
    KIND_FRESHNESS,
    KIND_SLOW_RUN,
    KIND_SCORE_DROP,
    KIND_PUBLISH_FAILED,
)

DELIVERED = "delivered"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:\-]+$")


def alert_id_for(kind: str, condition: str, raised_at: datetime) -> str:
    """An id safe to use in a Delta predicate (hex and fixed punctuation only), unique per
    raise: the same condition raised again after it cleared gets a new id."""
    digest = hashlib.sha256(condition.encode()).hexdigest()[:12]
    return f"{kind}:{digest}:{raised_at.strftime('%Y%m%dT%H%M%S%f')}"


def checked_id(alert_id: str) -> str:
    """``alert_id`` when it is safe inside a quoted predicate, else ValueError."""
    if not _SAFE_ID.match(alert_id):
        raise ValueError(f"unsafe alert id {alert_id!r}")
    return alert_id


@dataclass(frozen=True)
class Alert:
    """One raised alert, as stored in ``meta.alerts`` (one row per alert, updated in place as
    deliveries are retried and when its condition clears)."""

    alert_id: str
    run_id: str | None
    raised_at: datetime
    kind: str
    severity: str  # warning | critical
    message: str
    value: float | None = None
    baseline: float | None = None
    delivered: bool | None = None  # None: no channel configured
    delivery_error: str | None = None
    condition: str = ""
    channels: dict[str, str] = field(default_factory=dict)  # name -> "delivered" or the error
    attempts: int = 0
    next_attempt_at: datetime | None = None
    resolved_at: datetime | None = None
    subject: str | None = None  # the table, file or source pattern the alert is about

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @property
    def failed_channels(self) -> list[str]:
        return [name for name, state in self.channels.items() if state != DELIVERED]

    def payload(self) -> dict[str, Any]:
        """The JSON body of the generic webhook."""
        body: dict[str, Any] = {
            "alert_id": self.alert_id,
            "run_id": self.run_id,
            "raised_at": self.raised_at.isoformat(),
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "value": self.value,
            "baseline": self.baseline,
            "condition": self.condition,
        }
        if self.subject is not None:
            body["table" if self.kind == KIND_SCORE_DROP else "subject"] = self.subject
        if self.resolved_at is not None:
            body["resolved_at"] = self.resolved_at.isoformat()
        return body

    def title(self) -> str:
        state = "resolved" if self.resolved_at is not None else self.severity
        return f"[retail-lakehouse] {state}: {self.kind.replace('_', ' ')}"

    def text(self) -> str:
        """Plain text for Slack and e-mail."""
        lines = [self.title(), self.message]
        if self.run_id:
            lines.append(f"run: {self.run_id}")
        lines.append(f"raised at: {self.raised_at.isoformat(timespec='seconds')}")
        if self.resolved_at is not None:
            lines.append(f"resolved at: {self.resolved_at.isoformat(timespec='seconds')}")
        return "\n".join(lines)

    def row(self) -> dict[str, Any]:
        """The ``meta.alerts`` row (channels as JSON text)."""
        import json

        data = asdict(self)
        data["channels"] = json.dumps(self.channels, sort_keys=True)
        return data

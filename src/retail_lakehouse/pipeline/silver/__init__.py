"""Silver: typed, standardised, deduplicated and quality-scored lines, from new bronze batches.

:func:`process` is what ``retail run`` calls. It reads only the bronze batches above the
``silver`` watermark, computes everything in one pass (:mod:`.transform`), stops with
:class:`~retail_lakehouse.pipeline.errors.GateFailed` *before any commit* when a ``fail`` rule
is over its threshold, and otherwise commits silver, quarantine and duplicates idempotently,
records the quality results, and advances the watermark last.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from retail_lakehouse.config import Settings
from retail_lakehouse.engines import Engine
from retail_lakehouse.engines.base import FEW_LINES
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.silver import (
    SILVER_DUPLICATES,
    SILVER_QUARANTINE,
    SILVER_SALES_LINES,
)
from retail_lakehouse.lake.faults import point
from retail_lakehouse.lake.intents import Intent
from retail_lakehouse.lake.recovery import (
    SILVER_RETRACTIONS,
    pending_retractions,
    retractions_applied,
)
from retail_lakehouse.lake.runs import RunContext
from retail_lakehouse.pipeline.errors import ZoneChanged
from retail_lakehouse.pipeline.hashing import refuse_text_keys
from retail_lakehouse.pipeline.silver.commit import (
    Committed,
    advance_watermark,
    commit_pass,
    gate_message,
)
from retail_lakehouse.pipeline.silver.retractions import remove_retracted
from retail_lakehouse.pipeline.silver.summary import SilverReport
from retail_lakehouse.pipeline.silver.transform import (
    bronze_batches,
    build_pass,
    pending_batches,
    pending_lines,
)
from retail_lakehouse.quality.alerts import check_score_drop
from retail_lakehouse.quality.results import write_results
from retail_lakehouse.quality.rules import load_rules

__all__ = ["SilverReport", "gate_message", "overdue_swap_check", "process"]

log = logging.getLogger(__name__)


def process(
    lake: Lake,
    engine: Engine,
    run: RunContext,
    *,
    extra_rules: Sequence[Path],
    full_refresh: bool = False,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> SilverReport:
    """Move pending bronze batches (all of them with ``full_refresh``) into silver.

    ``extra_rules`` are rule files layered over the defaults in order (the runner passes
    ``retail.toml``'s ``rules`` then ``--rules``). Raises RulesError for a bad rules file (a
    usage error) and GateFailed when a ``fail`` rule fires; neither commits anything."""
    started = time.perf_counter()
    ruleset = load_rules(list(extra_rules))
    refuse_text_keys(
        lake, [SILVER_SALES_LINES, SILVER_QUARANTINE, SILVER_DUPLICATES], full_refresh=full_refresh
    )
    zone = settings.time_zone if settings else "UTC"
    if not full_refresh:
        refuse_changed_zone(lake, zone)
    retracted = pending_retractions(lake, SILVER_RETRACTIONS)
    if full_refresh:
        batches = bronze_batches(lake)
    else:
        batches = pending_batches(lake)
        redo = remove_retracted(lake, retracted.batches, run.run_id)
        if redo is not None:
            batches = bronze_batches(lake, after=redo - 1)
    if not batches:
        retractions_applied(lake, SILVER_RETRACTIONS, retracted, run.run_id)
        if retracted.batches:
            run.changed = True
        return SilverReport(full_refresh=full_refresh, retracted=sorted(retracted.batches))
    lines = None if full_refresh else pending_lines(lake, batches)
    with engine.serial(lines is not None and lines < FEW_LINES):  # an append's few lines
        silver_pass = build_pass(
            engine,
            ruleset,
            batches=batches,
            existing=not full_refresh,
            now=now or datetime.now(),
            time_zone=zone,
        )
        committed = commit_pass(lake, silver_pass, run.run_id, full_refresh=full_refresh)
    write_results(lake, run.run_id, committed.outcome)
    alerts = _score_alerts(lake, run.run_id, settings)
    advance_watermark(lake, max(batches), run.run_id, time_zone=zone)
    retractions_applied(lake, SILVER_RETRACTIONS, retracted, run.run_id)
    run.count(
        SILVER_SALES_LINES.qualified,
        rows_in=committed.bronze_lines,
        rows_out=committed.silver_lines,
    )
    run.count(SILVER_QUARANTINE.qualified, rows_out=committed.quarantined)
    run.count(SILVER_DUPLICATES.qualified, rows_out=committed.duplicates)
    report = _report(silver_pass.batches, committed, full_refresh=full_refresh)
    report.alerts = alerts
    report.warnings += _date_swap_warnings(lake)
    point("silver.swaps_checked")  # said, not yet noted (a fault-injection boundary)
    run.note(swaps_checked=True)  # the next command need not say it again
    report.retracted = sorted(retracted.batches)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def refuse_changed_zone(lake: Lake, zone: str) -> None:
    """Stop an incremental run whose ``time_zone`` is not the one silver was built in.

    Silver's watermark records the zone with the batches it covers (in the same commit), so the
    lake never holds lines of two wall clocks: the user either restores the setting or rebuilds
    silver and gold from bronze in the new zone (``--full-refresh``, which bronze makes exact:
    it keeps every instant as it arrived). Rebuilding unasked was the other choice; a setting
    changed by mistake would then silently rewrite every table of a large lake."""
    from retail_lakehouse.lake.consumers import SILVER_CONSUMER
    from retail_lakehouse.lake.watermarks import recorded_time_zone

    built = recorded_time_zone(lake, SILVER_CONSUMER)
    if built is not None and built != zone:
        raise ZoneChanged(
            f"silver and gold were built in time zone {built}, but time_zone is now {zone} "
            "(retail.toml or RETAIL_TIME_ZONE). Run `retail run --full-refresh` once to "
            f"rebuild them from bronze in {zone}, or set time_zone back to {built}."
        )


def _report(batches: list[int], committed: Committed, *, full_refresh: bool) -> SilverReport:
    outcome = committed.outcome
    report = SilverReport(
        batches=list(batches),
        bronze_lines=committed.bronze_lines,
        silver_lines=committed.silver_lines,
        quarantined=committed.quarantined,
        duplicates=committed.duplicates,
        overall_score=outcome.overall_score,
        grade=outcome.grade,
        outcome=outcome,
        full_refresh=full_refresh,
    )
    if not report.balanced:  # cannot happen by construction; say so loudly if it ever does
        report.warnings.append(
            f"line accounting does not balance: bronze {report.bronze_lines:,} != silver "
            f"{report.silver_lines:,} + quarantine {report.quarantined:,} + duplicates "
            f"{report.duplicates:,}"
        )
    for result in outcome.rules:
        if result.rule.action == "fail" and result.lines_failed:
            report.warnings.append(
                f"rule {result.name!r}: {result.lines_failed:,} lines failed, within its "
                f"threshold of {100 * result.rule.allowed_share:.2f}%"
            )
    return report


def _score_alerts(lake: Lake, run_id: str, settings: Settings | None) -> list[str]:
    """Score-drop alerts against the recent baseline (logged, stored, posted by the alerts
    module); an alert never fails the run."""
    try:
        alerts = check_score_drop(lake, run_id, settings=settings)
    except Exception as error:
        log.warning("quality alert check failed: %s", error)
        return [f"alert check failed: {error}"]
    return [alert.message for alert in alerts]


def _date_swap_warnings(lake: Lake) -> list[str]:
    """Files whose assumed day/month order the invoice numbers contradict (read-only)."""
    from retail_lakehouse.lake.query import LakeSQL
    from retail_lakehouse.quality.date_swaps import likely_swaps

    tables = ["bronze.files", "silver.sales_lines"]
    with LakeSQL(lake, tables=tables) as sql:
        return [swap.message() for swap in likely_swaps(sql, cached=True)]


def overdue_swap_check(lake: Lake, intent: Intent) -> str:
    """The day/month swap check an interrupted command's silver step owed, made now (a
    recovery step, under the writer lock; decision 0007, thirteenth round).

    The check runs after silver's watermark is advanced, so a command killed in between left
    its batches in silver, unchecked, and the next run finds nothing new to check: this is
    the only time its warnings can be said (the watcher's user reads nothing else). Owed when
    silver's watermark is the interrupted run's and its intent does not record the check
    (``swaps_checked``). Never raises: a recovery that fails would block every command."""
    from retail_lakehouse.lake.consumers import SILVER_CONSUMER
    from retail_lakehouse.lake.watermarks import watermark_runs

    if intent.notes.get("swaps_checked"):
        return ""
    if watermark_runs(lake).get(SILVER_CONSUMER) != intent.run_id:
        return ""  # silver not advanced by it: the next run redoes its batches and checks them
    try:
        warnings = _date_swap_warnings(lake)
    except Exception as error:
        log.warning("the interrupted run's day/month swap check failed: %s", error)
        return f"its day/month swap check could not be made: {error}"
    return "; ".join(f"warning: {warning}" for warning in warnings)

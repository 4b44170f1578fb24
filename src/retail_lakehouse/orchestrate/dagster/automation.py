"""What starts Dagster runs: a sensor on ``landing/`` and a daily schedule.

The sensor's run keys are the files' SHA-256 content hashes, the same key bronze uses: a file
dropped again with the same content is a skipped run request (Dagster never runs a run key
twice), and a new file reusing an old name has a new hash, so it is never missed. Hashes are
cached in the sensor cursor by (path, size, mtime), so an unchanged folder is only listed, never
read. Which files count, and when they are complete, is the watcher's rule
(:mod:`retail_lakehouse.orchestrate.landing`, ``[watch] settle_seconds``).

Both reach the publish asset (``publish/postgres``) only with ``[publish] after_run = true``, the
setting that makes ``retail run`` and ``retail watch`` publish after a run.
"""

import json
import time

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunConfig,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from retail_lakehouse.config import load_settings
from retail_lakehouse.lake.contracts.bronze import BRONZE_SALES_LINES
from retail_lakehouse.orchestrate.dagster.assets import IngestConfig, key
from retail_lakehouse.orchestrate.dagster.publish import PUBLISH_KEY
from retail_lakehouse.orchestrate.dagster.resources import RetailProject

BRONZE_OP = "__".join(key(BRONZE_SALES_LINES).path)
DEFAULT_SCHEDULE = "0 2 * * *"


def _published_only_after_run(selection: AssetSelection) -> AssetSelection:
    """``selection`` without the publish asset unless ``[publish] after_run`` is true."""
    if load_settings().publish.after_run:
        return selection
    return selection - AssetSelection.assets(PUBLISH_KEY)


EVERYTHING_FROM_BRONZE = _published_only_after_run(
    AssetSelection.assets(key(BRONZE_SALES_LINES)).downstream()
)
EVERYTHING = _published_only_after_run(AssetSelection.all())


@sensor(
    target=EVERYTHING_FROM_BRONZE,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="A run per new file in landing/ (run key: the file's SHA-256).",
)
def landing_sensor(
    context: SensorEvaluationContext, retail: RetailProject
) -> SensorResult | SkipReason:
    from retail_lakehouse.orchestrate.landing import landing_files, landing_problem, sha256_of
    from retail_lakehouse.sources.readers import is_supported

    settings = retail.settings()
    problem = landing_problem(settings.landing, settings.lake)
    if problem is not None:
        return SkipReason(problem)
    cached: dict[str, list[object]] = json.loads(context.cursor) if context.cursor else {}
    cursor: dict[str, list[object]] = {}
    requests: list[RunRequest] = []
    now = time.time()
    for path, stat in sorted(landing_files(settings.landing.absolute())):
        if not is_supported(path):
            continue
        if now - stat.st_mtime < settings.watch.settle_seconds:
            continue  # still being written, or just written: next evaluation
        signature = [stat.st_size, stat.st_mtime_ns]
        known = cached.get(str(path))
        if stat.st_size > settings.limits.max_file_mb * 2**20:
            # Not hashed (minutes for a huge file): the run refuses it by its size, saying so.
            digest: str | None = f"too-big:{stat.st_size}:{stat.st_mtime_ns}:{path}"
        else:
            digest = str(known[2]) if known and known[:2] == signature else sha256_of(path)
        if digest is None:
            continue
        cursor[str(path)] = [*signature, digest]
        requests.append(
            RunRequest(
                run_key=str(digest),
                run_config=RunConfig(ops={BRONZE_OP: IngestConfig(files=[str(path)])}),
                tags={"retail/file": path.name},
            )
        )
    if not requests:
        return SkipReason(f"no complete file in {settings.landing}")
    return SensorResult(run_requests=requests, cursor=json.dumps(cursor))


daily_schedule = ScheduleDefinition(
    name="daily_run",
    cron_schedule=load_settings().watch.schedule or DEFAULT_SCHEDULE,
    target=EVERYTHING,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Ingest what is in landing/ and bring silver and gold up to date.",
)

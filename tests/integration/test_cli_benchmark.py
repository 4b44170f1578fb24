"""``retail benchmark`` from the user's side: a table, a JSON document, measured figures."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CliResult, run_retail


def benchmark(tmp_path: Path, *options: str) -> tuple[CliResult, Path]:
    out = tmp_path / "bench.json"
    done = run_retail(
        "benchmark",
        *options,
        "--workdir",
        tmp_path / "work",
        "--output",
        out,
        lake=tmp_path / "unused",
    )
    return done, out


def test_benchmark_reports_every_layer_as_json_and_a_table(tmp_path: Path) -> None:
    done, out = benchmark(tmp_path, "--rows", "3000", "--rows", "6000")
    assert done.code == 0, done.stderr
    assert "file -> gold" in done.stdout
    results = json.loads(out.read_text())["results"]
    assert [r["rows"] for r in results] == [3000, 6000]
    for result in results:
        stages = result["stages"]
        assert [s["stage"].split()[0] for s in stages] == ["ingest", "silver", "gold"]
        assert stages[0]["rows"] == result["rows"]
        assert 0 < stages[2]["rows"] <= result["rows"]  # silver lines (duplicates removed)
        assert all(s["seconds"] > 0 and s["peak_rss_mb"] > 50 for s in stages)
        # file -> gold is the measured wall time of ingest + the whole run, never less than
        # the layers it contains
        assert result["file_to_gold_seconds"] >= sum(s["seconds"] for s in stages)
        assert result["peak_rss_mb"] >= max(s["peak_rss_mb"] for s in stages) * 0.99
    assert not any((tmp_path / "work").iterdir())  # the generated files and lakes are removed


def test_repeated_runs_report_the_median_and_range_of_every_figure(tmp_path: Path) -> None:
    done, out = benchmark(tmp_path, "--rows", "2000", "--repeat", "3")
    assert done.code == 0, done.stderr
    assert "median" in done.stdout and "3 runs" in done.stdout
    [result] = json.loads(out.read_text())["results"]
    runs = result["runs"]
    assert result["repeat"] == len(runs) == 3
    for position, stage in enumerate(result["stages"]):
        each = sorted(run["stages"][position]["seconds"] for run in runs)
        assert stage["seconds"] == each[1]  # the median of three
        assert result["range"][stage["stage"]] == [each[0], each[-1]]
        assert stage["peak_rss_mb"] == max(run["stages"][position]["peak_rss_mb"] for run in runs)
    whole = sorted(run["file_to_gold_seconds"] for run in runs)
    assert result["file_to_gold_seconds"] == whole[1]
    assert result["range"]["file_to_gold_seconds"] == [whole[0], whole[-1]]


def test_cli_series_times_the_real_commands_against_a_bare_copy(tmp_path: Path) -> None:
    done, out = benchmark(tmp_path, "--cli", "--rows", "400", "--repeat", "1")
    assert done.code == 0, done.stderr
    assert "bare DuckDB copy" in done.stdout and "file_to_gold / bare_copy" in done.stdout
    [series] = json.loads(out.read_text())["processes"]
    figures = series["figures"]
    assert series["rows"] == 400 and series["append_lines"] == 4 and series["rounds"] == 1
    for name in ("bare_copy", "ingest", "run", "idle_run", "status", "help", "append_run"):
        assert figures[name]["median_seconds"] > 0, name
        assert figures[name]["peak_rss_mb"] > 10, name
    # file to gold is the two commands one after the other
    total = figures["ingest"]["seconds"][0] + figures["run"]["seconds"][0]
    assert abs(figures["file_to_gold"]["seconds"][0] - total) < 0.01
    assert series["ratios"]["file_to_gold / bare_copy"] > 0
    assert not any((tmp_path / "work").iterdir())

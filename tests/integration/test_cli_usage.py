"""What a new user trips over in the `retail` command (issue 14), checked as they meet it.

Bad input is a usage error (exit 2, a message naming the problem, no "internal error") found
before any work starts; output is readable and exact; settings are found and checked like a
user expects from `git`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import REAL_DATA, RETAIL, CliResult, run_retail

SAMPLE = REAL_DATA / "online_retail_head_1071.csv"
GATE = """\
rules:
  - name: customer_required
    dimension: completeness
    expression: customer_id IS NOT NULL
    weight: 5
    action: fail
"""


def retail_in(cwd: Path, *args: str | Path, env: dict[str, str] | None = None) -> CliResult:
    """``retail`` run from ``cwd`` (where it looks for retail.toml), with extra environment."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")}
    environment.update({"COLUMNS": "200", **(env or {})})
    done = subprocess.run(
        [RETAIL, *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def assert_usage_error(done: CliResult, *needles: str) -> None:
    assert done.code == 2, (done.code, done.stdout[-1000:], done.stderr[-1000:])
    assert "internal error" not in done.stderr
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake with one failed run (a quality gate) and one successful run."""
    root = tmp_path_factory.mktemp("cli-usage")
    gate = root / "gate.yaml"
    gate.write_text(GATE, encoding="utf-8")
    built = root / "lake"
    assert run_retail("ingest", SAMPLE, lake=built).code == 0
    failed = run_retail("run", "--rules", gate, lake=built)
    assert failed.code == 1, failed.stderr
    done = run_retail("run", lake=built)
    assert done.code == 0, done.stderr
    return built


# -- bug 6: usage errors before work starts ------------------------------------------------


def test_unknown_engine_option_is_refused(lake: Path) -> None:
    assert_usage_error(run_retail("run", "--engine", "foo", lake=lake), "foo")


def test_unknown_engine_in_retail_toml_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "retail.toml").write_text('lake = "lake"\n\nengine = "foo"\n', encoding="utf-8")
    done = retail_in(tmp_path, "status")
    assert_usage_error(done, "retail.toml:3", "engine", "foo")


def test_a_bad_setting_names_its_key_and_never_echoes_a_secret(tmp_path: Path) -> None:
    """A mistake beside a secret (a DSN with its password, a webhook URL holding its token, the
    token signing key) names the key and the bad value, and prints no secret: the refusal ends
    up in CI logs and terminals shared on screen."""
    (tmp_path / "retail.toml").write_text(
        'jwt_secret = 12345\n[publish]\ndsn = "postgresql://u:TOPSECRETPW@h/db"\n'
        'after_run = "maybe"\n',
        encoding="utf-8",
    )
    done = retail_in(tmp_path, "status", env={"RETAIL_WEBHOOK_URL": "x"})
    assert_usage_error(done, "publish.after_run", "'maybe'", "jwt_secret")
    assert "TOPSECRETPW" not in done.stderr and "12345" not in done.stderr
    (tmp_path / "retail.toml").write_text('lake = "lake"\n', encoding="utf-8")
    leaked = retail_in(
        tmp_path,
        "status",
        env={
            "RETAIL_PUBLISH__DSN": "postgresql://u:PW2@h/db",
            "RETAIL_PUBLISH__AFTER_RUN": "maybe",
        },
    )
    assert_usage_error(leaked, "RETAIL_PUBLISH__AFTER_RUN", "'maybe'")
    assert "PW2" not in leaked.stderr
    (tmp_path / "retail.toml").write_text(  # a list where a table belongs, holding a token
        '[[alerts.channels]]\ntype = "slack"\nurl = "https://hooks.slack.com/T0/B0/TOKEN3"\n',
        encoding="utf-8",
    )
    assert_usage_error(retail_in(tmp_path, "status"), "alerts.channels = (a list)")
    assert "TOKEN3" not in retail_in(tmp_path, "status").stderr


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "retail.toml").write_text('lake = "lake"\nengine = \n', encoding="utf-8")
    assert_usage_error(retail_in(tmp_path, "status"), "retail.toml", "line 2")


def test_negative_run_count_is_refused(lake: Path) -> None:
    assert_usage_error(run_retail("status", "--runs", "-5", lake=lake), "--runs")


def test_benchmark_output_in_missing_folder_is_refused_before_running(tmp_path: Path) -> None:
    started = time.monotonic()
    done = run_retail("benchmark", "--rows", "2000", "--output", tmp_path / "missing" / "out.json")
    assert_usage_error(done, "does not exist")
    assert "benchmarking" not in done.stdout
    assert time.monotonic() - started < 60


def test_generate_to_unwritable_paths_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for out in (a_file / "sample.csv", Path("/proc/retail-sample.csv")):
        done = run_retail("generate", "--rows", "10", "--out", out)
        assert_usage_error(done, str(out))
    assert a_file.read_text() == "x"


def test_serve_on_a_port_in_use_is_refused_before_announcing(lake: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_retail("serve", "--port", str(port), lake=lake, timeout=120)
    assert_usage_error(done, "in use", str(port))
    assert "serving" not in done.stdout


# -- bug 7: generate format vs extension -----------------------------------------------------


def test_generate_format_follows_the_extension_or_refuses_a_mismatch(tmp_path: Path) -> None:
    mismatch = tmp_path / "x.csv"
    assert_usage_error(
        run_retail("generate", "-n", "20", "--format", "parquet", "--out", mismatch), "x.csv"
    )
    assert not mismatch.exists()
    implied = tmp_path / "x.parquet"
    done = run_retail("generate", "-n", "20", "--out", implied)
    assert done.code == 0, done.stderr
    assert implied.read_bytes()[:4] == b"PAR1"
    assert run_retail("ingest", implied, lake=tmp_path / "lake").code == 0


# -- bug 8: sql output formats ---------------------------------------------------------------


def test_sql_csv_lines_end_with_lf(lake: Path) -> None:
    query = "SELECT country, count(*) AS n FROM silver.sales_lines GROUP BY 1"
    done = subprocess.run(
        [RETAIL, "--lake", str(lake), "sql", query, "--format", "csv"],
        capture_output=True,  # bytes: text mode would turn CRLF into LF before the check
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"\r" not in done.stdout and done.stdout.count(b"\n") >= 2


def test_sql_json_numbers_are_numbers_and_decimals_exact(lake: Path) -> None:
    query = (
        "SELECT sum(quantity) AS units, count(*) AS lines, sum(line_amount) AS revenue, "
        "CAST(2.55 AS DECIMAL(18, 4)) AS price, 0.1 + 0.2 AS approx FROM silver.sales_lines"
    )
    done = run_retail("sql", query, "--format", "json", lake=lake)
    assert done.code == 0, done.stderr
    (row,) = json.loads(done.stdout, parse_float=Decimal)
    assert isinstance(row["units"], int) and isinstance(row["lines"], int)
    assert row["price"] == Decimal("2.5500") and '"price": 2.5500' in done.stdout
    exact = run_retail(
        "sql", "SELECT CAST(sum(line_amount) AS VARCHAR) AS r FROM silver.sales_lines",
        "--format", "csv", lake=lake,
    )  # fmt: skip
    assert Decimal(exact.stdout.splitlines()[1]) == row["revenue"]


# -- bug 11: CLI details --------------------------------------------------------------------


def test_an_idle_run_prints_no_unrecorded_run_id(lake: Path) -> None:
    done = run_retail("run", lake=lake)
    assert done.code == 0, done.stderr
    recorded = {r["run_id"] for r in run_retail("status", "--json", lake=lake).json()["runs"]}
    printed = set(re.findall(r"\b\d{8}T\d{6}-[0-9a-f]{8}\b", done.stdout))
    assert printed <= recorded, (printed, done.stdout)
    assert "nothing to do" in done.stdout


def test_sql_limit_says_it_truncated(lake: Path) -> None:
    done = run_retail("sql", "SELECT * FROM silver.sales_lines", "--limit", "3", lake=lake)
    assert done.code == 0, done.stderr
    total = run_retail(
        "sql", "SELECT count(*) AS n FROM silver.sales_lines", "-f", "json", lake=lake
    )
    assert f"showing 3 of {total.json()[0]['n']:,} rows" in done.stdout


def test_install_is_refused_by_name(lake: Path) -> None:
    assert_usage_error(run_retail("sql", "INSTALL httpfs", lake=lake), "INSTALL")


def test_status_shows_whole_errors_and_rows_as_objects(lake: Path) -> None:
    report = run_retail("status", "--json", lake=lake).json()
    failed = [r for r in report["runs"] if "customer_required" in (r["error"] or "")]
    assert failed and len(failed[0]["error"]) > 60
    assert all(isinstance(r["rows"], dict) for r in report["runs"]), report["runs"]
    table = run_retail("status", lake=lake).stdout
    squashed = re.sub(r"[\s│|]+", " ", table)
    assert "nothing was committed to silver or gold" in squashed, table


# -- friction -------------------------------------------------------------------------------


def test_a_mistyped_lake_is_refused_by_read_commands_and_run(tmp_path: Path) -> None:
    missing = tmp_path / "lkae"
    read_only = (["status"], ["sql", "SELECT 1"], ["quality", "report"], ["quality", "check"])
    for args in (*read_only, ["history"], ["history", "gold.fact_sales"], ["alerts", "list"]):
        assert_usage_error(run_retail(*args, lake=missing), f"no lake at {missing}")
    assert_usage_error(run_retail("run", lake=missing), str(missing))
    assert not missing.exists()


def test_retail_toml_is_found_in_parent_folders_and_retail_config_wins(
    tmp_path: Path, lake: Path
) -> None:
    project = tmp_path / "project"
    deeper = project / "reports" / "2026"
    deeper.mkdir(parents=True)
    (project / "retail.toml").write_text(f'lake = "{lake}"\n', encoding="utf-8")
    found = retail_in(deeper, "status", "--json")
    assert found.code == 0, found.stderr
    assert found.json()["tables"]["silver.sales_lines"]["rows"] > 0
    other = tmp_path / "other.toml"
    other.write_text(f'lake = "{tmp_path / "elsewhere"}"\n', encoding="utf-8")
    named = retail_in(deeper, "status", env={"RETAIL_CONFIG": str(other)})
    assert_usage_error(named, "no lake at", "elsewhere")


def test_relative_paths_in_a_parent_retail_toml_are_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "retail.toml").write_text('lake = "data/lake"\n', encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    done = retail_in(sub, "ingest", SAMPLE)
    assert done.code == 0, done.stderr
    assert (tmp_path / "data" / "lake" / "bronze").is_dir()
    assert not (sub / "data").exists()


def test_unknown_setting_is_warned_with_the_closest_name(tmp_path: Path) -> None:
    (tmp_path / "retail.toml").write_text(
        'lake = "lake"\nwebhok_url = "https://hooks.example.com/x"\n', encoding="utf-8"
    )
    (tmp_path / "lake").mkdir()
    done = retail_in(tmp_path, "status")
    assert done.code == 0, done.stderr
    assert "retail.toml:2" in done.stderr and "'webhok_url'" in done.stderr
    assert "'webhook_url'" in done.stderr


def test_help_shows_flags_without_values_and_no_rst_markup() -> None:
    for command in (["status"], ["quality", "check"], ["run"], ["sql"]):
        done = run_retail(*command, "--help")
        assert done.code == 0, done.stderr
        assert "<bool>" not in done.stdout, done.stdout
        assert "``" not in done.stdout, done.stdout
        assert (
            "--json" in done.stdout
            or "--full-refresh" in done.stdout
            or "--format" in (done.stdout)
        )


def test_top_level_help_keeps_what_markdown_would_swallow() -> None:
    """Help is rendered as Markdown, where ``<lake>`` reads as an HTML tag and vanishes."""
    done = run_retail("--help")  # COLUMNS=200: no line breaks inside the words asked for
    assert done.code == 0, done.stderr
    assert " /_logs/" not in done.stdout, done.stdout  # the folder's owner was swallowed
    assert "_logs/" in done.stdout and "RETAIL_WRITER_WAIT" in done.stdout, done.stdout


def test_error_messages_keep_their_brackets(tmp_path: Path) -> None:
    """An error naming a retail.toml table (``[publish]``) is printed as written, not read as
    console markup and dropped."""
    (tmp_path / "lake").mkdir()
    done = run_retail("publish", lake=tmp_path / "lake", cwd=tmp_path)
    assert done.code == 2, done.stderr
    assert "dsn in the [publish] table of retail.toml" in done.stderr, done.stderr
    out = tmp_path / "sales[eu].csv"  # a file name is printed as given, too
    done = run_retail("generate", "-n", "5", "-o", out, cwd=tmp_path)
    assert done.code == 0 and "sales[eu].csv" in done.stdout, done.stdout


def test_sql_tables_align_numbers_and_wide_results_stay_readable(lake: Path) -> None:
    done = run_retail("sql", "SELECT 1234567 AS n, 'x' AS s UNION ALL SELECT 5, 'yy'", lake=lake)
    assert done.code == 0, done.stderr
    lines = done.stdout.splitlines()
    big = next(line for line in lines if "1,234,567" in line)
    small = next(line for line in lines if " 5 " in line and "yy" in line)
    assert big.index("1,234,567") + len("1,234,567") == small.index("5") + 1  # right-aligned
    wide = run_retail("sql", "SELECT * FROM silver.sales_lines LIMIT 2", lake=lake)
    assert "record 2" in wide.stdout and "description" in wide.stdout
    assert max(len(line) for line in wide.stdout.splitlines()) <= 200
    vertical = run_retail("sql", "SELECT 1 AS a", "--format", "vertical", lake=lake)
    assert "record 1" in vertical.stdout
    shown = run_retail("sql", "SHOW TABLES", lake=lake)
    assert (
        shown.code == 0
        and "gold.fact_sales" in shown.stdout
        and "silver.sales_lines" in (shown.stdout)
    )

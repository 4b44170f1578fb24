"""What a user sees when a command fails or refuses: the reason once, the right exit code, and
no lake created or answered from by a mistyped ``--lake`` (fourteenth round's audit)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from retail_lakehouse.lake import Lake
from tests.conftest import REAL_DATA, RETAIL, CliResult, run_retail

SAMPLE = REAL_DATA / "online_retail_head_1071.csv"

GATE = "rules:\n  - name: customer_present\n    action: fail\n"
"""The sample has one line without a customer: this gate fails every run of it."""

BROKEN_RULE = (
    "rules:\n  - name: big_orders\n    dimension: accuracy\n"
    '    expression: "quantity >"\n    action: warn\n'
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake with the sample in bronze and nothing run (each test's run fails or refuses)."""
    root = tmp_path_factory.mktemp("refusals") / "lake"
    done = run_retail("ingest", SAMPLE, lake=root)
    assert done.code == 0, done.stderr
    return root


def rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def logged(lake: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for path in sorted((lake / "_logs").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_a_failed_run_says_why_once(lake: Path, tmp_path: Path) -> None:
    """A failed quality gate: the reason is printed once (the error line), exit 1; the run
    record and the lake's log keep it as before (layer failed, command failed)."""
    done = run_retail("run", "--rules", rules(tmp_path, GATE), lake=lake)
    assert done.code == 1, done.stderr
    reason = "quality gate 'customer_present' failed"
    assert (done.stdout + done.stderr).count(reason) == 1, done.stdout + done.stderr
    assert done.stderr.startswith("error: " + reason), done.stderr
    failed = [r for r in Lake(lake).read("meta.runs").to_pylist() if r["status"] == "failed"]
    assert failed and reason in failed[-1]["error"]
    events = [e for e in logged(lake) if e.get("run_id") == failed[-1]["run_id"]]
    for event in ("layer failed", "command failed"):
        assert any(e["event"] == event and reason in str(e["error"]) for e in events), event


def test_asked_for_log_lines_still_carry_the_failure(lake: Path, tmp_path: Path) -> None:
    """--log-format asks for the log stream on stderr: it is complete, failures included."""
    done = run_retail("--log-format", "json", "run", "--rules", rules(tmp_path, GATE), lake=lake)
    assert done.code == 1
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert {"layer failed", "command failed"} <= {e["event"] for e in events}


def test_a_refused_file_says_why_once(lake: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    done = run_retail("ingest", other, lake=lake)
    assert done.code == 2
    reason = "missing required column(s)"
    assert (done.stdout + done.stderr).count(reason) == 1, done.stdout + done.stderr
    assert f"{other}: {reason}" in done.stderr
    assert "refused" in done.stdout  # the table still lists the file and its status


def test_a_refused_file_is_named_with_its_reason_when_the_ingest_then_fails(
    lake: Path, tmp_path: Path
) -> None:
    """The reasons are printed at the end: a command that fails after a refusal (here a full
    disk at the next file's commit) still names the refused file and says why."""
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    done = subprocess.run(
        [
            RETAIL,
            "--lake",
            str(lake),
            "ingest",
            str(other),
            str(REAL_DATA / "online_retail_ii_head_99_bom.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "RETAIL_FAULT": "before:bronze.sales_lines:enospc"},
    )
    assert done.returncode == 1, done.stderr
    assert f"{other}: missing required column(s)" in done.stderr, done.stderr
    assert "No space left on device" in done.stderr or "ENOSPC" in done.stderr, done.stderr


def test_a_broken_rule_is_refused_by_run_and_watch(lake: Path, tmp_path: Path) -> None:
    """One message, from the rules loader, by every command that runs the rules; the watcher
    refuses it before watching (it would fail every run until a person fixes the file)."""
    path = rules(tmp_path, BROKEN_RULE)
    said = f"{path}: rule 'big_orders': cannot read the expression: something is missing after '>'"
    before = Lake(lake).versions()
    done = run_retail("run", "--rules", path, lake=lake)
    assert done.code == 2 and said in done.stderr, done.stderr
    assert (done.stdout + done.stderr).count("something is missing") == 1, done.stderr
    project = tmp_path / "project"
    (project / "landing").mkdir(parents=True)
    (project / "retail.toml").write_text(f'lake = "{lake}"\nrules = ["{path}"]\n', encoding="utf-8")
    watched = run_retail("watch", "--once", cwd=project)
    assert watched.code == 2 and said in watched.stderr, watched.stdout + watched.stderr
    refused = run_retail("lineage", "gold.fact_sales", cwd=project)  # rules name its columns
    assert refused.code == 2 and said in refused.stderr, refused.stderr
    assert Lake(lake).versions() == before


@pytest.mark.parametrize(
    "args",
    [
        ("keys", "list"),
        ("keys", "revoke", "abc"),
        ("optimize",),
        ("vacuum",),
        ("retract", "x.csv"),
        ("rollback", "--to-run", "20261206T000000-abcdef12", "--yes"),
    ],
    ids=" ".join,
)
def test_a_mistyped_lake_is_refused_and_not_created(tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "lkae"
    done: CliResult = run_retail(*args, lake=missing)
    assert done.code == 2, done.stdout + done.stderr
    assert f"no lake at {missing}" in done.stderr, done.stderr
    assert not missing.exists()


def test_an_ingest_refusing_every_file_into_a_mistyped_lake_leaves_no_lake(
    tmp_path: Path,
) -> None:
    """``retail --lake typo ingest bad.csv``: the refusal names the file, and the folder it
    would have started is gone, so ``retail status`` says there is no lake there instead of
    showing an empty one. A file taken creates the lake as before."""
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a\nsales,file\n", encoding="utf-8")
    typo = tmp_path / "lkae"
    done = run_retail("ingest", bad, lake=typo)
    assert done.code == 2, done.stdout + done.stderr
    assert "bad.csv: missing required column(s)" in done.stderr, done.stderr
    assert not typo.exists()
    for args, named in ((("--replaces", "old.csv", bad), "old.csv"), (("--cdc", bad), "bad.csv")):
        other = run_retail("ingest", *args, lake=typo)  # the other two ways in
        assert other.code == 2 and named in other.stderr, other.stderr
        assert not typo.exists(), args
    assert not list(tmp_path.glob(".retail-refused-*"))  # nothing left beside it either
    status = run_retail("status", lake=typo)
    assert status.code == 2 and f"no lake at {typo}" in status.stderr, status.stderr
    taken = run_retail("ingest", bad, SAMPLE, lake=typo)
    assert taken.code == 2 and "1 of 2 file(s) refused" in taken.stderr, taken.stderr
    assert Lake(typo).read("bronze.files").num_rows == 1
    again = run_retail("ingest", bad, lake=typo)  # a lake before the command: kept
    assert again.code == 2 and Lake(typo).read("bronze.files").num_rows == 1


def test_the_first_key_of_a_new_lake_says_it_made_the_lake(tmp_path: Path) -> None:
    """``retail serve`` on a missing lake is deliberate (uploads start it), so the first key
    may be made before the lake: the folder is created, and the user is told on stderr (the
    key stays the last line of stdout)."""
    new = tmp_path / "new-lake"
    done = run_retail("keys", "create", "--role", "admin", lake=new)
    assert done.code == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("rlk_")
    assert f"there was no lake at {new}" in done.stderr
    again = run_retail("keys", "create", "--role", "viewer", lake=new)
    assert again.code == 0 and "no lake" not in again.stderr


def test_serve_on_a_missing_lake_serves_it_empty_and_says_so(tmp_path: Path) -> None:
    """Deliberate (an upload starts the lake), but a mistyped --lake must not look like a lake
    with no sales: the note says there is none yet."""
    missing = tmp_path / "new-lake"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [RETAIL, "--lake", str(missing), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        said = [server.stdout.readline() for _ in range(2)]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert "serving lake" in said[0]
    assert f"there is no lake at {missing} yet" in said[1], said
    assert not missing.exists()


def test_a_table_name_in_no_layer_names_the_layers(lake: Path) -> None:
    done = run_retail("optimize", "sales.lines", lake=lake)
    assert done.code == 2
    assert "the layer one of bronze, silver, gold, meta" in done.stderr, done.stderr


@pytest.mark.parametrize("hours", ["-1", "876001"])
def test_maintenance_retain_hours_out_of_bounds_is_refused_when_settings_load(
    tmp_path: Path, hours: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[maintenance] retain_hours`` takes the bounds ``retail vacuum --retain`` takes: a value
    outside them used to pass until the automatic maintenance after a run, which then failed."""
    project = tmp_path / "project"
    project.mkdir()
    toml = project / "retail.toml"
    toml.write_text(f"[maintenance]\nauto = true\nretain_hours = {hours}\n", encoding="utf-8")
    source = tmp_path / "sales.csv"
    assert run_retail("generate", "--rows", "20", "--out", source).code == 0
    done = run_retail("ingest", source, cwd=project)
    assert done.code == 2, done.stdout + done.stderr
    assert "retail.toml" in done.stderr and "retain_hours" in done.stderr, done.stderr
    bound = "greater than or equal to 0" if hours == "-1" else "less than or equal to 876000"
    assert bound in done.stderr.replace(",", ""), done.stderr
    assert not (project / "lake").exists()
    vacuum = run_retail("vacuum", "--retain", f"{hours}h", lake=tmp_path / "lake")
    assert vacuum.code == 2, vacuum.stderr
    monkeypatch.setenv("RETAIL_MAINTENANCE__RETAIN_HOURS", hours)
    env = run_retail("ingest", source, lake=tmp_path / "lake")
    assert not (tmp_path / "lake").exists()
    assert env.code == 2 and "RETAIL_MAINTENANCE__RETAIN_HOURS" in env.stderr, env.stderr


def test_a_file_name_that_reads_as_rich_markup_is_printed_as_written(tmp_path: Path) -> None:
    """A file under a folder named ``q[`` is ``q[/].csv`` to the CLI: Rich read its ``[/]`` as
    a closing tag, so a refusal naming it, and ``retail retract`` after it had retracted the
    file, ended in a MarkupError traceback (exit 1) instead of their message (sixteenth round's
    audit)."""
    folder = tmp_path / "q["
    folder.mkdir()
    good, bad = folder / "].csv", folder / "]bad.csv"
    assert run_retail("generate", "--rows", "20", "--out", good, lake=tmp_path / "x").code == 0
    bad.write_text("InvoiceNo\n1\n", encoding="utf-8")
    lake = tmp_path / "lake"
    for args, code in (
        (("ingest", good), 0),
        (("ingest", bad), 2),
        (("retract", str(good)), 0),
        (("retract", str(good)), 0),  # already retracted: said so
    ):
        done = run_retail(*args, lake=lake, cwd=tmp_path)
        said = done.stdout + done.stderr
        assert done.code == code and "Traceback" not in said, said
        assert "q[/]" in " ".join(said.split()), said


def test_a_named_pipe_is_refused_as_no_regular_file(lake: Path, tmp_path: Path) -> None:
    """A FIFO named ``sales.csv`` given by name was refused as "no such file or folder" (it
    exists; sixteenth round's audit): it is refused for what it is, and never opened (opening
    a pipe with no writer would block the ingest for ever)."""
    pipe = tmp_path / "sales.csv"
    os.mkfifo(pipe)
    done = run_retail("ingest", pipe, lake=lake)
    said = " ".join(done.stderr.split())
    assert done.code == 2, done.stdout + done.stderr
    assert f"{pipe}: not a regular file (a pipe, device or socket)" in said, said

"""``retail ingest`` from the user's side: what it says of a same-named file with new content,
its progress on a large folder, and the manifest's lookups across many files of one command."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import REAL_DATA, RetailCli

SAMPLE = REAL_DATA / "online_retail_head_1071.csv"


def _lines(count: int, *, price: str | None = None) -> str:
    """The sample's header and ``count`` lines; ``price`` rewrites the first line's price."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[: count + 1]
    if price is not None:
        cells = lines[1].split(",")
        cells[5] = price  # UnitPrice
        lines[1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def test_a_corrected_file_of_the_same_name_is_ingested_with_a_note_naming_the_batch(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    """The corrected bytes are a new file, so its lines are added (the changed line is then
    in the lake twice): the command says so and names what undoes it; the same bytes again
    are a plain skip, and another file's name says nothing."""
    folder = tmp_path / "exports"
    folder.mkdir()
    export = folder / "sales_2026-11.csv"
    export.write_text(_lines(20), encoding="utf-8")
    first = retail("ingest", export, lake=lake_dir)
    assert first.code == 0, first.stderr
    assert "ingested before" not in first.stdout

    export.write_text(_lines(20, price="9.99"), encoding="utf-8")
    corrected = retail("ingest", export, lake=lake_dir)
    assert corrected.code == 0, corrected.stderr
    said = " ".join(corrected.stdout.split())  # (the console wraps long notes)
    assert "sales_2026-11.csv was ingested before as batch 1" in said, said
    assert "with other content; its lines are added alongside" in said
    assert "retail retract --batch 1" in said
    assert "--replaces sales_2026-11.csv" in said
    assert "ingested" in corrected.stdout

    again = retail("ingest", export, lake=lake_dir)
    assert again.code == 0, again.stderr
    assert "same content already in batch 2" in again.stdout
    assert "ingested before" not in again.stdout

    other = folder / "sales_2026-12.csv"
    other.write_text(_lines(30), encoding="utf-8")
    new = retail("ingest", other, lake=lake_dir)
    assert new.code == 0, new.stderr
    assert "ingested before" not in new.stdout


def test_a_correction_ingested_with_replaces_under_the_same_name_gets_no_note(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    export = tmp_path / "sales_2026-11.csv"
    export.write_text(_lines(20), encoding="utf-8")
    assert retail("ingest", export, lake=lake_dir).code == 0
    export.write_text(_lines(20, price="9.99"), encoding="utf-8")
    replaced = retail("ingest", "--replaces", export.name, export, lake=lake_dir)
    assert replaced.code == 0, replaced.stderr
    assert "replaced batch 1" in replaced.stdout
    assert "ingested before" not in replaced.stdout


@pytest.fixture
def many_files(tmp_path: Path) -> Path:
    """A folder of 3,000 tiny exports: 2,990 copies of one content, 10 of their own."""
    folder = tmp_path / "drop"
    folder.mkdir()
    same = _lines(2)
    for i in range(2990):
        (folder / f"day_{i:05d}.csv").write_text(same, encoding="utf-8")
    for i in range(10):
        (folder / f"other_{i}.csv").write_text(_lines(3 + i), encoding="utf-8")
    return folder


def test_a_large_folder_reports_its_progress_on_stderr_and_skips_its_copies(
    retail: RetailCli,
    lake_dir: Path,
    many_files: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every copy is skipped, also those whose original came in another window of lookups
    and those already in the lake; progress goes to stderr at the set interval, never stdout
    (scripts parse stdout)."""
    seed = many_files / "other_0.csv"  # in the lake before: its copy below is a duplicate
    assert retail("ingest", seed, lake=lake_dir).code == 0
    (many_files / "zz_copy_of_other_0.csv").write_bytes(seed.read_bytes())
    monkeypatch.setenv("RETAIL_PROGRESS_SECONDS", "0.05")
    done = retail("ingest", many_files, lake=lake_dir)
    assert done.code == 0, done.stderr
    progress = [line for line in done.stderr.splitlines() if line.startswith("ingest: ")]
    assert progress, done.stderr
    assert "of 3,001 files" in progress[-1], progress[-1]
    assert "skipped" in progress[-1] and "lines" in progress[-1]
    assert "ingest: " not in done.stdout
    lines = done.stdout.splitlines()  # past 1,000 files: tab-separated lines, not a table
    assert lines[0] == "file\tstatus\tlines\trejected\tnote", lines[0]
    copy = many_files / "day_00001.csv"
    assert f"{copy}\tskipped\t0\t0\tsame content already in batch 2" in lines
    assert done.stdout.count("skipped") == 2990 - 1 + 1 + 1, done.stdout.count("skipped")
    status = retail("status", "--json", lake=lake_dir).json()
    files = status["tables"]["bronze.files"]["rows"]
    assert files == 1 + 1 + 9, files  # other_0, one day_ file, other_1..9

    monkeypatch.delenv("RETAIL_PROGRESS_SECONDS")
    quiet = retail("ingest", many_files / "other_1.csv", lake=lake_dir)  # default: 10 s
    assert quiet.code == 0 and "ingest: " not in quiet.stderr


def test_a_bad_progress_interval_is_refused_by_name(
    retail: RetailCli, lake_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAIL_PROGRESS_SECONDS", "soon")
    done = retail("ingest", SAMPLE, lake=lake_dir)
    assert done.code == 2
    assert "RETAIL_PROGRESS_SECONDS" in done.stderr + done.stdout
    assert os.environ["RETAIL_PROGRESS_SECONDS"] == "soon"


def test_the_watcher_and_the_api_say_the_same_note(tmp_path: Path) -> None:
    """The watcher's log and an upload's job detail carry the note the CLI prints: all three
    call the one ingest path."""
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.serve.operations import ingest_upload
    from tests.integration.orchestrate.project import make_project, retail_in

    project = make_project(tmp_path / "shop")
    export = project / "landing" / "sales_2026-11.csv"
    export.write_text(_lines(20), encoding="utf-8")
    first = retail_in(project, "watch", "--once", "--settle", "0.1")
    assert first.code == 0, first.stderr + first.stdout
    assert "ingested before" not in first.stdout
    export.write_text(_lines(20, price="9.99"), encoding="utf-8")
    second = retail_in(project, "watch", "--once", "--settle", "0.1")
    assert second.code == 0, second.stderr + second.stdout
    said = " ".join(second.stdout.split())
    assert "note: sales_2026-11.csv was ingested before as batch 1" in said, said

    upload = tmp_path / "sales_2026-11.csv"  # an upload lands under the name it was given
    upload.write_text(_lines(20, price="7.77"), encoding="utf-8")
    detail = ingest_upload(Lake(project / "lake"), upload)
    assert detail["status"] == "ingested", detail
    [note] = [w for w in detail["warnings"] if "ingested before" in w]
    assert note.startswith("sales_2026-11.csv was ingested before as batch 2 "), note
    assert "(and 1 earlier batch(es) of that name)" in note


def _on_a_terminal(*args: str | Path) -> tuple[int, str]:
    """``retail ARGS`` with its stdout and stderr on a pseudo-terminal, as a person runs it:
    the exit code and everything the terminal was sent."""
    import pty
    import subprocess

    from tests.conftest import RETAIL

    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    process = subprocess.Popen(
        [RETAIL, *map(str, args)], stdin=secondary, stdout=secondary, stderr=secondary, env=env
    )
    os.close(secondary)
    sent = bytearray()
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal's other side closed: the command has ended
            break
        if not chunk:
            break
        sent += chunk
    os.close(primary)
    return process.wait(timeout=120), sent.decode("utf-8", "replace")


def test_a_terminal_sees_the_ingest_progress_with_its_counts(tmp_path: Path) -> None:
    """On a terminal (the commonest case) the progress lines are replaced by a bar, which
    showed only files done of the total: the lines, skips and refusals the lines of a pipe
    tell were not said until the end. The bar now carries them."""
    folder = tmp_path / "in"
    folder.mkdir()
    source = REAL_DATA / "online_retail_head_1071.csv"
    (folder / "a.csv").write_bytes(source.read_bytes())
    (folder / "b.csv").write_bytes(source.read_bytes())  # a copy: skipped
    (folder / "c.csv").write_bytes(b"\x00\x01binary" * 100)  # refused
    code, sent = _on_a_terminal("--lake", tmp_path / "lake", "ingest", folder)
    assert code == 2, sent
    assert "/3" in sent, sent  # the bar (redrawn ten times a second: not every state shows)
    assert re.search(r"\d[\d,]* lines, [01] skipped, [01] refused", sent), sent

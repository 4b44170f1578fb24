"""Recovery commands given wrong arguments, from the user's side (fifteenth round's audit): each
is a refusal naming the argument and the reason, exit 2, never an internal error, and the lake
is left as it was."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from retail_lakehouse.lake import Lake
from tests.conftest import REAL_DATA, run_retail

pytestmark = pytest.mark.slow  # about 40 s on 2 loaded cores: scheduled with the slow files
SAMPLE = REAL_DATA / "online_retail_ii_head_99_bom.csv"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small lake, ingested and run."""
    root = tmp_path_factory.mktemp("recover-refusals") / "lake"
    for args in (("ingest", SAMPLE), ("run",)):
        done = run_retail(*args, lake=root)
        assert done.code == 0, done.stderr
    return root


@pytest.mark.parametrize("retain", ["99999999999h", "20000000h", "1000000d"])
def test_a_retention_beyond_any_date_is_refused(lake: Path, retain: str) -> None:
    """Hours past the calendar's range were an OverflowError (exit 1, "internal error")."""
    before = Lake(lake).versions()
    done = run_retail("vacuum", "--retain", retain, lake=lake)
    assert done.code == 2, done.stdout + done.stderr
    assert "internal error" not in done.stderr
    assert "error: --retain" in done.stderr and "at most 876,000h" in done.stderr, done.stderr
    assert Lake(lake).versions() == before


def test_a_backup_into_a_file_or_an_impossible_folder_is_refused(
    lake: Path, tmp_path: Path
) -> None:
    """A file given as the backup folder, or a folder under a file, was FileExistsError /
    NotADirectoryError (exit 1, "internal error"); the file is left as it was."""
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me\n", encoding="utf-8")
    for dest in (afile, afile / "backups"):
        done = run_retail("backup", dest, lake=lake)
        assert done.code == 2, done.stdout + done.stderr
        assert "internal error" not in done.stderr
        assert f"{dest}: cannot hold a backup" in done.stderr, done.stderr
    assert afile.read_text(encoding="utf-8") == "keep me\n"


def test_a_restore_into_a_file_is_refused(lake: Path, tmp_path: Path) -> None:
    """``restore --lake FILE`` was NotADirectoryError (exit 1); nothing is written beside it."""
    backups = tmp_path / "backups"
    made = run_retail("backup", backups, lake=lake)
    assert made.code == 0, made.stderr
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me\n", encoding="utf-8")
    done = run_retail("restore", backups, "--lake", afile)
    assert done.code == 2, done.stdout + done.stderr
    assert "internal error" not in done.stderr
    assert f"{afile} is a file" in done.stderr, done.stderr
    assert afile.read_text(encoding="utf-8") == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backups", "notes.txt"]


@pytest.mark.parametrize(
    "args",
    [
        ("status", "--runs", "99999999999999999999"),
        ("sql", "--limit", "9223372036854775808", "SELECT 1"),
        ("quality", "report", "--examples", "99999999999999999999"),
    ],
    ids=" ".join,
)
def test_a_count_past_any_size_is_a_usage_error(lake: Path, args: tuple[str, ...]) -> None:
    """Counts without an upper bound reached DuckDB or a C long and were internal errors
    (OverflowError, "integer parameter out of BIGINT range", exit 1)."""
    done = run_retail(*args, lake=lake)
    assert done.code == 2, done.stdout + done.stderr
    assert "internal error" not in done.stderr and "Invalid value" in done.stderr, done.stderr


@pytest.mark.parametrize("where", ["extra", "table"])
def test_a_backup_whose_manifest_points_outside_the_lake_is_refused(
    lake: Path, tmp_path: Path, where: str
) -> None:
    """A backup comes from somewhere: one whose manifest names ``../../x`` as a file (its
    object present, its checksum right) made ``retail restore`` write that file outside the
    lake it was restoring (fifteenth round's audit). Refused before anything is written."""
    backups = tmp_path / "backups"
    assert run_retail("backup", backups, lake=lake).code == 0
    manifest_path = next((backups / "backups").glob("*.json"))
    manifest = json.loads(manifest_path.read_text())
    content = b"not from this lake\n"
    digest = hashlib.sha256(content).hexdigest()
    (backups / "objects" / digest[:2]).mkdir(exist_ok=True)
    (backups / "objects" / digest[:2] / digest).write_bytes(content)
    entry = {"path": "../../../escaped.txt", "size": len(content), "sha256": digest}
    if where == "extra":
        manifest.setdefault("extra", []).append(entry)
    else:
        manifest["tables"]["gold.fact_sales"]["files"].append(entry)
    manifest_path.write_text(json.dumps(manifest))
    target = tmp_path / "deep" / "er" / "restored"
    done = run_retail("restore", backups, "--lake", target)
    assert done.code == 2, done.stdout + done.stderr
    assert "../../../escaped.txt" in done.stderr and "outside" in done.stderr, done.stderr
    assert not list(tmp_path.rglob("escaped.txt")) and not target.exists()

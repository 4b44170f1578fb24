"""Compressed exports (``.gz``, ``.bz2``, ``.xz``) of the text formats ingest like the files
inside them, from the user's side: the same bronze rows, the manifest naming and hashing the
file as given, and damaged or exploding files refused with exit 2 and the reason."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import RETAIL, CliResult, RetailCli, run_retail

COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}
COMPARED = (
    "SELECT * EXCLUDE (_source_file, _source_sha256, _batch_id, _batch_seq, _ingested_at) "
    "FROM bronze.sales_lines ORDER BY _source_file, _row_number"
)


def _rows(retail: RetailCli, lake: Path, sql: str) -> list[dict[str, object]]:
    done = retail("sql", sql, "-f", "json", lake=lake)
    assert done.code == 0, done.stderr[-2000:]
    rows: list[dict[str, object]] = done.json()
    return rows


def _plain_files(folder: Path, real_files: list[Path]) -> list[Path]:
    """One CSV, one TSV, one NDJSON and one JSON array file, named so they sort alike."""
    folder.mkdir()
    csv = real_files[0].read_text(encoding="utf-8-sig").splitlines()[:60]
    header = csv[0].split(",")
    cells = [line.split(",") for line in csv[1:] if '"' not in line]
    records = [dict(zip(header, row, strict=True)) for row in cells]
    files = {
        "a.csv": "\n".join(csv) + "\n",
        "b.tsv": "\n".join("\t".join(row) for row in [header, *cells]) + "\n",
        "c.jsonl": "".join(json.dumps(r) + "\n" for r in records),
        "d.json": json.dumps(records),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / name for name in files]


def test_compressed_files_in_a_folder_land_like_the_files_inside_them(
    retail: RetailCli, tmp_path: Path, real_files: list[Path]
) -> None:
    plain = _plain_files(tmp_path / "plain", real_files)
    packed = tmp_path / "packed"
    packed.mkdir()
    given: dict[str, str] = {}
    for source, suffix in zip(plain, [".gz", ".bz2", ".xz", ".gz"], strict=True):
        target = packed / f"{source.name}{suffix}"
        target.write_bytes(COMPRESS[suffix](source.read_bytes()))
        given[str(target)] = hashlib.sha256(target.read_bytes()).hexdigest()
    (packed / "notes.gz").write_bytes(gzip.compress(b"not a sales file"))  # no format inside
    plain_lake, packed_lake = tmp_path / "plain-lake", tmp_path / "packed-lake"

    assert retail("ingest", tmp_path / "plain", lake=plain_lake).code == 0
    done = retail("ingest", packed, lake=packed_lake)
    assert done.code == 0, done.stdout + done.stderr[-2000:]  # every compressed file picked

    manifest = _rows(
        retail, packed_lake, "SELECT _source_file, _source_sha256, size_bytes FROM bronze.files"
    )
    assert {r["_source_file"]: r["_source_sha256"] for r in manifest} == given  # as given
    assert {r["_source_file"]: r["size_bytes"] for r in manifest} == {
        name: Path(name).stat().st_size for name in given
    }
    formats = "SELECT format, encoding, delimiter, rows_ingested FROM bronze.files ORDER BY 1, 4"
    assert _rows(retail, packed_lake, formats) == _rows(retail, plain_lake, formats)
    expected = _rows(retail, plain_lake, COMPARED)
    got = _rows(retail, packed_lake, COMPARED)
    assert len(got) == len(expected) > 100
    assert got == expected
    sources = _rows(retail, packed_lake, "SELECT DISTINCT _source_file FROM bronze.sales_lines")
    assert {r["_source_file"] for r in sources} == set(given)
    leftovers = [p for p in packed_lake.rglob("*") if ".input" in p.name]
    assert leftovers == []  # the decompressed copies are gone


def test_a_truncated_or_damaged_archive_is_refused_with_the_reason(
    retail: RetailCli, tmp_path: Path, real_files: list[Path]
) -> None:
    whole = gzip.compress(real_files[0].read_bytes())
    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    damaged = tmp_path / "noise.csv.gz"
    damaged.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(4000))
    not_gzip = tmp_path / "plain.csv.gz"
    not_gzip.write_bytes(real_files[0].read_bytes())
    for path, reason in [
        (truncated, "truncated"),
        (damaged, "damaged"),
        (not_gzip, "not a gzip file"),
    ]:
        lake = tmp_path / f"lake-{path.stem}"
        done = retail("ingest", path, lake=lake)
        assert done.code == 2, done.stderr[-2000:]
        assert path.name in done.stderr and reason in done.stderr, done.stderr
        assert "internal error" not in done.stderr
        assert not list(lake.rglob("*.input*"))


def test_a_decompression_bomb_is_refused_before_it_fills_the_disk(
    tmp_path: Path, real_files: list[Path]
) -> None:
    header = real_files[0].read_text(encoding="utf-8-sig").splitlines()[:2]
    line = (header[1] + "\n").encode()
    bomb = tmp_path / "bomb.csv.gz"
    body = line * (200 * 2**20 // len(line))  # 200 MB of one repeated line: ~1,000 to 1
    bomb.write_bytes(gzip.compress(header[0].encode() + b"\n" + body, compresslevel=9))
    assert bomb.stat().st_size < 2 * 2**20
    lake = tmp_path / "lake"
    done = run_retail("ingest", bomb, lake=lake)
    assert done.code == 2, done.stderr[-2000:]
    assert "bomb.csv.gz" in done.stderr and "limits.max_compression_ratio" in done.stderr
    assert not list(lake.rglob("*.input*"))


def test_the_decompressed_size_limit_is_configurable(
    tmp_path: Path, real_files: list[Path]
) -> None:
    lines = real_files[0].read_text(encoding="utf-8-sig").splitlines()
    body = "\n".join(lines[1:]) + "\n"
    packed = tmp_path / "sales.csv.gz"  # 2 MB inside, 25 times the file's own lines
    packed.write_bytes(gzip.compress((lines[0] + "\n" + body * 25).encode()))
    env_lake = tmp_path / "lake"
    os.environ["RETAIL_LIMITS__MAX_DECOMPRESSED_MB"] = "1"
    try:
        done = run_retail("ingest", packed, lake=env_lake)
    finally:
        del os.environ["RETAIL_LIMITS__MAX_DECOMPRESSED_MB"]
    assert done.code == 2, done.stderr[-2000:]
    assert "limits.max_decompressed_mb" in done.stderr


def test_a_compressed_binary_format_is_refused_with_what_is_supported(
    retail: RetailCli, tmp_path: Path
) -> None:
    path = tmp_path / "sales.parquet.gz"
    path.write_bytes(gzip.compress(b"PAR1 not really"))
    done = retail("ingest", path, lake=tmp_path / "lake")
    assert done.code == 2
    assert "sales.parquet.gz" in done.stderr and "only text formats" in done.stderr


def test_help_names_the_compressed_formats(retail: RetailCli) -> None:
    done = retail("ingest", "--help")
    assert ".gz" in done.stdout


def _with_fault(fault: str, *args: str | Path, lake: Path) -> CliResult:
    os.environ["RETAIL_FAULT"] = fault
    try:
        return run_retail(*args, lake=lake)
    finally:
        del os.environ["RETAIL_FAULT"]


def test_a_full_lake_disk_while_decompressing_fails_the_command_not_the_file(
    tmp_path: Path, real_files: list[Path]
) -> None:
    """The copy is written on the lake's disk: a full disk there is the lake's problem, like a
    full disk at a commit (exit 1, "No space left on device"), not a refusal of a good file
    (before: "refused: the file could not be read (OSError: [Errno 28] ...)", exit 2)."""
    packed = tmp_path / "sales.csv.gz"
    packed.write_bytes(gzip.compress(real_files[0].read_bytes()))
    lake = tmp_path / "lake"
    full = _with_fault("ingest.decompressing:enospc", "ingest", packed, lake=lake)
    assert full.code == 1, full.stdout + full.stderr[-2000:]
    assert "No space left on device" in full.stderr
    assert "the disk is full" in full.stderr and "internal error" not in full.stderr
    assert "refused" not in full.stdout + full.stderr
    assert not list(lake.rglob("*.input*"))
    again = run_retail("ingest", packed, lake=lake)
    assert again.code == 0, again.stderr[-2000:]


def test_a_reader_killed_while_decompressing_leaves_no_copy(
    tmp_path: Path, real_files: list[Path]
) -> None:
    packed = tmp_path / "sales.csv.xz"
    packed.write_bytes(lzma.compress(real_files[0].read_bytes()))
    lake = tmp_path / "lake"
    killed = _with_fault("ingest.decompressing:kill", "ingest", packed, lake=lake)
    assert killed.code == 2, killed.stderr[-2000:]  # the worker died: this file refused
    assert "sales.csv.xz" in killed.stderr and "SIGKILL" in killed.stderr
    assert not list(lake.rglob("*.input*"))


def test_each_compressed_format_says_what_is_wrong_with_the_file(
    retail: RetailCli, tmp_path: Path, real_files: list[Path]
) -> None:
    """The same reason whatever the compression: before, a plain CSV named .bz2 or .xz was
    "damaged (Invalid data stream)", an empty .bz2 "truncated" (an empty .gz: "empty"), a
    good gzip followed by junk "not a gzip file", and a .csv.gz compressed twice "binary
    content in a text file"."""
    text = real_files[0].read_bytes()
    folder = tmp_path / "in"
    folder.mkdir()
    cases = {
        "plain.csv.gz": (text, "not a gzip file"),
        "plain.csv.bz2": (text, "not a bzip2 file"),
        "plain.csv.xz": (text, "not a xz file"),
        "empty.csv.gz": (b"", "the file is empty"),
        "empty.csv.bz2": (b"", "the file is empty"),
        "empty.csv.xz": (b"", "the file is empty"),
        "junk.csv.gz": (gzip.compress(text) + b"junk after the end", "gzip file is damaged"),
        "twice.csv.gz": (gzip.compress(gzip.compress(text)), "compressed twice"),
        "twice.csv.xz": (lzma.compress(bz2.compress(text)), "compressed twice"),
    }
    for name, (content, _) in cases.items():
        (folder / name).write_bytes(content)
    done = retail("ingest", folder, lake=tmp_path / "lake")
    assert done.code == 2, done.stderr[-2000:]
    reasons = {
        line.strip().split(":")[0].rsplit("/", 1)[-1]: line
        for line in done.stderr.splitlines()
        if ".csv." in line
    }
    for name, (_, reason) in cases.items():
        assert reason in reasons.get(name, ""), (name, reasons.get(name))


def test_a_compressed_change_log_is_refused_with_the_reason(
    retail: RetailCli, tmp_path: Path
) -> None:
    """``--cdc`` reads its file in the command's own process, without the reader's limits: a
    compressed change log is refused up front, the same for every compression (before, a .gz
    was decompressed there without any limit, a .bz2 was "cannot read (CSV Error on Line: 1)"
    and an .xz "line 1: not a JSON object")."""
    event = b'{"op":"c","source":{"lsn":1},"after":{"line_id":"x1"}}\n'
    lake = tmp_path / "lake"
    for suffix, compress in COMPRESS.items():
        path = tmp_path / f"changes.ndjson{suffix}"
        path.write_bytes(compress(event))
        done = retail("ingest", "--cdc", path, lake=lake)
        assert done.code == 2, done.stdout + done.stderr[-2000:]
        assert f"changes.ndjson{suffix}" in done.stderr, done.stderr
        assert "decompress it first" in done.stderr, done.stderr


def test_a_format_rule_for_the_plain_name_applies_to_the_compressed_export_too(
    tmp_path: Path, real_files: list[Path]
) -> None:
    """``pattern = "shop_*.csv"`` says how the shop's CSVs write dates; the day the shop sends
    them gzipped the rule must still apply (before: the rule did not match ``shop_1.csv.gz``
    and its dates were silently assumed month first)."""
    (tmp_path / "retail.toml").write_text(
        'lake = "lake"\n[[formats.sources]]\npattern = "shop_*.csv"\ndate_order = "dmy"\n'
    )
    packed = tmp_path / "shop_1.csv.gz"
    packed.write_bytes(gzip.compress(real_files[0].read_bytes()))
    done = run_retail("ingest", packed, cwd=tmp_path)
    assert done.code == 0, done.stdout + done.stderr[-2000:]
    rows = run_retail(
        "sql", "SELECT date_order, date_order_source FROM bronze.files", "-f", "json", cwd=tmp_path
    ).json()
    assert rows == [{"date_order": "dmy", "date_order_source": "declared"}]


def test_a_copy_left_by_an_ingest_killed_with_its_reader_is_removed_by_the_next_command(
    retail: RetailCli, tmp_path: Path, real_files: list[Path]
) -> None:
    """When the command and its reader die together (a power cut, ``kill -9`` of the process
    group), nobody deletes the decompressed copy, up to ``max_decompressed_mb`` on the lake's
    disk; the next command's recovery of that ingest does (before: it stayed until a vacuum
    past the retention, which did not even count it)."""
    packed = tmp_path / "sales.csv.gz"
    packed.write_bytes(gzip.compress(real_files[0].read_bytes()))
    lake = tmp_path / "lake"
    for before in ([], [real_files[1]]):  # into a new lake, then into one with a table
        _kill_while_decompressing(lake, packed, before)
        done = retail("ingest", real_files[2], lake=lake)
        assert done.code == 0, done.stderr[-2000:]
        assert "recovered interrupted ingest" in done.stdout + done.stderr
        assert not list(lake.rglob("*.input*"))


def _kill_while_decompressing(lake: Path, packed: Path, before: list[Path]) -> None:
    """``retail ingest`` of ``before`` and ``packed``, its process group killed while the reader
    writes the decompressed copy of ``packed``."""
    started = subprocess.Popen(
        [RETAIL, "--lake", str(lake), "ingest", *map(str, before), str(packed)],
        env={**os.environ, "RETAIL_FAULT": "ingest.decompressing:hang"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(lake.rglob("*.input*")):
            assert time.monotonic() < deadline, "the reader never started its copy"
            assert started.poll() is None, "the ingest ended before it was killed"
            time.sleep(0.05)
    finally:
        os.killpg(started.pid, signal.SIGKILL)
        started.wait()
    assert list(lake.rglob("*.input*"))  # left behind: both processes are gone


def test_content_already_ingested_plain_or_compressed_is_skipped_either_way(
    retail: RetailCli, tmp_path: Path, real_files: list[Path]
) -> None:
    """The same export plain and gzipped is one file: whichever comes second is skipped like a
    re-ingested file, naming the batch that holds it, in one command or two, and bronze holds
    its lines once (it held them twice, silver counting the copy as duplicates)."""
    plain = tmp_path / "export.csv"
    plain.write_bytes(real_files[2].read_bytes())
    packed = {s: tmp_path / f"export.csv{s}" for s in COMPRESS}
    for suffix, target in packed.items():
        target.write_bytes(COMPRESS[suffix](plain.read_bytes()))
    lines = len(plain.read_text(encoding="utf-8-sig").splitlines()) - 1

    def bronze_lines(lake: Path) -> int:
        return int(_rows(retail, lake, "SELECT count(*) AS n FROM bronze.sales_lines")[0]["n"])

    first = tmp_path / "plain-first"  # plain, then each compression: all skipped
    assert retail("ingest", plain, lake=first).code == 0
    for target in packed.values():
        done = retail("ingest", target, lake=first)
        assert done.code == 0, done.stderr[-2000:]
        assert "skipped" in done.stdout and "batch 1" in done.stdout, done.stdout
    assert bronze_lines(first) == lines

    second = tmp_path / "gz-first"  # gzipped, then plain and the others: all skipped
    assert retail("ingest", packed[".gz"], lake=second).code == 0
    done = retail("ingest", plain, packed[".bz2"], packed[".gz"], lake=second)
    assert done.code == 0, done.stderr[-2000:]
    assert done.stdout.count("skipped") == 3, done.stdout
    assert bronze_lines(second) == lines

    both = tmp_path / "one-command"  # both in one command (a folder): the second is skipped
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.csv.gz").write_bytes(packed[".gz"].read_bytes())
    (folder / "b.csv").write_bytes(plain.read_bytes())
    done = retail("ingest", folder, lake=both)
    assert done.code == 0 and done.stdout.count("skipped") == 1, done.stdout + done.stderr
    assert bronze_lines(both) == lines
    manifest = _rows(retail, both, "SELECT _source_file, content_sha256 FROM bronze.files")
    assert manifest == [
        {
            "_source_file": str(folder / "a.csv.gz"),
            "content_sha256": hashlib.sha256(plain.read_bytes()).hexdigest(),
        }
    ]

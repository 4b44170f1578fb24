"""Decompression bombs and damaged streams, from the user's side: ``retail ingest`` refuses each
with exit 2, naming the file and the reason; the whole process tree stays within bounded memory
(sampled here, every 20 ms, summed over the command and its reader); nothing of the file is left
in the lake (no lines, no manifest row, no decompressed copy) and the next command is clean."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import subprocess
import time
import zlib
from pathlib import Path

import psutil
import pytest

from tests.conftest import RETAIL, run_retail

HEADER = b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
LINE = b"536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,UK\n"
BLOCK = LINE * (16 * 2**20 // len(LINE))  # 16 MiB of one line
TREE_BOUND_MB = 2560
"""The reader's default budget (2,048 MB) plus the command's own process: the bombs below would
take gigabytes unchecked; refused, the tree peaked at 307-396 MB when measured."""


def _xz_declaring(content: bytes, dict_props: int = 40) -> bytes:
    """An xz file whose LZMA2 filter declares another dictionary size (40: 4 GiB - 1), its
    block header's CRC32 recomputed so the decoder takes it."""
    data = bytearray(
        lzma.compress(content, filters=[{"id": lzma.FILTER_LZMA2, "dict_size": 2**20}])
    )
    size = (data[12] + 1) * 4
    header = data[12 : 12 + size]
    at = header.index(b"\x21\x01", 2)
    header[at + 2] = dict_props
    header[-4:] = struct.pack("<I", zlib.crc32(bytes(header[:-4])))
    data[12 : 12 + size] = header
    return bytes(data)


def _gzip_stream(blocks: int, block: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join([*(packer.compress(block) for _ in range(blocks)), packer.flush()])


def _bomb(shape: str) -> tuple[str, bytes]:
    if shape == "xz-4gib-dictionary":
        return "d.csv.xz", _xz_declaring(HEADER + LINE * 100)
    if shape == "gzip-of-zeros":
        return "z.csv.gz", _gzip_stream(64, bytes(16 * 2**20))  # 1 GiB of NUL in 1 MB
    if shape == "bz2-bomb":
        packer = bz2.BZ2Compressor(9)
        parts = [packer.compress(HEADER), *(packer.compress(BLOCK) for _ in range(5))]
        return "b.csv.bz2", b"".join([*parts, packer.flush()])
    if shape == "gzip-members":  # 100 members of 16 MiB each, concatenated
        return "m.csv.gz", gzip.compress(HEADER) + gzip.compress(BLOCK, 9) * 100
    if shape == "truncated-gzip":
        whole = gzip.compress(HEADER + LINE * 100_000)
        return "t.csv.gz", whole[: len(whole) // 2]
    whole = lzma.compress(HEADER + LINE * 100_000)
    return "t.csv.xz", whole[: len(whole) // 2]


def _run_sampled(*args: str | Path) -> tuple[int, str, int]:
    """Run ``retail`` and sample the resident memory of its whole process tree."""
    env = {**os.environ, "COLUMNS": "250"}
    process = subprocess.Popen(
        [RETAIL, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        total = 0
        try:
            for member in [root, *root.children(recursive=True)]:
                try:
                    total += member.memory_info().rss
                except psutil.Error:
                    continue
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.02)
    output = process.stdout.read().decode() if process.stdout else ""
    return process.returncode, output, peak // 2**20


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        ("xz-4gib-dictionary", "needs more than 512 MB of memory to decompress"),
        ("gzip-of-zeros", "expands more than 100 times"),
        ("bz2-bomb", "expands more than 100 times"),
        ("gzip-members", "expands more than 100 times"),
        ("truncated-gzip", "the gzip file is truncated"),
        ("truncated-xz", "the xz file is truncated"),
    ],
)
def test_a_bomb_is_refused_in_bounded_memory_and_leaves_nothing(
    tmp_path: Path, real_files: list[Path], shape: str, reason: str
) -> None:
    lake = tmp_path / "lake"
    name, data = _bomb(shape)
    bomb = tmp_path / name
    bomb.write_bytes(data)

    code, output, peak_mb = _run_sampled("--lake", lake, "ingest", bomb)

    assert code == 2, output[-3000:]
    refusal = " ".join(output.split("error:")[-1].split())  # the refusals, after the table
    assert f"{bomb}: " in refusal and reason in refusal, output[-3000:]
    assert peak_mb < TREE_BOUND_MB, peak_mb
    assert not list(lake.rglob("*.input*"))
    assert not lake.exists()  # the only file refused: not even the new lake's folder is left
    after = run_retail("ingest", real_files[2], lake=lake)  # the next command: clean
    assert after.code == 0 and "recovered" not in after.stdout + after.stderr, after.stdout


SECOND = b"536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,17850,UK\n"


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        ("second-stream-4gib-dictionary", "needs more than 512 MB of memory to decompress"),
        ("garbage-after-the-stream", "the xz file is damaged"),
        ("bz2-garbage-after-the-stream", "the bzip2 file is damaged"),
    ],
)
def test_an_xz_file_is_decoded_to_its_end_or_refused_never_cut_short(
    tmp_path: Path, shape: str, reason: str
) -> None:
    """Everything after an xz file's first stream is read or refused: a second stream whose
    header declares a 4 GiB dictionary (ingested as its first stream's 100 lines, exit 0: the
    decoder's memory error was taken for trailing garbage and the 50 lines after it dropped), or
    lines after the stream (dropped likewise; ``xz -d`` says "Compressed data is corrupt"); and
    lines after a bzip2 stream (dropped likewise, as ``bzip2 -d`` does with a warning)."""
    packer = bz2.compress if shape.startswith("bz2") else lzma.compress
    first = packer(HEADER + LINE * 100)
    rest = _xz_declaring(SECOND * 50) if shape.startswith("second") else SECOND * 50
    cut = tmp_path / ("two.csv.bz2" if shape.startswith("bz2") else "two.csv.xz")
    cut.write_bytes(first + rest)
    lake = tmp_path / "lake"

    done = run_retail("ingest", cut, lake=lake)

    assert done.code == 2, done.stdout + done.stderr
    assert f"{cut}: " in done.stderr and reason in " ".join(done.stderr.split()), done.stderr
    assert not lake.exists()  # nothing ingested: not even the new lake's folder is left


def test_concatenated_xz_streams_and_stream_padding_are_read_whole(tmp_path: Path) -> None:
    """What ``xz -d`` reads whole, the ingest reads whole: streams concatenated (``cat a.xz
    b.xz``) and the null padding the format allows between and after them."""
    packed = tmp_path / "two.csv.xz"
    packed.write_bytes(
        lzma.compress(HEADER + LINE * 100) + bytes(8) + lzma.compress(SECOND * 50) + bytes(4)
    )
    lake = tmp_path / "lake"

    done = run_retail("ingest", packed, lake=lake)

    assert done.code == 0, done.stdout + done.stderr
    lines = run_retail(
        "sql", "SELECT count(*) AS n FROM bronze.sales_lines", "-f", "json", lake=lake
    )
    assert lines.json() == [{"n": 150}], lines.stdout + lines.stderr
    pbzip2 = tmp_path / "parallel.csv.bz2"  # pbzip2 writes one stream per block
    pbzip2.write_bytes(bz2.compress(HEADER + SECOND * 10) + bz2.compress(LINE * 20))
    assert run_retail("ingest", pbzip2, lake=lake).code == 0
    lines = run_retail(
        "sql", "SELECT count(*) AS n FROM bronze.sales_lines", "-f", "json", lake=lake
    )
    assert lines.json() == [{"n": 180}], lines.stdout + lines.stderr


@pytest.mark.parametrize("compression", ["gzip", "bzip2", "xz"])
def test_a_file_of_countless_empty_streams_is_refused_at_once(
    tmp_path: Path, compression: str
) -> None:
    """A gzip of one line and then a million empty members (20 MB) kept the reader busy 14-24 s
    and was ingested; bzip2 and xz concatenate streams alike. Each stream costs a decoder, so a
    file may hold at most 1,000 streams, or one per 4 KiB of content: refused, exit 2, named."""
    packer = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[compression]
    suffix = {"gzip": "gz", "bzip2": "bz2", "xz": "xz"}[compression]
    empty = packer(b"")
    many = tmp_path / f"many.csv.{suffix}"
    many.write_bytes(
        packer(HEADER + LINE) + empty * (1_000_000 if compression == "gzip" else 20_000)
    )
    lake = tmp_path / "lake"

    done = run_retail("ingest", many, lake=lake, timeout=120)

    assert done.code == 2, done.stdout + done.stderr
    refusal = " ".join(done.stderr.split())
    assert f"{many}: it is made of more than 1,000 {compression} streams" in refusal, refusal


def test_many_streams_that_each_bring_content_are_read_whole(tmp_path: Path) -> None:
    """bgzip writes a gzip member per 64 KiB, pbzip2 a bzip2 stream per 900 kB: many streams,
    each with its share of the content, are an ordinary file (here 1,500 members of 100 lines)."""
    members = tmp_path / "blocks.csv.gz"
    members.write_bytes(gzip.compress(HEADER) + gzip.compress(LINE * 100, 1) * 1_500)
    lake = tmp_path / "lake"

    done = run_retail("ingest", members, lake=lake, timeout=120)

    assert done.code == 0, done.stdout + done.stderr
    lines = run_retail(
        "sql", "SELECT count(*) AS n FROM bronze.sales_lines", "-f", "json", lake=lake
    )
    assert lines.json() == [{"n": 150_000}], lines.stdout + lines.stderr

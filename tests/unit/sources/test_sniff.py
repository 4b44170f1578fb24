"""``file_facts``: one streamed pass gives the file's SHA-256 and encoding, with the hash of each
block on a helper thread (decision 0021, twelfth round). The blocks are made small here so that
a small file crosses many of them and every block goes through the thread."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from retail_lakehouse.sources import sniff


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Blocks of 64 bytes, each hashed on the helper thread."""
    monkeypatch.setattr(sniff, "BLOCK", 64)
    monkeypatch.setattr(sniff, "THREADED_HASH_BYTES", 1)
    return 64


def _lines(count: int, text: str) -> bytes:
    return "".join(f"{i},{text},{i * 7 % 13}\n" for i in range(count)).encode("utf-8")


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 128, 5_000])
def test_the_hash_is_the_whole_files_sha256_whatever_the_blocks(
    tmp_path: Path, small_blocks: int, size: int
) -> None:
    data = (_lines(200, "Café £3") * 2)[:size]
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    threads = threading.active_count()
    facts = sniff.file_facts(path)
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert facts.size == size
    assert threading.active_count() == threads  # every helper thread was joined


def test_a_character_split_between_two_blocks_is_still_clean_utf8(
    tmp_path: Path, small_blocks: int
) -> None:
    data = b"a" * (small_blocks - 1) + "£".encode() + b"b" * 10  # £ is two bytes: 63 and 64
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    facts = sniff.file_facts(path)
    assert (facts.encoding, facts.clean_utf8) == ("utf-8", True)
    assert facts.sha256 == hashlib.sha256(data).hexdigest()


def test_a_broken_byte_in_a_later_block_is_found(tmp_path: Path, small_blocks: int) -> None:
    data = _lines(50, "Café") + b"9,caf\xe9,1\n" + _lines(5, "Café")
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    facts = sniff.file_facts(path)
    assert facts.clean_utf8 is False
    assert facts.encoding == "utf-8"  # many valid multi-byte sequences, one broken byte
    assert facts.sha256 == hashlib.sha256(data).hexdigest()


def test_legacy_text_and_a_bom_are_told_apart(tmp_path: Path, small_blocks: int) -> None:
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes(_lines(40, "Café £3").decode().encode("cp1252"))
    assert sniff.file_facts(legacy).encoding == "cp1252"
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + _lines(40, "Café"))
    assert sniff.file_facts(bom).encoding == "utf-8-sig"


def test_a_file_larger_than_the_threshold_hashes_the_same_on_the_default_blocks(
    tmp_path: Path,
) -> None:
    data = _lines(150_000, "WHITE HANGING HEART T-LIGHT HOLDER £2.55")  # about 7 MB
    assert len(data) > sniff.THREADED_HASH_BYTES
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    facts = sniff.file_facts(path)
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert (facts.encoding, facts.clean_utf8, facts.size) == ("utf-8", True, len(data))


_MIB = 1024 * 1024


@pytest.mark.parametrize(
    "size",
    [0, 1, _MIB - 1, _MIB, _MIB + 1, 16 * _MIB - 1, 16 * _MIB, 16 * _MIB + 1, 33 * _MIB + 7],
)
def test_the_hash_equals_sha256sum_around_the_real_block_limits(tmp_path: Path, size: int) -> None:
    """On the shipped blocks (16 MiB, hashed on the thread from 1 MiB): the hash ``sha256sum``
    prints for files one byte either side of each limit, and no helper thread left."""
    import subprocess

    line = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER £2.55,6\n".encode()
    data = (line * (size // len(line) + 1))[:size]
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    threads = threading.active_count()
    facts = sniff.file_facts(path)
    printed = subprocess.run(["sha256sum", path], capture_output=True, check=True, text=True)
    assert facts.sha256 == printed.stdout.split()[0]
    assert facts.size == size
    assert threading.active_count() == threads


def test_a_broken_byte_in_the_third_real_block_is_found_and_hashed(tmp_path: Path) -> None:
    """The UTF-8 check failing two blocks in (the analysis from there on) changes nothing of
    the hash, which still equals ``sha256sum``'s."""
    import subprocess

    line = "536365,85123A,Café £2.55,6\n".encode()
    head = line * (2 * sniff.BLOCK // len(line) + 1)
    data = head + b"9,caf\xe9,1\n" + line * 1000
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    facts = sniff.file_facts(path)
    printed = subprocess.run(["sha256sum", path], capture_output=True, check=True, text=True)
    assert facts.sha256 == printed.stdout.split()[0]
    assert (facts.encoding, facts.clean_utf8) == ("utf-8", False)

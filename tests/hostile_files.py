"""Hostile source files, generated on the spot: each is what a user (or an attacker) could drop
in ``landing/`` and each once crashed, hung or exhausted ``retail ingest`` (issue 13).

Sizes are parameters: tests run small variants that hit the same limit; soak tests run the
sizes of the original reports.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
RECORD = {
    "InvoiceNo": "536365",
    "StockCode": "85123A",
    "Description": "WHITE HANGING HEART T-LIGHT HOLDER",
    "Quantity": "6",
    "InvoiceDate": "2010-12-01 08:26:00",
    "UnitPrice": "2.55",
    "CustomerID": "17850",
    "Country": "United Kingdom",
}


def good_csv(path: Path, invoice: int = 536365, lines: int = 3) -> Path:
    rows = [
        f"{invoice},85123A,WHITE HANGING HEART,{i + 1},2010-12-01 08:26:00,2.55,17850,"
        "United Kingdom"
        for i in range(lines)
    ]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def deep_json_array(path: Path, depth: int = 5000) -> Path:
    """A JSON array whose one record has an extra field nested ``depth`` levels deep."""
    head = json.dumps([RECORD])[:-2]  # without the closing "}]"
    path.write_text(head + ', "extra": ' + "[" * depth + "1" + "]" * depth + "}]")
    return path


def wide_ndjson(path: Path, keys: int = 20_000) -> Path:
    """One NDJSON line holding ``keys`` extra keys (20,000 keys: 249 KB, once 13.4 GB)."""
    record = dict(RECORD) | {f"k{i}": "" for i in range(keys)}
    path.write_text(json.dumps(record) + "\n")
    return path


def big_json_object(path: Path, keys: int = 1_000_000) -> Path:
    """One JSON object (not an array) with ``keys`` keys on one line (a million: 53 MB)."""
    with path.open("w") as out:
        out.write(json.dumps(RECORD)[:-1])
        for start in range(0, keys, 100_000):
            out.write("".join(f', "key{i}": {i}' for i in range(start, min(keys, start + 100_000))))
        out.write("}\n")
    return path


def xlsx_bomb(path: Path, rows: int, *, declare_rows: bool = True) -> Path:
    """A valid xlsx whose one sheet repeats the same row ``rows`` times: it compresses ~100:1
    (14 M rows: 50 MB on disk, once 11.3 GB in memory)."""
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Sales" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
    }

    def row(values: list[str]) -> str:
        cells = "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values)
        return f"<row>{cells}</row>"

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            dimension = f'<dimension ref="A1:H{rows + 1}"/>' if declare_rows else ""
            sheet.write(
                (
                    '<?xml version="1.0" encoding="UTF-8"?>'
                    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    f"{dimension}<sheetData>" + row(list(RECORD))
                ).encode()
            )
            block = "".join(row(list(RECORD.values())) for _ in range(1000)).encode()
            for _ in range(rows // 1000):
                sheet.write(block)
            sheet.write(b"</sheetData></worksheet>")
    return path


def parquet_list_column(path: Path) -> Path:
    table = pa.table({k: [v] for k, v in RECORD.items()} | {"tags": [[1, 2, 3]]})
    pq.write_table(table, path)
    return path


def parquet_binary_column(path: Path) -> Path:
    columns = {k: pa.array([v]) for k, v in RECORD.items()}
    columns["Description"] = pa.array([b"\xff\xfe not utf-8 \x80"], pa.binary())
    pq.write_table(pa.table(columns), path)
    return path


def empty_header_cells(path: Path, cells: int = 8000) -> Path:
    """A CSV whose header has ``cells`` empty names after the real ones (16 KB for 8,000)."""
    row = "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom"
    path.write_text(HEADER + "," * cells + "\n" + row + "," * cells + "\n")
    return path


def duplicate_header(path: Path, names: int = 8000) -> Path:
    """A CSV whose header repeats one extra name ``names`` times."""
    row = "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom"
    path.write_text(HEADER + ",note" * names + "\n" + row + ",x" * names + "\n")
    return path


class TreePeak:
    """Peak resident memory of a process and all its descendants together, sampled every
    20 ms in a background thread (what "peak memory under 2 GB" is measured as)."""

    def __init__(self, pid: int) -> None:
        import threading

        import psutil

        self.root = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        while not self._stop.wait(0.02):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_retail_measured(
    *args: str | Path, lake: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> tuple[int, str, str, int]:
    """``retail --lake LAKE ARGS`` as a subprocess: exit code, stdout, stderr and the peak
    resident memory of its whole process tree."""
    import os
    import subprocess

    from tests.conftest import RETAIL

    command = [RETAIL, "--lake", str(lake), *map(str, args)]
    environment = {**os.environ, "COLUMNS": "250", **(env or {})}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )
    sampler = TreePeak(process.pid)
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr, sampler.stop()


def lake_fingerprint(lake: Path) -> dict[str, str]:
    """Every file under the lake with its SHA-256 (to prove a command changed nothing)."""
    import hashlib

    return {
        str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(lake.rglob("*"))
        if p.is_file()
    }

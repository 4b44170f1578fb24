"""The day/month swap check's invoices, grouped once per silver data file and kept beside the lake.

The check (:mod:`.date_swaps`) needs, for every invoice number of silver, its batch, file and
first instant. Grouping every silver line for that on every run cost 0.19 of the check's 0.32
CPU-s at 5,000,000 lines, in every run of a lake once one file's date order was assumed
(decision 0020, twelfth round). A Delta data file is never changed in place (a commit writes new
files under new names), so the grouped invoices of a file hold as long as the file is live: each
file's are grouped once, stored in ``<lake>/_swap_invoices/<key>.pq`` (Parquet), and a run
groups only the files it has not seen (an append's one new file), then reads the stored groups
of every live file; the check groups those again by (batch, file, number), the same minimum per
invoice whatever files its lines are spread over.

A file is known by its path under the lake, its size and its modification time on disk, as the
accounting check knows its per-file sums (``pipeline/accounting.py``): a file rewritten in place
is grouped again. The folder is a cache, not a table: nothing in it is a fact of the lake, so no
commit writes it and rollback, retract, recover and backups need not know it. A retraction or a
compaction writes new silver files (grouped on the next check), a rollback restores files that
are grouped again when their entries were removed, an older release's runs write files this one
groups when it next runs, and entries of files no longer live are deleted. Each entry is written
to a temporary name and renamed (a kill leaves the old folder or the new entry). Only the run
holding the lake's writer lock writes here (silver's step, on every run: the files are grouped
as they arrive, not when the first assumed file does); ``retail status`` groups every line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

import duckdb

from retail_lakehouse.lake.faults import point
from retail_lakehouse.lake.query import LakeSQL, snapshot_relation_sql

log = logging.getLogger(__name__)

FOLDER = "_swap_invoices"
"""At the lake root, beside ``_accounting.json``; outside the layer folders, so no table sees it."""

SUFFIX = ".pq"
"""Not ``.parquet``: the lake's counts of data files (maintenance, tests) stay about tables."""

SILVER = "silver.sales_lines"

_OURS = re.compile(r"\.?[0-9a-f]{40}\.pq(\.tmp)?")
"""The names this module writes (an entry, or its scratch name before the rename): the only
files it ever removes, so a person's file put in the folder is left alone."""

INVOICES = """
    SELECT _batch_seq, _source_file,
           CAST(regexp_extract(invoice_no, '^[A-Z]?([0-9]{{1,12}})$', 1) AS BIGINT) AS num,
           min(ts) AS ts
    FROM (
        SELECT _batch_seq, _source_file, invoice_no, min(invoice_ts) AS ts
        FROM {lines}
        WHERE invoice_ts IS NOT NULL
        GROUP BY ALL
    )
    WHERE regexp_matches(invoice_no, '^[A-Z]?[0-9]{{1,12}}$')
    GROUP BY ALL
"""
"""Per (batch, file, invoice number): the first instant. Lines are grouped by the invoice
number's text first and the number read (a regular expression) once per text, not per line
(decision 0020, tenth round); the second grouping merges spellings of one number."""


def invoices_sql(lines: str = SILVER) -> str:
    """:data:`INVOICES` over ``lines`` (a view name or a ``read_parquet`` call)."""
    return INVOICES.format(lines=lines)


def kept_invoices_sql(sql: LakeSQL) -> str | None:
    """Bring the stored groups up to date with the silver snapshot ``sql``'s view reads (the
    files not stored yet grouped and stored, those no longer live removed) and return a query
    giving :data:`INVOICES`' columns from them: one row per invoice and file (the check groups
    them again by invoice, after narrowing them). None when the stored groups cannot answer
    (the view's snapshot is not the latest, a file is not on local disk, the folder cannot be
    written): the caller groups the view.

    Silver's step calls this on every run, also while no file's date order is assumed, so the
    run that ingests the first such file (a weekly export dated the 1st to the 7th reads both
    ways) finds every earlier file grouped: an append groups its own few thousand lines
    (milliseconds), the first build its whole file once."""
    from retail_lakehouse.lake.location import data_files, file_key

    lake = sql.lake
    snapshot = lake.delta(SILVER)
    if snapshot is None or snapshot.version() != sql.versions.get(SILVER):
        return None
    entries: dict[str, str] = {}  # entry name -> data file
    for file in data_files(snapshot):
        key = file_key(lake.root, file)
        if key is None:
            return None
        entries[hashlib.sha256(key.encode()).hexdigest()[:40] + SUFFIX] = file
    folder = lake.root / FOLDER
    try:
        folder.mkdir(exist_ok=True)
        if folder.is_symlink() or not folder.is_dir():  # never write or delete elsewhere
            raise OSError(f"{folder} is not a folder of the lake's own")
        ours, taken = _ours(folder)
        stored = {path.name for path in ours if _plain_file(path)}
        for name, file in entries.items():
            if name not in stored and name not in taken:
                _store(sql, folder / name, file)  # replaces a link of that name, not its target
        for path in ours:
            if path.name not in entries:
                path.unlink(missing_ok=True)  # a file no longer live, or a scratch file
    except (OSError, duckdb.Error) as error:
        log.warning("swap check: per-file invoices not kept (%s); every line grouped", error)
        return None
    if not entries:
        return None  # an empty snapshot: the view gives the contract's columns
    parts = []
    kept = sorted(name for name in entries if name not in taken)
    if kept:
        parts.append(f"SELECT * FROM {snapshot_relation_sql([str(folder / n) for n in kept])}")
    direct = sorted(entries[name] for name in entries if name in taken)
    if direct:  # an entry's name taken by a folder not ours: that file grouped on every run
        log.info(
            "swap check: %d entry name(s) in %s are folders; grouped directly", len(direct), folder
        )
        parts.append(invoices_sql(snapshot_relation_sql(direct)))
    return " UNION ALL BY NAME ".join(parts)


def _ours(folder: Path) -> tuple[list[Path], set[str]]:
    """The paths in ``folder`` named as this module names its entries, and the names of those
    that are folders (not links): this module writes files only, so a folder of that name is
    a person's or another program's, never written into, replaced or removed (decision 0020,
    thirteenth round); the live file it would hold is grouped directly instead."""
    ours: list[Path] = []
    taken: set[str] = set()
    for path in folder.iterdir():
        if not _OURS.fullmatch(path.name):
            continue
        if path.is_dir() and not path.is_symlink():
            taken.add(path.name)
        else:
            ours.append(path)
    return ours, taken


def _quoted(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def forget(sql: LakeSQL) -> None:
    """Remove the stored groups (one could not be read: the next check groups every file);
    only the entries this module writes, never through a link."""
    folder = sql.lake.root / FOLDER
    try:
        if folder.is_symlink() or not folder.is_dir():
            return
        for path in _ours(folder)[0]:
            path.unlink(missing_ok=True)
    except OSError as error:
        log.warning("swap check: stored invoices not removed (%s)", error)


def _plain_file(path: Path) -> bool:
    """Whether ``path`` is a regular file itself, not a link to one elsewhere (an entry read
    through a link would be another file's content under a live file's name)."""
    return not path.is_symlink() and path.is_file()


def _store(sql: LakeSQL, path: Path, file: str) -> None:
    """``file``'s grouped invoices written to ``path`` (through a temporary name)."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        sql.con.execute(
            f"COPY ({invoices_sql(snapshot_relation_sql([file]))}) "
            f"TO {_quoted(str(temporary))} (FORMAT parquet)"
        )
        point("swap_invoices.stored")  # written, not yet renamed (a fault-injection boundary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)

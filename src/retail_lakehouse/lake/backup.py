"""Backups of the lake's current snapshot, and restores that check every byte first.

Layout of a backup folder (``retail backup DEST``)::

    DEST/objects/ab/<sha256>        each data file once, named by its content (SHA-256)
    DEST/backups/<backup id>.json   one manifest per backup: every table's version, schema,
                                    metadata and files (path, size, sha256), plus the key store
    DEST/index.json                 (table id, file, size) -> sha256, so files already backed
                                    up are neither hashed nor copied again

**Consistency without blocking.** A backup pins one version of every table, then copies files
without any lock: Delta data files never change once written, and readers (``retail serve``)
never take the writer lock. The versions are pinned by trying the writer lock without waiting:
when free, the current versions are a committed state no command is changing (the lock is held
for milliseconds); when a command is running, the backup takes the state right after the last
finished run instead (:func:`~retail_lakehouse.lake.history.resolve_as_of`), never a half-done
run. The manifest is written last: an interrupted backup leaves only objects, reused next time,
and at most one object still under its scratch name, which the next backup into the same
folder removes (:mod:`retail_lakehouse.lake.scratch`).

**Restore** reads the manifest, verifies that every object exists with its size and checksum,
and only then writes anything: into a temporary folder beside the target, renamed into place at
the end. Each table is recreated as a new Delta table whose first version holds the backed-up
snapshot (with statistics recomputed from the Parquet footers, as staged commits do), and the
table's stream positions (Delta ``txn`` app transactions, decision 0018: ``transactions`` in the
manifest, absent from older backups) are set in that same first commit, so the next
``retail stream`` continues where the backed-up lake had committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from retail_lakehouse.lake import faults
from retail_lakehouse.lake.commits import COMMAND_KEY, app_ids, app_transactions, commit
from retail_lakehouse.lake.errors import LakeBusyError
from retail_lakehouse.lake.location import data_files
from retail_lakehouse.lake.scratch import scratch_path, sweep
from retail_lakehouse.lake.store import Lake, refuse_inside_a_table

FORMAT = 1
KEY_STORE = "_serve/api_keys.json"
"""The API key store, relative to the lake root (see ``serve/auth/keys.py``)."""


class BackupError(ValueError):
    """A backup that cannot be made or restored; names the file at fault (exit code 2)."""


@dataclass
class BackupReport:
    backup_id: str
    manifest: Path
    pinned: str
    tables: int = 0
    files: int = 0
    bytes_total: int = 0
    files_copied: int = 0
    bytes_copied: int = 0
    seconds: float = 0.0
    scratch_removed: int = 0  # abandoned ``objects/.tmp-*`` of killed backups, removed first


@dataclass
class RestoreReport:
    backup_id: str
    target: Path
    tables: int = 0
    files: int = 0
    bytes_total: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # rows restored, per table


# -- backup --------------------------------------------------------------------------------


def pin_versions(lake: Lake) -> tuple[dict[str, int | None], str]:
    """One committed version per table, and how it was chosen (see the module docstring)."""
    try:
        with lake.writer_lock("backup", wait=0):
            return dict(lake.versions()), "current state (no command was writing)"
    except LakeBusyError:
        from retail_lakehouse.lake.history import last_finished_state

        state = last_finished_state(lake)
        if state is None or state.run is None:
            raise BackupError("a command is writing to a lake with no finished run yet") from None
        return state.versions, f"state after run {state.run.run_id} (a command was writing)"


def backup(lake: Lake, dest: Path) -> BackupReport:
    """Copy the pinned snapshot of every table and the key store into ``dest``."""
    clock = time.perf_counter()
    if not lake.tables():
        raise BackupError(f"{lake.root} holds no lake tables: nothing to back up")
    if dest.resolve().is_relative_to(lake.root.resolve()):
        raise BackupError(
            f"{dest} is inside the lake {lake.root}: a backup there is lost with the lake it "
            "should protect; choose a folder outside it"
        )
    try:  # before any work: a file given as DEST, a folder under a file, a read-only place
        for folder in (dest, dest / "objects", dest / "backups"):
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = "it is a file" if dest.is_file() else (error.strerror or str(error))
        raise BackupError(f"{dest}: cannot hold a backup ({reason})") from None
    swept = sweep(dest / "objects", "tmp")  # objects of killed backups into DEST
    versions, pinned = pin_versions(lake)
    index = _load_index(dest)
    now = datetime.now(UTC)
    backup_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    report = BackupReport(backup_id, dest / "backups" / f"{backup_id}.json", pinned)
    report.scratch_removed = len(swept)
    tables: dict[str, Any] = {}
    for name, version in versions.items():
        if version is None:
            continue
        table = lake.delta(name, version)
        assert table is not None
        meta = table.metadata()
        folder = lake.path(name)
        files = []
        for uri in data_files(table):
            path = Path(uri.removeprefix("file://"))
            relative = path.relative_to(folder).as_posix()
            files.append(_store(dest, index, f"{meta.id}/{relative}", path, relative, report))
        tables[name] = {
            "version": version,
            "schema": table.schema().to_json(),
            "name": meta.name,
            "description": meta.description,
            "configuration": dict(meta.configuration),
            "files": files,
            "transactions": app_transactions(table, app_ids(table)),
        }
        report.tables += 1
    extra = []
    keys = lake.root / KEY_STORE
    if keys.is_file():
        extra.append(_store(dest, index, f"keys/{KEY_STORE}", keys, KEY_STORE, report))
    manifest = {
        "format": FORMAT,
        "backup_id": backup_id,
        "created_at": now.isoformat(),
        "lake": str(lake.root),
        "pinned": pinned,
        "tables": tables,
        "extra": extra,
    }
    _save_index(dest, index)
    faults.point("backup.before_manifest")
    _write_atomic(report.manifest, json.dumps(manifest, indent=1))
    report.seconds = round(time.perf_counter() - clock, 3)
    return report


def _store(
    dest: Path,
    index: dict[str, str],
    key: str,
    source: Path,
    relative: str,
    report: BackupReport,
) -> dict[str, Any]:
    """One file into the object store (copied and hashed in one pass unless already there)."""
    try:
        size = source.stat().st_size
    except FileNotFoundError:
        raise BackupError(
            f"{source} is gone (vacuumed while the backup ran?); run the backup again"
        ) from None
    indexed = f"{key}:{size}"
    digest = index.get(indexed)
    if digest is None or not _object(dest, digest).is_file():
        digest = _copy_in(dest, source)
        index[indexed] = digest
        report.files_copied += 1
        report.bytes_copied += size
    report.files += 1
    report.bytes_total += size
    return {"path": relative, "size": size, "sha256": digest}


def _object(dest: Path, digest: str) -> Path:
    return dest / "objects" / digest[:2] / digest


def _copy_in(dest: Path, source: Path) -> str:
    tmp = scratch_path(dest / "objects", "tmp")
    hasher = hashlib.sha256()
    with source.open("rb") as reader, tmp.open("wb") as writer:
        while chunk := reader.read(1 << 20):
            hasher.update(chunk)
            writer.write(chunk)
    faults.point("backup.object_copied")
    digest = hasher.hexdigest()
    target = _object(dest, digest)
    if target.is_file():
        tmp.unlink()
    else:
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)
    return digest


def _load_index(dest: Path) -> dict[str, str]:
    try:
        data: dict[str, str] = json.loads((dest / "index.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data


def _save_index(dest: Path, index: dict[str, str]) -> None:
    _write_atomic(dest / "index.json", json.dumps(index))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- restore -------------------------------------------------------------------------------


def find_manifest(location: Path) -> Path:
    """A manifest file as given, or the newest manifest of a backup folder."""
    if location.is_file():
        return location
    manifests = sorted((location / "backups").glob("*.json"))
    if not manifests:
        raise BackupError(f"{location}: no backup manifest (backups/*.json) found")
    return manifests[-1]


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BackupError(f"{path}: not a readable backup manifest ({error})") from None
    if manifest.get("format") != FORMAT or "tables" not in manifest:
        raise BackupError(f"{path}: not a retail backup manifest (format {FORMAT})")
    return manifest


def verify(manifest_path: Path) -> dict[str, Any]:
    """Check every object of a backup (present, size, SHA-256); raise naming the first bad one."""
    manifest = _read_manifest(manifest_path)
    dest = manifest_path.parent.parent
    for name, files in _all_files(manifest):
        if name:
            try:
                Lake(dest).path(name)  # a lake table name, so its folder stays in the lake
            except ValueError as bad:
                raise BackupError(f"{manifest_path}: {bad}") from None
        for entry in files:
            where = entry.get("path") if isinstance(entry, dict) else entry
            label = f"{name}/{where}" if name else str(where)
            digest = entry.get("sha256") if isinstance(entry, dict) else None
            if not _stays_inside(where) or not _DIGEST.fullmatch(str(digest)):
                raise BackupError(
                    f"{manifest_path}: {label} would be restored outside the lake (or names "
                    "no object): not a backup this release wrote, nothing restored"
                )
            obj = _object(dest, entry["sha256"])
            if not obj.is_file():
                raise BackupError(f"backup incomplete: {label} is missing (object {obj})")
            if obj.stat().st_size != entry["size"]:
                raise BackupError(f"backup damaged: {label} has the wrong size (object {obj})")
            if _sha256(obj) != entry["sha256"]:
                raise BackupError(f"backup damaged: {label} fails its checksum (object {obj})")
    return manifest


_DIGEST = re.compile(r"[0-9a-f]{64}")


def _stays_inside(relative: object) -> bool:
    """A manifest path that cannot leave the folder it is joined to (no root, no ``..``): a
    backup may come from anywhere, and a crafted one wrote files outside the restored lake."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        return False
    path = PurePosixPath(relative)
    return not path.is_absolute() and ".." not in path.parts


def _all_files(manifest: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    listed = [(name, spec["files"]) for name, spec in manifest["tables"].items()]
    return [*listed, ("", manifest.get("extra", []))]


def _sha256(path: Path) -> str:
    with path.open("rb") as reader:
        return hashlib.file_digest(reader, "sha256").hexdigest()


def restore(
    manifest_path: Path, target: Path, record: Callable[[Lake, RestoreReport], None] | None = None
) -> RestoreReport:
    """Verify the whole backup, then build the lake at ``target`` (which must hold no tables).

    Everything is written into ``<target>.restoring`` first, the restore's own ``meta.runs``
    row included (``record``), and renamed at the end: an interrupted restore leaves the target
    untouched and running it again starts over; once renamed, the lake is complete."""
    from deltalake import Schema
    from deltalake.transaction import create_table_with_add_actions

    clock = time.perf_counter()
    target = target.expanduser().absolute()
    refuse_inside_a_table(target)  # before <target>.restoring is made inside that table
    if target.exists() and not target.is_dir():
        raise BackupError(f"{target} is a file: restore into a new or empty folder")
    if target.exists() and any(target.iterdir()):
        what = "a lake" if Lake(target).tables() else "files"
        raise BackupError(f"{target} already holds {what}: restore into a new or empty folder")
    manifest = verify(manifest_path)
    dest = manifest_path.parent.parent
    report = RestoreReport(manifest["backup_id"], target)
    work = target.with_name(f"{target.name}.restoring")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    staging = Lake(work)
    for name, spec in manifest["tables"].items():
        folder = staging.path(name)
        folder.mkdir(parents=True, exist_ok=True)
        adds = []
        for entry in spec["files"]:
            path = folder / entry["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_object(dest, entry["sha256"]), path)
            action, rows = _add_action(folder, path)
            adds.append(action)
            report.rows[name] = report.rows.get(name, 0) + rows
            report.files += 1
            report.bytes_total += entry["size"]
        positions = {str(k): int(v) for k, v in (spec.get("transactions") or {}).items()}
        with commit(
            name, {COMMAND_KEY: f"restore {report.backup_id}"}, transactions=positions
        ) as properties:
            create_table_with_add_actions(
                str(folder),
                Schema.from_json(spec["schema"]),
                adds,
                mode="error",
                name=spec.get("name"),
                description=spec.get("description"),
                configuration=spec.get("configuration") or None,
                commit_properties=properties,
            )
        faults.point(f"restore.table:{name}")
        report.tables += 1
    for entry in manifest.get("extra", []):
        path = work / entry["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_object(dest, entry["sha256"]), path)
        report.files += 1
    report.seconds = round(time.perf_counter() - clock, 3)
    if record is not None:  # the restore's run row, in the new lake before it appears
        record(staging, report)
    if target.exists():
        target.rmdir()  # empty (checked above): replaced by the restored lake
    os.replace(work, target)  # the point of no return: before it, a retry starts over
    return report


def _add_action(folder: Path, path: Path) -> tuple[Any, int]:
    """The add action of a restored file, and its row count."""
    import pyarrow.parquet as pq

    from retail_lakehouse.lake.staged import add_action

    footer = pq.ParquetFile(path).metadata
    return add_action(folder, path, footer), int(footer.num_rows)

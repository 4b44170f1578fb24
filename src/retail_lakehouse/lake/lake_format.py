"""The lake's format: which releases may write to a lake (decision 0007, downgrade addendum).

A release that does not know a table a newer one keeps up to date would still write the
layers around it: a release from before ``gold.product_prices`` ran ``retail run`` on a lake
that has it, moved gold's watermark past batches the table never got, and the next run of a
newer release took every median from the table with those batches missing. So a lake records
the format it was last written in, every writing command checks it first, and one that
predates the format refuses instead of writing.

The record is ``<lake>/_journal/lake-format.json``, shaped like an interrupted command's
intent, because that folder is the one thing every release since the intents journal (December
2026) reads before it writes anything: it "recovers" each ``*.json`` there first, and for this
one it finds a recovery function that is not one (the text below), raises, and stops before
its first commit ("internal error: ValueError: not a retail_lakehouse recovery function: 'this
lake has format 2 ...'", exit 1). This release and later ones skip the record when they
list intents (:func:`retail_lakehouse.lake.intents.pending`) and read ``notes.format``
instead: a later format keeps this file, its ``notes.format`` key and this shape, and writes a
greater number. Releases older than the journal cannot be stopped; the gold run repairs what
they leave (``gold.product_prices`` is counted again when its last commit was not made at
gold's watermark, see ``pipeline/gold/build.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

from retail_lakehouse.lake.errors import LakeFormatError
from retail_lakehouse.lake.intents import FORMAT_FILE, JOURNAL
from retail_lakehouse.lake.intents import _write_atomic as write_atomic

LAKE_FORMAT = 3
"""Format this release writes. 1: lakes written before the format was recorded (no record);
2: ``gold.product_prices`` kept by every gold run, the record written by every writing command;
3: ``meta.watermarks.time_zone``, the zone silver and gold were built in (a format-2 release
committed silver, then failed on the wider watermark table, "SchemaMismatchError", exit 1, and
knows no zone: it would append UTC lines to a lake built in another)."""

FORMAT_RUN_ID = FORMAT_FILE.removesuffix(".json")


def format_path(root: Path) -> Path:
    """``<lake>/_journal/lake-format.json``."""
    return root / JOURNAL / FORMAT_FILE


def recorded_format(root: Path) -> int:
    """The format recorded in the lake at ``root``: 1 when none is (an older or a new lake).

    An unreadable record counts as a newer format: a release cannot tell what it would break."""
    path = format_path(root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return 1
    except OSError as error:
        raise LakeFormatError(f"cannot read the lake's format record {path}: {error}") from None
    try:
        value = json.loads(text)["notes"]["format"]
    except (ValueError, KeyError, TypeError):
        value = None
    if not isinstance(value, int) or isinstance(value, bool):
        raise LakeFormatError(
            f"the lake's format record {path} is not one this release can read, so it does not "
            "write to the lake. Upgrade retail-lakehouse if a newer one wrote it; if the file "
            "was damaged, delete it (the next writing command records the format again)"
        )
    return value


def check_and_record(root: Path) -> None:
    """Refuse (:class:`LakeFormatError`) a lake in a newer format; record this release's format
    in a lake that has none or an older one. Called by every writing command under the writer
    lock, before it recovers or writes anything. The record is written whole or not at all."""
    if refuse_newer(root) < LAKE_FORMAT:
        _record(root)


def refuse_newer(root: Path) -> int:
    """The lake's recorded format; :class:`LakeFormatError` when a newer release wrote it. Also
    what ``retail watch`` asks before it starts: a service that cannot write should say so and
    stop, not retry a run that cannot succeed until retail-lakehouse is upgraded."""
    found = recorded_format(root)
    if found > LAKE_FORMAT:
        raise LakeFormatError(
            f"the lake at {root} has format {found}, written by a newer retail-lakehouse; "
            f"this release writes format {LAKE_FORMAT} and would leave the newer format's "
            "tables incomplete, so it does not write to it. Upgrade retail-lakehouse to the "
            "release that wrote the lake (or later); reading commands (status, sql, serve) "
            "still work"
        )
    return found


def _record(root: Path) -> None:
    path = format_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    stop = (
        f"this lake has format {LAKE_FORMAT}, written by a newer retail-lakehouse (it keeps "
        "gold.product_prices and records the lake's time zone); this release would damage it "
        "and must not write here. Upgrade retail-lakehouse (reading commands are safe)"
    )
    record = {
        # The fields of an intent, so that older releases read it as one (see the module doc).
        "run_id": FORMAT_RUN_ID,
        "command": f"lake format {LAKE_FORMAT} (written by a newer retail-lakehouse)",
        "pid": 0,
        "started_at": 0.0,
        "recovery": stop,
        "notes": {"format": LAKE_FORMAT},
    }
    write_atomic(path, json.dumps(record, sort_keys=True))

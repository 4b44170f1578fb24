"""What an ingest asks of the manifest (``bronze.files``), asked by predicate.

An ingest needs three things from the lake's history: the next batch number, whether the files
it is about to stage are already there (by their hashes), and whether an earlier file had the
same name (a corrected export ingested again, decision 0012's fourteenth-round addendum). Every
command used to load every file hash of the lake into this process (777 MB at 1,000,001 file
rows, decision 0008's thirteenth-round addendum); now the hashes and names of a window of the
command's own files are looked up in one query each, run by delta-rs' engine over the latest
snapshot, so what this process holds grows with the command's input, never with the lake.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES, RAW_COLUMNS
from retail_lakehouse.lake.contracts.meta import META_SCHEMA_HISTORY
from retail_lakehouse.lake.intents import read_floor
from retail_lakehouse.lake.recovery import highest_retracted_batch

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_COUNTER = "bronze_batch_seq"

FILE_ROWS = "coalesce(format, '') NOT IN ('stream', 'cdc')"
"""The manifest rows of files (not stream micro-batches nor CDC group batches)."""


FEW_NAMES = 8
"""Up to this many names are matched with ``ends_with`` each, more with one regular expression
(at 1,000,000 manifest rows: 0.14 against 0.28 CPU-s for one name; 0.13 against 0.56 for 200)."""


@dataclass(frozen=True)
class Earlier:
    """The latest file of the manifest with a given name (its path as ingested, its batch)."""

    source_file: str
    batch_seq: int
    others: int = 0  # how many earlier batches had that name too


@dataclass
class ManifestState:
    """What the ingest needs from the manifest and schema history, read once per command (the
    writer lock is held, so nobody else changes them) and kept current as files are staged."""

    next_seq: int
    schema_version: int
    known_extra: list[str]
    has_content: bool = True
    """The manifest has ``content_sha256`` (lakes from before it hashed every file as read)."""
    seen: dict[str, int] = field(default_factory=dict)
    """Hash -> batch of the files this command staged and of those it found in the manifest:
    bounded by the command's input."""
    names: dict[str, Earlier] = field(default_factory=dict)
    """File name -> the latest manifest row of that name, for the names looked up."""
    replaced: str | None = None
    """The name of the file this command's file replaces (``--replaces``): no note for it."""
    unhashed: dict[str, list[tuple[str, str, int]]] | None = None
    """Compressed files ingested before content hashes were kept, by their name without the
    compression suffix: (file, hash as given, batch). Read when a file is first about to be
    staged (``bronze._compressed_twin``)."""

    @classmethod
    def load(cls, lake: Lake) -> ManifestState:
        """The highest batch number (one aggregate), the schema version and the extra columns:
        nothing that grows with the number of files the lake has seen."""
        files = lake.delta(BRONZE_FILES.qualified)
        has_content = files is None or "content_sha256" in files.schema().to_arrow().names
        top = small_query(lake, BRONZE_FILES.qualified, "SELECT max(_batch_seq) AS s FROM t")
        version = small_query(
            lake,
            META_SCHEMA_HISTORY.qualified,
            "SELECT coalesce(max(schema_version), 0) AS v FROM t "
            "WHERE table_name = 'bronze.sales_lines'",
        )
        # Extra columns as the committed schema changes record them, not as the table's
        # schema has them: an ingest interrupted after its lines commit widened the table
        # (not undoable without a rewrite) but ingested nothing, so the file that brings the
        # column next records the change again, as in a lake that was never interrupted.
        recorded = small_query(
            lake,
            META_SCHEMA_HISTORY.qualified,
            "SELECT DISTINCT unnest(columns) AS c FROM t WHERE table_name = 'bronze.sales_lines'",
        )
        raw = set(RAW_COLUMNS)
        extra = sorted(c for c in recorded.get("c", []) if c and c not in raw)
        # Batch numbers are never reused: not a retracted one (recover), nor one an interrupted
        # ingest had reserved (its floor), so the next is above all three.
        return cls(
            max(
                (top.get("s") or [None])[0] or 0,
                highest_retracted_batch(lake),
                read_floor(lake, BATCH_COUNTER),
            )
            + 1,
            (version.get("v") or [0])[0],
            [n for n in extra if n.startswith("x_")],
            has_content,
        )

    def look_up(self, lake: Lake, shas: Iterable[str], names: Iterable[str] = ()) -> None:
        """Find which of ``shas`` (a file's hash as given, or a compressed file's content hash)
        the manifest holds, and the latest file of each of ``names``, in one query; the
        answers join :attr:`seen` and :attr:`names`. A hash is a file's as given or its
        content's: the same export plain and gzipped is one file."""
        wanted = sorted({s for s in shas if s not in self.seen})
        asked = sorted({n for n in names if n not in self.names})
        if not wanted and not asked:
            return
        listed = ", ".join(f"'{s}'" for s in wanted)  # hex digests computed here: no quoting
        content = "content_sha256" if self.has_content else "NULL"
        where = []
        if wanted:
            where.append(f"_source_sha256 IN ({listed})")
            if self.has_content:
                where.append(f"content_sha256 IN ({listed})")
        if asked:
            where.append(named(asked))
        found = small_query(
            lake,
            BRONZE_FILES.qualified,
            f"SELECT _source_file, _source_sha256, {content} AS content_sha256, _batch_seq "
            f"FROM t WHERE {FILE_ROWS} AND ({' OR '.join(where)})",
        )
        rows = zip(
            found.get("_source_file", []),
            found.get("_source_sha256", []),
            found.get("content_sha256", []),
            found.get("_batch_seq", []),
            strict=True,
        )
        chosen = set(asked)
        for source_file, sha, content_sha, seq in rows:  # (the matches only: a few rows)
            for digest in (sha, content_sha):
                if digest in wanted:
                    self.seen.setdefault(digest, seq)
            name = Path(source_file).name
            if name in chosen:
                latest = self.names.get(name)
                if latest is None:
                    self.names[name] = Earlier(source_file, seq)
                elif seq > latest.batch_seq:
                    self.names[name] = Earlier(source_file, seq, latest.others + 1)
                else:
                    self.names[name] = Earlier(
                        latest.source_file, latest.batch_seq, latest.others + 1
                    )

    def batch_of(self, lake: Lake, sha: str) -> int | None:
        """The batch that holds ``sha`` (looked up in the manifest if not asked before)."""
        if sha not in self.seen:
            self.look_up(lake, [sha])
        return self.seen.get(sha)


def text_literal(text: str) -> str:
    """``text`` as an SQL string literal for the manifest's queries (delta-rs' engine has no
    bound parameters): quotes doubled, the SQL standard; a backslash is no escape there."""
    return "'" + text.replace("'", "''") + "'"


def named(names: list[str]) -> str:
    """The SQL condition on ``_source_file`` for the manifest rows whose file name (the path's
    last part, as ``Path.name`` has it) is one of ``names``: the one name-matching rule of the
    ingest's same-name note and of ``retail retract FILE``."""
    quoted = [text_literal(n) for n in names]
    if len(names) <= FEW_NAMES:  # half the CPU of the regular expression for one name
        either = [f"_source_file = {q} OR ends_with(_source_file, '/' || {q})" for q in quoted]
        return f"({' OR '.join(either)})"
    # one pass whatever the number of names (an OR of 200 ends_with: 4x slower)
    return f"regexp_replace(_source_file, '^.*/', '') IN ({', '.join(quoted)})"


def same_name_note(path: Path, earlier: Earlier) -> str:
    """What an ingest says of a file whose name an earlier batch had, with other content."""
    more = f" (and {earlier.others} earlier batch(es) of that name)" if earlier.others else ""
    return (
        f"{path.name} was ingested before as batch {earlier.batch_seq} ({earlier.source_file})"
        f"{more} with other content; its lines are added alongside. If this file corrects that "
        f"one, retract batch {earlier.batch_seq} (retail retract --batch {earlier.batch_seq}); "
        "a correction can also be ingested in its place: "
        f"retail ingest --replaces {shlex.quote(path.name)} NEW_FILE"
    )


def small_query(lake: Lake, qualified: str, sql: str) -> dict[str, list[Any]]:
    """``sql`` over the latest snapshot of one table (named ``t``), run by delta-rs' own
    engine, as ``retail status`` reads the lake: the ingest's own process need not load DuckDB
    (46 CPU ms) and open a connection with views (28 ms) for the manifest's reads, which are
    its critical path now that the reader worker starts as a fork (decision 0021, eleventh
    round). Columns by name; a table not created yet reads as no rows. Only small answers:
    the query's filters and aggregates run in the engine, which streams the table."""
    from deltalake import QueryBuilder

    table = lake.delta(qualified)
    if table is None:
        return {}
    result = QueryBuilder().register("t", table).execute(sql).read_all()
    return {name: list(result.column(name).to_pylist()) for name in result.column_names}


def query_arrow(lake: Lake, qualified: str, sql: str) -> pa.Table | None:
    """:func:`small_query`'s answer as a pyarrow table (None: no such table), for callers
    that take rows of a table. Text comes back as ``string_view`` (delta-rs' engine). Read
    through the stream, not ``pa.table(...)``, which imports pandas (a second of start-up)."""
    import pyarrow as pa
    from deltalake import QueryBuilder

    table = lake.delta(qualified)
    if table is None:
        return None
    stream = QueryBuilder().register("t", table).execute(sql)
    return pa.RecordBatchReader.from_stream(stream).read_all()

"""Counting the rule results of a silver pass from the files it staged, before committing them.

Every line carries the names of the rules it failed (``quality_flags``), in silver or in
quarantine; counting those names over both staged files gives exactly the one-row summary the
gates and ``meta.quality_results`` need. It reads two narrow columns, row group by row group
(bounded memory), with Arrow compute: no Python per line, and no second evaluation of the rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_lakehouse.lake import arrays
from retail_lakehouse.lake.staged import staged_files
from retail_lakehouse.quality.rules import RuleSet

_COLUMNS = ["quality_flags", "quality_score"]


def tally_staged(
    silver: Path, quarantine: Path, ruleset: RuleSet, rule_columns: dict[str, str]
) -> dict[str, int]:
    """Counts keyed like the summary query: ``_lines``, ``_quarantined``, ``_score_sum``, one
    per rule (its failed-flag column name) and ``_dim_<dimension>`` (lines failing any rule of
    the dimension)."""
    totals: dict[str, int] = {"_lines": 0, "_quarantined": 0, "_score_sum": 0}
    names = [rule.name for rule in ruleset]
    by_dimension: dict[str, list[str]] = {}
    for rule in ruleset:
        by_dimension.setdefault(rule.dimension, []).append(rule.name)
    failed = dict.fromkeys(names, 0)
    dimension_lines = dict.fromkeys(by_dimension, 0)
    for path, quarantined in ((silver, False), (quarantine, True)):
        for batch in _batches(path):
            totals["_lines"] += batch.num_rows
            if quarantined:
                totals["_quarantined"] += batch.num_rows
            totals["_score_sum"] += int(pc.sum(batch.column("quality_score")).as_py() or 0)
            flags = batch.column("quality_flags")
            flat = pc.list_flatten(flags)
            if not len(flat):
                continue
            for entry in pc.value_counts(flat).to_pylist():  # one entry per distinct rule name
                if entry["values"] in failed:
                    failed[entry["values"]] += int(entry["counts"])
            parents = pc.list_parent_indices(flags)
            for dimension, rules in by_dimension.items():
                hit = pc.is_in(flat, value_set=arrays.array(rules, pa.string()))
                dimension_lines[dimension] += len(pc.unique(parents.filter(hit)))
    for name, count in failed.items():
        totals[rule_columns[name]] = count
    for dimension, count in dimension_lines.items():
        totals[f"_dim_{dimension}"] = count
    return totals


def _batches(path: Path) -> Iterator[pa.RecordBatch]:
    for file in staged_files(path):  # one file, or a folder of part files (Spark)
        yield from pq.ParquetFile(file).iter_batches(columns=_COLUMNS, batch_size=131_072)

"""How deeply JSON text nests, per line, counted with numpy over the raw bytes.

DuckDB's JSON functions recurse on nesting: a record 5,000 levels deep crashes the process. The
depth is therefore measured before any JSON parser sees a line: brackets count only outside
strings, and a quote counts only when an even number of backslashes precedes it. A raw line
break cannot occur inside a JSON string, so string state restarts on every line and only the
bracket depth carries from line to line (for a JSON array spread over many lines).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

_OPEN = (ord("{"), ord("["))
_CLOSE = (ord("}"), ord("]"))
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


@dataclass(frozen=True)
class Depths:
    """``line_max``: deepest nesting reached within each line (relative to the line's start);
    ``peak``: deepest nesting over all the lines, the bracket depth carried from line to line
    starting at ``start``; ``end``: the depth after the last line."""

    line_max: np.ndarray
    peak: int
    end: int


def line_depths(lines: pa.Array | pa.ChunkedArray, start: int = 0) -> Depths:
    """Nesting depths of each string of ``lines`` (one line of text each)."""
    array = pa.concat_arrays(lines.chunks) if isinstance(lines, pa.ChunkedArray) else lines
    array = array.cast(pa.large_string())
    n = len(array)
    if n == 0:
        return Depths(np.zeros(0, dtype=np.int64), start, start)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + n + 1]
    data = array.buffers()[2]
    buf = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    buf = buf[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    kind = np.zeros(len(buf), dtype=np.int8)
    kind[np.isin(buf, _OPEN)] = 1
    kind[np.isin(buf, _CLOSE)] = -1
    quotes = np.flatnonzero(buf == _QUOTE)
    if len(quotes):
        kind[quotes[~_escaped(buf, quotes)]] = 2
    events = np.flatnonzero(kind)
    k = kind[events]
    line_of = np.searchsorted(offsets, events, side="right") - 1
    # Quote parity restarts on every line (a JSON string cannot hold a raw line break).
    is_quote = (k == 2).astype(np.int64)
    quotes_before_line = _starts(np.bincount(line_of, weights=is_quote, minlength=n))
    in_string = ((np.cumsum(is_quote) - is_quote - quotes_before_line[line_of]) % 2) == 1
    step = np.where((k != 2) & ~in_string, k, 0).astype(np.int64)
    level = np.cumsum(step)
    level_before_line = _starts(np.bincount(line_of, weights=step, minlength=n))
    line_max = np.zeros(n, dtype=np.int64)
    if len(events):
        np.maximum.at(line_max, line_of, level - level_before_line[line_of])
    peak = start + max(int(level.max()), 0) if len(level) else start
    end = start + (int(level[-1]) if len(level) else 0)
    return Depths(line_max, peak, end)


def _starts(per_line: np.ndarray) -> np.ndarray:
    """Running total before each line of a per-line count."""
    totals = np.cumsum(per_line).astype(np.int64)
    starts: np.ndarray = np.concatenate(([0], totals[:-1]))
    return starts


def _escaped(buf: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """For each quote position, whether an odd run of backslashes precedes it."""
    slashes = np.flatnonzero(buf == _BACKSLASH)
    if not len(slashes):
        return np.zeros(len(quotes), dtype=bool)
    # Start of the backslash run each backslash belongs to.
    new_run = np.concatenate(([True], np.diff(slashes) != 1))
    run_start = slashes[np.maximum.accumulate(np.where(new_run, np.arange(len(slashes)), 0))]
    at = np.minimum(np.searchsorted(slashes, quotes - 1), len(slashes) - 1)
    preceded = slashes[at] == quotes - 1
    run_length = quotes - run_start[at]
    escaped: np.ndarray = preceded & (run_length % 2 == 1)
    return escaped

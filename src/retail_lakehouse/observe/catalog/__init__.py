"""The data catalog: every table's meaning, columns, size, freshness, quality and lineage."""

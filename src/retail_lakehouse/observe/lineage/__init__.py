"""Lineage: which columns each column is computed from (derived from the transformation
definitions), the table graph from source files to marts, and OpenLineage events."""

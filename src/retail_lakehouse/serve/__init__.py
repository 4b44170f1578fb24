"""Serving: the REST API and dashboard over the gold layer (``retail serve``).

The API reads immutable snapshots of the lake held in memory (see :mod:`.readers`), so it never
takes the writer lock a pipeline run needs; the only writes it makes (uploads, runs) go through
one background worker (see :mod:`.jobs`) under that same lock.
"""

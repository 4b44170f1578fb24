"""Publishing gold to a warehouse BI tools connect to (PostgreSQL).

``postgres.publish`` is the one implementation; the CLI (``retail publish``, ``retail run`` with
``[publish] after_run``) and the watcher (``retail watch``, the same setting) call it. psycopg
is imported only here, and only when a publish runs (the ``[postgres]`` extra).
"""

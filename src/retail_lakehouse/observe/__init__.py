"""Seeing what the pipeline does: structured logs, lineage (tables and columns), the data
catalog and pipeline metrics. Everything here reads what the layers already know (contracts,
transformation definitions, ``meta`` tables); nothing here changes data."""

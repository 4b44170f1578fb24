"""Seeing what the pipeline does and telling people: structured logs, lineage (tables and
columns), the data catalog, pipeline metrics and alerts. Everything here reads what the layers
already know (contracts, transformation definitions, ``meta`` tables); nothing here changes
data, except the alerts' own bookkeeping in ``meta.alerts``."""

"""Dagster definitions of the pipeline (the ``[dagster]`` extra): see :mod:`.definitions`."""

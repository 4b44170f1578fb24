"""retail-lakehouse: raw retail exports to a trustworthy Delta Lake warehouse."""

__version__ = "0.1.0"

"""The readers of ``meta.watermarks``: one row each, saying how far that layer has read.

Their names live in a module that imports nothing, so that ``retail status`` can ask for the
zone silver was built in without loading pyarrow and the table contracts (0.09-0.15 CPU-s of a
0.3 s command)."""

GOLD_CONSUMER = "gold"
SILVER_CONSUMER = "silver"

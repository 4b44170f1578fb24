"""The data flow: bronze (raw) -> silver (clean) -> gold (star schema and marts)."""

"""The SQL behind each endpoint: fixed statements over a snapshot, with bound parameters."""

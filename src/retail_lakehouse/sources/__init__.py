"""Readers that turn source files of every supported format into raw string columns."""

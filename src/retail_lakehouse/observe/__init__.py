"""Observing the lake while it runs unattended: alerts that reach people (``alerts``)."""

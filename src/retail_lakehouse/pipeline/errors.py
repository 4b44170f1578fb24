"""Failures the pipeline reports to users, shared by every layer and the runner."""

from __future__ import annotations


class PipelineError(Exception):
    """The pipeline ran and could not finish; nothing of the failing step was committed."""


class GateFailed(PipelineError):
    """A ``fail`` quality rule went over its threshold: the run stops before any commit."""

"""Failures the pipeline reports to users, shared by every layer and the runner."""

from __future__ import annotations


class PipelineError(Exception):
    """The pipeline ran and could not finish; nothing of the failing step was committed."""


class GateFailed(PipelineError):
    """A ``fail`` quality rule went over its threshold: the run stops before any commit."""


class RulesError(ValueError):
    """A quality-rules file is invalid (bad YAML, unknown column, refused function, ...).

    A usage error, not a pipeline failure: the CLI maps it to exit code 2. The message names the
    file, the rule and the problem."""


class ZoneChanged(RulesError):
    """The lake's ``time_zone`` setting is not the zone silver and gold were built in: an
    incremental run would put lines of two wall clocks in one table. A usage error handled
    wherever a bad rules file is (exit 2; the watcher does not retry it)."""

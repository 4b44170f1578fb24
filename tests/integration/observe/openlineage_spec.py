"""Offline validation of OpenLineage events against the spec copied in ``shared/spec``."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests.conftest import REPO

SPEC = next(
    (
        p / "shared" / "spec" / "openlineage"
        for p in REPO.parents
        if (p / "shared" / "spec").is_dir()
    ),
    REPO.parent / "shared" / "spec" / "openlineage",
)
"""The spec beside the checkout (CI lays ``shared/`` next to the clone; a git worktree deeper
down finds it further up)."""


@cache
def registry() -> Registry:
    resources = []
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]:
        document = json.loads(path.read_text())
        resources.append((document["$id"], Resource.from_contents(document)))
    return Registry().with_resources(resources)


def _errors(instance: Any, ref: str) -> list[str]:
    validator = Draft202012Validator({"$ref": ref}, registry=registry())
    return [
        f"{ref}: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(instance)
    ]


def event_errors(event: dict[str, Any]) -> list[str]:
    """Every violation of the RunEvent schema and of each facet's own schema (by _schemaURL)."""
    core = json.loads((SPEC / "OpenLineage.json").read_text())["$id"]
    errors = _errors(event, core + "#/$defs/RunEvent")
    facet_groups = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        facet_groups += [
            dataset.get("facets", {}),
            dataset.get("inputFacets", {}),
            dataset.get("outputFacets", {}),
        ]
    for group in facet_groups:
        for facet in group.values():
            errors += _errors(facet, facet["_schemaURL"])
    return errors

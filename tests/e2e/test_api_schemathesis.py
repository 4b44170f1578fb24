"""Property-based tests from the OpenAPI schema: whatever a client sends, never a server error.

Schemathesis generates valid and invalid requests for every documented operation of a real
``retail serve`` on a generated lake, authenticated as admin (so every operation is reachable),
and checks the responses against the schema. Uploads and runs are left to their own tests (they
start real ingestions and pipeline runs); everything else, including key management, is
fuzzed. Bounded: a few examples per operation, well under two minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from retail_lakehouse.config import Settings
from retail_lakehouse.serve.app import create_app
from tests.integration.api.live import Server, copy_lake, serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(copy_lake(tmp_path_factory.mktemp("fuzz") / "lake")) as running:
        yield running


# The schema the server publishes, built in-process at collection time (no lake is opened) so
# every operation is its own test; requests go to the real server.
OPENAPI = create_app(Settings(lake=Path("schema-only"))).openapi()
OPERATIONS = [
    result.ok()
    for result in schemathesis.openapi.from_dict(OPENAPI)
    .exclude(method="POST", path_regex=r"^/api/v1/(files|runs)$")
    .get_all_operations()
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_published_schema_is_the_one_fuzzed(server: Server) -> None:
    with server.client() as client:
        assert client.get("/openapi.json").json() == OPENAPI


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value
)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.label)
def test_no_server_errors_and_responses_match_the_schema(
    operation: Any, mode: GenerationMode, server: Server
) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        case.call_and_validate(
            base_url=server.url, headers={"X-API-Key": server.keys["admin"]}, checks=CHECKS
        )

    try:
        call()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            pytest.skip("the operation has no input that could be made invalid")
        raise

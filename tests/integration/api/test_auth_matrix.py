"""Every endpoint x every role x no key (and a bad key): 401, 403 or allowed, nothing else.

The endpoint table is checked against the served OpenAPI schema, so a new route cannot be
added without deciding who may call it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.api.live import Server, copy_lake, serve

pytestmark = pytest.mark.slow

RANK = {None: -1, "viewer": 0, "analyst": 1, "admin": 2}

# (method, path, minimum role or None for public, request options)
ENDPOINTS: list[tuple[str, str, str | None, dict[str, Any]]] = [
    ("GET", "/api/v1/health", None, {}),
    ("GET", "/metrics", None, {}),
    ("GET", "/", None, {}),
    ("POST", "/api/v1/auth/token", "viewer", {}),
    ("GET", "/api/v1/me", "viewer", {}),
    ("GET", "/api/v1/kpis", "viewer", {}),
    ("GET", "/api/v1/sales/daily", "viewer", {"params": {"page_size": 5}}),
    ("GET", "/api/v1/sales/monthly", "viewer", {}),
    ("GET", "/api/v1/sales/countries", "viewer", {}),
    ("GET", "/api/v1/countries", "viewer", {}),
    ("GET", "/api/v1/customers/segments", "viewer", {}),
    ("GET", "/api/v1/customers/{customer_id}", "viewer", {"path": {"customer_id": "12345"}}),
    ("GET", "/api/v1/products/top", "viewer", {}),
    ("GET", "/api/v1/products/search", "viewer", {"params": {"q": "heart"}}),
    ("GET", "/api/v1/cohorts", "viewer", {}),
    ("GET", "/api/v1/quality/trend", "viewer", {}),
    ("GET", "/api/v1/quality/latest", "analyst", {}),
    ("GET", "/api/v1/quality/history", "analyst", {}),
    ("GET", "/api/v1/quality/rejects", "analyst", {}),
    ("GET", "/api/v1/quarantine", "analyst", {}),
    ("POST", "/api/v1/files", "admin", {}),
    ("POST", "/api/v1/runs", "admin", {"json": {"full_refresh": False}}),
    ("GET", "/api/v1/runs", "admin", {}),
    ("GET", "/api/v1/runs/{job_id}", "admin", {"path": {"job_id": "0" * 16}}),
    ("GET", "/api/v1/keys", "admin", {}),
    ("POST", "/api/v1/keys", "admin", {"json": {"role": "viewer", "name": "from-matrix"}}),
    ("DELETE", "/api/v1/keys/{key_id}", "admin", {"path": {"key_id": "0" * 12}}),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: admins' calls here start runs and create keys."""
    with serve(copy_lake(tmp_path_factory.mktemp("matrix") / "lake")) as running:
        yield running


def _request(
    client: httpx.Client, method: str, path: str, options: dict[str, Any]
) -> httpx.Response:
    url = path.format(**options.get("path", {}))
    return client.request(method, url, params=options.get("params"), json=options.get("json"))


def test_the_table_covers_every_documented_endpoint(server: Server) -> None:
    schema = server.client().get("/openapi.json").json()
    documented = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }
    assert documented == {(m, p) for m, p, _, _ in ENDPOINTS if p not in ("/metrics", "/")}


@pytest.mark.parametrize("role", [None, "viewer", "analyst", "admin", "bad-key"])
@pytest.mark.parametrize(
    ("method", "path", "needs", "options"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS]
)
def test_authorization(
    server: Server,
    role: str | None,
    method: str,
    path: str,
    needs: str | None,
    options: dict[str, Any],
) -> None:
    headers = {"X-API-Key": "rlk_000000000000_" + "x" * 43} if role == "bad-key" else {}
    caller = None if role == "bad-key" else role
    with server.client(caller, headers=headers) as client:
        response = _request(client, method, path, options)
    if needs is None:
        assert response.status_code == 200, response.text
    elif caller is None:
        assert response.status_code == 401, response.text
        assert "WWW-Authenticate" in response.headers
    elif RANK[caller] < RANK[needs]:
        assert response.status_code == 403, response.text
        assert needs in response.json()["detail"]
    else:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text

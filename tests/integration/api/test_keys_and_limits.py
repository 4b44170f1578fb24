"""``retail keys`` from the user's side, and the per-key rate limit of a running server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_retail
from tests.integration.api.live import copy_lake, create_key, serve

pytestmark = pytest.mark.slow


def test_keys_create_prints_the_key_last_and_list_never_shows_it(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    created = run_retail("keys", "create", "--role", "analyst", "--name", "finance team", lake=lake)
    assert created.code == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("rlk_") and " " not in key
    listed = run_retail("keys", "list", "--json", lake=lake)
    assert listed.code == 0
    [entry] = json.loads(listed.stdout)
    assert entry["name"] == "finance team" and entry["role"] == "analyst"
    assert entry["revoked_at"] is None
    assert key not in listed.stdout and "hash" not in listed.stdout and "salt" not in listed.stdout
    table = run_retail("keys", "list", lake=lake)
    assert "finance team" in table.stdout and key not in table.stdout
    secret = key.split("_", 2)[2]  # rlk_<key id>_<secret>; the secret itself may contain "_"
    assert len(secret) >= 40 and secret not in (lake / "_serve" / "api_keys.json").read_text()

    revoked = run_retail("keys", "revoke", entry["key_id"], lake=lake)
    assert revoked.code == 0 and "revoked" in revoked.stdout
    assert json.loads(run_retail("keys", "list", "--json", lake=lake).stdout)[0]["revoked_at"]
    assert run_retail("keys", "revoke", "ffffffffffff", lake=lake).code == 2
    assert run_retail("keys", "create", "--role", "owner", lake=lake).code == 2
    assert (
        run_retail("keys", "create", "--role", "viewer", "--name", "<script>", lake=lake).code == 2
    )


def test_rate_limit_is_per_key_with_retry_after(tmp_path: Path) -> None:
    lake = copy_lake(tmp_path / "lake")
    with serve(lake, env={"RETAIL_API_RATE_LIMIT_PER_MINUTE": "5"}) as server:
        with server.client("viewer") as viewer:
            statuses = [viewer.get("/api/v1/kpis").status_code for _ in range(6)]
            assert statuses == [200] * 5 + [429]
            limited = viewer.get("/api/v1/kpis")
            assert limited.status_code == 429
            assert 1 <= int(limited.headers["Retry-After"]) <= 12
            assert "rate limit" in limited.json()["detail"]
        other = create_key(lake, "viewer", "other")
        with httpx.Client(base_url=server.url, headers={"X-API-Key": other}) as client:
            assert client.get("/api/v1/kpis").status_code == 200  # its own bucket
        with server.client() as anonymous:  # health and metrics are not limited
            assert {anonymous.get("/api/v1/health").status_code for _ in range(8)} == {200}


def _peak_rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))


def test_a_large_request_body_is_refused_before_it_is_buffered(tmp_path: Path) -> None:
    """The JSON endpoints (``POST /runs``, ``POST /keys``) read their whole body before the key
    was checked: 300 MB sent without a key grew the server by 0.9 GB before its 401. A body past
    64 KiB is now a 413 (declared or chunked), on any route but uploads (their own limit)."""
    lake = tmp_path / "lake"
    with serve(lake) as server:
        pid = server.process.pid
        before = _peak_rss_kb(pid)
        size = 200 * 2**20

        def body() -> Iterator[bytes]:
            chunk = b"a" * 2**20
            yield b'{"full_refresh": false, "x": "'
            for _ in range(size // len(chunk)):
                yield chunk
            yield b'"}'

        with server.client() as anonymous:
            for path in ("/api/v1/runs", "/api/v1/keys"):
                for headers in ({"Content-Length": str(size + 32)}, {}):  # declared, chunked
                    refused = anonymous.post(
                        path,
                        content=body(),
                        headers={"Content-Type": "application/json", **headers},
                    )
                    assert refused.status_code == 413, (path, headers, refused.text[:300])
                    assert "64 KiB" in refused.json()["detail"]
        assert _peak_rss_kb(pid) - before < 100_000, "the server buffered a refused body"
        with server.client("admin") as admin:  # small bodies are read as before
            made = admin.post("/api/v1/keys", json={"role": "viewer", "name": "small body"})
            assert made.status_code == 201, made.text
            assert (
                admin.post("/api/v1/runs", json={"full_refresh": "x" * 70_000}).status_code == 413
            )


@pytest.mark.parametrize("damage", ["{not json", '[{"key_id": 5}]', '{"keys": {"a": {}}}'])
def test_a_damaged_key_store_is_named_and_never_overwritten(tmp_path: Path, damage: str) -> None:
    """``_serve/api_keys.json`` cut short or edited by hand: ``keys list`` and ``keys create``
    were internal errors (JSONDecodeError, AttributeError, exit 1). They now name the file and
    the way out, exit 2, and ``create`` leaves the file as it was (writing a fresh store would
    have dropped every key in it). A running server answers 503 without a path, not 500."""
    lake = tmp_path / "lake"
    store = lake / "_serve" / "api_keys.json"
    with serve(lake) as server:
        store.write_text(damage, encoding="utf-8")
        for args in (
            ("keys", "list"),
            ("keys", "create", "--role", "viewer"),
            ("keys", "revoke", "0123456789ab"),
        ):
            done = run_retail(*args, lake=lake)
            assert done.code == 2, (args, done.stdout + done.stderr)
            assert f"{store} is damaged" in done.stderr, (args, done.stderr)
        assert store.read_text(encoding="utf-8") == damage
        with server.client("viewer") as viewer:
            answered = viewer.get("/api/v1/kpis")
        assert answered.status_code == 503, answered.text
        assert "key store" in answered.json()["detail"] and str(lake) not in answered.text

"""The serving building blocks on their own: keys, tokens, rate limit, names, search, jobs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from retail_lakehouse.lake.fingerprint import latest_version
from retail_lakehouse.serve.auth.keys import KeyStore, KeyStoreError, keys_path
from retail_lakehouse.serve.auth.roles import Role
from retail_lakehouse.serve.auth.tokens import TokenSigner
from retail_lakehouse.serve.jobs import JobQueue, JobStatus
from retail_lakehouse.serve.ratelimit import RateLimiter
from retail_lakehouse.serve.readers import ResponseCache, SnapshotReader
from retail_lakehouse.serve.search import ProductIndex
from retail_lakehouse.serve.uploads import UploadRefused, confined, safe_name
from tests.integration.api.gold_fixture import build_gold_lake


def test_keys_store_only_a_salted_hash_and_verify_until_revoked(tmp_path: Path) -> None:
    store = KeyStore(keys_path(tmp_path))
    record, secret = store.create(Role.analyst, "reporting")
    twin, twin_secret = store.create(Role.analyst, "reporting")
    raw = store.path.read_text()
    assert secret not in raw and secret.split("_", 2)[2] not in raw
    stored = json.loads(raw)["keys"]
    assert stored[record.key_id]["salt"] != stored[twin.key_id]["salt"]
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.verify(secret) == record
    assert store.verify(secret + "x") is None
    assert store.verify(twin_secret.replace(twin.key_id, record.key_id)) is None
    assert store.verify("not a key") is None
    other_process = KeyStore(store.path)  # a running server sees the revocation at once
    assert other_process.verify(secret) == record
    store.revoke(record.key_id)
    assert other_process.verify(secret) is None
    assert other_process.verify(twin_secret) is not None
    with pytest.raises(KeyStoreError):
        store.revoke("ffffffffffff")
    with pytest.raises(KeyStoreError):
        store.create(Role.viewer, "bad/name")


def test_tokens_expire_and_are_bound_to_their_secret() -> None:
    signer = TokenSigner("s" * 32, ttl_seconds=1)
    token = signer.issue("abc123abc123", "viewer").token
    assert signer.key_id(token) == "abc123abc123"
    assert TokenSigner("t" * 32).key_id(token) is None
    assert signer.key_id(token + "x") is None
    time.sleep(2.1)
    assert signer.key_id(token) is None


def test_rate_limit_is_a_bucket_per_key_with_retry_after() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=3, clock=lambda: now[0])
    assert [limiter.check("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.check("a")
    assert wait == pytest.approx(20.0)
    assert limiter.retry_after(wait) == "20"
    assert limiter.check("b") == 0.0  # another key has its own bucket
    now[0] = 20.0
    assert limiter.check("a") == 0.0
    assert limiter.check("a") > 0


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("sales.csv", "sales.csv"),
        ("../../etc/cron.d/evil.csv", "evil.csv"),
        ("C:\\Users\\me\\Q1 sales.XLSX", "Q1_sales.xlsx"),
        ("..csv.json", "csv.json"),
        ("résumé – été.parquet", "resume_ete.parquet"),
        ("продажи.csv", "upload.csv"),
        ("日本 sales.CSV", "sales.csv"),
        ("☃.json", "upload.json"),
        ("a" * 300 + ".csv", "a" * 116 + ".csv"),
        ("Q1 sales.CSV.GZ", "Q1_sales.csv.gz"),
        ("a" * 300 + ".jsonl.xz", "a" * 111 + ".jsonl.xz"),
    ],
)
def test_upload_names_become_plain_safe_names(sent: str, stored: str) -> None:
    assert safe_name(sent) == stored


@pytest.mark.parametrize(
    "sent", ["", "..", ".bashrc", "run.sh", "x.csv.exe", "noext", "/", "x.gz", "x.exe.gz", ".csv"]
)
def test_unsafe_or_unknown_upload_names_are_refused(sent: str) -> None:
    with pytest.raises(UploadRefused):
        safe_name(sent)


def test_confined_paths_stay_in_landing(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "link.csv").symlink_to(tmp_path / "outside.csv")
    assert confined(tmp_path / "landing", "ok.csv").parent == (tmp_path / "landing").resolve()
    with pytest.raises(UploadRefused):
        confined(tmp_path / "landing", "link.csv")


def test_search_tolerates_typos_case_and_codes() -> None:
    index = ProductIndex.from_arrow(
        pa.table(
            {
                "stock_code": ["85123A", "71053", "22423", "POST"],
                "description": [
                    "WHITE HANGING HEART T-LIGHT HOLDER",
                    "WHITE METAL LANTERN",
                    "REGENCY CAKESTAND 3 TIER",
                    "POSTAGE",
                ],
                "category": ["Home Decor", "Home Decor", "Kitchen", "Non-product"],
                "is_non_product": [False, False, False, True],
            }
        )
    )
    assert index.search("whte hart", None, 5)[0].product.stock_code == "85123A"
    assert index.search("cake stand", None, 5)[0].product.stock_code == "22423"
    assert index.search("LANTRN", None, 5)[0].product.stock_code == "71053"
    assert index.search("85123a", None, 5)[0].score == 100.0
    assert [h.product.stock_code for h in index.search("white", "Kitchen", 5)] == []
    listed = index.search(None, "Home Decor", 5)  # a category alone: by description
    assert [h.product.stock_code for h in listed] == ["85123A", "71053"]
    assert index.search("zzzzqqqq", None, 5) == []
    assert index.resolve_category("home decor") == "Home Decor"


def test_cache_computes_each_key_once_under_concurrency() -> None:
    cache = ResponseCache(max_entries=2)
    calls: list[int] = []
    gate = threading.Event()

    def slow() -> bytes:
        calls.append(1)
        gate.wait(2)
        return b"x"

    threads = [threading.Thread(target=cache.compute, args=("k", slow)) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    gate.set()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and cache.get("k") == b"x"
    cache.compute("a", lambda: b"a")
    cache.compute("b", lambda: b"b")
    assert cache.get("k") is None  # least recently used, evicted
    small = ResponseCache(max_entries=100, max_bytes=10)
    small.compute("x", lambda: b"12345678")
    small.compute("y", lambda: b"1234")
    assert small.get("x") is None and small.get("y") == b"1234" and small.size == 4


def test_jobs_run_one_at_a_time_in_order_and_report_failures() -> None:
    seen: list[str] = []
    running = threading.Lock()

    def work(name: str, fail: bool = False) -> dict[str, str]:
        assert running.acquire(blocking=False), "two jobs ran at once"
        try:
            time.sleep(0.05)
            seen.append(name)
            if fail:
                raise RuntimeError("boom")
            return {"name": name}
        finally:
            running.release()

    queue = JobQueue()
    jobs = [queue.submit("run", lambda n=n: work(n, fail=n == "b")) for n in "abc"]
    assert all(j.status is JobStatus.queued for j in jobs)
    queue.start()
    for job in jobs:
        assert job.done.wait(5)
    queue.stop()
    assert seen == ["a", "b", "c"]
    assert [j.status for j in jobs] == [JobStatus.succeeded, JobStatus.failed, JobStatus.succeeded]
    assert jobs[1].reason == "RuntimeError: boom" and jobs[2].detail == {"name": "c"}


def test_reader_serves_a_snapshot_until_a_command_finishes(tmp_path: Path) -> None:
    lake = build_gold_lake(tmp_path / "lake")
    reader = SnapshotReader(lake, poll_seconds=3600, settle_seconds=3600)
    reader.start()
    try:
        first = reader.current()
        assert first.versions["gold.mart_daily_sales"] == 0
        assert latest_version(lake.path("gold.mart_daily_sales")) == 0
        lake.write("gold.mart_daily_sales", first.arrow("SELECT * FROM gold.mart_daily_sales"))
        assert reader.refresh() is False  # a run is (maybe) still writing: keep the old one
        assert reader.current() is first
        lake.write(
            "meta.runs", pa.table({"run_id": ["x"], "command": ["run"], "status": ["succeeded"]})
        )
        assert reader.refresh() is True  # meta.runs moved: the command finished
        second = reader.current()
        assert second.id != first.id
        doubled = second.scalar_row("SELECT count(*) AS n FROM gold.mart_daily_sales")["n"]
        assert (
            doubled == 2 * first.scalar_row("SELECT count(*) AS n FROM gold.mart_daily_sales")["n"]
        )
        assert reader.refresh() is False
    finally:
        reader.stop()

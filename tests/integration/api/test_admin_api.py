"""Operating the lake through the API: uploads into landing/, queued runs, their outcomes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.api.live import Server, _ok, copy_lake, serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    lake = copy_lake(tmp_path_factory.mktemp("admin") / "lake")
    with serve(lake, env={"RETAIL_MAX_UPLOAD_MB": "1"}) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[httpx.Client]:
    with server.client("admin") as client:
        yield client


@pytest.fixture(scope="module")
def new_sales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("upload") / "new sales (march).csv"
    _ok("generate", "--rows", "2000", "--seed", "99", "--out", path)
    return path


def wait_for(client: httpx.Client, job: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state: dict[str, Any] = client.get(job["status_url"]).json()
        if state["status"] in ("succeeded", "failed"):
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


def upload(client: httpx.Client, name: str, content: bytes) -> httpx.Response:
    return client.post("/api/v1/files", files={"file": (name, content, "text/csv")})


def test_upload_ingests_then_a_run_publishes_new_numbers(
    server: Server, admin: httpx.Client, new_sales: Path
) -> None:
    before = admin.get("/api/v1/kpis")
    response = upload(admin, new_sales.name, new_sales.read_bytes())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["file"] == "new_sales_march.csv"
    assert (server.landing / body["file"]).read_bytes() == new_sales.read_bytes()
    assert body["job"]["kind"] == "ingest" and body["job"]["status"] == "succeeded"
    assert body["job"]["detail"]["rows_ingested"] == 2000
    assert body["job"]["detail"]["path"] == "new_sales_march.csv"  # not where the server keeps it

    again = upload(admin, "again.csv", new_sales.read_bytes())
    assert again.status_code == 201
    assert again.json()["job"]["detail"]["status"] == "skipped"  # same content: not doubled
    # ... and the duplicate does not stay behind in landing/, which the response says
    assert again.json()["duplicate"] is True and not body.get("duplicate")
    assert not (server.landing / again.json()["file"]).exists()
    assert "removed from landing/" in again.json()["job"]["detail"]["note"]
    assert sorted(p.name for p in server.landing.iterdir()) == [body["file"]]

    started = admin.post("/api/v1/runs")
    assert started.status_code == 202
    job = started.json()
    assert started.headers["Location"] == job["status_url"] == f"/api/v1/runs/{job['id']}"
    assert job["status"] in ("queued", "running")
    done = wait_for(admin, job)
    assert done["status"] == "succeeded", done
    assert done["detail"]["run_id"] and done["finished_at"] >= done["started_at"]
    after = admin.get("/api/v1/kpis")
    assert after.headers["X-Snapshot"] != before.headers["X-Snapshot"]
    assert after.json()["gross_revenue"] > before.json()["gross_revenue"]
    listed = admin.get("/api/v1/runs").json()
    assert listed[0]["id"] == job["id"]


@pytest.mark.parametrize(
    "body",
    [
        {"full_refresh": "yes"},
        {"full_refresh": 1},
        {"full_refresh": "true"},
        {"full_refresh": False, "fullrefresh": True},
        {"engine": "spark"},
    ],
)
def test_a_run_request_with_loose_or_unknown_fields_is_refused(
    admin: httpx.Client, body: dict[str, Any]
) -> None:
    queued = len(admin.get("/api/v1/runs").json())
    refused = admin.post("/api/v1/runs", json=body)
    assert refused.status_code == 422, refused.text
    assert len(admin.get("/api/v1/runs").json()) == queued  # nothing was started


def test_keys_request_refuses_unknown_fields(admin: httpx.Client) -> None:
    assert admin.post("/api/v1/keys", json={"role": "viewer", "admin": True}).status_code == 422


def test_runs_queue_one_at_a_time(admin: httpx.Client) -> None:
    first = admin.post("/api/v1/runs", json={"full_refresh": True}).json()
    second = admin.post("/api/v1/runs").json()
    assert admin.get(second["status_url"]).json()["status"] == "queued"
    one, two = wait_for(admin, first), wait_for(admin, second)
    assert one["status"] == two["status"] == "succeeded", (one, two)
    assert two["started_at"] >= one["finished_at"]


def test_upload_names_are_sanitised_and_confined_to_landing(
    server: Server, admin: httpx.Client
) -> None:
    content = b"InvoiceNo,StockCode\n1,2\n"
    response = upload(admin, "../../../../tmp/evil name.csv", content)
    stored = response.json()["file"]
    assert stored == "evil_name.csv"
    assert not (server.landing.parent.parent / "tmp" / "evil name.csv").exists()
    assert response.status_code == 422  # refused by ingestion: required columns are missing
    reason = response.json()["job"]["reason"]
    assert reason.startswith("FileRefused: evil_name.csv: "), reason  # its name, not where it is
    assert str(server.landing) not in response.text and str(server.lake) not in response.text
    assert not (server.landing / stored).exists()  # a refused upload does not stay in landing/
    for name in ("продажи.csv", "売上.csv"):  # letters ASCII cannot keep: a name, not a type
        named = upload(admin, name, content)
        assert named.status_code == 422 and named.json()["file"] == "upload.csv", named.text
    assert upload(admin, ".bashrc", content).status_code == 415
    assert upload(admin, "report.exe", content).status_code == 415
    assert upload(admin, "..\\..\\x.csv.exe", content).status_code == 415
    assert admin.post("/api/v1/files").status_code == 422
    assert admin.post("/api/v1/files", data={"note": "no file"}).status_code == 422
    # refused uploads and duplicates (again.csv) leave nothing behind in landing/
    assert (
        sorted(p.name for p in server.landing.iterdir() if not p.name.startswith("new_sales")) == []
    )


def test_uploads_over_the_size_limit_are_refused(server: Server, admin: httpx.Client) -> None:
    too_big = b"InvoiceNo,StockCode,Description\n" + b"536365,85123A,WHITE HEART\n" * 60_000
    response = upload(admin, "big.csv", too_big)
    assert response.status_code == 413
    assert "1 MB" in response.json()["detail"]
    assert not (server.landing / "big.csv").exists()

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        boundary = b"--b0undary"
        yield (
            boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="s.csv"\r\n\r\n'
        )
        for _ in range(40):
            yield b"x" * 65536
        yield b"\r\n" + boundary + b"--\r\n"

    streamed = admin.post(
        "/api/v1/files",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert streamed.status_code == 413
    assert admin.get("/api/v1/runs/ffffffffffffffff").status_code == 404


def test_a_failing_run_reports_why(tmp_path: Path, new_sales: Path) -> None:
    rules = tmp_path / "strict.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: no_big_quantities\n"
        "    dimension: validity\n"
        "    action: fail\n"
        "    threshold: 0\n"
        "    weight: 1\n"
        "    expression: quantity < 10\n"
    )
    lake = copy_lake(tmp_path / "lake")
    with (
        serve(lake, env={"RETAIL_RULES": f'["{rules}"]'}) as running,
        running.client("admin") as admin,
    ):
        assert upload(admin, "more.csv", new_sales.read_bytes()).status_code == 201
        done = wait_for(admin, admin.post("/api/v1/runs").json())
        assert done["status"] == "failed"
        assert "GateFailed" in done["reason"] and "no_big_quantities" in done["reason"]


def test_an_upload_declares_its_date_order_and_a_mixed_file_is_refused(
    server: Server, admin: httpx.Client
) -> None:
    """``?date_order=dmy`` declares what the file's dates cannot tell (all days 1-12); a file
    mixing both orders is refused naming the evidence (docs/dates-and-numbers.md)."""
    header = b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    ambiguous = header + b"".join(
        f"59{i:04d},85123A,HEART,6,{1 + i % 12}/1/2011 9:00,2.55,17850,France\n".encode()
        for i in range(30)
    )
    declared = admin.post(
        "/api/v1/files",
        params={"date_order": "dmy", "decimal": "."},
        files={"file": ("day first.csv", ambiguous, "text/csv")},
    )
    assert declared.status_code == 201, declared.text
    formats = declared.json()["job"]["detail"]["formats"]
    assert (formats["date_order"], formats["date_order_source"]) == ("dmy", "declared")
    assert declared.json()["job"]["detail"]["warnings"] == []
    assumed = upload(admin, "no order.csv", ambiguous.replace(b"\n59", b"\n56"))
    assert assumed.status_code == 201, assumed.text
    [warning] = assumed.json()["job"]["detail"]["warnings"]  # named by the file, not its folder
    assert warning.startswith("no_order.csv: every date reads both ways"), warning
    assert str(server.landing) not in assumed.text and str(server.lake) not in assumed.text

    mixed = (
        header
        + b"".join(
            f"58{i:04d},85123A,HEART,6,{d},2.55,17850,France\n".encode()
            for i, d in enumerate([f"1/{13 + n}/2011 9:00" for n in range(12)] * 2)
        )
        + b"".join(
            f"57{i:04d},85123A,HEART,6,{13 + i}/1/2011 9:00,2.55,17850,France\n".encode()
            for i in range(12)
        )
    )
    refused = upload(admin, "mixed orders.csv", mixed)
    assert refused.status_code == 422, refused.text
    reason = refused.json()["job"]["reason"]
    assert "the dates mix month-first and day-first spellings" in reason
    assert "day first only: 12 line(s) (line 26: '13/1/2011 9:00'" in reason
    bad = admin.post("/api/v1/files", params={"date_order": "xyz"}, files={"file": ("a.csv", b"")})
    assert bad.status_code == 422


def test_a_gzipped_upload_is_ingested_as_the_file_inside(
    server: Server, admin: httpx.Client, tmp_path: Path
) -> None:
    import gzip

    plain = tmp_path / "april.csv"
    _ok("generate", "--rows", "50", "--seed", "404", "--out", plain)
    packed = gzip.compress(plain.read_bytes())
    response = upload(admin, "april export.CSV.GZ", packed)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["file"] == "april_export.csv.gz"
    assert body["job"]["detail"]["status"] == "ingested"
    assert body["job"]["detail"]["rows_ingested"] == 50
    broken = upload(admin, "cut.csv.gz", packed[: len(packed) // 2])
    assert broken.status_code == 422
    assert "truncated" in broken.json()["job"]["reason"]


def test_an_upload_the_server_cannot_store_is_a_503_naming_no_path(tmp_path: Path) -> None:
    """The landing folder is not a writable folder (here a file; a full disk is the same): an
    upload was a 500 "internal server error". It is a 503 saying uploads cannot be stored now,
    without the server's paths; its log keeps the reason (fifteenth round's audit)."""
    landing = tmp_path / "not-a-folder.csv"
    landing.write_text("x\n", encoding="utf-8")
    with (
        serve(tmp_path / "lake", env={"RETAIL_LANDING": str(landing)}) as server,
        server.client("admin") as admin,
    ):
        refused = upload(admin, "march.csv", b"InvoiceNo,StockCode\n1,2\n")
    assert refused.status_code == 503, refused.text
    assert "cannot store uploads" in refused.json()["detail"]
    assert str(tmp_path) not in refused.text
    assert landing.read_text(encoding="utf-8") == "x\n"


def test_a_compressed_upload_named_like_one_in_landing_is_ingested(
    server: Server, admin: httpx.Client, tmp_path: Path
) -> None:
    """A second ``may.csv.gz`` (a corrected export, say) was stored as
    ``may.csv-<stamp>-<hex>.gz``: a type no reader knows, so its ingest refused it (422) and its
    lines never reached the lake (sixteenth round's audit). The stamp goes before the whole
    extension."""
    import gzip

    sent = []
    for seed in (505, 506):
        source = tmp_path / f"may-{seed}.csv"
        _ok("generate", "--rows", "40", "--seed", str(seed), "--out", source)
        response = upload(admin, "may.csv.gz", gzip.compress(source.read_bytes()))
        assert response.status_code == 201, response.text
        sent.append(response.json())
    assert sent[0]["file"] == "may.csv.gz"
    assert sent[1]["file"].startswith("may-") and sent[1]["file"].endswith(".csv.gz"), sent[1]
    assert [body["job"]["detail"]["rows_ingested"] for body in sent] == [40, 40]


def test_uploads_of_one_name_at_once_each_keep_their_own_file(
    server: Server, tmp_path: Path
) -> None:
    """Uploads of the same name arriving together each saw no file of that name in landing/
    and then replaced one another's: of six different ``june.csv`` files two reached the lake,
    three answered 422 and one 201 "duplicate" for lines it never ingested (sixteenth round's
    audit). Each upload now claims its name without replacing a file already there."""
    import threading

    count = 4
    contents = []
    for seed in range(count):
        source = tmp_path / f"june-{seed}.csv"
        _ok("generate", "--rows", "7000", "--seed", str(700 + seed), "--out", source)
        contents.append(source.read_bytes())
    start = threading.Barrier(count)
    answers: list[httpx.Response | None] = [None] * count

    def send(i: int) -> None:
        with server.client("admin") as client:
            start.wait()
            answers[i] = client.post(
                "/api/v1/files?wait=120", files={"file": ("june.csv", contents[i], "text/csv")}
            )

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bodies = [answer.json() for answer in answers if answer is not None]
    assert [answer.status_code for answer in answers if answer] == [201] * count, bodies
    stored = {body["file"] for body in bodies}
    assert len(stored) == count, bodies
    assert sorted((server.landing / name).read_bytes() for name in stored) == sorted(contents)
    assert [body["duplicate"] for body in bodies] == [False] * count
    assert [body["job"]["detail"]["rows_ingested"] for body in bodies] == [7000] * count

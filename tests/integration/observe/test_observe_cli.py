"""Lineage, catalog, logs and metrics from the user's side: the real ``retail`` commands on a
lake built from the real sample files, and the OpenLineage events validated against the spec."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from retail_lakehouse.lake.contracts import contracts
from retail_lakehouse.observe.lineage.events import events_in
from tests.conftest import REAL_DATA, CliResult, run_retail
from tests.integration.observe.openlineage_spec import event_errors

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SAMPLE = REAL_DATA / "online_retail_head_1071.csv"
SECOND = REAL_DATA / "online_retail_ii_head_99_bom.csv"


def ok(*args: str | Path, lake: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    done = _run(*args, lake=lake, env=env)
    assert done.code == 0, f"retail {args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _run(
    *args: str | Path, lake: Path | None = None, env: dict[str, str] | None = None
) -> CliResult:
    if env is None:
        return run_retail(*args, lake=lake)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return run_retail(*args, lake=lake)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    lake = tmp_path_factory.mktemp("observe") / "lake"
    ingest = ok("--log-format", "json", "ingest", SAMPLE, lake=lake)
    run = ok("--log-format", "json", "run", lake=lake)
    return {"lake": lake, "ingest": ingest, "run": run}


def lineage_json(lake: Path, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = ok("lineage", *args, "--json", lake=lake).json()
    return result


def test_table_lineage_of_a_mart_reaches_silver_and_bronze(built: dict[str, Any]) -> None:
    graph = lineage_json(built["lake"], "gold.mart_customer_rfm", "--upstream")
    assert {
        "gold.fact_sales",
        "gold.dim_customer",
        "silver.sales_lines",
        "bronze.sales_lines",
    } <= set(graph["nodes"])
    assert f"file:{SAMPLE}" in graph["nodes"]  # down to the source file


def test_column_lineage_of_line_amount_reaches_silver_quantity_and_price(
    built: dict[str, Any],
) -> None:
    graph = lineage_json(built["lake"], "gold.fact_sales.line_amount", "--upstream")
    assert {"silver.sales_lines.quantity", "silver.sales_lines.unit_price"} <= set(graph["nodes"])
    assert {"bronze.sales_lines.quantity", "bronze.sales_lines.unit_price"} <= set(graph["nodes"])
    assert "silver.sales_lines.description" not in graph["nodes"]  # only what it is computed from


def test_downstream_answers_what_a_column_change_affects(built: dict[str, Any]) -> None:
    graph = lineage_json(built["lake"], "silver.sales_lines.quantity", "--downstream")
    assert {"gold.fact_sales.quantity", "gold.mart_daily_sales.units"} <= set(graph["nodes"])
    assert "gold.dim_country.iso3" not in graph["nodes"]
    tree = ok("lineage", "silver.sales_lines.quantity", "--downstream", lake=built["lake"])
    assert "gold.fact_sales.quantity" in tree.stdout


def test_lineage_refuses_unknown_tables_and_columns(built: dict[str, Any]) -> None:
    for target in ("gold.nope", "gold.fact_sales.nope", "fact_sales"):
        done = run_retail("lineage", target, lake=built["lake"])
        assert done.code == 2 and target.split(".")[-1] in done.stderr


def test_openlineage_events_validate_and_carry_column_lineage(built: dict[str, Any]) -> None:
    events = events_in(built["lake"] / "_lineage")
    kinds = {(e["job"]["name"], e["eventType"]) for e in events}
    for job in ("retail.ingest", "retail.run", "retail.run.silver", "retail.run.gold"):
        assert {(job, "START"), (job, "COMPLETE")} <= kinds
    assert ("retail.run.gold.fact_sales", "COMPLETE") in kinds
    for event in events:
        assert event_errors(event) == [], event["job"]["name"]
    fact = next(
        o
        for e in events
        if e["job"]["name"] == "retail.run.gold.fact_sales" and e["eventType"] == "COMPLETE"
        for o in e["outputs"]
    )
    fields = fact["facets"]["columnLineage"]["fields"]
    assert [f["field"] for f in fields["line_amount"]["inputFields"]] == ["line_amount"]
    assert fields["line_amount"]["inputFields"][0]["name"].endswith("silver/sales_lines")
    assert fact["outputFacets"]["outputStatistics"]["rowCount"] == 1046
    assert fact["facets"]["schema"]["fields"][0]["description"]
    quality = next(e for e in events if e["job"]["name"] == "retail.run.silver.quality")
    metrics = quality["inputs"][0]["inputFacets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == 1046 and "customer_id" in metrics["columnMetrics"]
    parent = next(e for e in events if e["job"]["name"] == "retail.run.silver")
    assert parent["run"]["facets"]["parent"]["job"]["name"] == "retail.run"


def test_the_validator_rejects_a_broken_event(built: dict[str, Any]) -> None:
    event = events_in(built["lake"] / "_lineage")[-1]
    broken = {k: v for k, v in event.items() if k != "eventTime"}
    assert event_errors(broken)
    bad_facet = json.loads(json.dumps(event))
    bad_facet["run"]["facets"]["processing_engine"]["version"] = 3
    assert event_errors(bad_facet)


def test_an_idle_run_emits_nothing(built: dict[str, Any]) -> None:
    before = len(events_in(built["lake"] / "_lineage"))
    ok("run", lake=built["lake"])
    assert len(events_in(built["lake"] / "_lineage")) == before


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", _free_port()), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Receiver.received
    finally:
        server.shutdown()
        server.server_close()


def test_a_down_endpoint_never_fails_the_pipeline_and_events_are_sent_later(
    tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    lake = tmp_path / "lake"
    # a password in the URL, and a token in its query (fifteenth round: the token was logged)
    down = f"http://lineage-user:s3cret-pw@127.0.0.1:{_free_port()}/?api_key=q9-t0ken"
    first = ok("--log-format", "json", "ingest", SAMPLE, lake=lake, env={"OPENLINEAGE_URL": down})
    assert "kept for later" in first.stderr
    assert "s3cret-pw" not in first.stderr  # the URL's password is masked in the log
    assert "q9-t0ken" not in first.stderr and "api_key=***" in first.stderr
    outbox = lake / "_lineage" / "outbox.ndjson"
    kept = outbox.read_text().splitlines()
    assert [json.loads(line)["eventType"] for line in kept] == ["START", "COMPLETE"]
    ok("ingest", SECOND, lake=lake, env={"OPENLINEAGE_URL": url})
    assert [e["job"]["name"] for e in received] == ["retail.ingest"] * 4
    assert [e["eventType"] for e in received] == ["START", "COMPLETE", "START", "COMPLETE"]
    assert not outbox.exists()
    logs = "".join(p.read_text() for p in (lake / "_logs").glob("*.jsonl"))
    assert "s3cret-pw" not in logs and "lineage-user:***@" in logs
    assert "q9-t0ken" not in logs


def test_catalog_lists_every_table_with_described_columns(built: dict[str, Any]) -> None:
    entries = {e["table"]: e for e in ok("catalog", "--json", lake=built["lake"]).json()}
    assert set(entries) == {c.qualified for c in contracts()}
    for entry in entries.values():
        assert entry["description"], entry["table"]
        assert all(c["description"] for c in entry["columns"]), entry["table"]
    fact = entries["gold.fact_sales"]
    assert fact["rows"] == 1046 and fact["delta_version"] is not None
    assert (
        "silver.sales_lines" in fact["upstream"] and "gold.mart_daily_sales" in fact["downstream"]
    )
    assert entries["silver.sales_lines"]["quality_score"] is not None
    counted = ok(
        "sql", "SELECT count(*) AS n FROM gold.fact_sales", "--format", "json", lake=built["lake"]
    )
    assert str(fact["rows"]) in counted.stdout


def test_logs_are_json_lines_with_run_command_layer_rows_and_seconds(built: dict[str, Any]) -> None:
    lines = [json.loads(line) for line in built["run"].stderr.splitlines() if line.startswith("{")]
    assert lines, built["run"].stderr
    run_ids = {line["run_id"] for line in lines}
    assert len(run_ids) == 1 and all(line["command"] == "run" for line in lines)
    written = [line for line in lines if line["event"] == "table written"]
    assert {"silver.sales_lines", "gold.fact_sales"} <= {line["table"] for line in written}
    assert all(line["layer"] and line["rows"] >= 0 and "seconds" in line for line in written)
    stored = "".join(p.read_text() for p in (built["lake"] / "_logs").glob("*.jsonl"))
    assert run_ids.pop() in stored
    quiet = ok("run", lake=built["lake"])  # without --log-format the terminal gets no info lines
    assert "command started" not in quiet.stderr


def test_metrics_as_prometheus_text_and_textfile(built: dict[str, Any], tmp_path: Path) -> None:
    families = {
        f.name: f for f in text_string_to_metric_families(ok("metrics", lake=built["lake"]).stdout)
    }
    rows = {s.labels["table"]: s.value for s in families["retail_table_rows"].samples}
    assert rows["gold.fact_sales"] == 1046 and rows["bronze.sales_lines"] == 1071
    assert families["retail_duplicate_lines"].type == "counter"
    assert families["retail_duplicate_lines"].samples[0].value == 25
    layers = {s.labels["layer"] for s in families["retail_layer_duration_seconds"].samples}
    assert layers == {"silver", "gold"}
    assert families["retail_quality_score"].samples[0].value > 90
    assert "retail_data_freshness_seconds" in families
    assert "retail_last_success_timestamp_seconds" in families
    textfile = tmp_path / "node" / "retail.prom"
    ok("--metrics-file", textfile, "ingest", SECOND, lake=built["lake"])
    written = {f.name for f in text_string_to_metric_families(textfile.read_text())}
    assert {"retail_table_rows", "retail_runs"} <= written


def test_the_html_catalog_escapes_values_from_the_data(tmp_path: Path) -> None:
    """The catalog shows example values, which come from source files: a description such as
    ``<script>...</script>`` was written into the page as markup (Jinja's autoescape selected
    ``.html`` templates and the template is ``catalog.html.j2``), so opening the catalog ran
    the file's script (fifteenth round's audit)."""
    hostile = tmp_path / "hostile.csv"
    hostile.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "590001,85123A,<script>alert(1)</script>,6,12/1/2011 8:26,2.55,17850,United Kingdom\n"
        '590002,<img src=x onerror=alert(2)>,HEART,6,12/1/2011 8:26,2.55,17850,"<b>x</b>"\n',
        encoding="utf-8",
    )
    lake = tmp_path / "lake"
    ok("ingest", hostile, lake=lake)
    ok("run", lake=lake)
    ok("catalog", "--html", tmp_path / "site", lake=lake)
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>x</b>" not in page
    assert page.count("<svg") == 1  # the lineage drawing is still markup


def test_freshness_is_labelled_by_each_files_folder(tmp_path: Path) -> None:
    """``retail_data_freshness_seconds`` per source folder (the folder's name, '.' for none):
    guards the aggregation's rewrite (folders grouped first, decision 0020 sixteenth round)."""
    lake = tmp_path / "lake"
    exports = tmp_path / "exports"
    for folder, source in (("shop a", SAMPLE), ("shop_b", SECOND)):
        (exports / folder).mkdir(parents=True)
        (exports / folder / source.name).write_bytes(source.read_bytes())
    ok("ingest", exports, lake=lake)
    here = tmp_path / "here.csv"
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    here.write_text("".join(lines[:1] + lines[-20:]), encoding="utf-8")
    done = run_retail("ingest", "here.csv", lake=lake, cwd=tmp_path)
    assert done.code == 0, done.stderr
    text = ok("metrics", lake=lake).stdout
    families = {f.name: f for f in text_string_to_metric_families(text)}
    ages = {s.labels["source"]: s.value for s in families["retail_data_freshness_seconds"].samples}
    assert set(ages) == {"shop a", "shop_b", "."}, ages
    assert all(0 <= age < 3600 for age in ages.values()), ages

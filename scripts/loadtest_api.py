#!/usr/bin/env python3
"""Load-test the read endpoints of ``retail serve``: N concurrent clients, latency percentiles.

Each client is a keep-alive HTTP/1.1 connection that sends a request, reads the whole answer,
and sends the next one (a closed loop, optionally with think time), choosing at random among
the dashboard's and analysts' read endpoints with varied filters. The client is a few lines of
asyncio rather than httpx so the load generator, which shares the machine's cores with the
server, spends as little CPU as possible per request.

Optionally ``--during CMD`` runs a command (for example a second ``retail ingest`` + ``retail
run``) once the warm-up is over; the test then lasts until the command finishes and reports
the requests answered while it was running separately.

Bounded by design: loopback addresses only, at most 200 clients, 900 seconds and 2 million
requests. Example (see docs/benchmarks.md):

    python scripts/loadtest_api.py --url http://127.0.0.1:8000 --key "$KEY" --clients 50 \\
        --duration 60 --during "retail --lake big ingest more.csv && retail --lake big run"
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

MAX_CLIENTS = 200
MAX_SECONDS = 900.0
MAX_REQUESTS = 2_000_000

COUNTRIES = [
    None,
    None,
    None,
    "United Kingdom",
    "Germany",
    "France",
    "EIRE",
    "Spain",
    "Netherlands",
    "Belgium",
    "Switzerland",
    "Portugal",
    "Australia",
    "Norway",
]
MONTHS = ["2010-12"] + [f"2011-{m:02d}" for m in range(1, 13)]
WORDS = [
    "heart",
    "whte hart",
    "lantern",
    "retrospot",
    "cake stand",
    "bag",
    "christmas",
    "mug",
    "jumbo",
    "vintage",
    "candle",
    "tin",
    "glass",
    "wooden",
    "paper",
    "85123a",
    "light",
]


def _month_range(rng: random.Random) -> dict[str, str]:
    start = rng.randrange(len(MONTHS))
    end = min(len(MONTHS) - 1, start + rng.randrange(3))
    last_day = {2: 28, 4: 30, 6: 30, 9: 30, 11: 30}.get(int(MONTHS[end][5:]), 31)
    return {"from": f"{MONTHS[start]}-01", "to": f"{MONTHS[end]}-{last_day}"}


def _filters(rng: random.Random) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if rng.random() < 0.6:
        params.update(_month_range(rng))
    country = rng.choice(COUNTRIES)
    if country:
        params["country"] = country
    return params


def choose(rng: random.Random) -> tuple[str, str]:
    """One request of the mix: (label, path with query)."""
    pick = rng.random()
    if pick < 0.25:
        return "kpis", "/api/v1/kpis?" + urlencode(_filters(rng))
    if pick < 0.40:
        params = {
            **_filters(rng),
            "by": rng.choice(["country", "total"]),
            "page": rng.randint(1, 3),
            "page_size": rng.choice([50, 100, 1000]),
            "sort": rng.choice(["date", "-gross_revenue", "country"]),
        }
        return "sales/daily", "/api/v1/sales/daily?" + urlencode(params)
    if pick < 0.48:
        params = {**_filters(rng), "by": rng.choice(["country", "total"])}
        return "sales/monthly", "/api/v1/sales/monthly?" + urlencode(params)
    if pick < 0.56:
        params = _month_range(rng) if rng.random() < 0.5 else {}
        return "sales/countries", "/api/v1/sales/countries?" + urlencode(params)
    if pick < 0.66:
        params = {"metric": rng.choice(["revenue", "units"]), "limit": 10}
        if rng.random() < 0.7:
            params["month"] = rng.choice(MONTHS)
        return "products/top", "/api/v1/products/top?" + urlencode(params)
    if pick < 0.78:
        return "products/search", "/api/v1/products/search?" + urlencode(
            {"q": rng.choice(WORDS), "limit": 20}
        )
    if pick < 0.84:
        return "customers/segments", "/api/v1/customers/segments"
    if pick < 0.92:
        return "customers/{id}", f"/api/v1/customers/{rng.randint(12346, 18287)}"
    if pick < 0.96:
        return "cohorts", "/api/v1/cohorts?max_months=12"
    return "quality/trend", "/api/v1/quality/trend"


@dataclass
class Sample:
    label: str
    seconds: float
    status: int
    during: bool
    at: float


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stop: bool = False
    during: bool = False
    measuring: bool = False


class Connection:
    """A minimal keep-alive HTTP/1.1 client for GET requests (Content-Length or chunked)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = f"Host: {host}:{port}\r\n{extra}Connection: keep-alive\r\n\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        """GET ``path``; a kept-alive connection the server closed meanwhile is reopened once."""
        reused = self.writer is not None
        try:
            return await self._get(path)
        except (ConnectionError, asyncio.IncompleteReadError):
            await self.close()
            if not reused:
                raise
            return await self._get(path)

    async def _get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\n".encode() + self.head)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and "close" in value.lower():
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def client(
    number: int, url: Any, headers: dict[str, str], run: Run, think: float, seed: int
) -> None:
    rng = random.Random(seed * 1000 + number)
    connection = Connection(url.hostname, url.port or 80, headers)
    while not run.stop:
        label, path = choose(rng)
        started = time.perf_counter()
        try:
            status = await connection.get(path)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as error:
            run.errors[type(error).__name__] += 1
            await connection.close()
            await asyncio.sleep(0.05)
            continue
        elapsed = time.perf_counter() - started
        if run.measuring:
            run.samples.append(Sample(label, elapsed, status, run.during, time.perf_counter()))
            if len(run.samples) >= MAX_REQUESTS:
                run.stop = True
        if think:
            await asyncio.sleep(rng.expovariate(1 / think))
    await connection.close()


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def summarise(samples: list[Sample], seconds: float) -> dict[str, Any]:
    by_label: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_label[sample.label].append(sample)

    def stats(group: list[Sample]) -> dict[str, Any]:
        ms = sorted(s.seconds * 1000 for s in group)
        statuses: dict[str, int] = defaultdict(int)
        for s in group:
            statuses[str(s.status)] += 1
        return {
            "requests": len(group),
            "p50_ms": round(percentile(ms, 50), 2),
            "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2),
            "max_ms": round(ms[-1], 2) if ms else None,
            "statuses": dict(sorted(statuses.items())),
        }

    overall = stats(samples)
    overall["requests_per_second"] = round(len(samples) / seconds, 1) if seconds else None
    return {
        "seconds": round(seconds, 1),
        "overall": overall,
        "endpoints": {k: stats(v) for k, v in sorted(by_label.items())},
    }


def timeline(samples: list[Sample], started: float, window: float = 5.0) -> list[dict[str, Any]]:
    """p50/p95 per ``window`` seconds: shows whether slow answers cluster (a snapshot switch, the
    end of a run) or are spread evenly (CPU contention)."""
    buckets: dict[int, list[float]] = defaultdict(list)
    during: dict[int, bool] = {}
    for sample in samples:
        index = int((sample.at - started) // window)
        buckets[index].append(sample.seconds * 1000)
        during[index] = during.get(index, False) or sample.during
    return [
        {
            "from_s": index * window,
            "requests": len(values),
            "p50_ms": round(percentile(sorted(values), 50), 1),
            "p95_ms": round(percentile(sorted(values), 95), 1),
            "during_command": during[index],
        }
        for index, values in sorted(buckets.items())
    ]


def print_table(title: str, summary: dict[str, Any]) -> None:
    print(
        f"\n{title}: {summary['overall']['requests']:,} requests in {summary['seconds']} s "
        f"({summary['overall']['requests_per_second']} req/s)"
    )
    print(
        f"{'endpoint':<22}{'requests':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        "  statuses"
    )
    rows = [*summary["endpoints"].items(), ("ALL", summary["overall"])]
    for name, s in rows:
        print(
            f"{name:<22}{s['requests']:>10,}{s['p50_ms']:>9}{s['p95_ms']:>9}{s['p99_ms']:>9}"
            f"{s['max_ms']:>9}  {s['statuses']}"
        )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    url = urlsplit(args.url)
    headers = {"X-API-Key": args.key, "Accept": "application/json"}
    run = Run()
    clients = [
        asyncio.create_task(client(i, url, headers, run, args.think_ms / 1000, args.seed))
        for i in range(args.clients)
    ]
    await asyncio.sleep(args.warmup)
    run.measuring = True
    started = time.perf_counter()
    during_seconds: float | None = None
    process: subprocess.Popen[bytes] | None = None
    if args.during:
        process = subprocess.Popen(args.during, shell=True, stdout=subprocess.DEVNULL)
        run.during = True
    deadline = started + args.duration
    while True:
        await asyncio.sleep(0.05)
        now = time.perf_counter()
        if process is not None and run.during and process.poll() is not None:
            run.during = False
            during_seconds = now - started
        busy = process is not None and run.during
        if run.stop or now - started > MAX_SECONDS or (now >= deadline and not busy):
            break
    run.stop = True
    elapsed = time.perf_counter() - started
    await asyncio.gather(*clients, return_exceptions=True)
    if process is not None and process.poll() is None:
        process.terminate()
    report: dict[str, Any] = {
        "timeline": timeline(run.samples, started),
        "url": args.url,
        "clients": args.clients,
        "think_ms": args.think_ms,
        "during_command": args.during,
        "command_exit_code": process.returncode if process is not None else None,
        "transport_errors": dict(run.errors),
        "all": summarise(run.samples, elapsed),
    }
    if args.during:
        during = [s for s in run.samples if s.during]
        report["during_command"] = args.during
        report["while_command_ran"] = summarise(during, during_seconds or elapsed)
    return report


def loopback_only(value: str) -> str:
    host = urlsplit(value).hostname or ""
    try:
        ok = ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        ok = False
    if not ok or urlsplit(value).scheme != "http":
        raise argparse.ArgumentTypeError("only http:// URLs on a loopback address are allowed")
    return value


def bounded(low: float, high: float) -> Any:
    def parse(value: str) -> float:
        number = float(value)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return number

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", type=loopback_only, default="http://127.0.0.1:8000")
    parser.add_argument(
        "--key", default=os.environ.get("RETAIL_API_KEY"), help="API key (or RETAIL_API_KEY)."
    )
    parser.add_argument("--clients", type=lambda v: int(bounded(1, MAX_CLIENTS)(v)), default=50)
    parser.add_argument(
        "--duration",
        type=bounded(1, MAX_SECONDS),
        default=30.0,
        help="Seconds to measure (longer while --during runs).",
    )
    parser.add_argument("--warmup", type=bounded(0, 60), default=3.0)
    parser.add_argument(
        "--think-ms",
        type=bounded(0, 10_000),
        default=0.0,
        help="Mean pause between a client's requests (0: closed loop).",
    )
    parser.add_argument("--during", help="Shell command to run while measuring.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", dest="json_out", help="Write the report to this file.")
    args = parser.parse_args()
    if not args.key:
        parser.error("an API key is needed: --key or RETAIL_API_KEY")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    report = asyncio.run(main_async(args))
    print_table("all requests", report["all"])
    if "while_command_ran" in report:
        print_table("while the command ran", report["while_command_ran"])
        print(f"command exit code: {report['command_exit_code']}")
    if report["transport_errors"]:
        print(f"transport errors: {report['transport_errors']}")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
    failed = sum(
        n for code, n in report["all"]["overall"]["statuses"].items() if code.startswith("5")
    )
    sys.exit(1 if failed or report["transport_errors"] else 0)


if __name__ == "__main__":
    main()

"""Real local alert receivers for tests: an HTTP server (JSON webhook and Slack-style) and an
SMTP server (aiosmtpd), each on a free 127.0.0.1 port, started and stopped by the test."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from retail_lakehouse.benchmark.broker import free_port


@dataclass
class HttpReceiver:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: list[int] = field(default_factory=lambda: [200])  # mutable: tests switch it

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [r["body"] for r in self.received if r["path"] == path]


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.received.append({"path": self.path, "body": json.loads(body)})
            self.send_response(receiver.status[0])
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class SmtpReceiver:
    port: int
    messages: list[Message] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    """Every AUTH attempt (user, password), accepted or not."""


@contextmanager
def smtp_receiver(login: tuple[str, str] | None = None) -> Iterator[SmtpReceiver]:
    """``login``: the server offers AUTH (without TLS, on loopback) and accepts only this pair."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    receiver = SmtpReceiver(port=0)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            receiver.messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        pair = (data.login.decode(), data.password.decode())
        receiver.logins.append(pair)
        return AuthResult(success=pair == login)

    receiver.port = free_port()
    auth: dict[str, Any] = (
        {"authenticator": authenticate, "auth_require_tls": False} if login else {}
    )
    controller = Controller(Handler(), hostname="127.0.0.1", port=receiver.port, **auth)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, every: float = 0.2) -> Any:
    """Poll until ``condition()`` is truthy; fail the test with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def channels_toml(http: HttpReceiver, smtp: SmtpReceiver) -> str:
    return f"""
[alerts.channels.hook]
type = "webhook"
url = "{http.url}/hook"
[alerts.channels.slack]
type = "slack"
url = "{http.url}/slack"
[alerts.channels.mail]
type = "smtp"
host = "127.0.0.1"
port = {smtp.port}
sender = "retail@test.local"
to = ["team@test.local"]
"""

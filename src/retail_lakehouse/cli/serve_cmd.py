"""``retail serve``: the REST API and dashboard over the lake, in one process."""

from __future__ import annotations

import errno
import socket
from typing import Annotated

import typer

from retail_lakehouse.cli.context import UsageProblem, console, state_from

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = False,
) -> None:
    """Serve the REST API (docs at /docs) and the dashboard (at /) until interrupted.

    A lake folder that does not exist yet is served empty, with a note: an admin's upload
    (POST /api/v1/files) starts it. Make the first key with `retail keys create --role
    admin` on the same --lake."""
    try:
        import uvicorn

        from retail_lakehouse.serve.app import create_app
        from retail_lakehouse.serve.redact import uvicorn_log_config
    except ImportError as missing:
        raise UsageProblem(
            f"serving needs the [serve] extra ({missing.name} is missing): "
            "pip install 'retail-lakehouse[serve]'"
        ) from None
    state = state_from(ctx)
    listener = _listen(host, port)  # before anything is printed: a taken port is a usage error
    app = create_app(state.settings)
    console.print(
        f"serving lake [bold]{state.lake.root}[/] at http://{host}:{port}/ "
        f"(API docs at http://{host}:{port}/docs); Ctrl+C to stop"
    )
    if not state.lake_root.is_dir():
        console.print(
            f"[yellow]note:[/] there is no lake at {state.lake_root} yet: serving it empty "
            "until an upload starts it (check --lake if you meant another lake)",
            highlight=False,
        )
    if host not in _LOOPBACK:
        console.print(
            "[yellow]note:[/] listening beyond this machine without TLS: API keys travel in "
            "clear text; put a TLS-terminating proxy in front."
        )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_config=uvicorn_log_config(),  # keys in a query string are redacted from the log
        log_level="info",
        server_header=False,
        timeout_keep_alive=30,  # dashboards pause between clicks; keep their connection
    )
    uvicorn.Server(config).run(sockets=[listener])


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket uvicorn will serve on, bound here so a port in use (or a host that
    is not an address of this machine) is refused with exit code 2 before the server starts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise UsageProblem(f"cannot listen on {host}: {error.strerror}") from None
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
        listener.listen(2048)
    except OSError as error:
        listener.close()
        reason = "the port is in use" if error.errno == errno.EADDRINUSE else error.strerror
        raise UsageProblem(f"cannot listen on {host}:{port}: {reason}") from None
    listener.set_inheritable(True)
    return listener

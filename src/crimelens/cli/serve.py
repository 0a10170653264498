"""``crimelens serve``: the HTTP API and the dashboard on one store (uvicorn)."""

from __future__ import annotations

import errno
import socket
from typing import Annotated

import typer

from crimelens.cli._common import DbOpt, cli_settings, store_exists
from crimelens.errors import InvalidParameterError

__all__ = ["bind", "plain_http_warning", "register"]


def plain_http_warning(host: str) -> str | None:
    """What to tell whoever serves plain HTTP beyond this machine (None on a loopback address)."""
    import ipaddress

    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name: it may resolve to anything
    return (f"warning: listening on {host} over plain HTTP: API tokens, incidents and evidence cross the network "
            "unencrypted. Put a TLS reverse proxy in front (and pass its address with --forwarded-allow-ips), "
            "or keep the default 127.0.0.1 (docs/api.md).")


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` for the server; a catalogued error when it cannot be.

    Bound before anything is said or built, so a port in use (or one this user may not bind) is
    one clear error, not a banner for a server that never listened.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError) as exc:
        raise InvalidParameterError(f"--host {host!r}: got an address this machine cannot resolve ({exc}); "
                                    "expected an address to listen on, e.g. 127.0.0.1 or 0.0.0.0") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)  # claims the port: two bound sockets that do not listen may share it on Linux
    except OSError as exc:
        sock.close()
        why = ("another process is listening there (another crimelens serve?)" if exc.errno == errno.EADDRINUSE
               else exc.strerror or str(exc))
        raise InvalidParameterError(
            f"--port {port}: cannot listen on {host}:{port}: {why}; expected a free port this user may use "
            "(stop the other process, or choose another --port; ports below 1024 need privileges)") from None
    sock.set_inheritable(True)
    return sock


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        db: DbOpt = None,
        host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port, 1 to 65535.")] = 8000,
        operational: Annotated[bool, typer.Option(
            "--operational", help="Refuse every model use that names no active deployment (X-Deployment).")] = False,
        log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "warning",
        forwarded_allow_ips: Annotated[str | None, typer.Option(
            "--forwarded-allow-ips",
            help="Comma-separated addresses of reverse proxies whose X-Forwarded-For names the client (for the "
                 "per-address limits on calls without an account); default: $FORWARDED_ALLOW_IPS or 127.0.0.1.")] = None,
    ) -> None:
        """Serve the JSON API (OpenAPI at /openapi.json) and the dashboard at http://HOST:PORT/."""
        import uvicorn

        from crimelens.api import create_app

        settings = cli_settings(db)
        sock = bind(host, port)  # a port in use is refused before anything is built or said
        new = not store_exists(settings)
        web = create_app(settings, require_deployment=operational, warm=True)

        def listening() -> None:  # said once the server listens, not before
            typer.echo(f"crimelens dashboard: http://{host}:{port}/  (API: http://{host}:{port}/openapi.json; "
                       f"store {settings.db})", err=True)
            if new:
                typer.echo(f"note: {settings.db} did not exist; this is a new, empty store. If you meant an existing "
                           "one, stop and check --db (or CRIMELENS_DB); to fill this one, upload a file on the "
                           "dashboard's Incidents page or POST /api/datasets/NAME/files.", err=True)
            warning = plain_http_warning(host)
            if warning:
                typer.echo(warning, err=True)

        class Server(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets=sockets)
                if not self.should_exit:
                    listening()

        config = uvicorn.Config(web, host=host, port=port, log_level=log_level, proxy_headers=True,
                                forwarded_allow_ips=forwarded_allow_ips)
        server = Server(config)
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
        if not server.started:
            raise typer.Exit(1)  # the application did not start (uvicorn logged why)

"""``crimelens serve``: the HTTP API and the dashboard on one store (uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from crimelens.cli._common import DbOpt, cli_settings, store_exists

__all__ = ["plain_http_warning", "register"]


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


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        db: DbOpt = None,
        host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
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
        new = not store_exists(settings)
        web = create_app(settings, require_deployment=operational, warm=True)
        typer.echo(f"crimelens dashboard: http://{host}:{port}/  (API: http://{host}:{port}/openapi.json; "
                   f"store {settings.db})", err=True)
        if new:
            typer.echo(f"note: {settings.db} did not exist; this is a new, empty store. If you meant an existing "
                       "one, stop and check --db (or CRIMELENS_DB); to fill this one, upload a file on the "
                       "dashboard's Incidents page or POST /api/datasets/NAME/files.", err=True)
        warning = plain_http_warning(host)
        if warning:
            typer.echo(warning, err=True)
        uvicorn.run(web, host=host, port=port, log_level=log_level, proxy_headers=True,
                    forwarded_allow_ips=forwarded_allow_ips)

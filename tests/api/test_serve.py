"""``crimelens serve`` runs the app with uvicorn on loopback: the schema, a page and a refused call."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def test_serve_answers_on_loopback(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("crimelens")
    proc = subprocess.Popen([str(exe), "serve", "--db", str(tmp_path / "s.duckdb"), "--port", str(port)],
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                schema = httpx.get(f"{base}/openapi.json", timeout=2.0)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "crimelens serve did not start"
                time.sleep(0.2)
        assert schema.status_code == 200 and "/api/forecasts" in schema.json()["paths"]
        page = httpx.get(f"{base}/forecast", timeout=10.0)
        assert page.status_code == 200 and "/static/vendor/leaflet/leaflet.js" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "http://" not in page.text and "https://" not in page.text  # nothing to fetch from outside
        leaflet = httpx.get(f"{base}/static/vendor/leaflet/leaflet.js", timeout=10.0)
        assert leaflet.status_code == 200 and "Leaflet 1.9.4" in leaflet.text[:400]
        refused = httpx.get(f"{base}/api/forecasts", timeout=10.0)
        assert refused.status_code == 401 and refused.json()["type"] == "NotAuthenticatedError"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in err
    # the path named no store: the server says it made a new, empty one, in case --db was mistyped
    assert "s.duckdb did not exist; this is a new, empty store" in err and "check --db" in err


def test_serving_beyond_loopback_warns_about_plain_http() -> None:
    from crimelens.cli.serve import plain_http_warning

    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert plain_http_warning(host) is None, host
    for host in ("0.0.0.0", "::", "10.1.2.3", "crimelens.example.org"):
        warning = plain_http_warning(host)
        assert warning is not None and f"listening on {host} over plain HTTP" in warning
        assert "TLS reverse proxy" in warning

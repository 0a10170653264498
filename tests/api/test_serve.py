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

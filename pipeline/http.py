"""The service's HTTP endpoints: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

``/healthz`` answers 200 while the service's loop is alive (it polled recently), ``/readyz``
200 while it has partitions assigned and their state restored; otherwise 503. The server
binds to ``ServeSettings.metrics_host`` (127.0.0.1 unless configured).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["Probe", "start_http_server"]

Probe = Callable[[], bool]


def start_http_server(
    host: str, port: int, registry: CollectorRegistry, alive: Probe, ready: Probe
) -> ThreadingHTTPServer:
    """Serve the endpoints from a daemon thread; ``shutdown()`` the result to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                ok = (alive if path == "/healthz" else ready)()
                body = b"ok\n" if ok else b"not ready\n" if path == "/readyz" else b"stalled\n"
                self._send(200 if ok else 503, body, "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: probes would flood the log."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server

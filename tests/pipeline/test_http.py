"""/metrics, /healthz and /readyz on a local port."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from pipeline.http import start_http_server


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.parametrize(("alive", "ready"), [(True, True), (True, False), (False, False)])
def test_probes_answer_200_or_503(alive, ready):
    registry = CollectorRegistry()
    Counter("things", "Things.", registry=registry).inc()
    server = start_http_server("127.0.0.1", 0, registry, lambda: alive, lambda: ready)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert server.server_address[0] == "127.0.0.1"
        assert _get(base + "/healthz")[0] == (200 if alive else 503)
        assert _get(base + "/readyz")[0] == (200 if ready else 503)
        status, text = _get(base + "/metrics")
        assert status == 200 and "things_total 1.0" in text
        assert _get(base + "/nope")[0] == 404
    finally:
        server.shutdown()
        server.server_close()

"""End to end: simulator -> Kafka -> serve -> Prometheus (real, with the project's config and
rules) -> every PromQL expression of the Grafana dashboard returns data, and the machine in
fault is what the alert panel's query and the alerting rules show.

Set ``LINEWATCH_DASHBOARD_PNG=path.png`` to also keep the picture of the dashboard rendered
from the same queries (``scripts/render-dashboard`` does this for the README).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner
from confluent_kafka import Producer

from producers.cli import simulate
from tests.integration.kafka_io import ServiceProcess, write_config
from tests.integration.prometheus_process import PrometheusProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
FAULTY = "asset-003"
#: Simulated seconds per wall second; scripts/render-dashboard runs slower for a longer picture.
SPEED = float(os.environ.get("LINEWATCH_E2E_SPEED", "20"))
#: Seconds to keep the stack running after the checks, before rendering the picture.
HOLD_S = float(os.environ.get("LINEWATCH_E2E_HOLD_S", "0"))
T = TypeVar("T")


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard_targets() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the dashboard."""
    model = json.loads((GRAFANA / "dashboards" / "linewatch.json").read_text(encoding="utf-8"))
    return [
        (panel["title"], target["expr"])
        for panel in model["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def simulator_serves_metrics() -> bool:
    """Whether ``linewatch simulate`` has ``--metrics-port`` (producer metrics, issue 3)."""
    return "--metrics-port" in CliRunner().invoke(simulate, ["--help"]).output


def wait_for(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def free_local_port() -> int:
    from pipeline.broker.process import free_port

    return free_port("127.0.0.1")


def start_simulator(config: Path, metrics_port: int | None) -> subprocess.Popen[bytes]:
    """A fleet of 10 with a bearing wearing on asset-003, timestamps catching up with now.

    Its stderr goes to ``simulator.stderr`` beside the config: a pipe nobody reads could fill
    and block it."""
    args = [sys.executable, "-m", "pipeline", "simulate", "--config", str(config)]
    args += ["--assets", "10", "--rate", "100", "--seed", "7", "--speed", f"{SPEED:g}"]
    args += ["--fault", f"{FAULTY}:bearing_wear@120"]
    args += ["--start-ts", str(int(time.time() * 1000) - 120_000)]
    if metrics_port is not None:
        args += ["--metrics-port", str(metrics_port)]
    with (config.parent / "simulator.stderr").open("wb") as stderr:
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stderr)


def send_bad_messages(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in (b"{not json", b'{"asset": "asset-001", "ts": 5}', b"[]"):
        producer.produce(topic, key=b"asset-001", value=value)
    assert producer.flush(30) == 0


@pytest.fixture
def stack(kafka_broker, topic_settings, tmp_path) -> Iterator[dict[str, Any]]:
    """Service, simulator and Prometheus running against the test broker."""
    config = write_config(tmp_path / "linewatch.toml", kafka_broker.bootstrap, topic_settings)
    send_bad_messages(kafka_broker.bootstrap, topic_settings.readings)
    service = ServiceProcess(config)
    processes: list[Any] = [service]
    try:
        service_target = service.metrics_url().removeprefix("http://").removesuffix("/metrics")
        targets = {"linewatch": service_target}
        producer_port = free_local_port() if simulator_serves_metrics() else None
        if producer_port is not None:
            targets["simulator"] = f"127.0.0.1:{producer_port}"
        prometheus = PrometheusProcess(tmp_path, targets)
        processes.append(prometheus)
        prometheus.wait_ready()
        simulator = start_simulator(config, producer_port)
        processes.append(simulator)
        yield {"prometheus": prometheus, "service": service, "producers": producer_port}
    finally:
        errors = [error for process in reversed(processes) if (error := _stop(process))]
        if errors:
            log = tmp_path / "simulator.stderr"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(none)"
            raise AssertionError(f"the stack did not stop; simulator's stderr:\n{tail}") from (
                errors[0]
            )


def _stop(process: Any) -> BaseException | None:
    """Stop one process of the stack; kill it if it does not stop. Returns what went wrong.

    The simulator flushes what it holds on SIGTERM (for up to 30 s), so it gets 60 s."""
    try:
        if isinstance(process, subprocess.Popen):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        else:
            process.stop()
    except Exception as exc:  # keep stopping the others
        if isinstance(process, subprocess.Popen):
            process.kill()
            process.wait()
        return exc
    return None


class TestDashboardAgainstPrometheus:
    def test_every_dashboard_query_returns_data_and_the_fault_shows(self, stack, tmp_path):
        prometheus: PrometheusProcess = stack["prometheus"]
        alert_panel = load(GRAFANA / "dashboard.py").ALERT_PANEL
        (alert_expr,) = [expr for title, expr in dashboard_targets() if title == alert_panel]

        in_alarm = wait_for(
            lambda: {s["metric"]["asset"] for s in prometheus.query(alert_expr)},
            timeout_s=120,
            what=f"{FAULTY} in the alert panel",
        )
        assert FAULTY in in_alarm, in_alarm

        checked = self._every_query_returns_data(prometheus, stack["producers"] is not None)
        assert len(checked) >= 20

        firing = wait_for(
            lambda: [
                a
                for a in prometheus.api("alerts")["alerts"]
                if a["labels"]["alertname"] == "LinewatchAssetInAlarm" and a["state"] == "firing"
            ],
            timeout_s=30,
            what="the LinewatchAssetInAlarm rule to fire",
        )
        assert FAULTY in {a["labels"]["asset"] for a in firing}
        assets = prometheus.api("label/asset/values", **{"match[]": "linewatch_asset_score"})
        assert FAULTY in assets and len(assets) == 10  # the $asset variable's choices
        time.sleep(HOLD_S)
        self._render(prometheus, tmp_path)

    @staticmethod
    def _every_query_returns_data(prometheus: PrometheusProcess, producers: bool) -> list[str]:
        expand = load(GRAFANA / "render.py").expand
        exprs = [expand(expr, FAULTY, "30s") for _, expr in dashboard_targets()]
        if not producers:  # `simulate --metrics-port` is not there yet (issue 3)
            exprs = [e for e in exprs if "linewatch_producer_" not in e]
        missing = exprs
        deadline = time.monotonic() + 60
        while missing and time.monotonic() < deadline:
            missing = [expr for expr in missing if not prometheus.query(expr)]
            time.sleep(1)
        assert not missing, f"no data for: {missing}"
        return exprs

    @staticmethod
    def _render(prometheus: PrometheusProcess, tmp_path: Path) -> None:
        render = load(GRAFANA / "render.py").render
        minutes = float(os.environ.get("LINEWATCH_DASHBOARD_MINUTES", "1.5"))
        png = render(prometheus.url, tmp_path / "dashboard.png", FAULTY, minutes)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 20_000
        keep = os.environ.get("LINEWATCH_DASHBOARD_PNG")
        if keep:
            shutil.copy(png, keep)


def test_rewritten_config_keeps_the_rules_and_points_at_the_test_ports(tmp_path):
    from tests.integration.prometheus_process import rewrite_config

    path = rewrite_config(tmp_path / "p.yml", {"linewatch": "127.0.0.1:1234"}, 9999)
    text = path.read_text(encoding="utf-8")
    assert re.search(r"- 127\.0\.0\.1:1234", text) and "simulator" not in text
    assert str(ROOT / "deploy" / "prometheus" / "linewatch-alerts.yml") in text

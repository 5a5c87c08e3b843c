"""``linewatch serve``: the long-lived consumer service."""

from __future__ import annotations

import faulthandler
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import click
from prometheus_client import CollectorRegistry

from pipeline.app import Service
from pipeline.cli_options import bootstrap_option, config_option, metrics_options
from pipeline.errors import PipelineError
from pipeline.http import start_http_server
from pipeline.logs import configure_logging
from pipeline.messages import Alert
from pipeline.metrics import ServiceMetrics
from pipeline.settings import Settings

__all__ = ["format_alert", "run_service", "serve", "stop_on_signals"]

_STALL_S = 120.0
"""/healthz fails when the service loop has not polled for this long."""


@click.command()
@config_option
@bootstrap_option
@metrics_options("9108")
@click.option("--group-id", default=None, help="Kafka consumer group. [default: linewatch]")
def serve(
    config_file: Path | None,
    bootstrap_servers: str | None,
    metrics_port: int | None,
    metrics_host: str | None,
    group_id: str | None,
) -> None:
    """Consume sensor readings, score every one, and publish scores, alerts and dead letters.

    Keeps one detector per asset (model.kind in the settings; mahalanobis by default). For every
    reading on sensor.readings it publishes a Score to sensor.scores, one Alert to
    sensor.alerts per change of an asset's alarm state (also printed here, one line each), and
    sends messages it cannot decode to sensor.deadletter with the reason in headers. Outputs,
    signed model snapshots and offsets commit together, in one Kafka transaction per commit
    interval (serve.processing = "exactly_once", the default) or flush-then-commit
    ("at_least_once"). Serves /metrics, /healthz and /readyz. Runs until SIGINT or SIGTERM,
    then commits and exits.

    Example: linewatch serve --metrics-port 9108
    """
    serve_overrides = {
        key: value
        for key, value in {
            "metrics_port": metrics_port,
            "metrics_host": metrics_host,
            "group_id": group_id,
        }.items()
        if value is not None
    }
    configure_logging()
    _dump_stacks_on_sigusr1()
    try:
        settings = Settings.load(
            config_file, bootstrap_servers=bootstrap_servers, serve=serve_overrides
        )
        run_service(settings, stop_on_signals())
    except (PipelineError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


def run_service(settings: Settings, stop: threading.Event) -> None:
    """Serve /metrics, /healthz and /readyz, print alerts, and run the service until ``stop``."""
    registry = CollectorRegistry()
    serve = settings.serve
    metrics = ServiceMetrics(registry, serve.metrics_max_assets, serve.metrics_max_channels)
    services: list[Service] = []
    stall_s = max(_STALL_S, 2 * settings.state.restore_timeout_s)

    def alive() -> bool:
        return not services or time.monotonic() - services[0].heartbeat < stall_s

    def ready() -> bool:
        return bool(services) and services[0].ready.is_set()

    server = start_http_server(
        settings.serve.metrics_host, settings.serve.metrics_port, registry, alive, ready
    )
    try:
        host, port = str(server.server_address[0]), server.server_address[1]
        click.echo(f"linewatch serve: metrics at http://{host}:{port}/metrics", err=True)
        services.append(Service(settings, metrics, on_alert=_print_alert))
        services[0].run(stop)
    finally:
        server.shutdown()
        server.server_close()


def _print_alert(alert: Alert) -> None:
    click.echo(format_alert(alert))


def format_alert(alert: Alert) -> str:
    """One human-readable line for an alert state change."""
    channels = ",".join(alert.channels) or "-"
    return (
        f"ALERT {alert.state.upper():7} {alert.asset} severity={alert.severity} "
        f"score={alert.score:.3f} channels={channels} ts={alert.ts} id={alert.alert_id}"
    )


def stop_on_signals() -> threading.Event:
    """An event that SIGINT and SIGTERM set, so the service can finish its batch and commit."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


def _dump_stacks_on_sigusr1() -> None:
    """``kill -USR1 PID`` prints every thread's stack (when stderr is a real file)."""
    try:
        faulthandler.register(signal.SIGUSR1)
    except (AttributeError, OSError, ValueError):  # stderr without a file descriptor
        pass

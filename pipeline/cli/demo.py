"""``linewatch demo``: broker, topics, a simulated fleet with one faulty asset, and the service."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import click

from pipeline.broker.local import BrokerConfig, LocalBroker, default_data_dir
from pipeline.cli.serve import run_service, stop_on_signals
from pipeline.errors import PipelineError
from pipeline.logs import configure_logging
from pipeline.settings import Settings
from pipeline.topics import create_topics

__all__ = ["demo"]


@click.command()
@click.option(
    "--port",
    type=int,
    default=9092,
    show_default=True,
    help="Port of the local broker (started unless one already runs).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Broker data directory. [default: ~/.local/share/linewatch/broker]",
)
@click.option("--assets", type=int, default=10, show_default=True, help="Simulated assets.")
@click.option(
    "--rate",
    type=float,
    default=500.0,
    show_default=True,
    help="Readings per second across the fleet.",
)
@click.option(
    "--fault",
    default="asset-003:bearing_wear@30",
    show_default=True,
    help="The fault to inject, ASSET:KIND@SECONDS.",
)
@click.option(
    "--duration",
    type=float,
    default=None,
    help="Stop after this many seconds (default: run until Ctrl-C).",
)
@click.option(
    "--metrics-port",
    type=int,
    default=9108,
    show_default=True,
    help="Port of the service's /metrics endpoint (0 picks a free one).",
)
@click.option("--keep-broker", is_flag=True, help="Leave the broker running at the end.")
def demo(
    port: int,
    data_dir: Path | None,
    assets: int,
    rate: float,
    fault: str,
    duration: float | None,
    metrics_port: int,
    keep_broker: bool,
) -> None:
    """Run the whole pipeline locally and print alerts as they are raised.

    Starts the local Kafka broker (fetching its jars with Maven the first time), creates the
    topics, starts the simulator with one faulty asset in a child process, and runs the service
    here: every alert is printed as one line, the metrics URL is printed at start. Ctrl-C stops
    everything cleanly (the broker too, unless it was already running or --keep-broker).

    Example: linewatch demo --assets 10 --fault asset-003:bearing_wear@30
    """
    configure_logging("WARNING")
    config = BrokerConfig(port=port, data_dir=data_dir or default_data_dir())
    broker = LocalBroker(config)
    started_broker = False
    simulator: subprocess.Popen[bytes] | None = None
    try:
        if not broker.status().running:
            click.echo(f"starting the local Kafka broker on {config.bootstrap} ...", err=True)
            broker.start()
            started_broker = True
        settings = Settings.load(
            None, bootstrap_servers=config.bootstrap, serve={"metrics_port": metrics_port}
        )
        create_topics(settings.client_config(), settings.topics)
        simulator = _start_simulator(config.bootstrap, assets, rate, fault, duration)
        click.echo(f"simulating {assets} assets at {rate:g} readings/s, fault {fault}", err=True)
        stop = stop_on_signals()
        if duration is not None:
            _stop_later(stop, duration + 5.0)
        run_service(settings, stop)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=30)
        if started_broker and not keep_broker:
            broker.stop()


def _start_simulator(
    bootstrap: str, assets: int, rate: float, fault: str, duration: float | None
) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "pipeline",
        "simulate",
        "--assets",
        str(assets),
        "--rate",
        str(rate),
        "--seed",
        "0",
        "--fault",
        fault,
        "--bootstrap-servers",
        bootstrap,
    ]
    if duration is not None:
        argv += ["--duration", str(duration)]
    return subprocess.Popen(argv)


def _stop_later(stop: threading.Event, seconds: float) -> None:
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()

"""`linewatch broker start|stop|status`: the local single-node Kafka for development and tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from pipeline.broker.local import (
    KAFKA_VERSION,
    SCRAM_MECHANISM,
    BrokerConfig,
    BrokerStatus,
    LocalBroker,
)
from pipeline.errors import BrokerAlreadyRunning, PipelineError

__all__ = ["broker"]

_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LINEWATCH_BROKER_DATA_DIR",
    default=None,
    help="Broker data, configuration, pid file and log "
    "[env LINEWATCH_BROKER_DATA_DIR; default ~/.local/share/linewatch/broker].",
)


@click.group()
def broker() -> None:
    """Run a local single-node Apache Kafka (KRaft) for development and tests.

    The official Kafka jars are fetched once with Maven into ~/.cache/linewatch (or
    LINEWATCH_CACHE_DIR) and run with the JDK; `java` (17+) and, for the first start, `mvn` must
    be on PATH. Topics are not created automatically: run `linewatch topics create`.
    """


@broker.command()
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=9092,
    show_default=True,
    help="Client port on 127.0.0.1 (the controller gets a free port of its own).",
)
@_data_dir_option
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LINEWATCH_CACHE_DIR",
    default=None,
    help="Jar cache root, shared by all data dirs "
    "[env LINEWATCH_CACHE_DIR; default ~/.cache/linewatch].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=90.0,
    show_default=True,
    help="Seconds to wait for the broker to answer before giving up (and stopping it).",
)
@click.option(
    "--sasl-username",
    envvar="LINEWATCH_BROKER_SASL_USERNAME",
    default=None,
    help="Require SASL/SCRAM-SHA-256 on the client port, with this user "
    "[env LINEWATCH_BROKER_SASL_USERNAME; default: no authentication].",
)
@click.option(
    "--sasl-password",
    envvar="LINEWATCH_BROKER_SASL_PASSWORD",
    default=None,
    help="The SCRAM user's password [env LINEWATCH_BROKER_SASL_PASSWORD].",
)
def start(
    port: int,
    data_dir: Path | None,
    cache_dir: Path | None,
    timeout: float,
    sasl_username: str | None,
    sasl_password: str | None,
) -> None:
    """Start the broker in the background and return once it answers.

    The first start fetches the jars and formats the data dir. Prints the bootstrap address to
    use as LINEWATCH_BOOTSTRAP_SERVERS. If a broker already runs on the data dir, says so and
    exits 0. With --sasl-username/--sasl-password the client port requires SCRAM-SHA-256; the
    user is created when the data dir is formatted, so use a fresh data dir for it. Clients
    then need LINEWATCH_KAFKA='{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism":
    "SCRAM-SHA-256", "sasl.username": ..., "sasl.password": ...}'.
    """
    try:
        config = _config(data_dir, port=port, cache_dir=cache_dir)
        config = replace(config, sasl_username=sasl_username, sasl_password=sasl_password)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from exc
    local = LocalBroker(config)
    if not local.has_jars():
        click.echo(f"fetching the Kafka {KAFKA_VERSION} jars with Maven (once) ...", err=True)
    try:
        status = local.start(timeout_s=timeout)
    except BrokerAlreadyRunning:
        running = local.status()
        click.echo(f"already running on {running.bootstrap} (pid {running.pid}); not started again")
        _echo_paths(running)
        return
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Kafka {KAFKA_VERSION} broker running on {status.bootstrap} (pid {status.pid})")
    if config.sasl:
        click.echo(f"  clients must authenticate: SASL_PLAINTEXT, {SCRAM_MECHANISM}")
    _echo_paths(status)


@broker.command()
@_data_dir_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
def stop(data_dir: Path | None, timeout: float) -> None:
    """Stop the broker (SIGTERM, then SIGKILL after the timeout). Data and topics are kept."""
    local = LocalBroker(_config(data_dir))
    try:
        stopped = local.stop(timeout_s=timeout)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from exc
    if stopped:
        click.echo(f"broker stopped (data dir {local.config.data_dir})")
    else:
        click.echo(f"no broker running on data dir {local.config.data_dir}; nothing to stop")


@broker.command()
@_data_dir_option
def status(data_dir: Path | None) -> None:
    """Say whether the broker of the data dir runs, with its address, pid and log file."""
    current = LocalBroker(_config(data_dir)).status()
    if current.running:
        click.echo(f"running on {current.bootstrap} (pid {current.pid})")
    else:
        click.echo("not running")
    _echo_paths(current)


def _config(data_dir: Path | None, port: int = 9092, cache_dir: Path | None = None) -> BrokerConfig:
    config = BrokerConfig(port=port)
    if data_dir is not None:
        config = replace(config, data_dir=data_dir.expanduser().absolute())
    if cache_dir is not None:
        config = replace(config, cache_dir=cache_dir.expanduser().absolute())
    return config


def _echo_paths(status: BrokerStatus) -> None:
    click.echo(f"  data dir: {status.data_dir}")
    click.echo(f"  log:      {status.log_path}")

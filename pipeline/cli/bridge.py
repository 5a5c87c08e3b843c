"""``linewatch bridge mqtt|opcua``: plant protocols to Kafka readings.

Examples
--------
>>> from click.testing import CliRunner
>>> result = CliRunner().invoke(bridge, ["mqtt", "--topic", "plant/{line}/{channel}"])
>>> result.exit_code, "has no {asset} level" in result.output
(2, True)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from prometheus_client import CollectorRegistry

from pipeline.cli_options import bootstrap_option, config_option, metrics_options
from pipeline.errors import PipelineError
from pipeline.logs import configure_logging
from pipeline.settings import Settings
from producers.bridges.mqtt_messages import TopicTemplate
from producers.bridges.sink import BridgeSink
from producers.metrics import ProducerMetrics, serve_metrics
from producers.pacing import stop_on_signals

__all__ = ["bridge"]


@click.group("bridge")
def bridge() -> None:
    """Gateways from plant protocols (MQTT, OPC UA) to the readings topic.

    Each one turns source messages into Readings keyed by asset and publishes them with an
    idempotent Kafka producer; input that cannot become a reading goes to the dead-letter
    topic with the reason in headers. Runs until SIGINT or SIGTERM, then flushes.
    """


def _check_template(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            TopicTemplate.parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


@bridge.command("mqtt")
@config_option
@bootstrap_option
@click.option("--host", default=None, help="MQTT broker host. [default: 127.0.0.1]")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="[default: 1883]")
@click.option(
    "--topic",
    default=None,
    callback=_check_template,
    help="Topic template: {asset} required; with {channel} each payload is one number, "
    "without it one JSON object per asset. [default: plant/{line}/{asset}/{channel}]",
)
@click.option(
    "--client-id",
    default=None,
    help="MQTT client id; the broker keeps this id's session. [default: linewatch-bridge]",
)
@click.option("--username", default=None, help="MQTT user (password: LINEWATCH_MQTT__PASSWORD).")
@click.option(
    "--reconnect-max-delay",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Longest wait between reconnect attempts, seconds. [default: 30]",
)
@metrics_options("off")
def mqtt(
    config_file: Path | None,
    bootstrap_servers: str | None,
    host: str | None,
    port: int | None,
    topic: str | None,
    client_id: str | None,
    username: str | None,
    reconnect_max_delay: float | None,
    metrics_port: int | None,
    metrics_host: str | None,
) -> None:
    """Subscribe to an MQTT broker (QoS 1, persistent session) and publish readings to Kafka.

    \b
    Topic templates:
      plant/{line}/{asset}/{channel}  payload "71.5": one Reading per message, one channel,
                                      stamped with the time the bridge received it
      plant/{line}/{asset}            payload {"ts": ..., "values": {"temp_c": 71.5, ...}}

    Each MQTT message is acknowledged only after Kafka acknowledged its reading, so nothing is
    lost across reconnects or restarts (at-least-once). Malformed payloads go to the
    dead-letter topic (headers error.reason, error.message, source.topic = the MQTT topic).

    Example: linewatch bridge mqtt --host 127.0.0.1 --topic 'plant/{line}/{asset}/{channel}'
    """
    from producers.bridges.mqtt import MqttBridge

    overrides = {
        "host": host,
        "port": port,
        "topic": topic,
        "client_id": client_id,
        "username": username,
        "reconnect_max_delay_s": reconnect_max_delay,
    }
    settings = _load(config_file, bootstrap_servers, metrics_port, metrics_host, mqtt=overrides)
    try:
        TopicTemplate.parse(settings.mqtt.topic)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    where = f"mqtt://{settings.mqtt.host}:{settings.mqtt.port} {settings.mqtt.topic}"
    _run(settings, "mqtt", where, lambda sink: MqttBridge(settings.mqtt, sink).run)


def _load(
    config_file: Path | None,
    bootstrap_servers: str | None,
    metrics_port: int | None,
    metrics_host: str | None,
    **sections: dict[str, Any],
) -> Settings:
    bridge_flags = {"metrics_port": metrics_port, "metrics_host": metrics_host}
    flags = {
        name: {key: value for key, value in values.items() if value is not None}
        for name, values in {**sections, "bridge": bridge_flags}.items()
    }
    try:
        return Settings.load(config_file, bootstrap_servers=bootstrap_servers, **flags)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None


def _run(
    settings: Settings,
    source: str,
    where: str,
    make: Callable[[BridgeSink], Callable[[threading.Event], None]],
) -> None:
    """Start metrics and the sink, run the bridge until a signal, print a summary."""
    configure_logging()
    registry = CollectorRegistry()
    metrics = ProducerMetrics(registry, producer=source)
    try:
        with (
            stop_on_signals() as stop,
            serve_metrics(
                registry, settings.bridge.metrics_host, settings.bridge.metrics_port
            ) as url,
        ):
            topics = settings.topics
            sink = BridgeSink(
                settings.client_config(), topics.readings, topics.deadletter, metrics, source
            )
            note = f"; metrics at {url}" if url else ""
            click.echo(f"linewatch bridge {source}: {where} -> {topics.readings}{note}", err=True)
            try:
                make(sink)(stop)
            finally:
                click.echo(
                    f"linewatch bridge {source}: {sink.delivered} messages delivered, "
                    f"{sink.failed} delivery errors",
                    err=True,
                )
    except (PipelineError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@bridge.command("opcua")
@config_option
@bootstrap_option
@click.option(
    "--endpoint",
    default=None,
    help="OPC UA server endpoint URL. [default: opc.tcp://127.0.0.1:4840]",
)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="YAML or TOML file: nodes keyed by node id, each with asset, channel (and line).",
)
@click.option(
    "--publishing-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Subscription publishing interval, milliseconds. [default: 500]",
)
@metrics_options("off")
def opcua(
    config_file: Path | None,
    bootstrap_servers: str | None,
    endpoint: str | None,
    mapping_file: Path,
    publishing_interval: float | None,
    metrics_port: int | None,
    metrics_host: str | None,
) -> None:
    """Subscribe to the OPC UA nodes named in a mapping file and publish readings to Kafka.

    \b
    mapping.yaml:
      nodes:
        "ns=2;s=Pump1.BearingTemp": {asset: pump-01, channel: bearing_temp_c, line: l1}
        "ns=2;i=1002":              {asset: pump-01, channel: speed_rpm}

    Every change of a node's value becomes one Reading with that channel, stamped with the
    value's source timestamp. Nodes that cannot be read are reported and skipped; bad values
    (bad status, not a number) go to the dead-letter topic with source.topic = the node id.

    Example: linewatch bridge opcua --endpoint opc.tcp://plc:4840 --mapping mapping.yaml
    """
    from producers.bridges.opcua import OpcuaBridge
    from producers.bridges.opcua_mapping import load_mapping

    logging.getLogger("asyncua").setLevel(logging.WARNING)  # it logs every notification at INFO

    try:
        mapping = load_mapping(mapping_file)
    except PipelineError as exc:
        raise click.BadParameter(str(exc), param_hint="'--mapping'") from None
    overrides = {"endpoint": endpoint, "publishing_interval_ms": publishing_interval}
    settings = _load(config_file, bootstrap_servers, metrics_port, metrics_host, opcua=overrides)
    where = f"{settings.opcua.endpoint} ({len(mapping)} nodes)"
    _run(settings, "opcua", where, lambda sink: OpcuaBridge(settings.opcua, mapping, sink).run)

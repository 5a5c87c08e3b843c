"""``linewatch simulate``: a fleet of machines with faults and ground-truth labels, to Kafka or CSV.

Examples
--------
>>> from click.testing import CliRunner
>>> result = CliRunner().invoke(simulate, ["--fault", "asset-003:melting@30"])
>>> result.exit_code, "unknown fault kind 'melting'" in result.output
(2, True)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
from prometheus_client import CollectorRegistry

from pipeline.cli_options import bootstrap_option, config_option, metrics_options
from pipeline.errors import ConfigError, KafkaTransportError
from pipeline.messages import Label
from producers.machines import MACHINE_TYPES
from producers.metrics import ProducerMetrics, serving_metrics
from producers.pacing import Pacer, stop_on_signals
from producers.partitioning import CRC32_PARTITIONERS, phases_by_partition
from producers.publish import KafkaPublisher, Publisher
from producers.records import Encoded
from producers.simulator import (
    FAULT_DURATION_S,
    REPAIR_S,
    Disturbances,
    FaultSpec,
    Fleet,
    Record,
    interval_for_rate,
)
from producers.sinks import open_sink

__all__ = ["simulate"]


def _parse_faults(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[FaultSpec]:
    try:
        return [FaultSpec.parse(text) for text in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _parse_types(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in MACHINE_TYPES]
    if unknown or not names:
        choices = ", ".join(MACHINE_TYPES)
        raise click.BadParameter(f"unknown machine type(s) {unknown}; choose from {choices}")
    return names


def _fault_help() -> str:
    kinds = ", ".join(
        f"{kind} ({'fails after ' + format(d, 'g') + ' s' if d else 'persists'})"
        for kind, d in FAULT_DURATION_S.items()
    )
    return f"Inject a fault (repeatable). KIND is one of: {kinds}."


@dataclass(slots=True)
class _Tally:
    readings: int = 0
    labels: int = 0


@click.command(
    "simulate",
    epilog="""\b
Examples:
  linewatch simulate --assets 20 --rate 200 --fault asset-003:bearing_wear@30
  linewatch simulate --assets 4 --rate 40 --duration 120 --speed 0 \\
      --start-ts 1700000000000 --fault asset-001:overheating@60 --out run.csv
  linewatch simulate --assets 8 --rate 8 --duration 86400 --time-scale 3600 \\
      --shift-hours 8 --fault asset-002:cavitation@30000 --out day.parquet
""",
)
@click.option(
    "--assets",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Number of machines, named asset-000, asset-001, ...",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=100.0,
    show_default=True,
    help="Readings per second across the whole fleet; each asset reads every ASSETS/RATE seconds.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Simulated seconds to produce.  [default: until Ctrl-C]",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Random seed; the same seed and --start-ts give the same stream (to Kafka, with the "
    "same --order and partitions).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="ASSET:KIND@SECONDS",
    callback=_parse_faults,
    help=_fault_help(),
)
@click.option(
    "--speed",
    "--time-scale",
    "speed",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Time compression: 1 is real time, 3600 is a simulated hour a second, 0 is as fast "
    "as possible. --rate counts simulated seconds.",
)
@click.option(
    "--start-ts",
    type=click.IntRange(min=0),
    default=None,
    metavar="MS",
    help="Epoch milliseconds of the first reading.  [default: now]",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write readings to FILE and labels to FILE.labels.* beside it instead of Kafka: "
    "Parquet if FILE ends in .parquet or .pq, else CSV.",
)
@click.option(
    "--machine-types",
    callback=_parse_types,
    default=None,
    metavar="TYPE[,TYPE...]",
    help=f"Machine types cycled over the assets, from: {', '.join(MACHINE_TYPES)}.  [default: all]",
)
@click.option(
    "--shift-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Run in shifts of this many simulated hours, each with its own load level and "
    "ending in a shut-down and start-up.  [default: steady operation]",
)
@click.option(
    "--repair-time",
    type=click.FloatRange(min=0),
    default=REPAIR_S,
    show_default=True,
    metavar="SECONDS",
    help="Simulated seconds from a failure to its maintenance label and restart.",
)
@click.option(
    "--dropout",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.0,
    show_default=True,
    help="Probability that a reading is lost (its seq is skipped).",
)
@click.option(
    "--glitch",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.0,
    show_default=True,
    help="Probability that a reading has one channel glitch to 0 or 8x its value.",
)
@click.option(
    "--order",
    type=click.Choice(["partition", "asset"]),
    default="partition",
    show_default=True,
    help="Order of the assets' readings within each interval when sending to Kafka: "
    "'partition' sends the assets of one partition of the readings topic one after another, "
    "so that librdkafka, which puts one partition in each produce request, sends fewer, "
    "larger requests; 'asset' in asset order (each asset still reads once an interval). "
    "Files, and topics whose partitions the broker does not tell, are in asset order.",
)
@bootstrap_option
@config_option
@metrics_options("off")
def simulate(
    assets: int,
    rate: float,
    duration: float | None,
    seed: int,
    faults: list[FaultSpec],
    speed: float,
    start_ts: int | None,
    out: Path | None,
    machine_types: tuple[str, ...] | None,
    shift_hours: float | None,
    repair_time: float,
    dropout: float,
    glitch: float,
    order: str,
    bootstrap_servers: str | None,
    config_file: Path | None,
    metrics_port: int | None,
    metrics_host: str | None,
) -> None:
    """Simulate ASSETS machines sending readings, with faults and their ground-truth labels.

    Assets are centrifugal pumps, motors with gearboxes, hydraulic presses and CNC spindles
    (in turn), each with coupled channels: load_pct, speed_rpm, motor_current_a, pressure_bar,
    bearing_temp_c, vibration_rms_mm_s, vibration_hf_g and flow_m3_h. A fault sends a
    fault_start label on the labels topic when it begins, a failure label when the machine
    fails and a maintenance label when it is repaired. Readings go to the readings topic keyed
    by asset id. Ctrl-C (or SIGTERM) stops cleanly after flushing; a summary goes to stderr.
    """
    start_ms = int(time.time() * 1000) if start_ts is None else start_ts
    interval = interval_for_rate(assets, rate)

    def fleet_in(phases: list[float] | None) -> Fleet:
        return Fleet(
            assets,
            seed=seed,
            faults=faults,
            interval_s=interval,
            start_ts_ms=start_ms,
            machine_types=machine_types,
            shift_s=None if shift_hours is None else shift_hours * 3600.0,
            repair_s=repair_time,
            disturbances=Disturbances(dropout=dropout, glitch=glitch),
            phases=phases,
        )

    try:
        fleet = fleet_in(None)  # checked before anything connects
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--fault'") from None
    metrics = ProducerMetrics(CollectorRegistry(), producer="simulate")
    sink, where = open_sink(out, bootstrap_servers, config_file, metrics)
    ticks = None if duration is None else fleet.ticks_for(duration)
    began = time.monotonic()
    tally = _Tally()
    try:
        phases = _partition_phases(sink, fleet.names) if order == "partition" else None
        if phases is not None:
            fleet = fleet_in(phases)
        with (
            stop_on_signals() as stop,
            serving_metrics(metrics, metrics_port, metrics_host or "127.0.0.1"),
        ):
            records = fleet.encoded(ticks) if out is None else fleet.records(ticks)
            _run(records, sink, tally, Pacer(speed, stop))
            sink.flush()
    except (ConfigError, KafkaTransportError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        sink.close()
        _summary(tally, time.monotonic() - began, where)


def _partition_phases(sink: Publisher, names: tuple[str, ...]) -> list[float] | None:
    """Phases that send each partition's assets in turn (``None``: keep asset order), when
    ``sink`` is Kafka with the default kind of partitioner and the topic has several
    partitions. Refused credentials raise :class:`~pipeline.errors.ConfigError`."""
    if (
        len(names) < 2
        or not isinstance(sink, KafkaPublisher)
        or sink.partitioner not in CRC32_PARTITIONERS
    ):
        return None
    partitions = sink.readings_partitions()
    if partitions is None or partitions < 2:
        return None
    return phases_by_partition(names, partitions)


def _run(records: Iterator[Record | Encoded], sink: Publisher, tally: _Tally, pacer: Pacer) -> None:
    """Publish records until they run out or a stop is requested, paced by their timestamps."""
    for record in records:
        if not pacer.wait_for(record.ts):
            return
        sink.publish(record)
        if isinstance(record, Label):
            tally.labels += 1
        else:
            tally.readings += 1


def _summary(tally: _Tally, seconds: float, where: str) -> None:
    per_second = tally.readings / seconds if seconds > 0 else 0.0
    click.echo(
        f"simulate: {tally.readings} readings, {tally.labels} labels in {seconds:.1f} s "
        f"({per_second:,.0f} readings/s) to {where}",
        err=True,
    )

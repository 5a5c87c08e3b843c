"""``linewatch simulate``: a fleet of machines with faults and ground-truth labels, to Kafka or CSV.

Examples
--------
>>> from click.testing import CliRunner
>>> result = CliRunner().invoke(simulate, ["--fault", "asset-003:melting@30"])
>>> result.exit_code, "unknown fault kind 'melting'" in result.output
(2, True)
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click

from pipeline.errors import ConfigError, KafkaTransportError
from pipeline.messages import Reading
from pipeline.settings import Settings
from producers.publish import CsvPublisher, KafkaPublisher, Publisher, labels_path
from producers.simulator import FAULT_DURATION_S, FaultSpec, Fleet, Record, interval_for_rate

__all__ = ["simulate"]

_NAP_S = 0.1  # longest single sleep, so a stop request is noticed quickly
_SLACK_S = 0.002  # sleep only when this far ahead of schedule (batches at high rates)


def _parse_faults(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[FaultSpec]:
    try:
        return [FaultSpec.parse(text) for text in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


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
    help="Random seed; the same seed and --start-ts give the same stream.",
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
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Time compression: 1 is real time, 10 is ten times faster, 0 is as fast as possible.",
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
    metavar="FILE.csv",
    help="Write readings to FILE.csv and labels to FILE.labels.csv instead of Kafka.",
)
@click.option(
    "--bootstrap-servers",
    envvar="LINEWATCH_BOOTSTRAP_SERVERS",
    default=None,
    metavar="HOST:PORT",
    help="Kafka brokers (env LINEWATCH_BOOTSTRAP_SERVERS).  [default: localhost:9092]",
)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TOML settings file (topic names, Kafka client properties).",
)
def simulate(
    assets: int,
    rate: float,
    duration: float | None,
    seed: int,
    faults: list[FaultSpec],
    speed: float,
    start_ts: int | None,
    out: Path | None,
    bootstrap_servers: str | None,
    config: Path | None,
) -> None:
    """Simulate ASSETS machines sending readings, with faults and their ground-truth labels.

    Each asset has coupled channels: load_pct, speed_rpm, motor_current_a, pressure_bar,
    bearing_temp_c, vibration_rms_mm_s and vibration_hf_g. A fault sends a fault_start label
    on the labels topic when it begins and a failure label when the machine fails. Readings
    go to the readings topic keyed by asset id. Ctrl-C (or SIGTERM) stops cleanly after
    flushing; a summary goes to stderr.
    """
    start_ms = int(time.time() * 1000) if start_ts is None else start_ts
    interval = interval_for_rate(assets, rate)
    try:
        fleet = Fleet(assets, seed=seed, faults=faults, interval_s=interval, start_ts_ms=start_ms)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--fault'") from None
    sink, where = _open_sink(out, bootstrap_servers, config)
    ticks = None if duration is None else fleet.ticks_for(duration)
    began = time.monotonic()
    tally = _Tally()
    try:
        with _stop_on_signals() as stop:
            _run(fleet.records(ticks), sink, tally, speed, stop)
        sink.flush()
    except (ConfigError, KafkaTransportError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        sink.close()
        _summary(tally, time.monotonic() - began, where)


def _open_sink(
    out: Path | None, bootstrap_servers: str | None, config: Path | None
) -> tuple[Publisher, str]:
    if out is not None:
        try:
            return CsvPublisher(out), f"{out} and {labels_path(out)}"
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc}") from None
    try:
        settings = Settings.load(config, bootstrap_servers=bootstrap_servers)
        topics = settings.topics
        publisher = KafkaPublisher(settings.client_config(), topics.readings, topics.labels)
    except (ConfigError, KafkaTransportError) as exc:
        raise click.ClickException(str(exc)) from None
    return publisher, f"{settings.bootstrap_servers} ({topics.readings}, {topics.labels})"


def _run(
    records: Iterator[Record],
    sink: Publisher,
    tally: _Tally,
    speed: float,
    stop: threading.Event,
) -> None:
    """Publish records until they run out or ``stop`` is set, paced by their timestamps."""
    began, first_ts = time.monotonic(), None
    for record in records:
        if stop.is_set():
            return
        if speed > 0:
            first_ts = record.ts if first_ts is None else first_ts
            if not _wait_until(began + (record.ts - first_ts) / 1000.0 / speed, stop):
                return
        sink.publish(record)
        if isinstance(record, Reading):
            tally.readings += 1
        else:
            tally.labels += 1


def _wait_until(deadline: float, stop: threading.Event) -> bool:
    """Sleep until ``deadline`` (monotonic) in short naps; False if asked to stop."""
    ahead = deadline - time.monotonic()
    while ahead > _SLACK_S:
        if stop.wait(min(ahead, _NAP_S)):
            return False
        ahead = deadline - time.monotonic()
    return not stop.is_set()


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (main thread only)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _summary(tally: _Tally, seconds: float, where: str) -> None:
    per_second = tally.readings / seconds if seconds > 0 else 0.0
    click.echo(
        f"simulate: {tally.readings} readings, {tally.labels} labels in {seconds:.1f} s "
        f"({per_second:,.0f} readings/s) to {where}",
        err=True,
    )

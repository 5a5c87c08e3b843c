"""``linewatch replay``: recorded streams (NAB, SKAB, wide; CSV or Parquet) to Kafka.

Examples
--------
>>> from click.testing import CliRunner
>>> result = CliRunner().invoke(replay, ["missing.csv", "--format", "nab"])
>>> result.exit_code, "does not exist" in result.output
(2, True)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import click
from prometheus_client import CollectorRegistry
from tqdm import tqdm

from pipeline.cli_options import bootstrap_option, config_option, metrics_options
from pipeline.errors import KafkaTransportError
from pipeline.messages import Label, Reading
from producers.metrics import ProducerMetrics, serving_metrics
from producers.pacing import Pacer, stop_on_signals
from producers.publish import Publisher
from producers.replay.layouts import BadRow, Format, parse_timestamp
from producers.replay.stream import FileStart, Problem, ReplayOptions
from producers.replay.stream import replay as replay_stream
from producers.replay.tables import count_rows
from producers.sinks import open_sink

__all__ = ["replay"]

_PROGRESS_EVERY = 1000


@dataclass(slots=True)
class _Tally:
    readings: int = 0
    labels: int = 0
    bad: int = 0


def _timestamp(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except BadRow as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _mapping(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str] | None:
    pairs = {}
    for text in values:
        source, _, target = text.partition("=")
        if not source.strip():
            raise click.BadParameter(f"expected COLUMN or COLUMN=CHANNEL, got {text!r}")
        pairs[source.strip()] = (target or source).strip()
    return pairs or None


@click.command(
    "replay",
    epilog="""\b
Examples:
  linewatch replay nab/data/realTweets/Twitter_volume_AAPL.csv --format nab --speed 600 \\
      --labels nab/labels/combined_windows.json
  linewatch replay skab/valve1/*.csv --format skab --max-speed
  linewatch replay run.parquet --format wide --asset asset-003 --labels run.labels.parquet
""",
)
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["nab", "skab", "wide"]),
    required=True,
    help="nab: timestamp,value. skab: ';'-separated datetime, channels, anomaly, changepoint. "
    "wide: timestamp (or ts), asset, one column per channel.",
)
@click.option(
    "--asset",
    default=None,
    help="nab/skab: the asset id (default: folder-file, e.g. valve1-0). wide: replay only "
    "this asset.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Pacing: the recording's own pace times this factor.",
)
@click.option("--max-speed", is_flag=True, help="As fast as possible (ignore the pacing).")
@click.option(
    "--start",
    callback=_timestamp,
    default=None,
    metavar="TIME",
    help="Replay only rows at or after TIME (ISO 8601 or epoch ms).",
)
@click.option(
    "--end",
    callback=_timestamp,
    default=None,
    metavar="TIME",
    help="Replay only rows at or before TIME (ISO 8601 or epoch ms).",
)
@click.option(
    "--loop",
    "loops",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    metavar="N",
    help="Replay N times (0: until stopped); later passes move on in time.",
)
@click.option(
    "--timestamp-column",
    default=None,
    metavar="NAME",
    help="Column with the time.  [default: timestamp, datetime, ts or time]",
)
@click.option(
    "--asset-column",
    default=None,
    metavar="NAME",
    help="wide: column with the asset id.  [default: asset]",
)
@click.option(
    "--channel",
    "channels",
    multiple=True,
    callback=_mapping,
    metavar="COLUMN[=NAME]",
    help="Replay this column (as channel NAME); repeatable. "
    "[default: every column that is not time, asset or label]",
)
@click.option(
    "--label-column",
    "label_columns",
    multiple=True,
    metavar="NAME",
    help="A 0/1 column whose steps become fault_start/fault_end labels; repeatable. "
    "[default: skab anomaly, changepoint; nab label]",
)
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Labels to send along: NAB windows JSON "
    "(e.g. combined_windows.json) or a labels table (asset, ts, kind, fault).",
)
@click.option("--delimiter", default=None, help="CSV separator.  [default: ';' for skab, ',']")
@click.option(
    "--epoch-unit",
    type=click.Choice(["ms", "s"]),
    default="ms",
    show_default=True,
    help="Unit of numeric timestamps.",
)
@click.option("--strict", is_flag=True, help="Abort at the first bad row instead of skipping.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar with rate and ETA on stderr.  [default: when stderr is a tty]",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write to FILE (CSV or Parquet) and its labels file instead of Kafka.",
)
@bootstrap_option
@config_option
@metrics_options("off")
def replay(
    files: tuple[Path, ...],
    fmt: str,
    asset: str | None,
    speed: float,
    max_speed: bool,
    start: int | None,
    end: int | None,
    loops: int,
    timestamp_column: str | None,
    asset_column: str | None,
    channels: dict[str, str] | None,
    label_columns: tuple[str, ...],
    labels_file: Path | None,
    delimiter: str | None,
    epoch_unit: str,
    strict: bool,
    progress: bool | None,
    out: Path | None,
    bootstrap_servers: str | None,
    config_file: Path | None,
    metrics_port: int | None,
    metrics_host: str | None,
) -> None:
    """Replay recorded FILES as readings (keyed by asset) and their labels.

    Label columns and --labels go to the labels topic. A row that cannot be read is reported
    on stderr with its file and line and skipped (--strict aborts instead); a summary line
    ends the run. Ctrl-C stops cleanly after flushing.
    """
    options = ReplayOptions(
        cast(Format, fmt),
        asset=asset,
        timestamp_column=timestamp_column,
        asset_column=asset_column,
        channels=channels,
        label_columns=label_columns or None,
        delimiter=delimiter,
        epoch_unit=cast(Literal["ms", "s"], epoch_unit),
        labels_file=labels_file,
        start_ms=start,
        end_ms=end,
        loops=loops,
    )
    metrics = ProducerMetrics(CollectorRegistry(), producer="replay")
    sink, where = open_sink(out, bootstrap_servers, config_file, metrics)
    tally, began = _Tally(), time.monotonic()
    total = sum(count_rows(path) for path in files) * loops if loops else None
    show = progress if progress is not None else sys.stderr.isatty()
    bar: tqdm[Any] = tqdm(
        total=total, unit=" rows", disable=not show, dynamic_ncols=True, file=None
    )
    try:
        with (
            stop_on_signals() as stop,
            serving_metrics(metrics, metrics_port, metrics_host or "127.0.0.1"),
        ):
            pacer = Pacer(0.0 if max_speed else speed, stop)
            _run(replay_stream(files, options), sink, pacer, tally, bar, strict)
            sink.flush()
    except (ValueError, OSError, KafkaTransportError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
        sink.close()
        _summary(tally, time.monotonic() - began, where)


def _run(
    items: Iterator[Reading | Label | Problem | FileStart],
    sink: Publisher,
    pacer: Pacer,
    tally: _Tally,
    bar: tqdm[Any],
    strict: bool,
) -> None:
    rows = 0
    for item in items:
        if isinstance(item, FileStart):
            pacer.restart()
            bar.set_description(item.path.name)
            continue
        if isinstance(item, Problem):
            tally.bad += 1
            rows += 1
            if strict:
                raise click.ClickException(f"bad row {item} (--strict)")
            bar.write(f"replay: {item}; skipped", file=sys.stderr)
            continue
        if not pacer.wait_for(item.ts):
            return
        sink.publish(item)
        if isinstance(item, Reading):
            tally.readings += 1
            rows += 1
            if rows % _PROGRESS_EVERY == 0:
                bar.update(rows - bar.n)
        else:
            tally.labels += 1
    bar.update(rows - bar.n)


def _summary(tally: _Tally, seconds: float, where: str) -> None:
    per_second = tally.readings / seconds if seconds > 0 else 0.0
    click.echo(
        f"replay: {tally.readings} readings, {tally.labels} labels, {tally.bad} bad rows "
        f"skipped in {seconds:.1f} s ({per_second:,.0f} readings/s) to {where}",
        err=True,
    )

"""``linewatch detect``: score a recorded file row by row with the service's own detector."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli_options import config_option
from pipeline.errors import DatasetError, PipelineError
from pipeline.evaluation import nab
from pipeline.evaluation.detect import Detection, detect
from pipeline.evaluation.loaders import Format, load
from pipeline.settings import Settings

__all__ = ["detect_command", "format_option", "labels_for", "run_detect"]

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["nab", "skab", "wide"]),
    required=True,
    help="nab: timestamp,value. skab: ';'-separated datetime, channels, anomaly, changepoint. "
    "wide: timestamp, asset, one column per channel (label columns: label, anomaly, changepoint).",
)
labels_option = click.option(
    "--labels",
    "labels_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="NAB windows file (combined_windows.json): adds a 'label' column, 1 inside a window.",
)


@click.command("detect")
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@format_option
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV to write."
)
@labels_option
@config_option
def detect_command(
    input_file: Path, fmt: Format, out: Path, labels_file: Path | None, config_file: Path | None
) -> None:
    """Stream a recorded file through the configured detector and alert policy, row by row.

    Strictly online: each row is scored, then learned, before the next is read, by the same
    code `serve` runs, built from the same settings (--config, LINEWATCH_* variables). Writes
    one row per input row, in order: timestamp, anomaly_score in [0, 1], is_anomaly (1 while
    the asset's alarm is raised, from the raised alert to the cleared one) and the input's
    label columns.

    Example: linewatch detect data/realTweets/Twitter_volume_AAPL.csv --format nab --out a.csv
    """
    try:
        detection = run_detect(input_file, fmt, config_file, labels_file)
        out.parent.mkdir(parents=True, exist_ok=True)
        detection.frame.to_csv(out, index=False)
    except (PipelineError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{detection.rows:,} rows scored by {detection.model} at "
        f"{detection.rows / max(detection.cpu_seconds, 1e-9):,.0f} readings/s per core -> {out}",
        err=True,
    )
    for reason, count in sorted(detection.dead_letters.items()):
        click.echo(f"{count} rows dead-lettered ({reason}), written with score 0", err=True)


def run_detect(
    input_file: Path, fmt: Format, config_file: Path | None, labels_file: Path | None
) -> Detection:
    """Load, detect, and add NAB's label column when a windows file is given."""
    settings = Settings.load(config_file)
    detection = detect(load(input_file, fmt), settings)
    if labels_file is not None:
        stamps = detection.frame["timestamp"].tolist()
        detection.frame["label"] = nab.window_labels(stamps, labels_for(input_file, labels_file))
    return detection


def labels_for(input_file: Path, labels_file: Path) -> list[tuple[str, str]]:
    """The windows of ``input_file`` in a NAB windows file, matched on ``<category>/<name>``."""
    windows = nab.load_windows(labels_file)
    matches = [
        key for key in windows if key == input_file.name or key.endswith("/" + input_file.name)
    ]
    if len(matches) != 1:
        raise DatasetError(f"{labels_file} has {len(matches)} entries for {input_file.name}")
    return windows[matches[0]]
